"""Server mode: the same service behaviour against a real `chroma run` server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retrieval.errors import StoreError
from retrieval.service import CitebotService, sample_path
from tests.chroma_server import chroma_server
from tests.doubles import HashingEmbedder
from tests.http_server import free_port

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory) -> Iterator[int]:
    with chroma_server(tmp_path_factory.mktemp("chroma-server")) as port:
        yield port


def test_server_mode_behaves_like_embedded(make_settings, chroma_port, real_embedder):
    settings = make_settings(chroma_mode="server", chroma_port=chroma_port)
    svc = CitebotService.from_settings(settings, embedder=real_embedder)
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
        CitebotService.from_settings(settings, embedder=HashingEmbedder())
