"""LangChain interfaces over Citebot, for users who build LangChain pipelines.

The service itself calls Chroma and the embedder directly: measured on the hot path, the
LangChain wrappers cost time for nothing Citebot needs (see BENCHMARKS.md).
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
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

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
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
            for hit in self.service.search(query, self.namespace, self.k)
        ]
