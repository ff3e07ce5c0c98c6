"""Hybrid retrieval: dense (vector store) + lexical (BM25) candidates, reranked by sentences.

What a query needs is precomputed and cached per namespace by the catalog's generation
counter: chunk texts, offsets, titles and the BM25 index; and, read once per candidate
chunk on first use (one indexed range read), its sentences' offsets and contextual vectors
(computed at ingest), each sentence's terms tokenized the first time it is scored. A query
costs one question embedding, one BM25 scoring pass, a few small matrix products and,
past ``memory_dense_chunks`` chunks, one vector-store query (below it, a product with the
sentence vectors in memory is faster than the store's round trip) — no second embedding,
and no database reads once its candidates' sentences are cached.

Ranking: the dense top ``candidate_k`` and the BM25 top ``candidate_k`` are pooled (ties
keep reciprocal-rank-fusion order, ``rrf_k``), then each candidate chunk is scored by

    dense_weight · max over its sentences of cos(question, sentence)
  + lexical_weight · (max over its sentences of the IDF-weighted share of the question's
                      terms it contains  +  coverage_weight · the same share for the chunk)
  + phrase_weight · max over its sentences of the share of the question's adjacent term
                    pairs ("Super Bowl", "Von Miller") it contains as adjacent terms

Questions are usually answered by one sentence, so the best sentence is a sharper signal
than the whole chunk's vector or BM25 score; BENCHMARKS.md has the measurements.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from itertools import pairwise
from sys import intern
from typing import NamedTuple

import numpy as np

from retrieval.access import Access
from retrieval.catalog import Catalog, SentenceRows
from retrieval.citations import citation_id, find_in_text
from retrieval.embedding import Embedder
from retrieval.lexical import BM25Index, tokenize
from retrieval.models import Chunk, Evidence, EvidenceHit, EvidenceSentence, SearchHit, Sentence
from retrieval.noise import is_noise
from retrieval.reranking import Reranker
from retrieval.scoping import Scope, parse_published
from retrieval.vectorstore import VectorStore

# Sentences kept in memory per namespace index (vectors at 1,536 bytes each): ~150 MB.
MAX_CACHED_SENTENCES = 100_000


@dataclass(frozen=True)
class FusionConfig:
    # From the settings (config/defaults.toml holds their values):
    candidate_k: int
    rrf_k: int
    dense_weight: float
    lexical_weight: float
    # Fixed by measurement (BENCHMARKS.md):
    coverage_weight: float = 0.5
    phrase_weight: float = 0.2
    # Up to this many chunks, dense candidates come from the sentence vectors held in
    # memory (a chunk scores its best sentence); past it, from the vector store's index.
    memory_dense_chunks: int = 2000
    # The learned step (with a reranker): the best ``rerank_sentences`` sentences of the top
    # ``rerank_chunks`` chunks are read by the cross-encoder; a chunk gains ``rerank_weight``
    # per unit of its best sentence's logit. Three, not four: the cost is per token, and
    # three lost nothing on either evaluation set (BENCHMARKS.md).
    rerank_chunks: int = 5
    rerank_sentences: int = 3
    rerank_weight: float = 0.1
    # A question that asks for the newest ("this week", "recently"): of the top chunks within
    # this much of the best score — as good a match as one logit unit of the reranker is
    # worth, no more — the most recently published comes first.
    recency_margin: float = 0.1


class QuoteMatch(NamedTuple):
    doc_id: str
    start: int
    end: int
    exact: bool


def padded(words: list[str]) -> str:
    """Terms as " t1 t2 … ": a term (" t ") or an adjacent pair (" t1 t2 ") is then one
    substring test, much cheaper than building sets for every sentence a question scores."""
    return f" {' '.join(words)} "


@dataclass(frozen=True)
class ChunkSentences:
    """One chunk's sentences as arrays (read once per chunk and generation)."""

    doc_id: str
    indices: np.ndarray  # sentence numbers in the catalog
    starts: np.ndarray
    ends: np.ndarray
    paragraphs: np.ndarray
    vectors: np.ndarray  # (n, dim) float32 (float16 as stored: converted once, not per question)
    terms: list[str | None]  # padded terms; stored at ingest, else tokenized on first use

    def __len__(self) -> int:
        return len(self.starts)

    def sentence(self, i: int, text: str) -> Sentence:
        s, e = int(self.starts[i]), int(self.ends[i])
        return Sentence(self.doc_id, int(self.indices[i]), s, e, int(self.paragraphs[i]), text[s:e])

    def terms_of(self, i: int, text: str) -> str:
        found = self.terms[i]
        if found is None:
            found = self.terms[i] = padded(tokenize(text[self.starts[i] : self.ends[i]]))
        return found


