"""The catalog contract, run against both backends: the embedded SQLite file and a real
PostgreSQL server (``tests/postgres_server.py``; skipped without PostgreSQL binaries).

Every ``Catalog`` method's meaning: each write bumps its namespace's generation (and only
a write that changed something), a snapshot is consistent, ``sentence_rows`` returns each
span's sentences with their vectors and terms, the journal keeps its rows until ended,
usage and the ingest clock, feedback, per-namespace settings, ``DocumentExists`` on a duplicate commit (nothing
changed), ``check_embedding`` refusing another model. Then: the same operations give the
same answers on both backends, a second handle on the same catalog sees the first one's
writes, and the numbered migrations record and refuse versions.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from retrieval import migrations
from retrieval.catalog import ChunkRow, JournalEntry, NamespaceInfo
from retrieval.catalogs import open_catalog
from retrieval.chunking import ChunkerConfig, segment
from retrieval.errors import DocumentExists, StoreError, StoreWriteError
from retrieval.lexical import tokenize
from retrieval.loaders import load_bytes
from retrieval.models import Document
from retrieval.sqlite_catalog import SqliteCatalog
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.test_storage_faults import remount, tmpfs  # noqa: F401  (a small tmpfs: root only)

DIM = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, make_settings):
    """A function that opens (another handle on) one empty catalog of the given backend."""
    if request.param == "sqlite":
        settings = make_settings()
    else:
        settings = make_settings(catalog_url=request.getfixturevalue("postgres_url"))
    opened = []

    def open_one():
        catalog, lock = open_catalog(settings)
        opened.append((catalog, lock))
        return catalog

    open_one.name = request.param  # type: ignore[attr-defined]
    open_one.settings = settings  # type: ignore[attr-defined]
    yield open_one
    for catalog, lock in opened:
        for thing in (catalog, lock):
            if hasattr(thing, "close"):
                thing.close()


@pytest.fixture
def catalog(backend):
    return backend()


def make_doc(text: str, source: str = "a.txt", chunk_size: int = 120):
    doc = load_bytes(text.encode(), source)
    seg = segment(doc.id, doc.text, ChunkerConfig(chunk_size, 0))
    vectors = np.arange(len(seg.sentences) * DIM, dtype=np.float32).reshape(-1, DIM) / 7.0
    terms = [" ".join(tokenize(s.text)) for s in seg.sentences]
    return doc, seg.chunks, seg.sentences, vectors, terms


TEXT_1 = "\n\n".join(f"Paragraph {i} says the dam opened. The river rose by {i} metres." for i in range(6))
TEXT_2 = "\n\n".join(f"Paragraph {i} says the bridge closed. The council met {i} times." for i in range(4))


def commit(catalog, text: str = TEXT_1, source: str = "a.txt", ns: str = "ns", replaces=(), terms=True) -> Document:
    doc, chunks, sentences, vectors, sentence_terms = make_doc(text, source)
    catalog.commit_document(ns, doc, chunks, sentences, vectors, list(replaces), sentence_terms if terms else None)
    return doc


def test_an_empty_catalog(catalog):
    assert catalog.read_only is False
    assert catalog.generation("ns") == 0
    assert catalog.documents("ns") == [] and catalog.namespaces() == [] and catalog.namespace_names() == []
    assert catalog.journal() == []
    assert catalog.usage("ns") == (0, 0) and catalog.chunk_total("ns") == 0
    assert catalog.ingests_since("ns", 0) == 0
    assert catalog.feedback_counts("ns") == (0, 0)
    assert catalog.document("ns", "nope") is None and catalog.text("ns", "nope") is None
    assert not catalog.has_document("ns", "nope") and catalog.by_source("ns", "a.txt") == []
    snap = catalog.snapshot("ns")
    assert (snap.generation, snap.documents, snap.chunks) == (0, {}, [])
    assert catalog.sentence_rows("ns", [], DIM) == []


def test_commit_makes_a_document_visible_and_bumps_the_generation(catalog):
    before = time.time()
    doc = commit(catalog)
    _, chunks, _, _, _ = make_doc(TEXT_1)
    assert catalog.generation("ns") == 1 and catalog.generation("other") == 0
    assert catalog.has_document("ns", doc.id) and not catalog.has_document("other", doc.id)
    info = catalog.document("ns", doc.id)
    assert info is not None
    assert (info.id, info.namespace, info.source, info.title, info.chars, info.chunks) == (
        doc.id,
        "ns",
        "a.txt",
        doc.title,
        len(doc.text),
        len(chunks),
    )
    assert info.content_hash == doc.id and before <= info.ingested_at <= time.time()
    assert catalog.documents("ns") == [info]
    assert catalog.text("ns", doc.id) == doc.text
    assert catalog.by_source("ns", "a.txt") == [(doc.id, len(chunks))]
    assert catalog.chunk_total("ns") == len(chunks)
    assert catalog.chunk_rows("ns", doc.id) == [(c.index, c.start, c.end, c.paragraph) for c in chunks]
    assert catalog.usage("ns") == (1, len(doc.text.encode()))
    assert catalog.usage("ns", exclude=[doc.id]) == (0, 0)
    assert catalog.ingests_since("ns", before) == 1 and catalog.ingests_since("ns", time.time() + 60) == 0
    assert catalog.namespaces() == [NamespaceInfo("ns", 1, len(chunks))]
    assert catalog.namespace_names() == ["ns"]


def test_replace_and_delete_bump_the_generation_and_leave_one_version(catalog):
    old = commit(catalog, TEXT_1)
    new = commit(catalog, TEXT_2, replaces=[old.id])
    assert catalog.generation("ns") == 2
    assert [d.id for d in catalog.documents("ns")] == [new.id]
    assert not catalog.has_document("ns", old.id) and catalog.chunk_rows("ns", old.id) == []
    assert catalog.sentence_rows("ns", [(old.id, 0, len(old.text))], DIM)[0].starts.size == 0
    assert catalog.ingests_since("ns", 0) == 2  # the ingest clock counts every commit
    assert catalog.delete_document("ns", new.id) is True
    assert catalog.generation("ns") == 3
    assert catalog.delete_document("ns", new.id) is False
    assert catalog.generation("ns") == 3  # nothing changed, no bump
    assert catalog.documents("ns") == [] and catalog.chunk_total("ns") == 0
    assert catalog.namespaces() == [NamespaceInfo("ns", 0, 0)]  # the namespace stays known


def test_a_duplicate_commit_is_document_exists_and_changes_nothing(catalog):
    doc = commit(catalog)
    with pytest.raises(DocumentExists, match="already in the catalog"):
        commit(catalog)
    assert catalog.generation("ns") == 1 and len(catalog.documents("ns")) == 1
    commit(catalog, ns="elsewhere")  # the same document in another namespace is another row
    assert catalog.has_document("elsewhere", doc.id)


def test_snapshot_holds_documents_in_ingest_order_and_each_chunks_terms(catalog):
    first = commit(catalog, TEXT_2, source="b.txt")
    second = commit(catalog, TEXT_1, source="a.txt", terms=False)
    snap = catalog.snapshot("ns")
    assert snap.generation == 2
    assert list(snap.documents) == [first.id, second.id]
    row = snap.documents[first.id]
    assert (row.title, row.text, row.url) == (first.title, first.text, first.url)
    doc, chunks, sentences, _, terms = make_doc(TEXT_2)
    mine = [c for c in snap.chunks if c.doc_id == first.id]
    expected = []
    for c in chunks:
        inside = [t for s, t in zip(sentences, terms, strict=True) if c.start <= s.start < c.end and s.end <= c.end]
        expected.append(ChunkRow(doc.id, c.index, c.start, c.end, c.paragraph, " ".join(inside)))
    assert mine == expected
    assert all(c.terms is None for c in snap.chunks if c.doc_id == second.id)  # stored without terms
    assert snap.chunks == sorted(snap.chunks, key=lambda c: (c.doc_id, c.idx))


def test_sentence_rows_returns_each_spans_sentences_vectors_and_terms(catalog):
    doc = commit(catalog)
    _, chunks, sentences, vectors, terms = make_doc(TEXT_1)
    spans = [(doc.id, c.start, c.end) for c in chunks] + [(doc.id, 0, len(doc.text)), ("missing", 0, 100)]
    got = catalog.sentence_rows("ns", spans, DIM)
    assert len(got) == len(spans)
    for (_, start, end), rows in zip(spans[:-1], got[:-1], strict=True):
        want = [i for i, s in enumerate(sentences) if start <= s.start < end and s.end <= end]
        assert rows.indices.tolist() == [sentences[i].index for i in want]
        assert rows.starts.tolist() == [sentences[i].start for i in want]
        assert rows.ends.tolist() == [sentences[i].end for i in want]
        assert rows.paragraphs.tolist() == [sentences[i].paragraph for i in want]
        assert rows.terms == [terms[i] for i in want]
        assert rows.vectors.dtype == np.float16
        assert np.array_equal(rows.vectors, vectors[want].astype(np.float16))
    assert len(got[-1]) == 0 and got[-1].vectors.shape == (0, DIM)


def test_the_journal_keeps_its_rows_until_ended(catalog):
    first = catalog.journal_begin("ns", "add", "doc-1", 3, [("old-1", 2), ("old-2", 5)])
    second = catalog.journal_begin("other", "forget", "doc-2", 0, [("doc-2", 4)])
    assert second > first
    assert catalog.journal() == [
        JournalEntry(first, "ns", "add", "doc-1", 3, (("old-1", 2), ("old-2", 5))),
        JournalEntry(second, "other", "forget", "doc-2", 0, (("doc-2", 4),)),
    ]
    catalog.journal_end(first)
    assert [e.id for e in catalog.journal()] == [second]
    catalog.journal_end(second)
    assert catalog.journal() == []
    assert catalog.generation("ns") == 0  # the journal is not a visible change


def test_feedback_is_counted_per_namespace(catalog):
    for vote in (1, 1, -1):
        catalog.add_feedback("ns", "user-1", "What?", "That.", [{"id": "x:1"}], vote)
    catalog.add_feedback("other", "user-2", "Why?", "Because.", [], -1)
    assert catalog.feedback_counts("ns") == (2, 1)
    assert catalog.feedback_counts("other") == (0, 1)


def test_namespace_settings_are_per_namespace_and_none_removes_them(catalog):
    assert catalog.namespace_setting("ns", "answer_mode") is None
    catalog.set_namespace_setting("ns", "answer_mode", "llm")
    catalog.set_namespace_setting("other", "answer_mode", "extractive")
    assert catalog.namespace_setting("ns", "answer_mode") == "llm"
    assert catalog.namespace_setting("ns", "another_key") is None
    catalog.set_namespace_setting("ns", "answer_mode", "extractive")  # a second write replaces the first
    assert catalog.namespace_setting("ns", "answer_mode") == "extractive"
    catalog.set_namespace_setting("ns", "answer_mode", None)
    assert catalog.namespace_setting("ns", "answer_mode") is None
    catalog.set_namespace_setting("ns", "answer_mode", None)  # removing what is not there is fine
    assert catalog.namespace_setting("other", "answer_mode") == "extractive"
    # A setting is no visible change: no generation bump, no namespace row (nor in namespaces()).
    assert catalog.generation("ns") == 0 and catalog.namespaces() == []


def test_check_embedding_records_the_model_once_and_refuses_another(catalog):
    catalog.check_embedding("model-a", 384)
    catalog.check_embedding("model-a", 384)
    with pytest.raises(StoreError, match="built with embedding model 'model-a'"):
        catalog.check_embedding("model-b", 384)
    with pytest.raises(StoreError, match="model-a"):
        catalog.check_embedding("model-a", 768)


def test_another_handle_sees_every_write(backend):
    """Two handles are two processes' views: the generation a searcher polls lives in the store."""
    writer, reader = backend(), backend()
    assert reader.generation("ns") == 0
    doc = commit(writer)
    assert reader.generation("ns") == 1 and reader.has_document("ns", doc.id)
    writer.delete_document("ns", doc.id)
    assert reader.generation("ns") == 2 and reader.snapshot("ns").documents == {}
    reader.check_embedding("model-a", 8)
    with pytest.raises(StoreError):
        writer.check_embedding("model-b", 8)
    writer.set_namespace_setting("ns", "answer_mode", "llm")
    assert reader.namespace_setting("ns", "answer_mode") == "llm"


