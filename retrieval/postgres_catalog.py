"""The PostgreSQL catalog backend (PostgreSQL >= 14, psycopg 3): the same schema meaning as
``sqlite_catalog`` (``catalog.py`` is the interface), shared by several processes.

Every operation runs on this thread's connection, in autocommit mode with explicit
transactions: a write is one ``BEGIN ... COMMIT`` that bumps the namespace's generation in
the database, so every process's searcher sees another's write on its next question; a
snapshot is one ``REPEATABLE READ`` transaction. Time is bounded: ``connect_timeout``,
a server-side ``statement_timeout`` and ``tcp_user_timeout`` (a server that vanished
mid-query), so a stopped server is a one-line ``StoreError`` within seconds, never a hang.
A connection found broken is dropped and the next call connects again (the first call
after a restart works): a read, or a write whose ``BEGIN`` failed, is retried once on a
fresh connection; a write that failed after it began is not (it may have committed).

``fence``: set by ``catalogs.open_catalog`` to the writer lock's backend pid. The journal
and visibility writes then check, in their own transaction, that the advisory lock is
still held by that session — a lock connection that dropped (server restart) releases the
lock, and a writer that lost it must not write as if it still held it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import psycopg
from psycopg import errors as pg_errors

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

log = logging.getLogger(__name__)

SCHEMA_VERSION = migrations.latest("postgresql")
# The writer lock's advisory key (two int4: "CITE", 1); one per database.
LOCK_KEY = (0x43495445, 1)
T = TypeVar("T")


class PostgresCatalog:
    """The shared catalog: one PostgreSQL database (``dsn`` holds no password)."""

    read_only = False

    def __init__(
        self,
        dsn: str,
        *,
        where: str,
        password: str | None = None,
        connect_timeout: float = 5.0,
        statement_timeout: float = 5.0,
    ) -> None:
        self.where = where  # host:port/dbname, for messages (never the password)
        self.params = connection_params(dsn, password, connect_timeout, statement_timeout)
        self.fence: Callable[[], int | None] | None = None
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._all_lock = threading.Lock()
        # A server that stopped answering but keeps the socket open (a frozen host, SIGSTOP)
        # fires neither statement_timeout nor tcp_user_timeout: cut the call off client-side.
        self._watchdog = _Watchdog(statement_timeout + max(2.0, connect_timeout))
        self._migrate()

    # -- connections ------------------------------------------------------------------
    def connect(self) -> psycopg.Connection:
        """A new autocommit connection (the writer lock has its own), or ``StoreError``."""
        try:
            return psycopg.connect(**self.params, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"cannot reach the PostgreSQL catalog at {self.where}: {_first_line(exc)}") from exc

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self.connect()
            self._local.conn = conn
            with self._all_lock:
                self._all = [c for c in self._all if not c.closed]
                self._all.append(conn)
        return conn

    def _drop(self, conn: psycopg.Connection) -> None:
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with contextlib.suppress(psycopg.Error):
            conn.close()

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _run(self, body: Callable[[psycopg.Connection], T], *, write: bool, snapshot: bool = False) -> T:
        """``body`` in one transaction on this thread's connection; psycopg errors become
        one-line ``StoreError``s (``StoreWriteError`` for a write). ``IntegrityError`` is
        re-raised as is (the caller knows what it means)."""
        for attempt in range(2):
            conn = self._conn()
            began = False
            self._watchdog.arm(conn)
            try:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if snapshot else "BEGIN")
                began = True
                result = body(conn)
                conn.execute("COMMIT")
                return result
            except psycopg.Error as exc:
                _rollback(conn)
                broken = conn.closed or conn.broken
                if broken:
                    self._drop(conn)
                if isinstance(exc, psycopg.IntegrityError):
                    raise
                if attempt == 0 and broken and (not began or not write):
                    continue  # a connection that died while idle (a restarted server): once more, afresh
                raise self._error(exc, write) from exc
            except BaseException:
                _rollback(conn)
                raise
            finally:
                self._watchdog.disarm(conn)
        raise AssertionError("unreachable")

    def _error(self, exc: psycopg.Error, write: bool) -> StoreError:
        if isinstance(exc, pg_errors.QueryCanceled):
            reason = "the statement timed out (catalog_statement_timeout_seconds)"
        elif isinstance(exc, pg_errors.DiskFull):
            reason = "the disk is full"
        elif isinstance(exc, pg_errors.ReadOnlySqlTransaction):
            reason = "the database is read-only"
        else:
            reason = _first_line(exc)
        if write:
            return StoreWriteError(f"the PostgreSQL catalog at {self.where} could not be written: {reason}")
        return StoreError(f"the PostgreSQL catalog at {self.where} cannot be read: {reason}")

    def _read(self, sql: str, params: Sequence | dict = ()) -> list[tuple]:
        return self._run(lambda db: db.execute(sql, params).fetchall(), write=False)

    def _write(self, body: Callable[[psycopg.Connection], T], *, fenced: bool = False) -> T:
        def fenced_body(db: psycopg.Connection) -> T:
            if fenced:
                self._check_fence(db)
            return body(db)

        return self._run(fenced_body, write=True)

    def _check_fence(self, db: psycopg.Connection) -> None:
        pid = self.fence() if self.fence is not None else None
        if pid is None:
            return  # this process does not hold the writer lock (a direct catalog user)
        held = db.execute(
            "SELECT 1 FROM pg_locks WHERE locktype='advisory' AND classid=%s AND objid=%s AND objsubid=2 "
            "AND pid=%s AND granted",
            (*LOCK_KEY, pid),
        ).fetchone()
        if held is None:
            raise StoreWriteError(
                f"the writer lock on the PostgreSQL catalog at {self.where} was lost "
                "(its connection dropped); nothing was written"
            )

    # -- schema -----------------------------------------------------------------------
    def _migrate(self) -> None:
        """Apply the numbered steps above the recorded version; concurrent openers
        serialize on a transaction-level advisory lock and re-read the version under it."""

        def version(db: psycopg.Connection) -> int:
            # pg_class read with this statement's snapshot: a name lookup (to_regclass) may
            # answer from a cache that an advisory-lock wait did not refresh.
            exists = db.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                "ON n.oid = c.relnamespace WHERE c.relname = 'meta' AND n.nspname = current_schema())"
            ).fetchone()
            if not (exists and exists[0]):
                return 0
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            return int(row[0]) if row else 0

        def step_up(db: psycopg.Connection) -> int:
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_KEY[0], 0))
            have = version(db)
            if have > SCHEMA_VERSION:
                return have
            for step in migrations.steps("postgresql"):
                if step.version > have:
                    db.execute(step.sql.encode())  # no parameters: several statements at once
                    db.execute(
                        "INSERT INTO meta VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(step.version),),
                    )
                    have = step.version
            return have

        have = self._run(version, write=False)
        if have < SCHEMA_VERSION:
            have = self._write(step_up)
        if have != SCHEMA_VERSION:
            raise StoreError(
                f"the PostgreSQL catalog at {self.where}: schema {have} is not supported (expected {SCHEMA_VERSION})"
            )

    def schema_version(self) -> int:
        rows = self._read("SELECT value FROM meta WHERE key='schema_version'")
        return int(rows[0][0]) if rows else 0

    # -- settings guard ---------------------------------------------------------------
    def check_embedding(self, name: str, dimension: int) -> None:
        """Refuse to mix vectors of different models in one catalog."""
        want = json.dumps({"model": name, "dimension": dimension})
        rows = self._read("SELECT value FROM meta WHERE key='embedding'")
        if rows and rows[0][0] == want:
            return

        def record(db: psycopg.Connection) -> None:
            db.execute("INSERT INTO meta VALUES ('embedding', %s) ON CONFLICT (key) DO NOTHING", (want,))
            have = _one(db.execute("SELECT value FROM meta WHERE key='embedding'").fetchone())
            if have != want:
                model = json.loads(have)["model"]
                raise StoreError(
                    f"this catalog was built with embedding model {model!r}; "
                    f"use it again or choose another catalog for {name!r}"
                )

        self._write(record)

    # -- reads ------------------------------------------------------------------------
    def generation(self, namespace: str) -> int:
        rows = self._read("SELECT generation FROM namespaces WHERE namespace=%s", (namespace,))
        return int(rows[0][0]) if rows else 0

    def has_document(self, namespace: str, doc_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM documents WHERE namespace=%s AND doc_id=%s", (namespace, doc_id)))

    def document(self, namespace: str, doc_id: str) -> DocumentInfo | None:
        rows = self._read(
            f"SELECT {_INFO_COLUMNS} FROM documents WHERE namespace=%s AND doc_id=%s", (namespace, doc_id)
        )
        return DocumentInfo(*rows[0]) if rows else None

    def documents(self, namespace: str) -> list[DocumentInfo]:
        rows = self._read(
            f"SELECT {_INFO_COLUMNS} FROM documents WHERE namespace=%s ORDER BY ingested_at, doc_id", (namespace,)
        )
        return [DocumentInfo(*r) for r in rows]

    def namespaces(self) -> list[NamespaceInfo]:
        rows = self._read(
            "SELECT n.namespace, COUNT(d.doc_id), COALESCE(SUM(d.chunks), 0) FROM namespaces n "
            "LEFT JOIN documents d ON d.namespace = n.namespace GROUP BY n.namespace ORDER BY n.namespace"
        )
        return [NamespaceInfo(r[0], int(r[1]), int(r[2])) for r in rows]

    def namespace_names(self) -> list[str]:
        return [r[0] for r in self._read("SELECT namespace FROM namespaces ORDER BY namespace")]

    def text(self, namespace: str, doc_id: str) -> str | None:
        rows = self._read("SELECT text FROM documents WHERE namespace=%s AND doc_id=%s", (namespace, doc_id))
        return rows[0][0] if rows else None

    def by_source(self, namespace: str, source: str) -> list[tuple[str, int]]:
        rows = self._read(
            "SELECT doc_id, chunks FROM documents WHERE namespace=%s AND source=%s ORDER BY doc_id", (namespace, source)
        )
        return [(r[0], int(r[1])) for r in rows]

    def chunk_total(self, namespace: str) -> int:
        return int(self._read("SELECT COALESCE(SUM(chunks), 0) FROM documents WHERE namespace=%s", (namespace,))[0][0])

    def chunk_rows(self, namespace: str, doc_id: str) -> list[tuple[int, int, int, int]]:
        rows = self._read(
            'SELECT idx, start, "end", paragraph FROM chunks WHERE namespace=%s AND doc_id=%s ORDER BY idx',
            (namespace, doc_id),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def usage(self, namespace: str, exclude: Sequence[str] = ()) -> tuple[int, int]:
        row = self._read(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM documents WHERE namespace=%s AND doc_id <> ALL(%s)",
            (namespace, list(exclude)),
        )[0]
        return int(row[0]), int(row[1])

    def ingests_since(self, namespace: str, since: float) -> int:
        return int(
            self._read('SELECT COUNT(*) FROM ingest_events WHERE namespace=%s AND "at">=%s', (namespace, since))[0][0]
        )

    def snapshot(self, namespace: str) -> Snapshot:
        """Everything a namespace's search index is built from, in one REPEATABLE READ transaction."""

        def read(db: psycopg.Connection) -> Snapshot:
            gen = db.execute("SELECT generation FROM namespaces WHERE namespace=%s", (namespace,)).fetchone()
            docs = {
                r[0]: DocumentRow(*r[1:])
                for r in db.execute(
                    "SELECT doc_id, title, url, text, author, published FROM documents WHERE namespace=%s "
                    "ORDER BY ingested_at, doc_id",
                    (namespace,),
                )
            }
            # As in SQLite: each chunk with its sentences' terms joined (NULL if any has none).
            chunks = db.execute(
                'SELECT c.doc_id, c.idx, c.start, c."end", c.paragraph, '
                "CASE WHEN count(s.idx) = count(s.terms) THEN string_agg(s.terms, ' ' ORDER BY s.start) END "
                "FROM chunks c LEFT JOIN sentences s ON s.namespace = c.namespace AND s.doc_id = c.doc_id "
                'AND s.start >= c.start AND s.start < c."end" AND s."end" <= c."end" '
                "WHERE c.namespace=%s GROUP BY c.namespace, c.doc_id, c.idx ORDER BY c.doc_id, c.idx",
                (namespace,),
            ).fetchall()
            sets = grouped(
                db.execute("SELECT doc_id, set_name FROM document_sets WHERE namespace=%s", (namespace,)).fetchall()
            )
            return Snapshot(int(gen[0]) if gen else 0, docs, [ChunkRow(*row) for row in chunks], sets)

        return self._run(read, write=False, snapshot=True)

    def sentence_rows(
        self, namespace: str, spans: Sequence[tuple[str, int, int]], dimension: int
    ) -> list[SentenceRows]:
        """For each (doc_id, start, end), the document's sentences inside [start, end): one
        query, an index range seek per span."""
        if not spans:
            return []
        rows = self._read(
            'SELECT v.k, s.idx, s.start, s."end", s.paragraph, s.vector, s.terms '
            'FROM unnest(%s::int[], %s::text[], %s::int[], %s::int[]) AS v(k, doc_id, start, "end") '
            "JOIN sentences s ON s.namespace = %s AND s.doc_id = v.doc_id AND s.start >= v.start "
            'AND s.start < v."end" AND s."end" <= v."end"',
            (
                list(range(len(spans))),
                [s[0] for s in spans],
                [int(s[1]) for s in spans],
                [int(s[2]) for s in spans],
                namespace,
            ),
        )
        by_span: list[list[tuple]] = [[] for _ in spans]
        for r in rows:
            by_span[r[0]].append(r)
        return [SentenceRows.from_rows(sorted(span_rows, key=lambda r: r[2]), dimension) for span_rows in by_span]

    # -- journal ----------------------------------------------------------------------
    def journal_begin(self, namespace: str, op: str, doc_id: str, chunks: int, stale: Sequence[tuple[str, int]]) -> int:
        def insert(db: psycopg.Connection) -> int:
            row = db.execute(
                "INSERT INTO journal (namespace, op, doc_id, chunks, stale, created_at) "
                "VALUES (%s,%s,%s,%s,%s,%s) RETURNING id",
                (namespace, op, doc_id, chunks, json.dumps([list(s) for s in stale]), time.time()),
            ).fetchone()
            return int(_one(row))

        return self._write(insert, fenced=True)

    def journal_end(self, entry_id: int) -> None:
        self._write(lambda db: db.execute("DELETE FROM journal WHERE id=%s", (entry_id,)), fenced=True)

    def journal(self) -> list[JournalEntry]:
        rows = self._read("SELECT id, namespace, op, doc_id, chunks, stale FROM journal ORDER BY id")
        return [
            JournalEntry(int(r[0]), r[1], r[2], r[3], r[4], tuple(tuple(s) for s in json.loads(r[5]))) for r in rows
        ]

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
        data = doc.text.encode("utf-8")

        def write(db: psycopg.Connection) -> None:
            joined = set(sets)
            for old in replaces:  # a replacement keeps the replaced version's sets
                joined |= {
                    r[0]
                    for r in db.execute(
                        "SELECT set_name FROM document_sets WHERE namespace=%s AND doc_id=%s", (namespace, old)
                    )
                }
                _delete_rows(db, namespace, old)
            db.execute(
                "INSERT INTO documents (namespace, doc_id, source, title, url, author, published, media_type, text, "
                "chars, bytes, chunks, ingested_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
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
            with db.cursor() as cur:
                with cur.copy('COPY chunks (namespace, doc_id, idx, start, "end", paragraph) FROM STDIN') as copy:
                    for c in chunks:
                        copy.write_row((namespace, doc.id, c.index, c.start, c.end, c.paragraph))
                with cur.copy(
                    'COPY sentences (namespace, doc_id, idx, start, "end", paragraph, vector, terms) FROM STDIN'
                ) as copy:
                    for i, s in enumerate(sentences):
                        copy.write_row(
                            (
                                namespace,
                                doc.id,
                                s.index,
                                s.start,
                                s.end,
                                s.paragraph,
                                sentence_vectors[i].astype(np.float16).tobytes()
                                if sentence_vectors is not None
                                else None,
                                sentence_terms[i] if sentence_terms is not None else None,
                            )
                        )
            for name in sorted(joined):
                db.execute(
                    "INSERT INTO document_sets VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (namespace, doc.id, name)
                )
            db.execute('INSERT INTO ingest_events (namespace, "at") VALUES (%s, %s)', (namespace, time.time()))
            _bump(db, namespace)

        try:
            self._write(write, fenced=True)
        except psycopg.IntegrityError as exc:
            raise DocumentExists(f"{doc.source}: already in the catalog") from exc

    def delete_document(self, namespace: str, doc_id: str) -> bool:
        def delete(db: psycopg.Connection) -> bool:
            found = _delete_rows(db, namespace, doc_id)
            if found:
                _bump(db, namespace)
            return found

        return self._write(delete, fenced=True)

    # -- document sets ----------------------------------------------------------------
    def add_to_sets(self, namespace: str, doc_id: str, sets: Sequence[str]) -> bool:
        if not sets:
            return False

        def write(db: psycopg.Connection) -> bool:
            added = 0
            for name in sets:  # only for a stored document: a forgotten one gains no rows
                cur = db.execute(
                    "INSERT INTO document_sets SELECT namespace, doc_id, %s FROM documents "
                    "WHERE namespace=%s AND doc_id=%s ON CONFLICT DO NOTHING",
                    (name, namespace, doc_id),
                )
                added += cur.rowcount
            if added:
                _bump(db, namespace)
            return added > 0

        return self._write(write)

    def document_sets(self, namespace: str) -> dict[str, frozenset[str]]:
        return grouped(self._read("SELECT doc_id, set_name FROM document_sets WHERE namespace=%s", (namespace,)))

    def set_roles(self, namespace: str) -> dict[str, frozenset[str]]:
        return grouped(self._read("SELECT set_name, role_id FROM set_roles WHERE namespace=%s", (namespace,)))

    def restrict_set(self, namespace: str, set_name: str, roles: Sequence[str]) -> None:
        def write(db: psycopg.Connection) -> None:
            db.execute("DELETE FROM set_roles WHERE namespace=%s AND set_name=%s", (namespace, set_name))
            for role in dict.fromkeys(roles):
                db.execute("INSERT INTO set_roles VALUES (%s, %s, %s)", (namespace, set_name, role))

        self._write(write)

    # -- feedback ---------------------------------------------------------------------
    def add_feedback(
        self, namespace: str, user_id: str, question: str, answer: str, citations: list[dict], vote: int
    ) -> None:
        self._write(
            lambda db: db.execute(
                "INSERT INTO feedback (namespace, user_id, question, answer, citations, vote, created_at) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s)",
                (namespace, user_id, question, answer, json.dumps(citations), vote, time.time()),
            )
        )

    def feedback_counts(self, namespace: str) -> tuple[int, int]:
        row = self._read(
            "SELECT count(*) FILTER (WHERE vote > 0), count(*) FILTER (WHERE vote < 0) FROM feedback "
            "WHERE namespace=%s",
            (namespace,),
        )[0]
        return int(row[0]), int(row[1])

    # -- per-namespace settings -------------------------------------------------------
    def namespace_setting(self, namespace: str, key: str) -> str | None:
        rows = self._read("SELECT value FROM namespace_settings WHERE namespace=%s AND key=%s", (namespace, key))
        return rows[0][0] if rows else None

    def set_namespace_setting(self, namespace: str, key: str, value: str | None) -> None:
        if value is None:
            self._write(
                lambda db: db.execute("DELETE FROM namespace_settings WHERE namespace=%s AND key=%s", (namespace, key))
            )
        else:
            self._write(
                lambda db: db.execute(
                    "INSERT INTO namespace_settings VALUES (%s, %s, %s) "
                    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                    (namespace, key, value),
                )
            )

    # -- question log and stats (issue 13) --------------------------------------------------
    def log_question(self, namespace: str, entry: QuestionEntry, prune_before: float) -> None:
        def write(db: psycopg.Connection) -> None:
            db.execute("DELETE FROM questions WHERE namespace=%s AND asked_at<%s", (namespace, prune_before))
            db.execute("DELETE FROM question_citations WHERE namespace=%s AND asked_at<%s", (namespace, prune_before))
            row = db.execute(
                "INSERT INTO questions (namespace, asked_at, question, normalized, answered) "
                "VALUES (%s,%s,%s,%s,%s) RETURNING id",
                (namespace, entry.asked_at, entry.question, entry.normalized, entry.answered),
            ).fetchone()
            doc_ids = list(dict.fromkeys(entry.doc_ids))
            if doc_ids:
                with db.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO question_citations VALUES (%s,%s,%s,%s)",
                        [(_one(row), namespace, entry.asked_at, doc_id) for doc_id in doc_ids],
                    )

        self._write(write)

    def question_days(self, namespace: str, since: float) -> list[tuple[int, int, int]]:
        rows = self._read(
            "SELECT floor(asked_at / 86400)::bigint AS day, count(*) FILTER (WHERE answered), "
            "count(*) FILTER (WHERE NOT answered) FROM questions WHERE namespace=%s AND asked_at>=%s "
            "GROUP BY day ORDER BY day",
            (namespace, since),
        )
        return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    def top_unanswered(self, namespace: str, since: float, limit: int) -> list[tuple[str, int]]:
        rows = self._read(
            "SELECT normalized, count(*) FROM questions WHERE namespace=%s AND asked_at>=%s AND NOT answered "
            "GROUP BY normalized ORDER BY count(*) DESC, max(asked_at) DESC, normalized LIMIT %s",
            (namespace, since, limit),
        )
        return [(r[0], int(r[1])) for r in rows]

    def top_cited(self, namespace: str, since: float, limit: int) -> list[tuple[str, int]]:
        rows = self._read(
            "SELECT doc_id, count(*) FROM question_citations WHERE namespace=%s AND asked_at>=%s "
            "GROUP BY doc_id ORDER BY count(*) DESC, doc_id LIMIT %s",
            (namespace, since, limit),
        )
        return [(r[0], int(r[1])) for r in rows]

    def feedback_counts_since(self, namespace: str, since: float) -> tuple[int, int]:
        row = self._read(
            "SELECT count(*) FILTER (WHERE vote > 0), count(*) FILTER (WHERE vote < 0) FROM feedback "
            "WHERE namespace=%s AND created_at>=%s",
            (namespace, since),
        )[0]
        return int(row[0]), int(row[1])

    def add_feedback_note(self, namespace: str, user_id: str, question: str, note: str) -> bool:
        def write(db: psycopg.Connection) -> bool:
            cur = db.execute(
                "UPDATE feedback SET note=%s WHERE id = (SELECT max(id) FROM feedback "
                "WHERE namespace=%s AND user_id=%s AND question=%s AND vote<0)",
                (note, namespace, user_id, question),
            )
            return cur.rowcount > 0

        return self._write(write)

    # -- feeds (issue 13) -------------------------------------------------------------
    def add_feed(self, feed: Feed) -> bool:
        def insert(db: psycopg.Connection) -> bool:
            cur = db.execute(
                f"INSERT INTO feeds ({FEED_COLUMNS}) VALUES ({','.join(['%s'] * 14)}) "
                "ON CONFLICT (namespace, feed_id) DO NOTHING",
                feed_values(feed),
            )
            return cur.rowcount > 0

        return self._write(insert)

    def feeds(self, namespace: str | None) -> list[Feed]:
        where, params = ("WHERE f.namespace=%s ", (namespace,)) if namespace is not None else ("", ())
        rows = self._read(f"{FEEDS_QUERY} {where}ORDER BY f.namespace, f.added_at, f.feed_id", params)
        return [feed_from_row(r) for r in rows]

    def remove_feed(self, namespace: str, feed_id: str) -> bool:
        def delete(db: psycopg.Connection) -> bool:
            cur = db.execute("DELETE FROM feeds WHERE namespace=%s AND feed_id=%s", (namespace, feed_id))
            db.execute("DELETE FROM feed_entries WHERE namespace=%s AND feed_id=%s", (namespace, feed_id))
            return cur.rowcount > 0

        return self._write(delete)

    def set_feed_state(self, namespace: str, feed_id: str, state: FeedState) -> None:
        self._write(
            lambda db: db.execute(
                "UPDATE feeds SET title=%s, etag=%s, last_modified=%s, last_poll_at=%s, last_ok_at=%s, "
                "last_error=%s, failures=%s, next_poll_at=%s WHERE namespace=%s AND feed_id=%s",
                (*state_values(state), namespace, feed_id),
            )
        )

    def feed_entries(self, namespace: str, feed_id: str) -> dict[str, FeedEntryRecord]:
        rows = self._read(
            f"SELECT {ENTRY_COLUMNS} FROM feed_entries WHERE namespace=%s AND feed_id=%s", (namespace, feed_id)
        )
        return {r[0]: FeedEntryRecord(r[0], r[1], r[2], r[3], r[4], int(r[5]), float(r[6])) for r in rows}

    def record_feed_entries(self, namespace: str, feed_id: str, entries: Sequence[FeedEntryRecord]) -> None:
        if not entries:
            return

        def upsert(db: psycopg.Connection) -> None:
            with db.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO feed_entries (namespace, feed_id, {ENTRY_COLUMNS}) "
                    f"VALUES ({','.join(['%s'] * 9)}) "
                    "ON CONFLICT (namespace, feed_id, entry_key) DO UPDATE SET link=excluded.link, "
                    "fingerprint=excluded.fingerprint, doc_id=excluded.doc_id, error=excluded.error, "
                    "failures=excluded.failures, seen_at=excluded.seen_at",
                    [(namespace, feed_id, *entry_values(e)) for e in entries],
                )

        self._write(upsert)

    def prune_feed_entries(self, namespace: str, feed_id: str, keep: Sequence[str], before: float) -> int:
        def delete(db: psycopg.Connection) -> int:
            cur = db.execute(
                "DELETE FROM feed_entries WHERE namespace=%s AND feed_id=%s AND seen_at<%s AND entry_key <> ALL(%s)",
                (namespace, feed_id, before, list(keep)),
            )
            return cur.rowcount

        return self._write(delete)