@dataclass(frozen=True)
class ChunkScores:
    """A chunk's sentences scored against the question."""

    sentences: ChunkSentences
    dense: np.ndarray  # cosine similarity of each sentence's vector to the question's
    lexical: np.ndarray  # IDF-weighted share of the question's terms each sentence contains
    phrase: np.ndarray  # share of the question's adjacent term pairs each sentence contains
    coverage: float  # the IDF-weighted share for the chunk as a whole


@dataclass
class NamespaceIndex:
    generation: int
    chunks: list[Chunk]
    row_of: dict[str, int]
    titles: dict[str, str]
    urls: dict[str, str | None]
    texts: dict[str, str]
    bylines: dict[str, tuple[str | None, str | None]]  # doc_id: (author, published)
    bm25: BM25Index
    namespace: str
    catalog: Catalog
    text_chars: int = 0
    # Set filters: each filed document's sets, and each chunk's document as an ordinal into
    # ``doc_ids`` — a filter decides per document (few) and expands to chunks by one gather.
    doc_sets: dict[str, frozenset[str]] = field(default_factory=dict)
    doc_ids: list[str] = field(default_factory=list)
    chunk_doc: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    # Chunks' sentences by chunk row, least recently used first; at most MAX_CACHED_SENTENCES in all.
    _sentences: OrderedDict[int, ChunkSentences] = field(default_factory=OrderedDict, repr=False)
    _cached: int = field(default=0, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _dense: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, catalog: Catalog, namespace: str) -> NamespaceIndex:
        snap = catalog.snapshot(namespace)
        docs = snap.documents
        chunks = [
            Chunk(r.doc_id, r.idx, r.start, r.end, r.paragraph, docs[r.doc_id].text[r.start : r.end])
            for r in snap.chunks
        ]
        titles = {doc_id: doc.title for doc_id, doc in docs.items()}
        doc_ids = list(docs)
        ordinal = {doc_id: i for i, doc_id in enumerate(doc_ids)}
        return cls(
            generation=snap.generation,
            chunks=chunks,
            row_of={c.key: i for i, c in enumerate(chunks)},
            titles=titles,
            urls={doc_id: doc.url for doc_id, doc in docs.items()},
            texts={doc_id: doc.text for doc_id, doc in docs.items()},
            bylines={doc_id: (doc.author, doc.published) for doc_id, doc in docs.items()},
            bm25=BM25Index(chunk_terms(chunks, titles, [r.terms for r in snap.chunks])),
            namespace=namespace,
            catalog=catalog,
            text_chars=sum(len(doc.text) for doc in docs.values()),
            doc_sets={d: sets for d, sets in snap.sets.items() if d in docs},
            doc_ids=doc_ids,
            chunk_doc=np.fromiter((ordinal[c.doc_id] for c in chunks), dtype=np.int32, count=len(chunks)),
        )

    def chunk_mask(self, docs: set[str]) -> np.ndarray:
        """A mask over the chunk rows of the documents ``docs``."""
        keep = np.fromiter((d in docs for d in self.doc_ids), dtype=bool, count=len(self.doc_ids))
        return keep[self.chunk_doc]

    def approx_bytes(self) -> int:
        """Memory held, estimated (measured with tracemalloc on news and Wikipedia articles:
        ~10 bytes per character of text for the texts, chunks and BM25 index, ~2 KB per cached
        sentence, plus the dense matrix when loaded)."""
        dense = self._dense[0].nbytes if self._dense is not None else 0
        return 10 * self.text_chars + 2000 * self._cached + dense

    def sentences(self, row: int, dimension: int) -> ChunkSentences:
        """The chunk's sentences, read from the catalog on first use only."""
        return self.load([row], dimension)[0]

    def load(self, rows: list[int], dimension: int) -> list[ChunkSentences]:
        """The chunks' sentences; those not cached are read from the catalog in one query."""
        found: dict[int, ChunkSentences] = {}
        with self._cache_lock:
            for row in rows:
                cached = self._sentences.get(row)
                if cached is not None:
                    self._sentences.move_to_end(row)
                    found[row] = cached
        missing = [row for row in dict.fromkeys(rows) if row not in found]
        if missing:
            spans = [(self.chunks[r].doc_id, self.chunks[r].start, self.chunks[r].end) for r in missing]
            read = self.catalog.sentence_rows(self.namespace, spans, dimension)
            for row, (doc_id, _, _), part in zip(missing, spans, read, strict=True):
                found[row] = self._remember(row, _chunk_sentences(doc_id, part))
        return [found[row] for row in rows]

    def _remember(self, row: int, sentences: ChunkSentences) -> ChunkSentences:
        with self._cache_lock:
            # First load wins: every reader of this index then scores and quotes the same sentences.
            if row in self._sentences:
                return self._sentences[row]
            self._sentences[row] = sentences
            self._cached += len(sentences)
            while self._cached > MAX_CACHED_SENTENCES and len(self._sentences) > 1:
                _, evicted = self._sentences.popitem(last=False)
                self._cached -= len(evicted)
            return sentences

    def dense_top(self, query_vector: np.ndarray, n: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``n`` chunks whose best sentence is most similar to the question (brute force);
        ``allowed`` (a mask over the chunk rows): the ``n`` best of those only."""
        if self._dense is None:
            with self._lock:
                if self._dense is None:
                    self._dense = self._sentence_rows(len(query_vector))
        vectors, offsets, rows = self._dense
        if not len(rows):
            return []
        best = np.maximum.reduceat(matvec(vectors, query_vector), offsets)
        if allowed is not None:
            keep = allowed[rows]
            best, rows = best[keep], rows[keep]
        if not len(best):
            return []
        n = min(n, len(best))
        top = np.argpartition(-best, n - 1)[:n]
        top = top[np.argsort(-best[top], kind="stable")]
        return [(int(rows[i]), float(best[i])) for i in top]

    def _sentence_rows(self, dimension: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every chunk's sentence vectors, grouped by chunk: (vectors, group offsets, chunk rows).

        A namespace this small is read whole anyway: one read per document (and the terms of
        sentences stored before terms were, tokenized here once rather than on a question)."""
        by_doc: dict[str, list[int]] = {}
        for row, chunk in enumerate(self.chunks):
            by_doc.setdefault(chunk.doc_id, []).append(row)
        parts: list[np.ndarray] = []
        offsets: list[int] = []
        rows: list[int] = []
        total = 0
        for doc_id, doc_rows in by_doc.items():
            text = self.texts[doc_id]
            whole = self.catalog.sentence_rows(self.namespace, [(doc_id, 0, len(text))], dimension)[0]
            for row in doc_rows:
                chunk = self.chunks[row]
                sentences = self._remember(row, _chunk_sentences(doc_id, whole.within(chunk.start, chunk.end)))
                for i in range(len(sentences)):
                    sentences.terms_of(i, text)
                if len(sentences):
                    parts.append(sentences.vectors)
                    offsets.append(total)
                    rows.append(row)
                    total += len(sentences)
        vectors = np.concatenate(parts) if parts else np.zeros((0, dimension), dtype=np.float32)
        return vectors, np.array(offsets, dtype=np.int64), np.array(rows, dtype=np.int64)


def chunk_terms(chunks: list[Chunk], titles: dict[str, str], stored: list[str | None]) -> list[list[str]]:
    """Each chunk's BM25 terms: its document's title terms (questions often name the
    article's subject) and its sentences' terms as stored at ingest — no tokenizing, which
    took most of an index build at 100k chunks. A chunk without stored terms (an older
    catalog) is tokenized whole. Terms are interned: at 100k chunks there are ten million
    of them but few distinct ones; one string object each cut the build's peak memory by 40%."""
    title_terms = {doc_id: tokenize(title) for doc_id, title in titles.items()}
    return [
        title_terms[c.doc_id] + [intern(t) for t in terms.split()]
        if terms is not None
        else tokenize(titles[c.doc_id] + "\n" + c.text)
        for c, terms in zip(chunks, stored, strict=True)
    ]


def _chunk_sentences(doc_id: str, rows: SentenceRows) -> ChunkSentences:
    stored = [None if t is None else f" {t} " for t in rows.terms]
    vectors = rows.vectors.astype(np.float32)
    return ChunkSentences(doc_id, rows.indices, rows.starts, rows.ends, rows.paragraphs, vectors, stored)


@dataclass(frozen=True)
class Retrieved:
    """Search results plus what the answer step reuses (no second embedding or scoring)."""

    hits: list[SearchHit]
    query_vector: np.ndarray
    query_tokens: list[str]
    index: NamespaceIndex
    chunk_scores: dict[str, ChunkScores] = field(default_factory=dict)
    # Cross-encoder logits of the sentences it read, by (doc_id, sentence start).
    rerank: dict[tuple[str, int], float] = field(default_factory=dict)
    in_scope: int | None = None  # with a scope: how many documents it allows

    @cached_property
    def weights(self) -> tuple[list[str], np.ndarray]:
        """The question's distinct terms (padded like sentence terms) and their IDF weights,
        normalised to sum to 1."""
        terms = sorted(set(self.query_tokens))
        weights = np.array([self.index.bm25.weight(t) for t in terms], dtype=np.float32)
        total = float(weights.sum())
        return [f" {t} " for t in terms], (weights / total if total > 0 else weights)

    @cached_property
    def pairs(self) -> list[str]:
        """The question's adjacent term pairs, padded like sentence terms."""
        return list(dict.fromkeys(f" {a} {b} " for a, b in pairwise(self.query_tokens)))

    def scores(self, chunk: Chunk) -> ChunkScores:
        """The chunk's sentences scored against the question (once; the answer step reuses them)."""
        found = self.chunk_scores.get(chunk.key)
        if found is None:
            self.score_rows([self.index.row_of[chunk.key]])
            found = self.chunk_scores[chunk.key]
        return found

    def evidence(self, question: str, top: int) -> Evidence:
        """The top ``top`` hits with their sentences and scores, as frozen values for an answerer."""
        texts = self.index.texts
        hits = []
        for hit in self.hits[:top]:
            s = self.scores(hit.chunk)
            text = texts[hit.chunk.doc_id]
            sentences = []
            for i in range(len(s.sentences)):
                sentence = s.sentences.sentence(i, text)
                logit = self.rerank.get((sentence.doc_id, sentence.start))
                sentences.append(EvidenceSentence(sentence, float(s.dense[i]), float(s.lexical[i]), logit))
            author, published = self.index.bylines[hit.chunk.doc_id]
            hits.append(EvidenceHit(hit, tuple(sentences), author, published, text))
        return Evidence(question, tuple(hits))

    def score_rows(self, rows: list[int]) -> None:
        """Score the chunks' sentences against the question, all chunks at once: at a few
        sentences per chunk, the cost is numpy's per-call overhead, so it is paid per question."""
        chunks = self.index.chunks
        todo = [row for row in dict.fromkeys(rows) if chunks[row].key not in self.chunk_scores]
        if not todo:
            return
        groups = self.index.load(todo, len(self.query_vector))
        words, weights = self.weights
        pairs = self.pairs
        texts = self.index.texts
        have = [g.terms_of(i, texts[g.doc_id]) for g in groups for i in range(len(g))]
        n = len(have)
        present = np.array([[t in h for t in words] for h in have], dtype=bool).reshape(n, len(words))
        lexical = present.astype(np.float32) @ weights if len(words) else np.zeros(n, np.float32)
        phrase = np.array([sum(p in h for p in pairs) for h in have], dtype=np.float32) / max(1, len(pairs))
        dense = matvec(np.concatenate([g.vectors for g in groups]), self.query_vector)
        sizes = np.array([len(g) for g in groups], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        coverage = np.zeros(len(groups), dtype=np.float32)
        filled = np.flatnonzero(sizes)
        if len(filled) and len(words):
            # Rows of empty chunks are none, so each filled chunk's rows run to the next filled start.
            coverage[filled] = np.logical_or.reduceat(present, starts[filled], axis=0).astype(np.float32) @ weights
        for k, (row, g) in enumerate(zip(todo, groups, strict=True)):
            span = slice(int(starts[k]), int(starts[k] + sizes[k]))
            self.chunk_scores[chunks[row].key] = ChunkScores(
                g, dense[span], lexical[span], phrase[span], float(coverage[k])
            )


def matvec(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` on the calling thread only.

    A threaded BLAS call leaves its worker threads spinning for a while after it returns;
    on a small machine they then compete with the next question's embedding, which measured
    ~2x slower asks under load (BENCHMARKS.md). ``vecdot``'s own loop is single-threaded
    (and twice as fast as einsum's here).
    """
    return np.vecdot(matrix, vector.astype(np.float32))


class Searcher:
    def __init__(
        self,
        catalog: Catalog,
        store: VectorStore,
        embedder: Embedder,
        fusion: FusionConfig,
        reranker: Reranker | None = None,
        cache_bytes: int = 0,  # 0: unbounded
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.fusion = fusion
        self.reranker = reranker
        self.cache_bytes = cache_bytes
        # Built indexes, least recently used first: a cache bound by ``cache_bytes`` (the
        # most recent one always stays), rebuilt from the catalog after an eviction.
        self._indexes: OrderedDict[str, NamespaceIndex] = OrderedDict()
        self._sizes: dict[str, int] = {}  # approx_bytes when last measured
        self._total = 0
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def index(self, namespace: str) -> NamespaceIndex:
        """The namespace's index, rebuilt only when the catalog says it changed."""
        generation = self.catalog.generation(namespace)
        cached = self._indexes.get(namespace)
        if cached is not None and cached.generation == generation:
            with self._guard:
                if namespace in self._indexes:
                    self._indexes.move_to_end(namespace)
            return cached
        with self._guard:
            lock = self._locks.setdefault(namespace, threading.Lock())
        with lock:
            cached = self._indexes.get(namespace)
            if cached is None or cached.generation != self.catalog.generation(namespace):
                cached = NamespaceIndex.build(self.catalog, namespace)
                with self._guard:
                    self._indexes[namespace] = cached
                    self._indexes.move_to_end(namespace)
                self.account(namespace)
            return cached

    def account(self, namespace: str) -> None:
        """Re-measure one index (it grows as questions load sentences) and drop the least
        recently used others past the budget. O(1) per call: the sizes are kept, and an
        index only grows when it is used."""
        if not self.cache_bytes:
            return
        with self._guard:
            index = self._indexes.get(namespace)
            if index is None:
                return
            size = index.approx_bytes()
            self._total += size - self._sizes.get(namespace, 0)
            self._sizes[namespace] = size
            while self._total > self.cache_bytes and len(self._indexes) > 1:
                oldest = next(iter(self._indexes))
                if oldest == namespace:  # the one in use stays
                    self._indexes.move_to_end(oldest)
                    oldest = next(iter(self._indexes))
                del self._indexes[oldest]
                self._total -= self._sizes.pop(oldest, 0)

    def cached_namespaces(self) -> list[str]:
        """Namespaces whose index is in memory, least recently used first."""
        with self._guard:
            return list(self._indexes)

    def allowed_docs(
        self, namespace: str, index: NamespaceIndex, scope: Scope | None, access: Access | None
    ) -> set[str] | None:
        """The documents a question may draw on (None: all of them): those ``access`` may see
        and searches (its sets' restrictions read now, so a change applies at once), of those
        the ones ``scope`` allows."""
        docs: set[str] | None = None
        if access is not None and not (access.everything and not access.narrows):
            restricted = self.catalog.set_roles(namespace) if not access.everything else {}
            sets, none = index.doc_sets, frozenset[str]()
            docs = {
                d
                for d in index.doc_ids
                if access.may_see(sets.get(d, none), restricted) and access.searches(sets.get(d, none))
            }
            if len(docs) == len(index.doc_ids):
                docs = None
        if scope is not None:
            # Ingest times (the date of undated documents) are not in the index: one catalog
            # listing per scoped question, small beside the question's embedding.
            dated = scope.since is not None or scope.until is not None
            ingested = {d.id: d.ingested_at for d in self.catalog.documents(namespace)} if dated else {}
            docs = {
                d
                for d in (index.doc_ids if docs is None else docs)
                if scope.allows(index.urls[d], index.bylines[d][1], ingested.get(d))
            }
        return docs

    def retrieve(
        self,
        namespace: str,
        query: str,
        k: int,
        *,
        scope: Scope | None = None,
        access: Access | None = None,
        newest_first: bool = False,
    ) -> Retrieved:
        """Top ``k`` chunks for ``query``; with ``scope`` or ``access``, of the documents they
        allow only (applied before the candidate cut: the best allowed chunks, not the best
        filtered). ``in_scope``: how many documents the filter the reader chose (a scope, a
        set, a channel's sets) leaves; visibility alone reports none (it must not be told).
        ``newest_first``: of nearly equal matches, the most recent article first."""
        index = self.index(namespace)
        query_vector = self.embedder.embed_query(query)
        query_tokens = tokenize(query)
        retrieved = Retrieved([], query_vector, query_tokens, index)
        if not index.chunks:
            return retrieved
        allowed: np.ndarray | None = None
        docs = self.allowed_docs(namespace, index, scope, access)
        if scope is not None or (access is not None and access.narrows):
            retrieved = replace(retrieved, in_scope=len(index.doc_ids) if docs is None else len(docs))
        if docs is not None:
            if not docs:
                return retrieved
            allowed = index.chunk_mask(docs)
        cfg = self.fusion
        n = cfg.candidate_k
        if len(index.chunks) <= cfg.memory_dense_chunks:
            dense = index.dense_top(query_vector, n, allowed)
        elif allowed is not None:
            dense = self._scoped_dense(namespace, index, query_vector, n, allowed)
        else:
            # Ask for a few more: vectors of a half-written or just-removed version are skipped.
            dense = [
                (index.row_of[key], score)
                for key, score in self.store.query(namespace, query_vector, min(n + 10, len(index.chunks) + 10))
                if key in index.row_of
            ][:n]
        lexical = index.bm25.top(query_tokens, n, allowed)
        pooled: dict[int, float] = {}
        dense_scores: dict[int, float] = {}
        lexical_scores: dict[int, float] = {}
        for rank, (row, score) in enumerate(dense):
            pooled[row] = pooled.get(row, 0.0) + 1.0 / (cfg.rrf_k + rank + 1)
            dense_scores[row] = score
        for rank, (row, score) in enumerate(lexical):
            pooled[row] = pooled.get(row, 0.0) + 1.0 / (cfg.rrf_k + rank + 1)
            lexical_scores[row] = score
        retrieved.score_rows(list(pooled))
        scored = []
        for row, rrf in pooled.items():
            s = retrieved.scores(index.chunks[row])
            if len(s.sentences):
                best_dense, best_lexical, best_phrase = s.dense.max(), s.lexical.max(), s.phrase.max()
            else:  # no sentence rows (e.g. the document was just removed): the chunk's own score
                best_dense, best_lexical, best_phrase = dense_scores.get(row, 0.0), 0.0, 0.0
            score = float(
                cfg.dense_weight * best_dense
                + cfg.lexical_weight * (best_lexical + cfg.coverage_weight * s.coverage)
                + cfg.phrase_weight * best_phrase
            )
            scored.append((score, rrf, row))
        scored.sort(key=lambda item: (-item[0], -item[1], item[2]))
        if self.reranker is not None:
            scored = self._rerank(retrieved, query, scored)
        if newest_first:
            scored = self._newest_first(index, scored[:k]) + scored[k:]
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
        self.account(namespace)  # its sentences loaded for this question count against the budget
        return retrieved

    def _newest_first(
        self, index: NamespaceIndex, scored: list[tuple[float, float, int]]
    ) -> list[tuple[float, float, int]]:
        """The chunks within ``recency_margin`` of the best, the most recently published
        document first; undated ones after them in their order (their ingest time tells
        when they were added, not when they were news — a batch ingest would order them at
        random). The rest keep their order."""
        if not scored:
            return scored
        floor = scored[0][0] - self.fusion.recency_margin
        close = [item for item in scored if item[0] >= floor]
        docs = {index.chunks[row].doc_id for *_, row in close}
        when = {doc_id: parse_published(index.bylines[doc_id][1]) for doc_id in docs}
        oldest = datetime.min.replace(tzinfo=UTC)
        close.sort(key=lambda item: when[index.chunks[item[2]].doc_id] or oldest, reverse=True)  # stable
        return close + [item for item in scored if item[0] < floor]

    def _scoped_dense(
        self, namespace: str, index: NamespaceIndex, query_vector: np.ndarray, n: int, allowed: np.ndarray
    ) -> list[tuple[int, float]]:
        """Dense candidates among the allowed chunks of a namespace too big for the in-memory matrix.

        Few allowed chunks (at most ``memory_dense_chunks``): each scores its best sentence
        from its stored vectors (one catalog read, then cached) — exact, and no store round
        trip. Many: the store is asked for as many more as the filter is selective (it
        cannot filter by date or host), capped at the namespace's size, then filtered."""
        rows = np.flatnonzero(allowed)
        if len(rows) <= self.fusion.memory_dense_chunks:
            groups = index.load(rows.tolist(), len(query_vector))
            scored = [
                (int(row), float(matvec(g.vectors, query_vector).max()))
                for row, g in zip(rows, groups, strict=True)
                if len(g)
            ]
            scored.sort(key=lambda item: (-item[1], item[0]))
            return scored[:n]
        total = len(index.chunks)
        want = min(total + 10, (n + 10) * -(-total // len(rows)))
        return [
            (index.row_of[key], score)
            for key, score in self.store.query(namespace, query_vector, want)
            if key in index.row_of and allowed[index.row_of[key]]
        ][:n]

    def find_quote(self, namespace: str, quote: str, access: Access | None = None) -> QuoteMatch | None:
        """Where ``quote`` occurs in the namespace's documents (those ``access`` allows):
        exactly anywhere first, else nearly, in the few documents lexical search ranks highest."""
        index = self.index(namespace)
        docs = self.allowed_docs(namespace, index, None, access)
        texts = index.texts  # the index's cached texts, not one catalog read per document
        for doc_id, text in texts.items():
            if docs is not None and doc_id not in docs:
                continue
            at = text.find(quote)
            if at >= 0:
                return QuoteMatch(doc_id, at, at + len(quote), True)
        if docs is not None and not docs:
            return None
        ranked: list[str] = []
        for row, _ in index.bm25.top(tokenize(quote), 20, None if docs is None else index.chunk_mask(docs)):
            doc_id = index.chunks[row].doc_id
            if doc_id not in ranked:
                ranked.append(doc_id)
        for doc_id in ranked[:5]:
            found = find_in_text(quote, texts[doc_id])
            if found:
                return QuoteMatch(doc_id, *found)
        return None

    def _rerank(
        self, retrieved: Retrieved, query: str, scored: list[tuple[float, float, int]]
    ) -> list[tuple[float, float, int]]:
        """Read the top chunks' most promising sentences with the cross-encoder; reorder the
        top chunks by their best sentence's logit. Few, short pairs: the cost is per token."""
        assert self.reranker is not None
        cfg = self.fusion
        index = retrieved.index
        head, tail = scored[: cfg.rerank_chunks], scored[cfg.rerank_chunks :]
        if not head:
            return scored
        best = head[0][0]
        pool: list[tuple[float, int, Sentence]] = []
        for score, _, row in head:
            chunk = index.chunks[row]
            s = retrieved.scores(chunk)
            text = index.texts[chunk.doc_id]
            title = index.titles[chunk.doc_id]
            for i in range(len(s.sentences)):
                sentence = s.sentences.sentence(i, text)
                if is_noise(sentence.text, title):
                    continue
                prior = float(s.dense[i]) + cfg.lexical_weight * float(s.lexical[i]) - (best - score)
                pool.append((prior, row, sentence))
        seen: set[tuple[str, int]] = set()
        shortlist: list[tuple[int, Sentence]] = []
        for _, row, sentence in sorted(pool, key=lambda item: -item[0]):
            key = (sentence.doc_id, sentence.start)
            if key not in seen:
                seen.add(key)
                shortlist.append((row, sentence))
            if len(shortlist) >= cfg.rerank_sentences:
                break
        if not shortlist:
            return scored
        logits = self.reranker.score(query, [sentence.text for _, sentence in shortlist])
        best_of: dict[int, float] = {}
        for (row, sentence), logit in zip(shortlist, logits.tolist(), strict=True):
            retrieved.rerank[(sentence.doc_id, sentence.start)] = float(logit)
            best_of[row] = max(best_of.get(row, float(logit)), float(logit))
        # A bonus over the weakest logit read: the top chunks stay above the rest.
        floor = min(best_of.values())
        reranked = [
            (score + cfg.rerank_weight * (best_of.get(row, floor) - floor), rrf, row) for score, rrf, row in head
        ]
        reranked.sort(key=lambda item: (-item[0], -item[1], item[2]))
        return reranked + tail
