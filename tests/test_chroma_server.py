"""Server mode: the same service behaviour against a real `chroma run` server."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import pytest

from config import load_settings
from retrieval.errors import StoreError
from retrieval.service import CitebotService, sample_path
from retrieval.vectorstore import chroma_server as chroma_server_of
from tests.chroma_server import checking_proxy, chroma_admin, chroma_server, frozen_port
from tests.doubles import HashingEmbedder
from tests.http_server import free_port, make_certificate

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


def test_a_token_and_tls_reach_a_server_behind_a_checking_proxy(make_settings, chroma_port, tmp_path, monkeypatch):
    ca, cert, key = make_certificate(tmp_path, "localhost")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    with checking_proxy(chroma_port, "s3cret-token", tls) as (port, seen):
        settings = make_settings(chroma_mode="server", chroma_host="localhost", chroma_port=port, chroma_ssl=True)
        secure = settings.model_copy(update={"chroma_ca_file": str(ca)})
        monkeypatch.setenv("CITEBOT_CHROMA_TOKEN", "s3cret-token")
        svc = CitebotService.from_settings(secure, embedder=HashingEmbedder())
        assert svc.ingest([sample_path()], "tls-ns").count("added") == 1
        assert svc.search("Pompeo demanded Iran withdraw", "tls-ns")
        assert seen and all(auth == "Bearer s3cret-token" for auth in seen)

        with pytest.raises(StoreError, match="cannot reach the Chroma server at https://localhost"):
            CitebotService.from_settings(settings, embedder=HashingEmbedder())  # the system CAs do not sign it
        monkeypatch.setenv("CITEBOT_CHROMA_TOKEN", "wrong")
        with pytest.raises(StoreError, match="cannot reach the Chroma server"):
            CitebotService.from_settings(secure, embedder=HashingEmbedder())
        monkeypatch.delenv("CITEBOT_CHROMA_TOKEN")
        with pytest.raises(StoreError, match="cannot reach the Chroma server"):
            CitebotService.from_settings(secure, embedder=HashingEmbedder())


def test_the_token_is_never_shown(monkeypatch):
    monkeypatch.setenv("CITEBOT_CHROMA_TOKEN", "s3cret-token")
    server = chroma_server_of(load_settings(chroma_mode="server"))
    assert server.token == "s3cret-token" and "s3cret" not in repr(server)


def test_a_named_database_keeps_its_collections_apart(make_settings, chroma_port, tmp_path):
    chroma_admin(chroma_port).create_database("citebot-team-a")
    team = make_settings(chroma_mode="server", chroma_port=chroma_port, chroma_database="citebot-team-a")
    svc = CitebotService.from_settings(team, embedder=HashingEmbedder())
    assert svc.ingest([sample_path()], "db-ns").count("added") == 1
    assert "db-ns" in svc.store.namespaces()
    default = CitebotService.from_settings(
        make_settings(chroma_mode="server", chroma_port=chroma_port, data_dir=tmp_path / "other"),
        embedder=HashingEmbedder(),
    )  # another deployment (its own catalog) on the same server
    assert "db-ns" not in default.store.namespaces()

    missing = make_settings(chroma_mode="server", chroma_port=chroma_port, chroma_database="no-such-db")
    with pytest.raises(StoreError, match="cannot reach the Chroma server"):
        CitebotService.from_settings(missing, embedder=HashingEmbedder())


def test_a_frozen_server_fails_within_the_timeout(make_settings):
    with frozen_port() as port:
        settings = make_settings(chroma_mode="server", chroma_port=port, chroma_timeout_seconds=1.0)
        started = time.monotonic()
        with pytest.raises(StoreError, match="cannot reach the Chroma server"):
            CitebotService.from_settings(settings, embedder=HashingEmbedder())
        assert time.monotonic() - started < 5


def test_a_stopped_server_is_a_bounded_error_and_its_restart_heals(make_settings, tmp_path):
    port = free_port()
    settings = make_settings(chroma_mode="server", chroma_port=port, chroma_timeout_seconds=2.0)
    other = tmp_path / "other.md"
    other.write_text("# Harbour\n\nThe harbour master closed the port to tankers on Monday.\n")
    with chroma_server(tmp_path / "own-chroma", port):
        svc = CitebotService.from_settings(settings, embedder=HashingEmbedder())
        svc.ingest([sample_path()], "outage-ns")
        assert svc.search("Pompeo demanded Iran withdraw", "outage-ns")
    started = time.monotonic()
    report = svc.ingest([other], "outage-ns")  # a write needs the server
    assert report.count("failed") == 1
    assert f"the Chroma server at http://127.0.0.1:{port} did not answer" in (report.items[0].error or "")
    with pytest.raises(StoreError, match="did not answer"):
        svc.store.count("outage-ns")
    assert time.monotonic() - started < 10
    assert len(svc.sources("outage-ns")) == 1  # nothing half-added
    with chroma_server(tmp_path / "own-chroma", port):
        # the same service, no restart: the write goes through and both articles answer
        assert svc.ingest([other], "outage-ns").count("added") == 1
        answer = svc.ask("Who closed the port to tankers?", "outage-ns")
        assert any("harbour master" in c.quote for c in answer.citations)
