"""Attacks on URL ingestion from outside: DNS rebinding, multi-address names behind an
allowlist, and Content-Encoding bombs — over real HTTP, with no traffic leaving loopback
(``FakeNet`` answers the names and routes "public" addresses to local servers)."""

from __future__ import annotations

import gzip
import ssl
import tracemalloc
import zlib
from dataclasses import dataclass

import pytest

from retrieval.errors import BlockedURL, FetchError, SourceTooLarge
from retrieval.fetching import FetchPolicy, fetch
from tests.builders import ARTICLE_HTML
from tests.http_server import FakeNet, make_certificate, send, serve

PUBLIC_IP = "93.184.216.34"  # a public address; FakeNet routes it to the "public" local server
INTERNAL_PAGE = b"<html><body><article><p>internal admin page: the secret is 42</p></article></body></html>"


@dataclass
class Sites:
    public_port: int
    internal_port: int
    public_log: list[tuple[str, str]]  # (path, Host) of every request each server received
    internal_log: list[tuple[str, str]]


@pytest.fixture
def sites(monkeypatch):
    """An internal server (the one an attacker wants to reach) and a public one, both on
    127.0.0.1; the names: ``public.test``, ``rebind.test`` (public first, then 127.0.0.1),
    ``multi.test`` (an allowlisted private address and 127.0.0.1), ``intranet.test``."""
    ports: dict[str, int] = {}
    public_log: list[tuple[str, str]] = []
    internal_log: list[tuple[str, str]] = []

    def to(name: str, path: str = "/page"):
        return lambda h: send(h, 302, headers={"Location": f"http://{name}:{ports['internal']}{path}"})

    public_routes = {
        "/page": lambda h: send(h, 200, ARTICLE_HTML.encode()),
        "/to-rebind": to("rebind.test"),
        "/to-multi": to("multi.test"),
    }
    with (
        serve({"/page": lambda h: send(h, 200, INTERNAL_PAGE)}, internal_log) as internal,
        serve(public_routes, public_log) as public,
    ):
        ports["internal"] = int(internal.rsplit(":", 1)[1])
        ports["public"] = int(public.rsplit(":", 1)[1])
        net = FakeNet().install(monkeypatch)
        net.names["public.test"] = [[PUBLIC_IP]]
        net.names["rebind.test"] = [[PUBLIC_IP], ["127.0.0.1"]]
        net.names["multi.test"] = [["10.1.2.3", "127.0.0.1"]]  # 10.1.2.3 is unreachable: the fallback
        net.names["intranet.test"] = [["10.9.9.9"]]
        for port in ports.values():
            net.routes[(PUBLIC_IP, port)] = ("127.0.0.1", ports["public"])
            net.routes[("10.9.9.9", port)] = ("127.0.0.1", ports["public"])
        yield Sites(ports["public"], ports["internal"], public_log, internal_log)


@pytest.mark.parametrize("start", ["rebind.test:{internal}/page", "public.test:{public}/to-rebind"])
def test_dns_rebinding_never_reaches_loopback(sites, start):
    """The name answers a public address to the check and 127.0.0.1 to a second lookup:
    the fetch must connect to the address it checked, on the first request and after a
    redirect, with the Host header (and SNI, for https) still the name."""
    url = "http://" + start.format(internal=sites.internal_port, public=sites.public_port)
    fetched = fetch(url, FetchPolicy.shipped(timeout_seconds=5.0))
    assert sites.internal_log == []
    assert b"forty thousand homes" in fetched.content
    assert sites.public_log[-1] == ("/page", f"rebind.test:{sites.internal_port}")


@pytest.mark.parametrize("start", ["multi.test:{internal}/page", "public.test:{public}/to-multi"])
def test_an_allowlisted_network_does_not_let_other_addresses_through(sites, start):
    """``multi.test`` has one address in the allowlisted 10.0.0.0/8 and one on loopback:
    every address the fetch may use must pass, so it is refused."""
    url = "http://" + start.format(internal=sites.internal_port, public=sites.public_port)
    with pytest.raises(BlockedURL, match=r"multi\.test resolves to a loopback address"):
        fetch(url, FetchPolicy.shipped(allowlist=("10.0.0.0/8",), timeout_seconds=5.0))
    assert sites.internal_log == []


def test_an_allowlisted_network_still_works(sites):
    fetched = fetch(f"http://intranet.test:{sites.internal_port}/page", FetchPolicy.shipped(allowlist=("10.0.0.0/8",)))
    assert b"forty thousand homes" in fetched.content and sites.internal_log == []
    with pytest.raises(BlockedURL, match="private"):
        fetch(f"http://intranet.test:{sites.internal_port}/page", FetchPolicy.shipped())


