"""The write path: the one owner of the journal protocol (add, replace, forget, recover, repair).

Write order of an add or a replacement (crash-safe: a crash at any point leaves the old or
the new version visible, never neither, never both):

1. journal row (catalog; durable before step 2: ``synchronous=FULL``)
2. vectors upserted (vector store)
3. one catalog transaction: new rows in, replaced version out — the visibility switch
4. replaced vectors deleted
5. journal row removed

A forget is 1. journal row, 2. catalog delete (the switch), 3. vectors deleted, 4. row
removed. Readers only see chunks whose document row is committed.

Who may recover what: every step above runs under the data dir's writer lock
(``locking.py``, an OS lock the kernel drops when its holder dies), across processes and
threads. So a journal row seen by whoever holds the lock was left by a writer that died or
failed, and recovery (finish or roll back each row) runs only while holding it: when a
service opens, only if the lock is free — a live ingest in another process keeps its rows
and vectors — and before every write, so the next writer cleans up what a dead one left.
Reading the replaced version (the "stale" set) under the same lock is what keeps one
visible version per source when two processes ingest the same source at once.

A failed write (disk full, read-only media) is rolled back at once where the store still
lets it; what it cannot undo stays journaled for the next writer. ``check`` compares each
namespace's catalog chunk count with the store's vector count (a deleted ``chroma/`` or
catalog) and ``repair`` re-embeds what is missing and drops vectors nothing owns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from retrieval.catalog import Catalog, chunk_ids
from retrieval.errors import DocumentExists, StoreError, StoreWriteError
from retrieval.locking import WriteLock
from retrieval.models import Chunk, Document, DocumentInfo, Sentence
from retrieval.vectorstore import VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedDocument:
    """A document chunked and embedded, ready to write."""

    doc: Document
    chunks: Sequence[Chunk]
    sentences: Sequence[Sentence]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    sentence_terms: Sequence[str]


@dataclass(frozen=True)
class Mismatch:
    """A namespace whose catalog and vector store disagree on how many chunks it has."""

    namespace: str
    catalog_chunks: int
    store_vectors: int

    def message(self) -> str:
        return (
            f"namespace {self.namespace!r}: the catalog lists {self.catalog_chunks} chunks but the vector store "
            f"holds {self.store_vectors} vectors (a deleted or restored chroma/ folder or catalog?); "
            "run `citebot repair` to re-embed what is missing and drop what nothing owns"
        )


@dataclass(frozen=True)
class RepairReport:
    namespace: str
    restored_documents: int  # documents whose missing vectors were re-embedded
    restored_vectors: int
    orphans_dropped: int  # vectors no catalog document owns
    journal_fixed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"{self.namespace}: {self.restored_documents} documents re-embedded ({self.restored_vectors} vectors), "
            f"{self.orphans_dropped} orphan vectors dropped"
        )


class Indexer:
    def __init__(self, catalog: Catalog, store: VectorStore, lock: WriteLock) -> None:
        self.catalog = catalog
        self.store = store
        self.lock = lock

    # -- recovery ---------------------------------------------------------------------
    def recover(self, wait: float = 0.0) -> int:
        """Finish or roll back what dead writers left in the journal; entries fixed. Does
        nothing (0) while another writer holds the lock: its rows are live, not debris."""
        if self.catalog.read_only:
            return 0  # nothing can be fixed there, and no one can be writing
        if not self.lock.acquire(wait):
            return 0
        try:
            return self._recover()
        finally:
            self.lock.release()

    def _recover(self) -> int:
        """(Under the lock.)"""
        entries = self.catalog.journal()
        for entry in entries:
            if entry.op == "add" and not self.catalog.has_document(entry.namespace, entry.doc_id):
                # Crashed before the visibility switch: drop the new vectors.
                self.store.delete(entry.namespace, chunk_ids(entry.doc_id, entry.chunks))
            else:
                for doc_id, count in entry.stale:
                    if not self.catalog.has_document(entry.namespace, doc_id):
                        self.store.delete(entry.namespace, chunk_ids(doc_id, count))
            self.catalog.journal_end(entry.id)
        return len(entries)

    # -- writes -----------------------------------------------------------------------
    def write(
        self,
        namespace: str,
        prepared: PreparedDocument,
        admit: Callable[[list[str]], None] | None = None,
        sets: Sequence[str] = (),
    ) -> str:
        """Add ``prepared`` or replace its source's version: "added", "replaced" or
        "unchanged" (another writer committed the same content first). ``admit(replacing)``
        runs under the lock before anything is written (e.g. a quota check) and may raise.
        ``sets``: the document sets it joins, committed with it (see ``Catalog.commit_document``)."""
        doc = prepared.doc
        ids = chunk_ids(doc.id, len(prepared.chunks))
        with self.lock.hold():
            self._recover()
            if self.catalog.has_document(namespace, doc.id):
                return "unchanged"
            # Read under the lock: a concurrent ingest of the same source committed before us or after us.
            stale = [(d, n) for d, n in self.catalog.by_source(namespace, doc.source) if d != doc.id]
            if admit is not None:
                admit([d for d, _ in stale])
            entry = self.catalog.journal_begin(namespace, "add", doc.id, len(ids), stale)  # 1
            try:
                self.store.upsert(  # 2
                    namespace,
                    ids,
                    prepared.chunk_vectors,
                    [c.text for c in prepared.chunks],
                    [
                        {"doc_id": doc.id, "index": c.index, "start": c.start, "end": c.end, "paragraph": c.paragraph}
                        for c in prepared.chunks
                    ],
                )
                self.catalog.commit_document(  # 3: the switch
                    namespace,
                    doc,
                    prepared.chunks,
                    prepared.sentences,
                    prepared.sentence_vectors,
                    [d for d, _ in stale],
                    prepared.sentence_terms,
                    sets=sets,
                )
            except DocumentExists:
                # The same content committed by a writer outside this lock: nothing to do.
                self._undo()
                return "unchanged"
            except StoreError as exc:
                self._undo()  # not visible: drop the vectors now if the store still lets us
                raise StoreWriteError(f"{doc.source}: {exc}") from exc
            self._finish(entry, namespace, stale)  # 4, 5
        return "replaced" if stale else "added"

    def forget(self, namespace: str, doc_id: str) -> DocumentInfo | None:
        """Remove a document and its vectors; None when it is not (or no longer) there."""
        with self.lock.hold():
            self._recover()
            info = self.catalog.document(namespace, doc_id)
            if info is None:
                return None
            entry = self.catalog.journal_begin(namespace, "forget", doc_id, 0, [(doc_id, info.chunks)])
            self.catalog.delete_document(namespace, doc_id)
            self._finish(entry, namespace, [(doc_id, info.chunks)])
        return info

    def _finish(self, entry: int, namespace: str, stale: Sequence[tuple[str, int]]) -> None:
        """Steps 4 and 5, after the switch. The switch is done, so a failure here is no
        failure of the operation: the journal row stays and the next writer finishes it."""
        try:
            for old_id, count in stale:
                self.store.delete(namespace, chunk_ids(old_id, count))
            self.catalog.journal_end(entry)
        except StoreError as exc:
            log.warning("left for the next writer to clean up: %s", exc)

    def _undo(self) -> None:
        """(Under the lock, after a failed write.) Roll back at once; what the store refuses
        now stays journaled for the next writer."""
        try:
            self._recover()
        except StoreError as exc:
            log.warning("could not roll back yet (the next writer will): %s", exc)

    # -- consistency ------------------------------------------------------------------
    def check(self, *, every: bool = False) -> list[Mismatch]:
        """Namespaces whose vector count differs from their catalog's chunk count; skipped
        (empty) while another process is writing, since a live ingest's vectors precede its
        catalog rows. By default only the namespaces one side lacks (a deleted chroma/ folder
        or catalog): counting a collection makes embedded Chroma load its index and keep it
        (~2.7 MB each, never evicted), so counting every one at open cost a process 2.7 GB
        with 1,000 namespaces. ``every``: count them all (``repair`` reads them all anyway)."""
        locked = not self.catalog.read_only
        if locked and not self.lock.acquire(0.0):
            return []
        try:
            in_catalog, in_store = set(self.catalog.namespace_names()), set(self.store.namespaces())
            out = []
            for ns in sorted(in_catalog | in_store):
                if not every and ns in in_catalog and ns in in_store:
                    continue
                expected = self.catalog.chunk_total(ns)
                have = self.store.count(ns) if ns in in_store else 0
                if expected != have:
                    out.append(Mismatch(ns, expected, have))
            return out
        except StoreError as exc:  # e.g. a store that cannot open on read-only media
            log.warning("the store's consistency was not checked: %s", exc)
            return []
        finally:
            if locked:
                self.lock.release()

    def repair(self, namespace: str, embed: Callable[[list[str]], np.ndarray]) -> RepairReport:
        """Make the store hold exactly the catalog's chunks: re-embed (``embed``: chunk texts
        -> vectors) the chunks of documents whose vectors are missing, drop the vectors of
        documents the catalog does not list. Embedding happens outside the lock."""
        with self.lock.hold():
            fixed = self._recover()
            docs = self.catalog.documents(namespace)
            expected = {cid for d in docs for cid in chunk_ids(d.id, d.chunks)}
            have = set(self.store.all_ids(namespace))
            orphans = sorted(have - expected)
            self.store.delete(namespace, orphans)
        damaged = [d for d in docs if not set(chunk_ids(d.id, d.chunks)) <= have]
        restored = vectors = 0
        for info in damaged:
            text = self.catalog.text(namespace, info.id)
            rows = self.catalog.chunk_rows(namespace, info.id)
            if text is None or len(rows) != info.chunks:
                continue  # forgotten or replaced meanwhile
            texts = [text[start:end] for _, start, end, _ in rows]
            embedded = embed(texts)
            with self.lock.hold():
                if not self.catalog.has_document(namespace, info.id):
                    continue
                self.store.upsert(
                    namespace,
                    chunk_ids(info.id, len(rows)),
                    embedded,
                    texts,
                    [
                        {"doc_id": info.id, "index": i, "start": start, "end": end, "paragraph": paragraph}
                        for i, start, end, paragraph in rows
                    ],
                )
            restored += 1
            vectors += len(rows)
        return RepairReport(namespace, restored, vectors, len(orphans), fixed)
