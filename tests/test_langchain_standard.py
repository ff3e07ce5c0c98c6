"""LangChain's own standard test suites (the ``langchain-tests`` package) over Citebot's adapters."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, RetrieversIntegrationTests

from retrieval.embedding import load_embedder
from retrieval.langchain_adapters import CitebotRetriever, LangChainEmbeddings
from retrieval.service import CitebotService, sample_path
from tests.doubles import HashingEmbedder


@pytest.fixture(scope="module")
def sample_service(tmp_path_factory: pytest.TempPathFactory) -> CitebotService:
    from config import load_settings

    service = CitebotService.from_settings(
        load_settings(data_dir=tmp_path_factory.mktemp("langchain") / "data"), embedder=HashingEmbedder()
    )
    service.ingest([sample_path()])
    return service


class TestCitebotRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _service(self, sample_service: CitebotService) -> None:
        self.service = sample_service

    @property
    def retriever_constructor(self) -> type[CitebotRetriever]:
        return CitebotRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"service": self.service}

    @property
    def retriever_query_example(self) -> str:
        return "What did Pompeo demand?"


class TestLangChainEmbeddingsStandard(EmbeddingsIntegrationTests):
    """The real bundled model (ONNX backend), as the service uses it."""

    @property
    def embeddings_class(self) -> type[LangChainEmbeddings]:
        return LangChainEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"embedder": load_embedder("all-MiniLM-L6-v2")}
