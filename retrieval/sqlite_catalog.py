"""The embedded catalog backend: one SQLite file (see ``catalog.py`` for the interface).

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
from pathlib import Path

import numpy as np

from retrieval import migrations
from retrieval.catalog import (
    ChunkRow,
    DocumentRow,
    JournalEntry,
    NamespaceInfo,
    QuestionEntry,
    SentenceRows,
    Snapshot,
    grouped,
)
from retrieval.errors import DocumentExists, StoreError, StoreWriteError
from retrieval.feed_rows import (
    ENTRY_COLUMNS,
    FEED_COLUMNS,
    FEEDS_QUERY,
    entry_values,
    feed_from_row,
    feed_values,
    state_values,
)
from retrieval.feed_values import Feed, FeedEntryRecord, FeedState
from retrieval.models import Chunk, Document, DocumentInfo, Sentence

SCHEMA_VERSION = migrations.latest("sqlite")  # the schema: retrieval/migrations/sqlite/
SETS_VERSION = 6  # the schema that added document sets (older read-only catalogs have none)
BUSY_SECONDS = 30  # how long a connection waits for another process's write


class SqliteCatalog:
    """The embedded catalog: one SQLite file in the data dir."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self.read_only = False
        self._version = SCHEMA_VERSION
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
            self._migrate()
            self._check_schema(conn)
        except StoreWriteError as exc:
            raise StoreError(f"cannot open the catalog at {path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            if _is_read_only(exc):
                raise StoreError(f"cannot open the catalog at {path}: the data dir is read-only") from exc
            raise StoreError(f"the catalog at {path} is unreadable or corrupt: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open the data dir {path.parent}: {exc.strerror}") from exc

    def _migrate(self) -> None:
        """Apply the numbered steps above the recorded version, each in one transaction that
        records its version (re-read inside it: another process may have just migrated)."""
        if _schema_version(self._conn()) < SCHEMA_VERSION:
            for step in migrations.steps("sqlite"):
                with self._tx() as db:
                    if _schema_version(db) >= step.version:
                        continue
                    for statement in _statements(step.sql):
                        db.execute(statement)
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(step.version),))
        if not _has_terms(self._conn()):
            with self._tx() as db:
                if not _has_terms(db):
                    # Catalogs written before sentence terms were stored: those rows are tokenized when read.
                    db.execute("ALTER TABLE sentences ADD COLUMN terms TEXT")

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        self._version = int(row[0]) if row is not None else SCHEMA_VERSION
        # Read-only media cannot migrate: an older schema is read as it is (schema 1 lacks
        # only the namespace settings, read as "none").
        older = self.read_only and 1 <= self._version < SCHEMA_VERSION
        if self._version != SCHEMA_VERSION and not older:
            raise StoreError(f"{self.path}: catalog schema {row[0]} is not supported (expected {SCHEMA_VERSION})")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.read_only:
                conn = _open_read_only(self.path)
            else:
                conn = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
                _enter_wal(conn)
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
                    "SELECT doc_id, title, url, text, author, published FROM documents WHERE namespace=? "
                    "ORDER BY ingested_at, doc_id",
                    (namespace,),
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
            sets = grouped(
                conn.execute("SELECT doc_id, set_name FROM document_sets WHERE namespace=?", (namespace,)).fetchall()
                if self._version >= SETS_VERSION
                else []
            )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the catalog at {self.path} is unreadable or corrupt: {exc}") from exc
        finally:
            conn.execute("COMMIT")
        return Snapshot((gen_rows[0][0] if gen_rows else 0), docs, [ChunkRow(*row) for row in chunks], sets)

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
        return [SentenceRows.from_rows(sorted(span_rows, key=lambda r: r[2]), dimension) for span_rows in by_span]

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
        sets: Sequence[str] = (),
    ) -> None:
        """Make the document visible, with its chunks and sentences (``sentence_terms``: each
        sentence's search terms, space-separated, so questions need not tokenize them)."""
        data = doc.text.encode("utf-8")
        with _as_document_exists(doc), self._tx() as db:
            joined = set(sets)
            for old in replaces:
                joined |= {
                    r[0]
                    for r in db.execute(
                        "SELECT set_name FROM document_sets WHERE namespace=? AND doc_id=?", (namespace, old)
                    )
                }
                _delete_rows(db, namespace, old)
            db.execute(
                "INSERT INTO documents (namespace, doc_id, source, title, url, author, published, media_type, text, "
                "chars, bytes, chunks, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    namespace,
                    doc.id,
                    doc.source,
                    doc.title,
                    doc.url,
                    doc.author,
                    doc.published,
                    doc.media_type,
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
            db.executemany(
                "INSERT OR IGNORE INTO document_sets VALUES (?, ?, ?)", [(namespace, doc.id, n) for n in sorted(joined)]
            )
            db.execute("INSERT INTO ingest_events VALUES (?, ?)", (namespace, time.time()))
            _bump(db, namespace)

    def delete_document(self, namespace: str, doc_id: str) -> bool:
        with self._tx() as db:
            found = _delete_rows(db, namespace, doc_id)
            if found:
                _bump(db, namespace)
            return found

    # -- document sets ----------------------------------------------------------------
    def add_to_sets(self, namespace: str, doc_id: str, sets: Sequence[str]) -> bool:
        if not sets:
            return False
        with self._tx() as db:
            added = 0
            for name in sets:  # only for a stored document: a forgotten one gains no rows
                cur = db.execute(
                    "INSERT OR IGNORE INTO document_sets SELECT namespace, doc_id, ? FROM documents "
                    "WHERE namespace=? AND doc_id=?",
                    (name, namespace, doc_id),
                )
                added += cur.rowcount
            if added:
                _bump(db, namespace)
            return added > 0

    def document_sets(self, namespace: str) -> dict[str, frozenset[str]]:
        if self._version < SETS_VERSION:
            return {}  # an older catalog on read-only media: every document unfiled
        return grouped(self._read("SELECT doc_id, set_name FROM document_sets WHERE namespace=?", (namespace,)))

    def set_roles(self, namespace: str) -> dict[str, frozenset[str]]:
        if self._version < SETS_VERSION:
            return {}
        return grouped(self._read("SELECT set_name, role_id FROM set_roles WHERE namespace=?", (namespace,)))

    def restrict_set(self, namespace: str, set_name: str, roles: Sequence[str]) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM set_roles WHERE namespace=? AND set_name=?", (namespace, set_name))
            db.executemany(
                "INSERT OR IGNORE INTO set_roles VALUES (?, ?, ?)", [(namespace, set_name, r) for r in roles]
            )

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

    # -- per-namespace settings -------------------------------------------------------
    def namespace_setting(self, namespace: str, key: str) -> str | None:
        if self._version < 2:
            return None  # an older catalog on read-only media: no overrides stored
        rows = self._read("SELECT value FROM namespace_settings WHERE namespace=? AND key=?", (namespace, key))
        return rows[0][0] if rows else None

    def set_namespace_setting(self, namespace: str, key: str, value: str | None) -> None:
        with self._tx() as db:
            if value is None:
                db.execute("DELETE FROM namespace_settings WHERE namespace=? AND key=?", (namespace, key))
            else:
                db.execute(
                    "INSERT INTO namespace_settings VALUES (?, ?, ?) "
                    "ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value",
                    (namespace, key, value),
                )

    # -- question log and stats (issue 13) --------------------------------------------------
    def log_question(self, namespace: str, entry: QuestionEntry, prune_before: float) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM questions WHERE namespace=? AND asked_at<?", (namespace, prune_before))
            db.execute("DELETE FROM question_citations WHERE namespace=? AND asked_at<?", (namespace, prune_before))
            cur = db.execute(
                "INSERT INTO questions (namespace, asked_at, question, normalized, answered) VALUES (?,?,?,?,?)",
                (namespace, entry.asked_at, entry.question, entry.normalized, int(entry.answered)),
            )
            db.executemany(
                "INSERT INTO question_citations VALUES (?,?,?,?)",
                [(cur.lastrowid, namespace, entry.asked_at, doc_id) for doc_id in dict.fromkeys(entry.doc_ids)],
            )

    def question_days(self, namespace: str, since: float) -> list[tuple[int, int, int]]:
        if self._version < 4:
            return []  # an older catalog on read-only media: no log kept
        rows = self._read(
            "SELECT CAST(asked_at / 86400 AS INTEGER) AS day, SUM(answered), SUM(1 - answered) FROM questions "
            "WHERE namespace=? AND asked_at>=? GROUP BY day ORDER BY day",
            (namespace, since),
        )
        return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    def top_unanswered(self, namespace: str, since: float, limit: int) -> list[tuple[str, int]]:
        if self._version < 4:
            return []
        rows = self._read(
            "SELECT normalized, COUNT(*) FROM questions WHERE namespace=? AND asked_at>=? AND answered=0 "
            "GROUP BY normalized ORDER BY COUNT(*) DESC, MAX(asked_at) DESC, normalized LIMIT ?",
            (namespace, since, limit),
        )
        return [(r[0], int(r[1])) for r in rows]

    def top_cited(self, namespace: str, since: float, limit: int) -> list[tuple[str, int]]:
        if self._version < 4:
            return []
        rows = self._read(
            "SELECT doc_id, COUNT(*) FROM question_citations WHERE namespace=? AND asked_at>=? "
            "GROUP BY doc_id ORDER BY COUNT(*) DESC, doc_id LIMIT ?",
            (namespace, since, limit),
        )
        return [(r[0], int(r[1])) for r in rows]

    def feedback_counts_since(self, namespace: str, since: float) -> tuple[int, int]:
        row = self._read(
            "SELECT COALESCE(SUM(vote > 0), 0), COALESCE(SUM(vote < 0), 0) FROM feedback "
            "WHERE namespace=? AND created_at>=?",
            (namespace, since),
        )[0]
        return int(row[0]), int(row[1])

    def add_feedback_note(self, namespace: str, user_id: str, question: str, note: str) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE feedback SET note=? WHERE id = (SELECT MAX(id) FROM feedback "
                "WHERE namespace=? AND user_id=? AND question=? AND vote<0)",
                (note, namespace, user_id, question),
            )
            return cur.rowcount > 0

    # -- feeds (issue 13) -------------------------------------------------------------
    def add_feed(self, feed: Feed) -> bool:
        with self._tx() as db:
            cur = db.execute(
                f"INSERT INTO feeds ({FEED_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(namespace, feed_id) DO NOTHING",
                feed_values(feed),
            )
            return cur.rowcount > 0

    def feeds(self, namespace: str | None) -> list[Feed]:
        if self._version < 4:
            return []  # an older catalog on read-only media: no feeds stored
        where, params = ("WHERE f.namespace=? ", (namespace,)) if namespace is not None else ("", ())
        rows = self._read(f"{FEEDS_QUERY} {where}ORDER BY f.namespace, f.added_at, f.feed_id", params)
        return [feed_from_row(r) for r in rows]

    def remove_feed(self, namespace: str, feed_id: str) -> bool:
        with self._tx() as db:
            cur = db.execute("DELETE FROM feeds WHERE namespace=? AND feed_id=?", (namespace, feed_id))
            db.execute("DELETE FROM feed_entries WHERE namespace=? AND feed_id=?", (namespace, feed_id))
            return cur.rowcount > 0

    def set_feed_state(self, namespace: str, feed_id: str, state: FeedState) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE feeds SET title=?, etag=?, last_modified=?, last_poll_at=?, last_ok_at=?, last_error=?, "
                "failures=?, next_poll_at=? WHERE namespace=? AND feed_id=?",
                (*state_values(state), namespace, feed_id),
            )

    def feed_entries(self, namespace: str, feed_id: str) -> dict[str, FeedEntryRecord]:
        if self._version < 4:
            return {}
        rows = self._read(
            f"SELECT {ENTRY_COLUMNS} FROM feed_entries WHERE namespace=? AND feed_id=?", (namespace, feed_id)
        )
        return {r[0]: FeedEntryRecord(*r) for r in rows}

    def record_feed_entries(self, namespace: str, feed_id: str, entries: Sequence[FeedEntryRecord]) -> None:
        if not entries:
            return
        with self._tx() as db:
            db.executemany(
                f"INSERT INTO feed_entries (namespace, feed_id, {ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(namespace, feed_id, entry_key) DO UPDATE SET link=excluded.link, "
                "fingerprint=excluded.fingerprint, doc_id=excluded.doc_id, error=excluded.error, "
                "failures=excluded.failures, seen_at=excluded.seen_at",
                [(namespace, feed_id, *entry_values(e)) for e in entries],
            )

    def prune_feed_entries(self, namespace: str, feed_id: str, keep: Sequence[str], before: float) -> int:
        with self._tx() as db:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS kept_entries (entry_key TEXT PRIMARY KEY)")
            db.execute("DELETE FROM kept_entries")
            db.executemany("INSERT OR IGNORE INTO kept_entries VALUES (?)", [(k,) for k in keep])
            cur = db.execute(
                "DELETE FROM feed_entries WHERE namespace=? AND feed_id=? AND seen_at<? "
                "AND entry_key NOT IN (SELECT entry_key FROM kept_entries)",
                (namespace, feed_id, before),
            )
            db.execute("DELETE FROM kept_entries")
            return cur.rowcount


