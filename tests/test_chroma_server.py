"""Server mode: the same service behaviour against a real `chroma run` server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from retrieval.embedding import HashingEmbedder
from retrieval.errors import StoreError
from retrieval.service import CitebotService, sample_path

pytestmark = pytest.mark.server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("chroma server did not start")
            time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_server_mode_behaves_like_embedded(make_settings, chroma_server, real_embedder):
    settings = make_settings(chroma_mode="server", chroma_port=chroma_server)
    svc = CitebotService(settings, embedder=real_embedder)
    report = svc.ingest([sample_path()], "server-ns")
    assert report.count("added") == 1
    answer = svc.ask("What did Pompeo demand?", "server-ns")
    assert any("Iran must withdraw all forces" in c.quote for c in answer.citations)
    assert svc.ingest([sample_path()], "server-ns").count("unchanged") == 1
    info = svc.sources("server-ns")[0]
    assert len(svc.store.all_ids("server-ns")) == info.chunks
    svc.forget(info.id, "server-ns")
    assert svc.store.all_ids("server-ns") == []


def test_unreachable_server_is_a_clear_error(make_settings):
    settings = make_settings(chroma_mode="server", chroma_port=free_port())
    with pytest.raises(StoreError, match="cannot reach the Chroma server"):
        CitebotService(settings, embedder=HashingEmbedder())
