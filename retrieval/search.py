"""Hybrid retrieval: dense (vector store) + lexical (BM25) candidates, reranked by sentences.

What a query needs is precomputed and cached per namespace by the catalog's generation
counter: chunk texts, offsets, titles and the BM25 index; and, read once per document on
first use, its sentences' offsets and contextual vectors (computed at ingest), each
sentence's terms tokenized the first time it is scored. A query costs one question
embedding, one BM25 scoring pass, a few small matrix products and, past
``memory_dense_chunks`` chunks, one vector-store query (below it, a product with the
sentence vectors in memory is faster than the store's round trip) — no second embedding,
and no database reads once its documents' sentences are cached.

Ranking: the dense top ``candidate_k`` and the BM25 top ``candidate_k`` are pooled (ties
keep reciprocal-rank-fusion order, ``rrf_k``), then each candidate chunk is scored by

    dense_weight · max over its sentences of cos(question, sentence)
  + lexical_weight · (max over its sentences of the IDF-weighted share of the question's
                      terms it contains  +  coverage_weight · the same share for the chunk)

Questions are usually answered by one sentence, so the best sentence is a sharper signal
than the whole chunk's vector or BM25 score; BENCHMARKS.md has the measurements.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from retrieval.catalog import Catalog
from retrieval.citations import citation_id
from retrieval.embedding import Embedder
from retrieval.lexical import BM25Index, tokenize
from retrieval.models import Chunk, SearchHit, Sentence
from retrieval.vectorstore import VectorStore

# Sentences kept in memory per namespace index (vectors at 768 bytes each): ~150 MB.
MAX_CACHED_SENTENCES = 200_000


@dataclass(frozen=True)
class FusionConfig:
    candidate_k: int = 10
    rrf_k: int = 10
    dense_weight: float = 1.0
    lexical_weight: float = 0.5
    coverage_weight: float = 0.5
    # Up to this many chunks, dense candidates come from the sentence vectors held in
    # memory (a chunk scores its best sentence); past it, from the vector store's index.
    memory_dense_chunks: int = 2000


@dataclass(frozen=True)
class DocSentences:
    """One document's sentences as arrays (read once per document and generation)."""

    doc_id: str
    indices: np.ndarray  # sentence numbers in the catalog
    starts: np.ndarray
    ends: np.ndarray
    paragraphs: np.ndarray
    vectors: np.ndarray  # (n, dim) float16 as stored, unit length (zeros when none were stored)
    terms: list[frozenset[str] | None]  # each sentence's terms, tokenized on first use

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Positions [first, last) of the sentences inside [start, end)."""
        first = int(np.searchsorted(self.starts, start, side="left"))
        last = int(np.searchsorted(self.ends, end, side="right"))
        return first, max(first, last)

    def sentence(self, position: int, text: str) -> Sentence:
        s, e = int(self.starts[position]), int(self.ends[position])
        return Sentence(self.doc_id, int(self.indices[position]), s, e, int(self.paragraphs[position]), text[s:e])

    def terms_of(self, position: int, text: str) -> frozenset[str]:
        found = self.terms[position]
        if found is None:
            found = self.terms[position] = frozenset(tokenize(text[self.starts[position] : self.ends[position]]))
        return found


@dataclass(frozen=True)
class ChunkScores:
    """A chunk's sentences scored against the question."""

    doc: DocSentences
    first: int  # the chunk's sentences are doc positions [first, last)
    last: int
    dense: np.ndarray  # cosine similarity of each sentence's vector to the question's
    lexical: np.ndarray  # IDF-weighted share of the question's terms each sentence contains
    coverage: float  # the same share for the chunk as a whole


@dataclass
class NamespaceIndex:
    generation: int
    chunks: list[Chunk]
    row_of: dict[str, int]
    titles: dict[str, str]
    urls: dict[str, str | None]
    texts: dict[str, str]
    bm25: BM25Index
    namespace: str = ""
    catalog: Catalog | None = None
    # Documents' sentences, least recently used first; at most MAX_CACHED_SENTENCES in all.
    _sentences: OrderedDict[str, DocSentences] = field(default_factory=OrderedDict, repr=False)
    _cached: int = field(default=0, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _dense: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
            namespace=namespace,
            catalog=catalog,
        )

    def sentences(self, doc_id: str, dimension: int) -> DocSentences:
        """The document's sentences, read from the catalog on first use only."""
        with self._cache_lock:
            cached = self._sentences.get(doc_id)
            if cached is not None:
                self._sentences.move_to_end(doc_id)
                return cached
        text = self.texts[doc_id]
        rows = self.catalog.sentences_in(self.namespace, doc_id, text, 0, len(text)) if self.catalog else []
        vectors = np.zeros((len(rows), dimension), dtype=np.float16)  # as stored; half the memory
        for i, (_, vector) in enumerate(rows):
            if vector is not None and len(vector) == dimension:
                vectors[i] = vector
        doc = DocSentences(
            doc_id=doc_id,
            indices=np.array([s.index for s, _ in rows], dtype=np.int64),
            starts=np.array([s.start for s, _ in rows], dtype=np.int64),
            ends=np.array([s.end for s, _ in rows], dtype=np.int64),
            paragraphs=np.array([s.paragraph for s, _ in rows], dtype=np.int64),
            vectors=vectors,
            terms=[None] * len(rows),
        )
        with self._cache_lock:
            # First load wins: every reader of this index then scores and spans the same sentences.
            if doc_id in self._sentences:
                return self._sentences[doc_id]
            self._sentences[doc_id] = doc
            self._cached += len(rows)
            while self._cached > MAX_CACHED_SENTENCES and len(self._sentences) > 1:
                _, evicted = self._sentences.popitem(last=False)
                self._cached -= len(evicted.starts)
            return doc

    def dense_top(self, query_vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The ``n`` chunks whose best sentence is most similar to the question (brute force)."""
        if self._dense is None:
            with self._lock:
                if self._dense is None:
                    self._dense = self._sentence_rows(len(query_vector))
        vectors, offsets, rows = self._dense
        if not len(rows):
            return []
        best = np.maximum.reduceat(matvec(vectors, query_vector), offsets)
        n = min(n, len(best))
        top = np.argpartition(-best, n - 1)[:n]
        top = top[np.argsort(-best[top], kind="stable")]
        return [(int(rows[i]), float(best[i])) for i in top]

    def _sentence_rows(self, dimension: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every chunk's sentence vectors, grouped by chunk: (vectors, group offsets, chunk rows).

        A namespace this small is read whole anyway, so its sentences' terms are tokenized
        here too, once, instead of on the questions that first touch them."""
        parts: list[np.ndarray] = []
        offsets: list[int] = []
        rows: list[int] = []
        total = 0
        for doc_id, text in self.texts.items():
            doc = self.sentences(doc_id, dimension)
            for pos in range(len(doc.terms)):
                doc.terms_of(pos, text)
        for row, chunk in enumerate(self.chunks):
            doc = self.sentences(chunk.doc_id, dimension)
            first, last = doc.span(chunk.start, chunk.end)
            if last > first:
                parts.append(doc.vectors[first:last])
                offsets.append(total)
                rows.append(row)
                total += last - first
        vectors = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, dimension), dtype=np.float32)
        return vectors, np.array(offsets, dtype=np.int64), np.array(rows, dtype=np.int64)