# content_hash is the id (the hash of the stored text): read from doc_id, so every schema version reads alike.
_INFO_COLUMNS = "doc_id, namespace, source, title, url, author, published, doc_id, chars, chunks, ingested_at"


def _info(row: tuple) -> DocumentInfo:
    return DocumentInfo(*row)


@contextmanager
def _as_document_exists(doc: Document) -> Iterator[None]:
    """The same version committed by another writer (its primary key taken): ``DocumentExists``."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise DocumentExists(f"{doc.source}: already in the catalog") from exc


def _delete_rows(db: sqlite3.Connection, namespace: str, doc_id: str) -> bool:
    cur = db.execute("DELETE FROM documents WHERE namespace=? AND doc_id=?", (namespace, doc_id))
    db.execute("DELETE FROM chunks WHERE namespace=? AND doc_id=?", (namespace, doc_id))
    db.execute("DELETE FROM sentences WHERE namespace=? AND doc_id=?", (namespace, doc_id))
    db.execute("DELETE FROM document_sets WHERE namespace=? AND doc_id=?", (namespace, doc_id))
    return cur.rowcount > 0


def _bump(db: sqlite3.Connection, namespace: str) -> None:
    db.execute(
        "INSERT INTO namespaces (namespace, generation) VALUES (?, 1) "
        "ON CONFLICT(namespace) DO UPDATE SET generation = generation + 1",
        (namespace,),
    )


def _enter_wal(conn: sqlite3.Connection) -> None:
    """Switch to write-ahead logging, waiting for others like any write. SQLite does not call
    the busy handler for this switch: processes opening a new catalog together got "database
    is locked" at once (4 of 40 runs of four concurrent first opens)."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _schema_version(db: sqlite3.Connection) -> int:
    """The recorded schema version; 0 for a new file."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
    return int(row[0]) if row else 0


def _has_terms(db: sqlite3.Connection) -> bool:
    return "terms" in {row[1] for row in db.execute("PRAGMA table_info(sentences)")}


def _statements(script: str) -> Iterator[str]:
    """A migration step's statements, one by one (``executescript`` would commit mid-step)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip() and not all(part.strip().startswith("--") for part in buffer.strip().splitlines()):
        raise ValueError(f"unterminated statement in a migration: {buffer.strip()[:80]}")


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
