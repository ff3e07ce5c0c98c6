"""The service on the PostgreSQL catalog: end to end, several processes, crashes, outages.

A real PostgreSQL cluster (``tests/postgres_server.py``), real embedded Chroma, real
processes (``tests/store_worker.py``, the ``citebot`` CLI) with ``CITEBOT_CATALOG_URL``:

* ingest the sample, ask, cite, forget, with the catalog in PostgreSQL (no SQLite file);
* two processes ingesting at once: both land; one visible version per source, the second
  writer waiting on the advisory lock and saying who holds it;
* a writer SIGKILLed mid-ingest is not recovered while alive, is recovered by the next
  process once dead, and exactly once when two processes race to recover;
* a writer whose lock session dropped cannot write as if it still held the lock;
* the server stopped: a one-line ``StoreError`` within the bounded time (the CLI too, no
  traceback); restarted: the same service works again without reopening.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from config import load_settings
from retrieval.catalog import chunk_ids
from retrieval.catalogs import open_catalog
from retrieval.errors import StoreError, StoreWriteError
from retrieval.indexing import Indexer
from retrieval.service import CitebotService, sample_path
from retrieval.vectorstore import ChromaStore
from tests.doubles import HashingEmbedder
from tests.postgres_server import PostgresServer, postgres_server, postgres_url, start_server  # noqa: F401
from tests.store_worker import big_text
from tests.test_store_processes import finish, next_event

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # several processes and server restarts: ~40 s

ROOT = Path(__file__).resolve().parent.parent
CHUNKING = {"CITEBOT_CHUNK_SIZE": "100", "CITEBOT_CHUNK_OVERLAP_SENTENCES": "0"}
TIMEOUT = 120


def env(url: str, **extra: str) -> dict[str, str]:
    out = dict(os.environ, **CHUNKING, CITEBOT_CATALOG_URL=url, **extra)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    out.setdefault("OMP_NUM_THREADS", "1")
    return out


def worker(url: str, *args: Any, stderr: Any = subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store_worker", *map(str, args)],
        cwd=ROOT,
        env=env(url),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def open_service(data: Path, url: str, **overrides: Any) -> CitebotService:
    settings = load_settings(data_dir=data, catalog_url=url, chunk_size=100, chunk_overlap_sentences=0, **overrides)
    return CitebotService.from_settings(settings, embedder=HashingEmbedder())


def assert_consistent(svc: CitebotService, ns: str = "default") -> None:
    docs = svc.sources(ns)
    assert svc.catalog.journal() == []
    expected = sorted(c for d in docs for c in chunk_ids(d.id, d.chunks))
    have = sorted(svc.store.all_ids(ns))
    assert have == expected, f"catalog {len(expected)} chunks, Chroma {len(have)} vectors"


def kill(*procs: subprocess.Popen | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_service_end_to_end_on_postgresql(make_settings, postgres_url, real_embedder):  # noqa: F811
    settings = make_settings(catalog_url=postgres_url)
    svc = CitebotService.from_settings(settings, embedder=real_embedder)
    assert svc.ingest([sample_path()], "pg").count("added") == 1
    answer = svc.ask("What did Pompeo demand?", "pg")
    assert not answer.abstained
    quote = next(c for c in answer.citations if "Iran must withdraw all forces" in c.quote)
    assert svc.cite(quote.id, "pg").quote == quote.quote
    assert svc.ingest([sample_path()], "pg").count("unchanged") == 1
    # Another process's view (a second service) sees the document; the catalog is not a local file.
    other = CitebotService.from_settings(settings, embedder=real_embedder)
    (info,) = other.sources("pg")
    assert not (settings.data_dir / "catalog.sqlite3").exists()
    svc.forget(info.id, "pg")
    assert other.sources("pg") == [] and svc.store.all_ids("pg") == []
    assert other.ask("What did Pompeo demand?", "pg").abstained  # its cached index noticed the forget


def test_two_processes_ingesting_at_once_both_land(tmp_path: Path, postgres_url):  # noqa: F811
    data = tmp_path / "data"
    docs = [tmp_path / f"doc-{i}.txt" for i in range(2)]
    for i, doc in enumerate(docs):
        doc.write_text(big_text(120, 10 + i))
    procs = [worker(postgres_url, "ingest", "--data-dir", data, doc) for doc in docs]
    try:
        reports = [finish(p) for p in procs]
    finally:
        kill(*procs)
    assert [r["added"] for r in reports] == [1, 1]
    svc = open_service(data, postgres_url)
    assert sorted(d.source for d in svc.sources()) == sorted(str(d) for d in docs)
    assert_consistent(svc)


def test_two_processes_ingesting_one_source_leave_one_visible_version(tmp_path: Path, postgres_url):  # noqa: F811
    data, doc, go = tmp_path / "data", tmp_path / "report.txt", tmp_path / "go"
    doc.write_text(big_text(200, 1))
    first = worker(postgres_url, "ingest", "--data-dir", data, "--hold", go, doc)
    err_path = tmp_path / "second.err"
    second = None
    try:
        next_event(first, "upserted")  # version 1 upserted under the advisory lock, not committed
        doc.write_text(big_text(200, 2))
        with err_path.open("w") as err:
            second = worker(postgres_url, "ingest", "--data-dir", data, doc, stderr=err)
            deadline = time.monotonic() + TIMEOUT
            while second.poll() is None and "waiting" not in err_path.read_text():
                assert time.monotonic() < deadline, "the second writer neither finished nor said it waits"
                time.sleep(0.05)
        message = err_path.read_text()
        go.touch()
        reports = [finish(first), finish(second)]
    finally:
        go.touch()
        kill(first, second)
    assert "is writing to the PostgreSQL catalog" in message and f"pid {first.pid}" in message, message
    assert [r["added"] + r["replaced"] for r in reports] == [1, 1]
    svc = open_service(data, postgres_url)
    (info,) = svc.sources()
    assert svc.catalog.text("default", info.id).startswith("Report 2\n")  # the later ingest won
    assert_consistent(svc)


def test_a_killed_writer_is_recovered_by_the_next_process_and_not_while_alive(tmp_path: Path, postgres_url):  # noqa: F811
    data, doc, go = tmp_path / "data", tmp_path / "big.txt", tmp_path / "never"
    doc.write_text(big_text(150, 3))
    writer = worker(postgres_url, "ingest", "--data-dir", data, "--hold", go, doc)
    try:
        next_event(writer, "upserted")  # journal row written, 150 vectors upserted, not committed
        # Alive: another process opening the catalog (the CLI recovers at open) leaves it alone.
        cli = subprocess.run(
            [sys.executable, "-m", "citebot", "sources", "--data-dir", str(data), "--json"],
            cwd=ROOT,
            env=env(postgres_url),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout) == {"documents": []}
        svc = open_service(data, postgres_url)
        assert svc.recover() == 0
        (entry,) = svc.catalog.journal()
        assert svc.store.count("default") == 150 == entry.chunks
        writer.send_signal(signal.SIGKILL)
        writer.wait(TIMEOUT)
    finally:
        kill(writer)
    # Dead: the server drops its session and its advisory lock; two processes race to recover.
    settings = load_settings(data_dir=data, catalog_url=postgres_url)
    store = ChromaStore.embedded(data / "chroma")
    indexers = []
    for _ in range(2):
        catalog, lock = open_catalog(settings)
        indexers.append(Indexer(catalog, store, lock))
    barrier = threading.Barrier(2)
    fixed: list[int] = []

    def recover(indexer: Indexer) -> None:
        barrier.wait()
        fixed.append(indexer.recover(wait=30))

    threads = [threading.Thread(target=recover, args=(ix,)) for ix in indexers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert sorted(fixed) == [0, 1], fixed  # recovered once, never twice
    svc = open_service(data, postgres_url)
    assert svc.sources() == [] and svc.store.count("default") == 0
    assert_consistent(svc)
    assert svc.ingest([doc]).count("added") == 1  # and the next ingest goes through
    assert_consistent(svc)


def test_a_writer_that_lost_its_lock_session_writes_nothing(tmp_path: Path, postgres_url):  # noqa: F811
    svc = open_service(tmp_path / "data", postgres_url)
    lock = svc.indexer.lock
    with lock.hold():
        pid = lock.backend_pid()  # type: ignore[attr-defined]
        with svc.catalog.connect() as admin:  # type: ignore[attr-defined]
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreWriteError, match=r"writer lock .* was lost"):
            svc.catalog.journal_begin("default", "add", "doc", 1, [])
    assert svc.catalog.journal() == []
    doc = tmp_path / "a.txt"
    doc.write_text(big_text(5, 4))
    assert svc.ingest([doc]).count("added") == 1  # the next hold takes a new session
    assert_consistent(svc)


@pytest.fixture
def own_server():
    """A cluster of its own, to stop and start."""
    server = start_server()
    try:
        yield server
    finally:
        server.cleanup()


def test_a_stopped_server_is_a_bounded_one_line_error_and_a_restart_heals(tmp_path: Path, own_server):
    url = own_server.create_database()
    data = tmp_path / "data"
    svc = open_service(data, url, catalog_connect_timeout_seconds=2, catalog_statement_timeout_seconds=2)
    doc = tmp_path / "a.txt"
    doc.write_text(big_text(20, 5))
    assert svc.ingest([doc]).count("added") == 1
    assert svc.search("Item 5-3 notes", "default", 3)

    own_server.stop("immediate")
    for call in (svc.sources, lambda: svc.ask("Item 5-3 notes?"), lambda: svc.catalog.generation("default")):
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            call()
        assert time.monotonic() - started < 5
        message = str(caught.value)
        assert "\n" not in message and "PostgreSQL catalog at 127.0.0.1" in message, message
    other = doc.with_name("b.txt")
    other.write_text(big_text(5, 6))
    started = time.monotonic()
    try:
        report = svc.ingest([other])
    except StoreError as exc:  # its first catalog read fails
        assert "\n" not in str(exc)
    else:
        assert report.items[0].status == "failed" and "\n" not in (report.items[0].error or "")
    assert time.monotonic() - started < 10
    started = time.monotonic()
    cli = subprocess.run(
        [sys.executable, "-m", "citebot", "sources", "--data-dir", str(data)],
        cwd=ROOT,
        env=env(url, CITEBOT_CATALOG_CONNECT_TIMEOUT_SECONDS="2"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert cli.returncode != 0 and "Traceback" not in cli.stderr, cli.stderr
    assert (
        "cannot reach the PostgreSQL catalog at 127.0.0.1" in cli.stderr and len(cli.stderr.strip().splitlines()) == 1
    )
    assert time.monotonic() - started < 30  # interpreter start and imports included

    own_server.start()
    (info,) = svc.sources()  # the same service, no reopen
    assert not svc.ask("Item 5-3 notes?").abstained
    assert svc.ingest([other]).count("added") == 1
    svc.forget(info.id)
    assert_consistent(svc)


def test_a_frozen_server_is_cut_off_in_bounded_time(tmp_path: Path, own_server):
    """A server that keeps its connections open but never answers (the postmaster and the
    session's backend SIGSTOPped): no server-side timeout can fire, so the client's must."""
    url = own_server.create_database()
    svc = open_service(tmp_path / "data", url, catalog_connect_timeout_seconds=2, catalog_statement_timeout_seconds=1)
    catalog = svc.catalog
    assert catalog.generation("default") == 0
    frozen = [int((own_server.data / "postmaster.pid").read_text().split()[0])]
    frozen.append(catalog._conn().info.backend_pid)  # type: ignore[attr-defined]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            catalog.generation("default")
        elapsed = time.monotonic() - started
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    # statement 1 s + 2 s grace, then one reconnect bounded by connect_timeout (2 s)
    assert elapsed < 10, elapsed
    assert "\n" not in str(caught.value) and "PostgreSQL catalog at 127.0.0.1" in str(caught.value)
    assert catalog.generation("default") == 0  # thawed: a new connection
    assert svc.sources() == []
