"""Hybrid retrieval: dense (vector store) + lexical (BM25), fused by reciprocal rank.

What a query needs is precomputed per namespace and cached by the catalog's generation
counter: chunk texts, offsets, titles and the BM25 index. A query costs one question
embedding, one vector-store query and one BM25 scoring pass.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from retrieval.catalog import Catalog
from retrieval.citations import citation_id
from retrieval.embedding import Embedder
from retrieval.lexical import BM25Index, tokenize
from retrieval.models import Chunk, SearchHit
from retrieval.vectorstore import VectorStore


@dataclass(frozen=True)
class FusionConfig:
    candidate_k: int = 20
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0


@dataclass
class NamespaceIndex:
    generation: int
    chunks: list[Chunk]
    row_of: dict[str, int]
    titles: dict[str, str]
    urls: dict[str, str | None]
    texts: dict[str, str]
    bm25: BM25Index

    @classmethod
    def build(cls, catalog: Catalog, namespace: str) -> NamespaceIndex:
        generation, docs, rows = catalog.snapshot(namespace)
        chunks = []
        for doc_id, idx, start, end, paragraph in rows:
            text = docs[doc_id][2]
            chunks.append(Chunk(doc_id, idx, start, end, paragraph, text[start:end]))
        titles = {doc_id: meta[0] for doc_id, meta in docs.items()}
        # Titles are indexed with each chunk: questions often name the article's subject.
        tokens = [tokenize(titles[c.doc_id] + "\n" + c.text) for c in chunks]
        return cls(
            generation=generation,
            chunks=chunks,
            row_of={c.key: i for i, c in enumerate(chunks)},
            titles=titles,
            urls={doc_id: meta[1] for doc_id, meta in docs.items()},
            texts={doc_id: meta[2] for doc_id, meta in docs.items()},
            bm25=BM25Index(tokens),
        )


@dataclass(frozen=True)
class Retrieved:
    """Search results plus what the answer step reuses (no second embedding)."""

    hits: list[SearchHit]
    query_vector: np.ndarray
    query_tokens: list[str]
    index: NamespaceIndex


class Searcher:
    def __init__(self, catalog: Catalog, store: VectorStore, embedder: Embedder, fusion: FusionConfig) -> None:
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.fusion = fusion
        self._indexes: dict[str, NamespaceIndex] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def index(self, namespace: str) -> NamespaceIndex:
        """The namespace's index, rebuilt only when the catalog says it changed."""
        generation = self.catalog.generation(namespace)
        cached = self._indexes.get(namespace)
        if cached is not None and cached.generation == generation:
            return cached
        with self._guard:
            lock = self._locks.setdefault(namespace, threading.Lock())
        with lock:
            cached = self._indexes.get(namespace)
            if cached is None or cached.generation != self.catalog.generation(namespace):
                cached = NamespaceIndex.build(self.catalog, namespace)
                self._indexes[namespace] = cached
            return cached

    def retrieve(self, namespace: str, query: str, k: int, context: str = "") -> Retrieved:
        """Top ``k`` chunks for ``query``; ``context`` (an earlier question of the same
        conversation) is blended in at half weight to resolve follow-ups."""
        index = self.index(namespace)
        query_vector = self.embedder.embed_query(query)
        query_tokens = tokenize(query)
        if context:
            blended = query_vector + 0.5 * self.embedder.embed_query(context)
            query_vector = (blended / (np.linalg.norm(blended) or 1.0)).astype(np.float32)
            query_tokens += tokenize(context)
        if not index.chunks:
            return Retrieved([], query_vector, query_tokens, index)
        n = self.fusion.candidate_k
        # Ask for a few more: vectors of a half-written or just-removed version are skipped.
        dense = [
            (index.row_of[key], score)
            for key, score in self.store.query(namespace, query_vector, min(n + 10, len(index.chunks) + 10))
            if key in index.row_of
        ][:n]
        lexical = index.bm25.top(query_tokens, n)
        fused: dict[int, float] = {}
        dense_scores: dict[int, float] = {}
        lexical_scores: dict[int, float] = {}
        for rank, (row, score) in enumerate(dense):
            fused[row] = fused.get(row, 0.0) + self.fusion.dense_weight / (self.fusion.rrf_k + rank + 1)
            dense_scores[row] = score
        for rank, (row, score) in enumerate(lexical):
            fused[row] = fused.get(row, 0.0) + self.fusion.lexical_weight / (self.fusion.rrf_k + rank + 1)
            lexical_scores[row] = score
        ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        hits = []
        for rank, (row, score) in enumerate(ranked, start=1):
            chunk = index.chunks[row]
            hits.append(
                SearchHit(
                    rank=rank,
                    id=citation_id(chunk.doc_id, chunk.start, chunk.end),
                    chunk=chunk,
                    title=index.titles[chunk.doc_id],
                    url=index.urls[chunk.doc_id],
                    score=score,
                    dense_score=dense_scores.get(row),
                    lexical_score=lexical_scores.get(row),
                )
            )
        return Retrieved(hits, query_vector, query_tokens, index)
