"""A server killed in the middle of an ingest, in the scale-out configuration.

Real processes (``tests/store_worker.py``, the ``citebot`` CLI), a real PostgreSQL catalog
and a real ``chroma run``; the test kills one of them while an ingest of two documents is
held after its first document's vectors are written, before it commits. Chroma (SIGKILL):

* the writer lives on: the first document lands whole, the second fails with the one-line
  "did not answer" within the bound, a reader sees only the whole one meanwhile, and re-running
  the ingest once the server is back completes it;
* the writer dies too: another process's ``recover()`` removes what it left in Chroma, and
  nothing of it is visible; re-running the ingest completes it.

PostgreSQL (an immediate shutdown, its crash): the held document cannot commit, so nothing
is visible once the server is back; the next process recovers the vectors it left and
re-running the ingest completes it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config import load_settings
from retrieval.catalogs import open_catalog
from retrieval.vectorstore import collection_name
from tests.chroma_server import chroma_process, chroma_server
from tests.http_server import free_port
from tests.postgres_server import start_server
from tests.store_configs import StoreServers
from tests.store_worker import big_text
from tests.test_store_processes import (
    ROOT,
    TIMEOUT,
    assert_consistent,
    env,
    next_event,
    open_service,
    settings_env,
    worker,
)

pytestmark = [pytest.mark.server, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def stores(store_servers: StoreServers, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Settings for a PostgreSQL database of this test's own and a Chroma server on a port
    it can restart on (the server itself is started by each test)."""
    url = store_servers.postgres.create_database()
    try:
        yield {
            "catalog_url": url,
            "chroma_mode": "server",
            "chroma_host": "127.0.0.1",
            "chroma_port": free_port(),
            "chroma_timeout_seconds": 2.0,
        }
    finally:
        store_servers.postgres.drop_database(url)


def articles(tmp_path: Path) -> list[Path]:
    paths = []
    for i in (1, 2):
        path = tmp_path / f"article{i}.txt"
        path.write_text(big_text(120, seed=i))
        paths.append(path)
    return paths


def held_ingest(data: Path, paths: list[Path], go: Path, stores: dict[str, Any]) -> subprocess.Popen:
    """An ingest of ``paths`` that stops after the first document's vectors are written."""
    writer = worker("ingest", "--data-dir", data, "--hold", go, *paths, settings=stores)
    next_event(writer, "upserted")
    return writer


def visible_sources(data: Path, stores: dict[str, Any]) -> list[str]:
    """The documents the catalog shows while Chroma is down (read in PostgreSQL directly: a
    new process's service does not open without its vector store)."""
    catalog, _ = open_catalog(load_settings(data_dir=data, **stores))
    try:
        return [Path(d.source).name for d in catalog.documents("default")]
    finally:
        catalog.close()


def vectors_in_chroma(port: int, namespace: str) -> int:
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=port)
    return int(client.get_collection(collection_name(namespace)).count())


