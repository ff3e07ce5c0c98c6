"""Storage faults on a real filesystem: a full disk, read-only media, a lost chroma/ or catalog.

The full disk and read-only media are a small tmpfs this test mounts (root only; skipped
otherwise) and unmounts again. Real Chroma and catalog, hashing embedder; the repair CLI
runs as a real subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import load_settings
from retrieval.catalog import chunk_ids
from retrieval.service import CitebotService
from retrieval.sqlite_catalog import SqliteCatalog
from tests.doubles import HashingEmbedder
from tests.store_worker import big_text

ROOT = Path(__file__).resolve().parent.parent


def citebot(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, on this checkout."""
    return subprocess.run(
        [sys.executable, "-m", "citebot", *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def remount(mnt: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mnt)], check=True)


def service(data: Path) -> CitebotService:
    return CitebotService.from_settings(load_settings(data_dir=data), embedder=HashingEmbedder())


def write_docs(folder: Path, n: int, sentences: int = 60) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"doc-{i:02d}.txt"
        path.write_text(big_text(sentences, i))
        paths.append(path)
    return paths


def assert_consistent(svc: CitebotService, ns: str = "default") -> None:
    docs = svc.sources(ns)
    assert svc.catalog.journal() == []
    assert sorted(svc.store.all_ids(ns)) == sorted(c for d in docs for c in chunk_ids(d.id, d.chunks))


def test_a_full_disk_fails_items_cleanly_and_loses_nothing(tmpfs: Path, tmp_path: Path):
    docs = write_docs(tmp_path / "docs", 25)
    data = tmpfs / "data"
    report = service(data).ingest([tmp_path / "docs"])  # no exception: a report
    statuses = [i.status for i in report.items]
    added = statuses.count("added")
    assert 0 < added < 25 and statuses == ["added"] * added + ["failed"] * (25 - added), statuses
    first_failure = report.items[added]
    assert first_failure.error.startswith(str(docs[added])) and "the disk is full" in first_failure.error
    assert all("not tried" in i.error for i in report.items[added + 1 :])
    assert all("\n" not in i.error for i in report.items[added:])
    assert f"{added} added" in report.summary() and f"{25 - added} failed" in report.summary()

    remount(tmpfs, "size=64m")  # space again: what was added is intact, the rest goes in
    svc = service(data)
    assert_consistent(svc)
    assert len(svc.sources()) == added
    again = svc.ingest([tmp_path / "docs"])
    assert again.count("unchanged") == added and again.count("added") == 25 - added
    assert_consistent(svc)


