"""The document catalog: SQLite, the source of truth for what is visible.

A document is visible exactly when its row is committed here. Vector-store writes are
bracketed by a journal row, so after a crash at any point recovery can remove the
vectors of a half-done ingest or of a replaced/forgotten version (see ``indexing.py``).

``synchronous=FULL``: a commit is on disk before it returns, so the journal row is durable
before any vector is written (with NORMAL, a WAL commit can be lost to a power cut or a
device gone read-only, leaving vectors no row accounts for). Writes are few (three small
transactions a document), so the fsyncs cost little. A catalog on read-only media opens
read-only: reads work, writes say "read-only".
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from retrieval.errors import StoreError, StoreWriteError
from retrieval.models import Chunk, Document, DocumentInfo, Sentence

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (namespace TEXT PRIMARY KEY, generation INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS documents (
    namespace TEXT NOT NULL, doc_id TEXT NOT NULL, source TEXT NOT NULL, title TEXT NOT NULL,
    url TEXT, author TEXT, published TEXT, media_type TEXT NOT NULL, content_hash TEXT NOT NULL,
    text TEXT NOT NULL, chars INTEGER NOT NULL, bytes INTEGER NOT NULL, chunks INTEGER NOT NULL,
    ingested_at REAL NOT NULL, PRIMARY KEY (namespace, doc_id));
CREATE INDEX IF NOT EXISTS documents_by_source ON documents (namespace, source);
CREATE TABLE IF NOT EXISTS chunks (
    namespace TEXT NOT NULL, doc_id TEXT NOT NULL, idx INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, paragraph INTEGER NOT NULL,
    PRIMARY KEY (namespace, doc_id, idx));
CREATE TABLE IF NOT EXISTS sentences (
    namespace TEXT NOT NULL, doc_id TEXT NOT NULL, idx INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, paragraph INTEGER NOT NULL, vector BLOB,
    terms TEXT, PRIMARY KEY (namespace, doc_id, idx));
-- A question reads only its candidate chunks' sentences: a range seek by position.
CREATE INDEX IF NOT EXISTS sentences_by_start ON sentences (namespace, doc_id, start);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL, op TEXT NOT NULL,
    doc_id TEXT NOT NULL, chunks INTEGER NOT NULL, stale TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ingest_events (namespace TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL, user_id TEXT NOT NULL,
    question TEXT NOT NULL, answer TEXT NOT NULL, citations TEXT NOT NULL, vote INTEGER NOT NULL,
    created_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class Snapshot:
    generation: int
    documents: dict[str, DocumentRow]
    chunks: list[ChunkRow]  # by document and index


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
    def empty(cls, dimension: int) -> SentenceRows:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, none, none, np.zeros((0, dimension), dtype=np.float16), [])


@dataclass(frozen=True)
class JournalEntry:
    id: int
    namespace: str
    op: str  # "add" | "forget"
    doc_id: str
    chunks: int
    stale: tuple[tuple[str, int], ...]  # (doc_id, chunk count) of versions being removed


@dataclass(frozen=True)
class NamespaceInfo:
    namespace: str
    documents: int
    chunks: int

    def to_dict(self) -> dict[str, str | int]:
        return {"namespace": self.namespace, "documents": self.documents, "chunks": self.chunks}


def chunk_ids(doc_id: str, count: int) -> list[str]:
    return [f"{doc_id}:{i}" for i in range(count)]


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self.read_only = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not (exc.errno == errno.EROFS and path.exists()):
                raise StoreError(f"cannot open the data dir {path.parent}: {exc.strerror}") from exc
        if not os.access(path.parent, os.W_OK) or _read_only_fs(path.parent):
            self.read_only = path.exists()
        try:
            if self.read_only:
                self._check_schema(self._conn())
                return
            conn = self._conn()
            conn.executescript(_SCHEMA)  # idempotent; executescript commits itself
            if "terms" not in {row[1] for row in conn.execute("PRAGMA table_info(sentences)")}:
                # Catalogs written before sentence terms were stored: those rows are tokenized when read.
                conn.execute("ALTER TABLE sentences ADD COLUMN terms TEXT")
            with self._tx() as db:
                row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self._check_schema(conn)
        except StoreWriteError as exc:
            raise StoreError(f"cannot open the catalog at {path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            if _is_read_only(exc):
                raise StoreError(f"cannot open the catalog at {path}: the data dir is read-only") from exc
            raise StoreError(f"the catalog at {path} is unreadable or corrupt: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open the data dir {path.parent}: {exc.strerror}") from exc

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is not None and int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: catalog schema {row[0]} is not supported (expected {SCHEMA_VERSION})")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.read_only:
                conn = _open_read_only(self.path)
            else:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")  # see the module docstring
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise StoreWriteError(f"the data dir {self.path.parent} is read-only")
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if _is_full(exc) or _is_read_only(exc) or "disk i/o" in str(exc).lower():
                reason = "the disk is full" if _is_full(exc) else str(exc)
                if _is_read_only(exc):
                    reason = "the data dir is read-only"
                raise StoreWriteError(f"the catalog could not be written: {reason}") from exc
            raise

    def _read(self, sql: str, params: Sequence = ()) -> list[tuple]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the catalog at {self.path} is unreadable or corrupt: {exc}") from exc

    # -- settings guard ---------------------------------------------------------------
    def check_embedding(self, name: str, dimension: int) -> None:
        """Refuse to mix vectors of different models in one data dir."""
        want = json.dumps({"model": name, "dimension": dimension})
        rows = self._read("SELECT value FROM meta WHERE key='embedding'")
        if rows and rows[0][0] == want:
            return  # the usual case: no write (a catalog on read-only media can still answer)
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='embedding'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('embedding', ?)", (want,))
            elif row[0] != want:
                have = json.loads(row[0])
                raise StoreError(
                    f"this data dir was built with embedding model {have['model']!r}; "
                    f"use it again or choose another data dir for {name!r}"
                )

    # -- reads ------------------------------------------------------------------------
    def generation(self, namespace: str) -> int:
        rows = self._read("SELECT generation FROM namespaces WHERE namespace=?", (namespace,))
        return rows[0][0] if rows else 0

    def has_document(self, namespace: str, doc_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM documents WHERE namespace=? AND doc_id=?", (namespace, doc_id)))

    def document(self, namespace: str, doc_id: str) -> DocumentInfo | None:
        rows = self._read(f"SELECT {_INFO_COLUMNS} FROM documents WHERE namespace=? AND doc_id=?", (namespace, doc_id))
        return _info(rows[0]) if rows else None

    def documents(self, namespace: str) -> list[DocumentInfo]:
        rows = self._read(
            f"SELECT {_INFO_COLUMNS} FROM documents WHERE namespace=? ORDER BY ingested_at, doc_id", (namespace,)
        )
        return [_info(r) for r in rows]

    def namespaces(self) -> list[NamespaceInfo]:
        """Every namespace with a generation row (one is made by its first write), by name."""
        rows = self._read(
            "SELECT n.namespace, COUNT(d.doc_id), COALESCE(SUM(d.chunks), 0) FROM namespaces n "
            "LEFT JOIN documents d ON d.namespace = n.namespace GROUP BY n.namespace ORDER BY n.namespace"
        )
        return [NamespaceInfo(r[0], int(r[1]), int(r[2])) for r in rows]

    def text(self, namespace: str, doc_id: str) -> str | None:
        rows = self._read("SELECT text FROM documents WHERE namespace=? AND doc_id=?", (namespace, doc_id))
        return rows[0][0] if rows else None

    def by_source(self, namespace: str, source: str) -> list[tuple[str, int]]:
        return [
            (r[0], r[1])
            for r in self._read(
                "SELECT doc_id, chunks FROM documents WHERE namespace=? AND source=?", (namespace, source)
            )
        ]

    def namespace_names(self) -> list[str]:
        """Namespaces that ever held a document (a cheap list for the open-time count check)."""
        return [r[0] for r in self._read("SELECT namespace FROM namespaces ORDER BY namespace")]

    def chunk_total(self, namespace: str) -> int:
        """How many vectors the namespace's visible documents own."""
        return int(self._read("SELECT COALESCE(SUM(chunks), 0) FROM documents WHERE namespace=?", (namespace,))[0][0])

    def chunk_rows(self, namespace: str, doc_id: str) -> list[tuple[int, int, int, int]]:
        """(index, start, end, paragraph) of a document's chunks, in order (to re-embed them)."""
        return [
            (r[0], r[1], r[2], r[3])
            for r in self._read(
                'SELECT idx, start, "end", paragraph FROM chunks WHERE namespace=? AND doc_id=? ORDER BY idx',
                (namespace, doc_id),
            )
        ]

    def usage(self, namespace: str, exclude: Sequence[str] = ()) -> tuple[int, int]:
        """(documents, bytes) of the namespace, not counting the ``exclude`` doc ids."""
        marks = ",".join("?" * len(exclude))
        row = self._read(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM documents WHERE namespace=?"
            + (f" AND doc_id NOT IN ({marks})" if exclude else ""),
            (namespace, *exclude),
        )[0]
        return int(row[0]), int(row[1])

    def ingests_since(self, namespace: str, since: float) -> int:
        return int(
            self._read("SELECT COUNT(*) FROM ingest_events WHERE namespace=? AND at>=?", (namespace, since))[0][0]
        )

    def snapshot(self, namespace: str) -> Snapshot:
        """Everything a namespace's search index is built from, read consistently."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            gen_rows = conn.execute("SELECT generation FROM namespaces WHERE namespace=?", (namespace,)).fetchall()
            docs = {
                r[0]: DocumentRow(*r[1:])
                for r in conn.execute(
                    "SELECT doc_id, title, url, text, author, published FROM documents WHERE namespace=?", (namespace,)
                )
            }
            # Each chunk with its sentences' stored terms, joined here (one string per chunk,
            # not a row per sentence); NULL when a sentence was stored without terms. The upper
            # bound on s.start makes each chunk one short index range, not a scan of the rest
            # of its document (O(chunks x sentences) per document without it).
            chunks = conn.execute(
                'SELECT c.doc_id, c.idx, c.start, c."end", c.paragraph, '
                "CASE WHEN count(s.idx) = count(s.terms) THEN group_concat(s.terms, ' ') END "
                "FROM chunks c LEFT JOIN sentences s ON s.namespace = c.namespace AND s.doc_id = c.doc_id "
                'AND s.start >= c.start AND s.start < c."end" AND s."end" <= c."end" '
                "WHERE c.namespace=? GROUP BY c.doc_id, c.idx ORDER BY c.doc_id, c.idx",
                (namespace,),
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the catalog at {self.path} is unreadable or corrupt: {exc}") from exc
        finally:
            conn.execute("COMMIT")
        return Snapshot((gen_rows[0][0] if gen_rows else 0), docs, [ChunkRow(*row) for row in chunks])

    def sentence_rows(
        self, namespace: str, spans: Sequence[tuple[str, int, int]], dimension: int
    ) -> list[SentenceRows]:
        """For each (doc_id, start, end), the document's sentences inside [start, end), as
        arrays (vectors zero where none were stored). One query: an index seek per span."""
        if not spans:
            return []
        one = 'SELECT ?, idx, start, "end", paragraph, vector, terms FROM sentences '
        # start<? bounds the index range (a sentence inside the span starts before its end).
        one += 'WHERE namespace=? AND doc_id=? AND start>=? AND start<? AND "end"<=?'
        rows = self._read(
            " UNION ALL ".join([one] * len(spans)),  # sorted below: an ORDER BY here costs a temp B-tree
            [
                value
                for k, (doc_id, start, end) in enumerate(spans)
                for value in (k, namespace, doc_id, start, end, end)
            ],
        )
        by_span: list[list[tuple]] = [[] for _ in spans]
        for r in rows:
            by_span[r[0]].append(r)
        return [_sentence_rows(sorted(span_rows, key=lambda r: r[2]), dimension) for span_rows in by_span]

    # -- journal ----------------------------------------------------------------------
    def journal_begin(self, namespace: str, op: str, doc_id: str, chunks: int, stale: Sequence[tuple[str, int]]) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO journal (namespace, op, doc_id, chunks, stale, created_at) VALUES (?,?,?,?,?,?)",
                (namespace, op, doc_id, chunks, json.dumps([list(s) for s in stale]), time.time()),
            )
            return int(cur.lastrowid or 0)

    def journal_end(self, entry_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM journal WHERE id=?", (entry_id,))

    def journal(self) -> list[JournalEntry]:
        rows = self._read("SELECT id, namespace, op, doc_id, chunks, stale FROM journal ORDER BY id")
        return [JournalEntry(r[0], r[1], r[2], r[3], r[4], tuple(tuple(s) for s in json.loads(r[5]))) for r in rows]

    # -- writes (each one transaction, bumping the namespace generation) --------------
    def commit_document(
        self,
        namespace: str,
        doc: Document,
        chunks: Sequence[Chunk],
        sentences: Sequence[Sentence],
        sentence_vectors: np.ndarray | None,
        replaces: Sequence[str],
        sentence_terms: Sequence[str] | None = None,
    ) -> None:
        """Make the document visible, with its chunks and sentences (``sentence_terms``: each
        sentence's search terms, space-separated, so questions need not tokenize them)."""
        data = doc.text.encode("utf-8")
        with self._tx() as db:
            for old in replaces:
                _delete_rows(db, namespace, old)
            db.execute(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    namespace,
                    doc.id,
                    doc.source,
                    doc.title,
                    doc.url,
                    doc.author,
                    doc.published,
                    doc.media_type,
                    doc.id,
                    doc.text,
                    len(doc.text),
                    len(data),
                    len(chunks),
                    time.time(),
                ),
            )
            db.executemany(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?)",
                [(namespace, doc.id, c.index, c.start, c.end, c.paragraph) for c in chunks],
            )
            db.executemany(
                "INSERT INTO sentences VALUES (?,?,?,?,?,?,?,?)",
                [
                    (
                        namespace,
                        doc.id,
                        s.index,
                        s.start,
                        s.end,
                        s.paragraph,
                        sentence_vectors[i].astype(np.float16).tobytes() if sentence_vectors is not None else None,
                        sentence_terms[i] if sentence_terms is not None else None,
                    )
                    for i, s in enumerate(sentences)
                ],
            )
            db.execute("INSERT INTO ingest_events VALUES (?, ?)", (namespace, time.time()))
            _bump(db, namespace)

    def delete_document(self, namespace: str, doc_id: str) -> bool:
        with self._tx() as db:
            found = _delete_rows(db, namespace, doc_id)
            if found:
                _bump(db, namespace)
            return found

    # -- feedback ---------------------------------------------------------------------
    def add_feedback(
        self, namespace: str, user_id: str, question: str, answer: str, citations: list[dict], vote: int
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO feedback (namespace, user_id, question, answer, citations, vote, created_at) "
                "VALUES (?,?,?,?,?,?,?)",
                (namespace, user_id, question, answer, json.dumps(citations), vote, time.time()),
            )

    def feedback_counts(self, namespace: str) -> tuple[int, int]:
        row = self._read(
            "SELECT COALESCE(SUM(vote > 0), 0), COALESCE(SUM(vote < 0), 0) FROM feedback WHERE namespace=?",
            (namespace,),
        )[0]
        return int(row[0]), int(row[1])