def test_https_to_the_checked_address_keeps_sni_and_certificate_checks(monkeypatch, tmp_path):
    """Over https the connection goes to the checked address while TLS still names the
    host: the server sees SNI ``rebind.test`` and the certificate is verified for it."""
    import certifi

    ca, cert, key = make_certificate(tmp_path, "rebind.test")
    monkeypatch.setattr(certifi, "where", lambda: str(ca))  # the client trusts the test CA only
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server_names: list[str | None] = []
    tls.sni_callback = lambda sock, name, ctx: server_names.append(name)
    public_log: list[tuple[str, str]] = []
    internal_log: list[tuple[str, str]] = []
    page = {"/page": lambda h: send(h, 200, ARTICLE_HTML.encode())}
    with (
        serve({"/page": lambda h: send(h, 200, INTERNAL_PAGE)}, internal_log, tls) as internal,
        serve(page, public_log, tls) as public,
    ):
        port = int(internal.rsplit(":", 1)[1])
        net = FakeNet().install(monkeypatch)
        net.names["rebind.test"] = [[PUBLIC_IP], ["127.0.0.1"]]
        net.names["other.test"] = [[PUBLIC_IP]]
        net.routes[(PUBLIC_IP, port)] = ("127.0.0.1", int(public.rsplit(":", 1)[1]))
        fetched = fetch(f"https://rebind.test:{port}/page", FetchPolicy.shipped(timeout_seconds=5.0))
        assert b"forty thousand homes" in fetched.content
        assert internal_log == [] and public_log == [("/page", f"rebind.test:{port}")]
        assert server_names == ["rebind.test"]
        # The same server under a name its certificate does not carry: verification fails.
        with pytest.raises(FetchError, match="cannot fetch"):
            fetch(f"https://other.test:{port}/page", FetchPolicy.shipped(timeout_seconds=5.0))
        assert public_log == [("/page", f"rebind.test:{port}")]


# -- Content-Encoding bombs -----------------------------------------------------------------
CAP = 1_000_000
BOMB = 128 * 1024 * 1024  # decoded size of each bomb: 128 times the cap


def _zeros_gzip(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join(packer.compress(block) for _ in range(size >> 20)) + packer.flush()


def _zeros_zstd(size: int) -> bytes:
    import zstandard

    packer = zstandard.ZstdCompressor(level=3).compressobj()
    block = bytes(1 << 20)
    return b"".join(packer.compress(block) for _ in range(size >> 20)) + packer.flush()


@pytest.fixture(scope="module")
def bombs():
    inner = _zeros_gzip(BOMB)
    article = ARTICLE_HTML.encode()
    deflated = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bodies = {
        "/gzip-gzip": (gzip.compress(inner), "gzip, gzip"),
        "/gzip": (inner, "gzip"),
        "/zstd": (_zeros_zstd(BOMB), "zstd"),
        "/gzip-zstd": (gzip.compress(_zeros_zstd(BOMB)), "zstd, gzip"),
        "/article-gzip-gzip": (gzip.compress(gzip.compress(article)), "gzip, gzip"),
        "/article-deflate": (zlib.compress(article), "deflate"),
        "/article-raw-deflate": (deflated.compress(article) + deflated.flush(), "deflate"),
        "/article-zstd": (__import__("zstandard").ZstdCompressor().compress(article), "zstd"),
        "/article-identity": (article, "identity"),
        "/brotli": (b"\x0b\x02\x80hello\x03", "br"),
        "/many-layers": (gzip.compress(gzip.compress(gzip.compress(gzip.compress(article)))), "gzip," * 3 + "gzip"),
        "/bad-gzip": (b"not gzip at all", "gzip"),
    }

    def route(body: bytes, encoding: str):
        return lambda h: send(h, 200, body, headers={"Content-Encoding": encoding})

    with serve({path: route(*spec) for path, spec in bodies.items()}) as base:
        yield base


LOCAL = FetchPolicy.shipped(allowlist=("127.0.0.1",), timeout_seconds=20.0, max_bytes=CAP)


@pytest.mark.parametrize("path", ["/gzip-gzip", "/gzip", "/zstd", "/gzip-zstd"])
def test_encoding_bombs_stop_at_the_cap_with_bounded_memory(bombs, path):
    tracemalloc.start()
    try:
        with pytest.raises(SourceTooLarge, match=f"larger than the limit of {CAP:,} bytes"):
            fetch(bombs + path, LOCAL)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The decoded bytes held never pass the cap (plus a piece in flight); the bomb is 128x.
    assert peak < 4 * CAP, f"peak {peak:,} bytes"


@pytest.mark.parametrize(
    "path", ["/article-gzip-gzip", "/article-deflate", "/article-raw-deflate", "/article-zstd", "/article-identity"]
)
def test_encoded_pages_decode(bombs, path):
    assert fetch(bombs + path, LOCAL).content == ARTICLE_HTML.encode()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/brotli", "unsupported Content-Encoding 'br'"),
        ("/many-layers", "more than 3 Content-Encodings"),
        ("/bad-gzip", "cannot decode the gzip content"),
    ],
)
def test_undecodable_encodings_are_clear_errors(bombs, path, message):
    with pytest.raises(FetchError, match=message):
        fetch(bombs + path, LOCAL)