def _run_script(catalog) -> list:
    """A fixed sequence of operations and everything read back (times left out)."""
    out: list = []
    a = commit(catalog, TEXT_1, "a.txt")
    b = commit(catalog, TEXT_2, "b.txt", ns="other")
    c = commit(catalog, TEXT_2 + "\n\nA last line.", "a.txt", replaces=[a.id])
    catalog.delete_document("other", b.id)
    entry = catalog.journal_begin("ns", "add", c.id, 2, [(a.id, 3)])
    catalog.add_feedback("ns", "u", "q", "a", [], 1)
    catalog.set_namespace_setting("ns", "answer_mode", "llm")
    catalog.set_namespace_setting("other", "answer_mode", "llm")
    catalog.set_namespace_setting("other", "answer_mode", None)
    for ns in ("ns", "other", "none"):
        snap = catalog.snapshot(ns)
        out.append((snap.generation, list(snap.documents.items()), snap.chunks))
        out.append([dataclasses.replace(d, ingested_at=0) for d in catalog.documents(ns)])
        out.append((catalog.usage(ns), catalog.chunk_total(ns), catalog.feedback_counts(ns)))
        out.append(catalog.namespace_setting(ns, "answer_mode"))
    out.append(catalog.namespaces())
    out.append([(e.namespace, e.op, e.doc_id, e.chunks, e.stale) for e in catalog.journal()])
    rows = catalog.sentence_rows("ns", [(c.id, 0, 200), (c.id, 100, 400)], DIM)
    out.append([(r.indices.tolist(), r.starts.tolist(), r.vectors.tolist(), r.terms) for r in rows])
    catalog.journal_end(entry)
    return out