# content_hash is the id (the hash of the stored text): read from doc_id, so every schema version reads alike.
_INFO_COLUMNS = "doc_id, namespace, source, title, url, author, published, doc_id, chars, chunks, ingested_at"


class _Watchdog:
    """Shuts down the socket of a connection whose transaction outlived ``limit`` seconds,
    so the blocked call fails at once (a broken connection: the next call reconnects)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._deadlines: dict[int, tuple[float, psycopg.Connection]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def arm(self, conn: psycopg.Connection) -> None:
        with self._lock:
            self._deadlines[id(conn)] = (time.monotonic() + self.limit, conn)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="pg-catalog-watchdog", daemon=True)
                self._thread.start()

    def disarm(self, conn: psycopg.Connection) -> None:
        with self._lock:
            self._deadlines.pop(id(conn), None)

    def _watch(self) -> None:
        while True:
            time.sleep(min(0.25, self.limit / 4))
            now = time.monotonic()
            with self._lock:
                expired = [(key, conn) for key, (deadline, conn) in self._deadlines.items() if deadline <= now]
                for key, _ in expired:
                    del self._deadlines[key]
            for _, conn in expired:
                log.warning("a PostgreSQL catalog call ran past %.1f s; cutting its connection", self.limit)
                with contextlib.suppress(OSError, psycopg.Error):
                    sock = socket.socket(fileno=os.dup(conn.fileno()))
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    finally:
                        sock.close()


def connection_params(dsn: str, password: str | None, connect_timeout: float, statement_timeout: float) -> dict:
    """libpq parameters: the DSN's, a password from the environment (never the DSN), and
    the bounds that keep a stopped or unreachable server from hanging a request."""
    ms = max(1, int(statement_timeout * 1000))
    params: dict[str, Any] = {
        "conninfo": dsn,
        # libpq rounds connect_timeout to whole seconds and treats 1 as 2.
        "connect_timeout": max(2, math.ceil(connect_timeout)),
        "options": f"-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={4 * ms}",
        "application_name": f"citebot pid {os.getpid()} on {socket.gethostname()}"[:63],
        # A server that vanished mid-query (no RST): give up when sent data stays unacknowledged.
        "tcp_user_timeout": max(1000, int(max(connect_timeout, statement_timeout) * 1000)),
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 2,
        "keepalives_count": 3,
    }
    if password:
        params["password"] = password
    return params


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0].strip() if text else type(exc).__name__
    return first[:300]


def _one(row: tuple | None) -> Any:
    """The single value of a row a statement always returns."""
    assert row is not None
    return row[0]


def _rollback(conn: psycopg.Connection) -> None:
    if conn.closed:
        return
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
    except psycopg.Error:
        pass


def _delete_rows(db: psycopg.Connection, namespace: str, doc_id: str) -> bool:
    cur = db.execute("DELETE FROM documents WHERE namespace=%s AND doc_id=%s", (namespace, doc_id))
    db.execute("DELETE FROM chunks WHERE namespace=%s AND doc_id=%s", (namespace, doc_id))
    db.execute("DELETE FROM sentences WHERE namespace=%s AND doc_id=%s", (namespace, doc_id))
    db.execute("DELETE FROM document_sets WHERE namespace=%s AND doc_id=%s", (namespace, doc_id))
    return cur.rowcount > 0


def _bump(db: psycopg.Connection, namespace: str) -> None:
    db.execute(
        "INSERT INTO namespaces (namespace, generation) VALUES (%s, 1) "
        "ON CONFLICT (namespace) DO UPDATE SET generation = namespaces.generation + 1",
        (namespace,),
    )