@pytest.mark.slow
def test_read_only_media_read_and_say_read_only(tmpfs: Path, tmp_path: Path):
    write_docs(tmp_path / "docs", 3, 20)
    data = tmpfs / "data"
    # Written by another process, which exits: files open for writing would keep the remount busy.
    worker = subprocess.run(
        [sys.executable, "-m", "tests.store_worker", "ingest", "--data-dir", str(data), str(tmp_path / "docs")],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(worker.stdout.splitlines()[-1])["added"] == 3, worker.stderr
    remount(tmpfs, "ro")
    try:
        svc = service(data)  # opens: no "unreadable or corrupt"
        assert svc.catalog.read_only
        assert len(svc.sources()) == 3
        hits = svc.search("Item 1-3 notes", "default", 3)
        assert hits and hits[0].chunk.doc_id == svc.sources()[1].id
        new = tmp_path / "new.txt"
        new.write_text(big_text(5, 9))
        (item,) = svc.ingest([new]).items
        assert item.status == "failed" and "read-only" in item.error and "\n" not in item.error
        cli = citebot("sources", "--data-dir", str(data), "--json")
        assert cli.returncode == 0, cli.stderr
        assert len(json.loads(cli.stdout)["documents"]) == 3
        assert "corrupt" not in cli.stderr and "Traceback" not in cli.stderr
    finally:
        remount(tmpfs, "rw")


def test_the_journal_row_is_durable_before_any_vector_is_written(settings):
    """synchronous=FULL: a WAL commit is fsynced before it returns (NORMAL would let a
    power cut or a device going read-only lose the journal row of vectors already written)."""
    catalog = SqliteCatalog(settings.data_dir / "catalog.sqlite3")
    assert catalog._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert catalog._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_deleted_chroma_folder_is_detected_and_repaired(tmp_path: Path, caplog):
    data = tmp_path / "data"
    write_docs(tmp_path / "docs", 3, 30)
    svc = service(data)
    svc.ingest([tmp_path / "docs"])
    expected = {d.id: d.chunks for d in svc.sources()}
    del svc
    shutil.rmtree(data / "chroma")

    svc = service(data)
    assert [(m.namespace, m.catalog_chunks, m.store_vectors) for m in svc.mismatches] == [
        ("default", sum(expected.values()), 0)
    ]
    assert "citebot repair" in caplog.text
    (report,) = svc.repair()
    total = sum(expected.values())
    assert (report.restored_documents, report.restored_vectors, report.orphans_dropped) == (3, total, 0)
    assert svc.mismatches == []
    assert_consistent(svc)
    doc_id = next(iter(expected))
    text = svc.catalog.text("default", doc_id)
    vector = svc.embedder.embed_query(text.split("\n\n")[2].split(". ")[1] + ".")
    assert svc.store.query("default", vector, 1)[0][0].startswith(doc_id)
    assert service(data).mismatches == []  # and a fresh open agrees


def test_a_deleted_catalog_is_detected_and_citebot_repair_drops_the_orphans(tmp_path: Path):
    data = tmp_path / "data"
    write_docs(tmp_path / "docs", 2, 30)
    svc = service(data)
    svc.ingest([tmp_path / "docs"], "guild-1")
    vectors = svc.store.count("guild-1")
    del svc
    for suffix in ("", "-wal", "-shm"):
        (data / f"catalog.sqlite3{suffix}").unlink(missing_ok=True)
    svc = service(data)
    assert [(m.namespace, m.catalog_chunks, m.store_vectors) for m in svc.mismatches] == [("guild-1", 0, vectors)]
    del svc

    cli = citebot("repair", "--data-dir", str(data), "--json")
    assert cli.returncode == 0, cli.stderr
    assert "Traceback" not in cli.stderr
    (report,) = json.loads(cli.stdout)["repaired"]
    assert report["namespace"] == "guild-1" and report["orphans_dropped"] == vectors
    svc = service(data)
    assert svc.mismatches == [] and svc.store.count("guild-1") == 0
    assert svc.ingest([tmp_path / "docs"], "guild-1").count("added") == 2  # re-ingest restores it
    assert_consistent(svc, "guild-1")


def test_opening_counts_only_the_collections_one_side_lacks(tmp_path: Path, monkeypatch):
    """Counting a collection makes embedded Chroma load its index and keep it (~2.7 MB each,
    never evicted): the open-time check must not count every namespace's collection."""
    from retrieval.vectorstore import ChromaStore, collection_name

    data = tmp_path / "data"
    write_docs(tmp_path / "docs", 1, 10)
    svc = service(data)
    for ns in ("guild-1", "guild-2", "guild-3"):
        svc.ingest([tmp_path / "docs"], ns)
    svc.store._client.delete_collection(collection_name("guild-2"))  # one side lacks it
    del svc
    counted: list[str] = []
    count = ChromaStore.count
    monkeypatch.setattr(ChromaStore, "count", lambda self, ns: counted.append(ns) or count(self, ns))
    svc = service(data)
    assert [(m.namespace, m.store_vectors) for m in svc.mismatches] == [("guild-2", 0)]
    assert counted == []  # the two whole namespaces were not counted, the missing one needs no count
    (_, report, _) = svc.repair()
    assert report.restored_vectors > 0 and svc.mismatches == []
    assert sorted(counted) == ["guild-1", "guild-2", "guild-3"]  # repair counts every one