def test_both_backends_give_the_same_answers(make_settings, postgres_url):  # noqa: F811
    sqlite, _ = open_catalog(make_settings())
    postgres, lock = open_catalog(make_settings(catalog_url=postgres_url))
    try:
        assert _run_script(sqlite) == _run_script(postgres)
    finally:
        postgres.close()  # type: ignore[attr-defined]
        lock.close()  # type: ignore[attr-defined]


# -- migrations -------------------------------------------------------------------------------
def test_migrations_are_numbered_and_both_backends_record_the_latest(backend):
    for name in ("sqlite", "postgresql"):
        steps = migrations.steps(name)
        assert [s.version for s in steps] == list(range(1, len(steps) + 1))
    catalog = backend()
    assert _recorded_version(backend.name, backend.settings) == migrations.latest(backend.name)
    commit(catalog)
    again = backend()  # reopening applies nothing and keeps the data
    assert again.generation("ns") == 1
    assert _recorded_version(backend.name, backend.settings) == migrations.latest(backend.name)


def test_a_catalog_from_a_newer_schema_is_refused(backend):
    backend()
    _set_version(backend.name, backend.settings, 99)
    with pytest.raises(StoreError, match="schema 99 is not supported"):
        backend()


def test_an_existing_sqlite_data_dir_of_schema_1_opens_and_migrates(make_settings, tmp_path: Path):
    """A data dir written before numbered migrations (its tables made by the old inline
    schema, version 1 recorded, and an older one without sentence terms) opens with its
    data as it was, and steps up to the latest schema."""
    settings = make_settings()
    settings.data_dir.mkdir(parents=True)
    path = settings.data_dir / "catalog.sqlite3"
    sql = migrations.steps("sqlite")[0].sql.replace("    terms TEXT, PRIMARY KEY", "    PRIMARY KEY")
    with sqlite3.connect(path) as db:
        db.executescript(sql)
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        db.execute('INSERT INTO meta VALUES (\'embedding\', \'{"model": "m", "dimension": 4}\')')
        db.execute("INSERT INTO namespaces VALUES ('ns', 7)")
    catalog, _ = open_catalog(settings)
    assert catalog.generation("ns") == 7
    catalog.check_embedding("m", 4)
    commit(catalog)  # the terms column was added
    assert catalog.generation("ns") == 8 and catalog.snapshot("ns").chunks[0].terms
    catalog.set_namespace_setting("ns", "answer_mode", "llm")  # schema 2's table is there
    assert catalog.namespace_setting("ns", "answer_mode") == "llm"
    with sqlite3.connect(path) as db:
        version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert version == (str(migrations.latest("sqlite")),)