@dataclass(frozen=True)
class Retrieved:
    """Search results plus what the answer step reuses (no second embedding or scoring)."""

    hits: list[SearchHit]
    query_vector: np.ndarray
    query_tokens: list[str]
    index: NamespaceIndex
    chunk_scores: dict[str, ChunkScores] = field(default_factory=dict)

    @cached_property
    def weights(self) -> tuple[list[str], np.ndarray]:
        """The question's distinct terms and their IDF weights, normalised to sum to 1."""
        terms = sorted(set(self.query_tokens))
        weights = np.array([self.index.bm25.weight(t) for t in terms], dtype=np.float32)
        total = float(weights.sum())
        return terms, (weights / total if total > 0 else weights)

    def scores(self, chunk: Chunk) -> ChunkScores:
        """The chunk's sentences scored against the question (once; the answer step reuses them)."""
        found = self.chunk_scores.get(chunk.key)
        if found is None:
            doc = self.index.sentences(chunk.doc_id, len(self.query_vector))
            first, last = doc.span(chunk.start, chunk.end)
            text = self.index.texts[chunk.doc_id]
            terms, weights = self.weights
            sentence_terms = [doc.terms_of(pos, text) for pos in range(first, last)]
            present = np.array([[t in have for t in terms] for have in sentence_terms], dtype=bool).reshape(
                last - first, len(terms)
            )
            found = self.chunk_scores[chunk.key] = ChunkScores(
                doc=doc,
                first=first,
                last=last,
                dense=matvec(doc.vectors[first:last], self.query_vector),
                lexical=present.astype(np.float32) @ weights if len(terms) else np.zeros(last - first, np.float32),
                coverage=float(weights @ present.any(axis=0)) if len(terms) and last > first else 0.0,
            )
        return found


def matvec(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` on the calling thread only.

    A threaded BLAS call leaves its worker threads spinning for a while after it returns;
    on a small machine they then compete with the next question's embedding, which measured
    ~2x slower asks under load (BENCHMARKS.md). einsum's own loop is single-threaded.
    """
    return np.einsum("ij,j->i", matrix, vector.astype(np.float32), dtype=np.float32)


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
        retrieved = Retrieved([], query_vector, query_tokens, index)
        if not index.chunks:
            return retrieved
        cfg = self.fusion
        n = cfg.candidate_k
        if len(index.chunks) <= cfg.memory_dense_chunks:
            dense = index.dense_top(query_vector, n)
        else:
            # Ask for a few more: vectors of a half-written or just-removed version are skipped.
            dense = [
                (index.row_of[key], score)
                for key, score in self.store.query(namespace, query_vector, min(n + 10, len(index.chunks) + 10))
                if key in index.row_of
            ][:n]
        lexical = index.bm25.top(query_tokens, n)
        pooled: dict[int, float] = {}
        dense_scores: dict[int, float] = {}
        lexical_scores: dict[int, float] = {}
        for rank, (row, score) in enumerate(dense):
            pooled[row] = pooled.get(row, 0.0) + 1.0 / (cfg.rrf_k + rank + 1)
            dense_scores[row] = score
        for rank, (row, score) in enumerate(lexical):
            pooled[row] = pooled.get(row, 0.0) + 1.0 / (cfg.rrf_k + rank + 1)
            lexical_scores[row] = score
        scored = []
        for row, rrf in pooled.items():
            s = retrieved.scores(index.chunks[row])
            if s.last > s.first:
                best_dense, best_lexical = float(s.dense.max()), float(s.lexical.max())
            else:  # no sentence rows (e.g. the document was just removed): the chunk's own score
                best_dense, best_lexical = dense_scores.get(row, 0.0), 0.0
            score = cfg.dense_weight * best_dense + cfg.lexical_weight * (
                best_lexical + cfg.coverage_weight * s.coverage
            )
            scored.append((score, rrf, row))
        scored.sort(key=lambda item: (-item[0], -item[1], item[2]))
        for rank, (score, _, row) in enumerate(scored[:k], start=1):
            chunk = index.chunks[row]
            retrieved.hits.append(
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
        return retrieved
