"""The document catalog: the source of truth for what is visible, as one interface.

A document is visible exactly when its row is committed in the catalog. Vector-store writes
are bracketed by a journal entry, so after a crash at any point recovery can remove the
vectors of a half-done ingest or of a replaced/forgotten version (see ``indexing.py``).

``Catalog`` is the seam a backend implements (``sqlite_catalog.SqliteCatalog`` is the
embedded one); the indexer, the searcher and the service know only this module's protocol
and values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from retrieval.feed_values import Feed, FeedEntryRecord, FeedState
from retrieval.models import Chunk, Document, DocumentInfo, Sentence, chunk_key


@dataclass(frozen=True)
class Snapshot:
    generation: int
    documents: dict[str, DocumentRow]  # in ingest order
    chunks: list[ChunkRow]  # by document and index
    sets: dict[str, frozenset[str]] = field(default_factory=dict)  # doc_id: its sets (unfiled: absent)


class DocumentRow(NamedTuple):
    title: str
    url: str | None
    text: str
    author: str | None
    published: str | None


class ChunkRow(NamedTuple):
    doc_id: str
    idx: int
    start: int
    end: int
    paragraph: int
    terms: str | None  # its sentences' stored terms, joined; None if any sentence has none


@dataclass(frozen=True)
class SentenceRows:
    """Sentences of one document span, column by column."""

    indices: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    paragraphs: np.ndarray
    vectors: np.ndarray  # (n, dim) float16
    terms: list[str | None]  # search terms, space-separated (None: not stored)

    def __len__(self) -> int:
        return len(self.starts)

    def within(self, start: int, end: int) -> SentenceRows:
        """The rows inside [start, end) (rows are in text order)."""
        first = int(np.searchsorted(self.starts, start, side="left"))
        last = max(first, int(np.searchsorted(self.ends, end, side="right")))
        return SentenceRows(
            self.indices[first:last],
            self.starts[first:last],
            self.ends[first:last],
            self.paragraphs[first:last],
            self.vectors[first:last],
            self.terms[first:last],
        )

    @classmethod
    def from_rows(cls, rows: Sequence[tuple], dimension: int) -> SentenceRows:
        """(span, idx, start, end, paragraph, vector, terms) rows of one span, in text order,
        as either backend reads them (a vector: float16 bytes or a buffer of them)."""
        vectors = np.zeros((len(rows), dimension), dtype=np.float16)  # as stored; half the memory
        for i, r in enumerate(rows):
            if r[5] is not None and len(r[5]) == 2 * dimension:
                vectors[i] = np.frombuffer(r[5], dtype=np.float16)
        columns = np.array([r[1:5] for r in rows], dtype=np.int64).reshape(len(rows), 4)
        return cls(columns[:, 0], columns[:, 1], columns[:, 2], columns[:, 3], vectors, [r[6] for r in rows])


def grouped(rows: Sequence[tuple]) -> dict[str, frozenset[str]]:
    """(key, value) rows as key: the set of its values."""
    out: dict[str, set[str]] = {}
    for key, value in rows:
        out.setdefault(key, set()).add(value)
    return {key: frozenset(values) for key, values in out.items()}


@dataclass(frozen=True)
class JournalEntry:
    id: int
    namespace: str
    op: str  # "add" | "forget"
    doc_id: str
    chunks: int
    stale: tuple[tuple[str, int], ...]  # (doc_id, chunk count) of versions being removed


@dataclass(frozen=True)
class QuestionEntry:
    """One question the bot answered or abstained on, as the question log keeps it."""

    asked_at: float  # Unix time
    question: str  # as asked
    normalized: str  # what groups rewordings together (see ``retrieval.stats.normalize``)
    answered: bool
    doc_ids: tuple[str, ...]  # the documents its answer cited (each once)


@dataclass(frozen=True)
class NamespaceInfo:
    namespace: str
    documents: int
    chunks: int

    def to_dict(self) -> dict[str, str | int]:
        return {"namespace": self.namespace, "documents": self.documents, "chunks": self.chunks}


def chunk_ids(doc_id: str, count: int) -> list[str]:
    return [chunk_key(doc_id, i) for i in range(count)]


class Catalog(Protocol):
    """What the indexer, the searcher and the service need of a catalog. Every write is one
    transaction that bumps the namespace's generation; reads never see half a write."""

    read_only: bool  # the store opened read-only (read-only media): reads work, writes refuse

    def check_embedding(self, name: str, dimension: int) -> None:
        """Record the embedding model on first use; refuse a different one later."""
        ...

    # -- reads
    def generation(self, namespace: str) -> int: ...
    def has_document(self, namespace: str, doc_id: str) -> bool: ...
    def document(self, namespace: str, doc_id: str) -> DocumentInfo | None: ...
    def documents(self, namespace: str) -> list[DocumentInfo]: ...
    def namespaces(self) -> list[NamespaceInfo]: ...
    def namespace_names(self) -> list[str]: ...
    def text(self, namespace: str, doc_id: str) -> str | None: ...
    def by_source(self, namespace: str, source: str) -> list[tuple[str, int]]:
        """(doc_id, chunk count) of the visible versions of ``source``."""
        ...

    def chunk_total(self, namespace: str) -> int: ...
    def chunk_rows(self, namespace: str, doc_id: str) -> list[tuple[int, int, int, int]]:
        """(index, start, end, paragraph) of a document's chunks, in order."""
        ...

    def usage(self, namespace: str, exclude: Sequence[str] = ()) -> tuple[int, int]:
        """(documents, bytes) of the namespace, not counting the ``exclude`` doc ids."""
        ...

    def ingests_since(self, namespace: str, since: float) -> int: ...
    def snapshot(self, namespace: str) -> Snapshot:
        """Everything a namespace's search index is built from, read consistently."""
        ...

    def sentence_rows(
        self, namespace: str, spans: Sequence[tuple[str, int, int]], dimension: int
    ) -> list[SentenceRows]:
        """For each (doc_id, start, end), the document's sentences inside [start, end)."""
        ...

    # -- the write journal (see indexing.py)
    def journal_begin(
        self, namespace: str, op: str, doc_id: str, chunks: int, stale: Sequence[tuple[str, int]]
    ) -> int: ...
    def journal_end(self, entry_id: int) -> None: ...
    def journal(self) -> list[JournalEntry]: ...

    # -- writes
    def commit_document(
        self,
        namespace: str,
        doc: Document,
        chunks: Sequence[Chunk],
        sentences: Sequence[Sentence],
        sentence_vectors: np.ndarray | None,
        replaces: Sequence[str],
        sentence_terms: Sequence[str] | None = None,
        sets: Sequence[str] = (),
    ) -> None:
        """Make the document visible (replacing ``replaces``), with its chunks and sentences.
        ``sets``: the document sets it joins, in the same transaction (a crash never leaves a
        restricted document unfiled); a replacement keeps the replaced versions' sets too."""
        ...

    def delete_document(self, namespace: str, doc_id: str) -> bool: ...

    # -- document sets (memberships change what is visible: they bump the generation;
    # restrictions are read per question, so a change applies at once in every process)
    def add_to_sets(self, namespace: str, doc_id: str, sets: Sequence[str]) -> bool:
        """Add a stored document to ``sets``; False when it is not stored or was in all of them."""
        ...

    def document_sets(self, namespace: str) -> dict[str, frozenset[str]]:
        """Each filed document's sets (unfiled documents are absent)."""
        ...

    def set_roles(self, namespace: str) -> dict[str, frozenset[str]]:
        """The restricted sets and the role ids each is visible to (unrestricted: absent)."""
        ...

    def restrict_set(self, namespace: str, set_name: str, roles: Sequence[str]) -> None:
        """Make ``set_name`` visible only to ``roles`` (empty: to everyone again)."""
        ...

    # -- feedback
    def add_feedback(
        self, namespace: str, user_id: str, question: str, answer: str, citations: list[dict], vote: int
    ) -> None: ...
    def feedback_counts(self, namespace: str) -> tuple[int, int]: ...

    # -- per-namespace settings (a server's overrides of a global default; not a visible
    # change, so no generation bump)
    def namespace_setting(self, namespace: str, key: str) -> str | None: ...
    def set_namespace_setting(self, namespace: str, key: str, value: str | None) -> None:
        """Store ``value`` for the key (None: remove it, back to the default)."""
        ...

    # -- question log and stats (issue 13) --------------------------------------------------
    # Not a visible change either (no generation bump). Times are Unix seconds; a "day" is a
    # UTC day, numbered as ``int(t // 86400)``.
    def log_question(self, namespace: str, entry: QuestionEntry, prune_before: float) -> None:
        """Record ``entry``, and drop the namespace's entries older than ``prune_before``
        (the log's retention), in one transaction."""
        ...

    def question_days(self, namespace: str, since: float) -> list[tuple[int, int, int]]:
        """(day, answered, abstained) of each day since ``since`` that had questions, by day."""
        ...

    def top_unanswered(self, namespace: str, since: float, limit: int) -> list[tuple[str, int]]:
        """(normalized question, times asked) of the most frequent abstentions since ``since``
        (ties: the most recently asked first)."""
        ...

    def top_cited(self, namespace: str, since: float, limit: int) -> list[tuple[str, int]]:
        """(doc_id, answers citing it) of the most cited documents since ``since`` (ties: by id)."""
        ...

    def feedback_counts_since(self, namespace: str, since: float) -> tuple[int, int]:
        """(👍, 👎) given since ``since``."""
        ...

    def add_feedback_note(self, namespace: str, user_id: str, question: str, note: str) -> bool:
        """Attach ``note`` to the user's latest 👎 on ``question``; False when there is none."""
        ...

    # -- feeds (issue 13) -------------------------------------------------------------
    # Subscriptions and their poll state, per namespace (not a visible change: no
    # generation bump). See ``feeds.py``.
    def add_feed(self, feed: Feed) -> bool:
        """Store a new feed; False (nothing changed) when its namespace already has it."""
        ...

    def feeds(self, namespace: str | None) -> list[Feed]:
        """The namespace's feeds (None: every namespace's), by namespace, then as added."""
        ...

    def remove_feed(self, namespace: str, feed_id: str) -> bool:
        """Remove the feed and its remembered entries (the documents it brought stay)."""
        ...

    def set_feed_state(self, namespace: str, feed_id: str, state: FeedState) -> None: ...
    def feed_entries(self, namespace: str, feed_id: str) -> dict[str, FeedEntryRecord]:
        """The entries the feed was seen with, by key."""
        ...

    def record_feed_entries(self, namespace: str, feed_id: str, entries: Sequence[FeedEntryRecord]) -> None:
        """Insert or update these entries (one transaction)."""
        ...

    def prune_feed_entries(self, namespace: str, feed_id: str, keep: Sequence[str], before: float) -> int:
        """Forget entries recorded before ``before`` that are not in ``keep`` (those the feed
        still lists), so a feed's memory stays bounded. How many were forgotten."""
        ...