def test_a_catalog_at_schema_1_steps_up_to_the_latest_and_keeps_its_data(backend):
    """Both backends: a catalog written by the first release (schema 1: no namespace
    settings, a content_hash column) gets the later steps on its next open, its documents untouched."""
    doc = commit(backend())
    _set_version(backend.name, backend.settings, 1)
    _execute(backend.name, backend.settings, "DROP TABLE namespace_settings")
    _execute(backend.name, backend.settings, "ALTER TABLE documents ADD COLUMN content_hash TEXT")
    for undo in ("DROP TABLE questions", "DROP TABLE question_citations", "DROP INDEX feedback_by_time"):
        _execute(backend.name, backend.settings, undo)  # schema 4's additions (the question log)
    for undo in ("DROP TABLE feeds", "DROP TABLE feed_entries"):
        _execute(backend.name, backend.settings, undo)  # schema 5's (feeds)
    _execute(backend.name, backend.settings, "ALTER TABLE feedback DROP COLUMN note")
    assert _recorded_version(backend.name, backend.settings) == 1
    catalog = backend()
    assert _recorded_version(backend.name, backend.settings) == migrations.latest(backend.name)
    assert catalog.generation("ns") == 1 and catalog.has_document("ns", doc.id)
    assert [d.content_hash for d in catalog.documents("ns")] == [doc.id]  # the JSON contract keeps it
    assert catalog.namespace_setting("ns", "answer_mode") is None
    catalog.set_namespace_setting("ns", "answer_mode", "llm")
    assert backend().namespace_setting("ns", "answer_mode") == "llm"


