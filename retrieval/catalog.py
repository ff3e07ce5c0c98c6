"""The document catalog: SQLite, the source of truth for what is visible.

A document is visible exactly when its row is committed here. Vector-store writes are
bracketed by a journal row, so after a crash at any point ``recover`` can remove the
vectors of a half-done ingest or of a replaced/forgotten version (see ``service.py``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.errors import StoreError
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
    PRIMARY KEY (namespace, doc_id, idx));
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
class JournalEntry:
    id: int
    namespace: str
    op: str  # "add" | "forget"
    doc_id: str
    chunks: int
    stale: tuple[tuple[str, int], ...]  # (doc_id, chunk count) of versions being removed


def chunk_ids(doc_id: str, count: int) -> list[str]:
    return [f"{doc_id}:{i}" for i in range(count)]


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn().executescript(_SCHEMA)  # idempotent; executescript commits itself
            with self._tx() as db:
                row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                elif int(row[0]) != SCHEMA_VERSION:
                    raise StoreError(f"{path}: catalog schema {row[0]} is not supported (expected {SCHEMA_VERSION})")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the catalog at {path} is unreadable or corrupt: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open the data dir {path.parent}: {exc.strerror}") from exc

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence = ()) -> list[tuple]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the catalog at {self.path} is unreadable or corrupt: {exc}") from exc

    # -- settings guard ---------------------------------------------------------------
    def check_embedding(self, name: str, dimension: int) -> None:
        """Refuse to mix vectors of different models in one data dir."""
        want = json.dumps({"model": name, "dimension": dimension})
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

    def snapshot(self, namespace: str) -> tuple[int, dict[str, tuple[str, str | None, str]], list[tuple]]:
        """Generation, {doc_id: (title, url, text)} and all chunk rows, read consistently."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            gen_rows = conn.execute("SELECT generation FROM namespaces WHERE namespace=?", (namespace,)).fetchall()
            docs = {
                r[0]: (r[1], r[2], r[3])
                for r in conn.execute("SELECT doc_id, title, url, text FROM documents WHERE namespace=?", (namespace,))
            }
            chunks = conn.execute(
                'SELECT doc_id, idx, start, "end", paragraph FROM chunks WHERE namespace=? ORDER BY doc_id, idx',
                (namespace,),
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the catalog at {self.path} is unreadable or corrupt: {exc}") from exc
        finally:
            conn.execute("COMMIT")
        return (gen_rows[0][0] if gen_rows else 0), docs, chunks

    def sentences_in(
        self, namespace: str, doc_id: str, text: str, start: int, end: int
    ) -> list[tuple[Sentence, np.ndarray | None]]:
        """Sentences of ``text`` (the document's) inside [start, end), with their vectors."""
        rows = self._read(
            'SELECT idx, start, "end", paragraph, vector FROM sentences '
            'WHERE namespace=? AND doc_id=? AND start>=? AND "end"<=? ORDER BY idx',
            (namespace, doc_id, start, end),
        )
        return [
            (
                Sentence(doc_id, r[0], r[1], r[2], r[3], text[r[1] : r[2]]),
                np.frombuffer(r[4], dtype=np.float16).astype(np.float32) if r[4] is not None else None,
            )
            for r in rows
        ]

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
    ) -> None:
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
                "INSERT INTO sentences VALUES (?,?,?,?,?,?,?)",
                [
                    (
                        namespace,
                        doc.id,
                        s.index,
                        s.start,
                        s.end,
                        s.paragraph,
                        sentence_vectors[i].astype(np.float16).tobytes() if sentence_vectors is not None else None,
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