_INFO_COLUMNS = "doc_id, namespace, source, title, url, author, published, content_hash, chars, chunks, ingested_at"


def _sentence_rows(rows: Sequence[tuple], dimension: int) -> SentenceRows:
    """(span, idx, start, end, paragraph, vector, terms) rows of one span, in text order."""
    vectors = np.zeros((len(rows), dimension), dtype=np.float16)  # as stored; half the memory
    for i, r in enumerate(rows):
        if r[5] is not None and len(r[5]) == 2 * dimension:
            vectors[i] = np.frombuffer(r[5], dtype=np.float16)
    columns = np.array([r[1:5] for r in rows], dtype=np.int64).reshape(len(rows), 4)
    return SentenceRows(columns[:, 0], columns[:, 1], columns[:, 2], columns[:, 3], vectors, [r[6] for r in rows])


def _info(row: tuple) -> DocumentInfo:
    return DocumentInfo(*row)


def _delete_rows(db: sqlite3.Connection, namespace: str, doc_id: str) -> bool:
    cur = db.execute("DELETE FROM documents WHERE namespace=? AND doc_id=?", (namespace, doc_id))
    db.execute("DELETE FROM chunks WHERE namespace=? AND doc_id=?", (namespace, doc_id))
    db.execute("DELETE FROM sentences WHERE namespace=? AND doc_id=?", (namespace, doc_id))
    return cur.rowcount > 0


def _bump(db: sqlite3.Connection, namespace: str) -> None:
    db.execute(
        "INSERT INTO namespaces (namespace, generation) VALUES (?, 1) "
        "ON CONFLICT(namespace) DO UPDATE SET generation = generation + 1",
        (namespace,),
    )


def _is_full(exc: BaseException) -> bool:
    return "disk is full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def _is_read_only(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or getattr(exc, "sqlite_errorcode", 0) & 0xFF == 8


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A catalog on read-only media. ``mode=ro`` reads a WAL left beside it (a writer that
    died or lost write access); with no -wal/-shm there, SQLite cannot create them, and
    ``immutable`` (nothing can change the file anyway) is the way in."""
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