def _recorded_version(name: str, settings) -> int:
    if name == "sqlite":
        with sqlite3.connect(settings.data_dir / "catalog.sqlite3") as db:
            return int(db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
    import psycopg

    with psycopg.connect(settings.catalog_url) as db:
        return int(db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])


def _set_version(name: str, settings, version: int) -> None:
    if name == "sqlite":
        with sqlite3.connect(settings.data_dir / "catalog.sqlite3") as db:
            db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
        return
    import psycopg

    with psycopg.connect(settings.catalog_url) as db:
        db.execute("UPDATE meta SET value=%s WHERE key='schema_version'", (str(version),))


def _execute(name: str, settings, sql: str) -> None:
    if name == "sqlite":
        with sqlite3.connect(settings.data_dir / "catalog.sqlite3") as db:
            db.execute(sql)
        return
    import psycopg

    with psycopg.connect(settings.catalog_url) as db:
        db.execute(sql)


def test_processes_opening_a_new_catalog_at_once_migrate_it_once(backend):
    """Concurrent first opens (two bot processes started together) serialize on the
    migration: each re-reads the version under a lock and none applies a step twice."""
    import threading

    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_at_once() -> None:
        barrier.wait()
        try:
            backend()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_at_once) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _recorded_version(backend.name, backend.settings) == migrations.latest(backend.name)


def test_a_schema_1_catalog_on_read_only_media_is_read_as_it_is(tmpfs: Path):  # noqa: F811
    """Read-only media cannot migrate: the old schema is read as it is (it stores no
    settings: every namespace follows the default), and a setting's write says "read-only"."""
    path = tmpfs / "data" / "catalog.sqlite3"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.executescript(migrations.steps("sqlite")[0].sql)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute("INSERT INTO namespaces VALUES ('ns', 3)")
    db.commit()
    db.close()  # nothing open for writing: the remount would be busy
    remount(tmpfs, "ro")
    try:
        catalog = SqliteCatalog(path)
        assert catalog.read_only and catalog.generation("ns") == 3
        assert catalog.namespace_setting("ns", "answer_mode") is None
        with pytest.raises(StoreWriteError, match="read-only"):
            catalog.set_namespace_setting("ns", "answer_mode", "llm")
    finally:
        remount(tmpfs, "rw")
