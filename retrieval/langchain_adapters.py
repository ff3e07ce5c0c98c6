"""LangChain interfaces over Citebot, for users who build LangChain pipelines.

The service itself calls Chroma and the embedder directly: measured on the hot path, the
LangChain wrappers cost time for nothing Citebot needs (see BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict

from retrieval.embedding import Embedder
from retrieval.service import CitebotService


class LangChainEmbeddings(Embeddings):
    """A Citebot ``Embedder`` as LangChain ``Embeddings``."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()


class CitebotRetriever(BaseRetriever):
    """Hybrid search of one namespace as a LangChain retriever.

    Each document carries its citation: ``id``, ``doc_id``, ``title``, ``url``,
    ``paragraph``, ``start``, ``end`` — ``page_content`` is the stored text at those offsets.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    service: CitebotService
    namespace: str | None = None
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[LCDocument]:
        """``k`` in ``invoke(query, k=...)`` overrides the retriever's own for this call."""
        # Besides k, invoke passes on LangChain's own keywords (verbose); anything else is a mistake.
        unknown = sorted(set(kwargs) - {"verbose"})
        if unknown:
            raise TypeError(f"CitebotRetriever takes k, not {', '.join(unknown)}")
        return [
            LCDocument(
                page_content=hit.chunk.text,
                metadata={
                    "id": hit.id,
                    "doc_id": hit.chunk.doc_id,
                    "title": hit.title,
                    "url": hit.url,
                    "paragraph": hit.chunk.paragraph,
                    "start": hit.chunk.start,
                    "end": hit.chunk.end,
                    "score": hit.score,
                },
            )
            for hit in self.service.search(query, self.namespace, self.k if k is None else k)
        ]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[LCDocument]:
        # LangChain's default drops the keywords; the search runs in a worker thread either way.
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), k=k, **kwargs
        )