def test_a_writer_outliving_the_servers_death_lands_whole_documents_only(stores, tmp_path: Path):
    data, go = tmp_path / "data", tmp_path / "go"
    first, second = articles(tmp_path)
    chroma_dir, port = tmp_path / "chroma", stores["chroma_port"]
    url = f"http://127.0.0.1:{port}"
    with chroma_process(chroma_dir, port) as (server, _):
        writer = held_ingest(data, [first, second], go, stores)
        server.send_signal(signal.SIGKILL)
        server.wait()
        go.touch()
        out, err = writer.communicate(timeout=TIMEOUT)
    assert writer.returncode == 0, err
    assert "Traceback" not in err
    report = json.loads(out.splitlines()[-1])
    status = {Path(item["source"]).name: item for item in report["items"]}
    assert status["article1.txt"]["status"] == "added"  # its vectors were in before the kill
    assert status["article2.txt"]["status"] == "failed"
    assert f"the Chroma server at {url} did not answer" in status["article2.txt"]["error"]
    # The catalog still answers while Chroma is down: only the whole document is there.
    assert visible_sources(data, stores) == ["article1.txt"]
    cli = subprocess.run(
        [sys.executable, "-m", "citebot", "sources", "--data-dir", str(data)],
        cwd=ROOT,
        env=env(**settings_env(stores)),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )  # a new process cannot open the store now: it says so in one line
    assert (
        cli.returncode == 1
        and cli.stderr.strip() == f"error: cannot reach the Chroma server at {url}: [Errno 111] Connection refused"
    )

    with chroma_server(chroma_dir, port):
        rerun = worker("ingest", "--data-dir", data, first, second, settings=stores)
        out, err = rerun.communicate(timeout=TIMEOUT)
        assert rerun.returncode == 0, err
        items = {Path(i["source"]).name: i["status"] for i in json.loads(out.splitlines()[-1])["items"]}
        assert items == {"article1.txt": "unchanged", "article2.txt": "added"}
        svc = open_service(data, **stores)
        assert_consistent(svc)  # the failed attempt's journal row was recovered, its vectors gone
        assert {Path(d.source).name for d in svc.sources()} == {"article1.txt", "article2.txt"}
        assert svc.search("Item 2-77 notes", "default", 3)


def test_a_writer_dying_with_the_server_is_repaired_by_another_process(stores, tmp_path: Path):
    data, go = tmp_path / "data", tmp_path / "go"
    first, second = articles(tmp_path)
    chroma_dir, port = tmp_path / "chroma", stores["chroma_port"]
    with chroma_process(chroma_dir, port) as (server, _):
        writer = held_ingest(data, [first, second], go, stores)
        server.send_signal(signal.SIGKILL)
        writer.send_signal(signal.SIGKILL)
        server.wait()
        writer.communicate(timeout=TIMEOUT)
    assert visible_sources(data, stores) == []  # the vectors written were never committed

    with chroma_server(chroma_dir, port):
        assert vectors_in_chroma(port, "default") == 120  # what the dead writer left
        svc = open_service(data, **stores)  # opening runs recover(): the dead writer's lock is free
        assert svc.catalog.journal() == []
        assert svc.store.all_ids("default") == []  # the dead writer's vectors are gone
        assert svc.sources() == []
        report = svc.ingest([first, second], "default")
        assert report.count("added") == 2
        assert_consistent(svc)


def test_postgresql_dying_mid_ingest_leaves_nothing_half_ingested(tmp_path: Path):
    postgres = start_server()  # its own cluster, to stop and start
    try:
        stores = {
            "catalog_url": postgres.create_database(),
            "catalog_connect_timeout_seconds": 2,
            "catalog_statement_timeout_seconds": 2,
            "chroma_mode": "server",
            "chroma_host": "127.0.0.1",
        }
        data, go = tmp_path / "data", tmp_path / "go"
        first, second = articles(tmp_path)
        with chroma_server(tmp_path / "chroma") as port:
            stores["chroma_port"] = port
            writer = held_ingest(data, [first, second], go, stores)
            postgres.stop("immediate")
            go.touch()
            out, err = writer.communicate(timeout=TIMEOUT)
            assert writer.returncode == 0 and "Traceback" not in err, err
            items = json.loads(out.splitlines()[-1])["items"]
            assert [i["status"] for i in items] == ["failed", "failed"]
            assert "cannot reach the PostgreSQL catalog at 127.0.0.1" in items[0]["error"]
            assert "not tried (the batch stopped after a failed write" in items[1]["error"]
            postgres.start()
            assert vectors_in_chroma(port, "default") > 0  # what the writer could not commit
            assert visible_sources(data, stores) == []
            svc = open_service(data, **stores)  # recover(): the writer's journal row and vectors go
            assert_consistent(svc)
            assert svc.sources() == []
            assert svc.ingest([first, second], "default").count("added") == 2
            assert_consistent(svc)
    finally:
        postgres.cleanup()
