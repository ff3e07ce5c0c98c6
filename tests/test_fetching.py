"""URL ingestion over real HTTP against a local server, and the SSRF guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.errors import BlockedURL, FetchError, SourceTooLarge
from retrieval.fetching import FetchPolicy, check_url, fetch
from tests.builders import ARTICLE_HTML, make_pdf
from tests.http_server import closed_port, send, serve, slow

LOCAL = FetchPolicy.shipped(allowlist=("127.0.0.1",), timeout_seconds=2.0, max_bytes=50_000, max_redirects=2)


def routes(base_holder: dict):
    pdf = base_holder["pdf"]
    return {
        "/page-without-type": lambda h: send(h, 200, b"\n  " + ARTICLE_HTML.encode(), content_type=None),
        "/pdf-without-type": lambda h: send(h, 200, pdf, content_type=None),
        "/binary-without-type": lambda h: send(h, 200, b"\x00\x01\x02\x03 not a document", content_type=None),
        "/octet-stream-html": lambda h: send(h, 200, ARTICLE_HTML.encode(), "application/octet-stream"),
        "/article": lambda h: send(h, 200, ARTICLE_HTML.encode()),
        "/big": lambda h: send(h, 200, b"x" * 60_000, "text/plain"),
        "/image": lambda h: send(h, 200, b"\x89PNG....", "image/png"),
        "/missing": lambda h: send(h, 404, b"gone"),
        "/to-article": lambda h: send(h, 302, headers={"Location": "/article"}),
        "/loop": lambda h: send(h, 302, headers={"Location": "/loop"}),
        "/to-metadata": lambda h: send(h, 302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}),
        "/to-loopback-2": lambda h: send(
            h, 302, headers={"Location": f"http://127.0.0.2:{base_holder['port']}/article"}
        ),
        "/slow": slow(5),
    }


@pytest.fixture
def server(tmp_path: Path):
    pdf = make_pdf(tmp_path / "report.pdf", ["The solar farm produced nine gigawatt hours in its first year."])
    holder: dict = {"pdf": pdf.read_bytes()}
    with serve(routes(holder)) as base:
        holder["port"] = int(base.rsplit(":", 1)[1])
        yield base


def test_ingest_url_from_a_local_server(make_settings, server):
    from retrieval.service import CitebotService
    from tests.doubles import HashingEmbedder

    svc = CitebotService.from_settings(make_settings(url_allowlist=["127.0.0.1"]), embedder=HashingEmbedder())
    report = svc.ingest([f"{server}/to-article", f"{server}/missing", f"{server}/image"])
    assert [i.status for i in report.items] == ["added", "failed", "failed"]
    assert "HTTP error 404" in report.items[1].error
    assert "unsupported type" in report.items[2].error
    info = svc.sources()[0]
    assert info.url == f"{server}/article" and info.source == f"{server}/to-article"
    assert info.title.startswith("Dam Opens") and info.author == "Lois Lane"
    assert "forty thousand homes" in svc.catalog.text("default", info.id)


def test_follows_redirects_within_the_cap(server):
    assert b"forty thousand" in fetch(f"{server}/to-article", LOCAL).content
    with pytest.raises(FetchError, match="more than 2 redirects"):
        fetch(f"{server}/loop", LOCAL)


def test_size_time_and_connection_failures(server):
    with pytest.raises(SourceTooLarge, match="50,000"):
        fetch(f"{server}/big", LOCAL)
    with pytest.raises(FetchError, match="timed out"):
        fetch(f"{server}/slow", FetchPolicy.shipped(allowlist=("127.0.0.1",), timeout_seconds=0.5))
    with pytest.raises(FetchError, match="cannot fetch"):
        fetch(f"http://127.0.0.1:{closed_port()}/", LOCAL)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://localhost:8080/x", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.10/", "private"),
        ("http://172.16.5.5/", "private"),
        ("http://100.64.1.1/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://0.0.0.0/", "private"),
        ("http://224.0.0.1/", "reserved"),
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.com/x", "only http and https"),
        ("gopher://127.0.0.1/", "only http and https"),
        ("http://user:pw@example.com/", "credentials"),
        ("http:///nohost", "no host"),
    ],
)
def test_refuses_non_public_destinations_by_default(url, reason):
    with pytest.raises(BlockedURL, match=reason):
        check_url(url, FetchPolicy.shipped())


def test_redirects_are_rechecked(server):
    # The first hop is allowed (allowlisted), the redirect target is not.
    with pytest.raises(BlockedURL, match="link-local"):
        fetch(f"{server}/to-metadata", LOCAL)
    with pytest.raises(BlockedURL, match="loopback"):
        fetch(f"{server}/to-loopback-2", LOCAL)


def test_allowlist_by_network_and_allow_private(server):
    assert fetch(f"{server}/article", FetchPolicy.shipped(allowlist=("127.0.0.0/8",))).content
    assert fetch(f"{server}/article", FetchPolicy.shipped(allow_private=True)).content
    with pytest.raises(BlockedURL):
        fetch(f"{server}/article", FetchPolicy.shipped())


def test_unresolvable_host_is_a_clear_error():
    with pytest.raises(FetchError, match="cannot resolve host"):
        check_url("http://no-such-host.invalid/", FetchPolicy.shipped())


def test_a_page_without_content_type_or_suffix_is_sniffed(make_settings, server):
    """No Content-Type and no suffix: HTML and PDF are recognised by their first bytes; other
    bytes (and a declared type, even a useless one) are not guessed at."""
    from retrieval.service import CitebotService
    from tests.doubles import HashingEmbedder

    assert fetch(f"{server}/page-without-type", LOCAL).content_type == "text/html"
    assert fetch(f"{server}/pdf-without-type", LOCAL).content_type == "application/pdf"
    assert fetch(f"{server}/binary-without-type", LOCAL).content_type is None
    svc = CitebotService.from_settings(make_settings(url_allowlist=["127.0.0.1"]), embedder=HashingEmbedder())
    paths = ["/page-without-type", "/pdf-without-type", "/binary-without-type", "/octet-stream-html"]
    report = svc.ingest([server + p for p in paths])
    assert [i.status for i in report.items] == ["added", "added", "failed", "failed"]
    assert "unsupported type" in report.items[2].error
    assert "application/octet-stream" in report.items[3].error
    titles = sorted(s.title for s in svc.sources())
    assert titles[0].startswith("Dam Opens") and titles[1] == "Solar Report"
    assert any("nine gigawatt hours" in svc.catalog.text("default", s.id) for s in svc.sources())


NOT_HTTP = ["file:///etc/passwd", "ftp://example.com/x", "gopher://127.0.0.1/", "FILE:///etc/hostname"]


def test_other_schemes_are_refused_by_name(fast_service):
    report = fast_service.ingest(NOT_HTTP)
    assert [i.status for i in report.items] == ["failed"] * len(NOT_HTTP)
    for item, source in zip(report.items, NOT_HTTP, strict=True):
        assert item.source == source
        assert item.error == f"{source}: only http and https URLs can be ingested"


def test_cli_refuses_other_schemes_without_a_traceback(tmp_path: Path):
    env = {**os.environ, "CITEBOT_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-m", "citebot", "ingest", *NOT_HTTP[:2]],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("only http and https URLs can be ingested") == 2, proc.stderr
    assert "no such file" not in proc.stderr and "Traceback" not in proc.stderr
