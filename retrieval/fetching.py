"""Guarded HTTP(S) fetching for URL ingestion.

URL ingestion fetches on behalf of chat users, so by default it refuses loopback,
private, link-local (cloud metadata), multicast and reserved addresses, and caps
redirects, time and size. The address check runs inside the connection itself (a
guarded httpcore network backend): each host is resolved once, every address is checked,
and only those addresses are connected to — so a name cannot answer the check with a
public address and the connection with 127.0.0.1 (DNS rebinding), on the first request
or on any redirect. Bodies are decoded here, a piece at a time, so a compression bomb
stops at the size cap instead of inflating in memory.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import re
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import IO, Any, cast
from urllib.parse import urljoin, urlsplit

import certifi
import httpcore
import httpx

from config import shipped_defaults
from retrieval.errors import BlockedURL, FetchError, SourceTooLarge

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
USER_AGENT = "Citebot/0.1 (+https://github.com/citebot)"
_PIECE = 64 * 1024  # the most decoded bytes one decoding step may produce
_MAX_ENCODINGS = 3  # stacked Content-Encodings beyond this are not seen from real servers
_ZSTD_WINDOW = 8 * 1024 * 1024  # RFC 9659: HTTP zstd needs no bigger window (and it bounds memory)


@dataclass(frozen=True)
class FetchPolicy:
    timeout_seconds: float
    max_redirects: int
    max_bytes: int
    allow_private: bool
    # Hosts ("intranet.example", "127.0.0.1") or networks ("10.0.0.0/8") exempt from the
    # private-address refusal: for tests and intranets.
    allowlist: tuple[str, ...]

    @classmethod
    def shipped(cls, **overrides: Any) -> FetchPolicy:
        """The shipped defaults (``config/defaults.toml``), with ``overrides``."""
        s = shipped_defaults()
        policy = cls(s.url_timeout_seconds, s.url_max_redirects, s.max_file_bytes, s.url_allow_private, ())
        return replace(policy, **overrides)


@dataclass(frozen=True)
class Fetched:
    url: str
    content: bytes
    content_type: str | None
    # The response's validators, for a conditional request next time (feeds), and whether
    # the server answered 304 Not Modified to one (``content`` is then empty).
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


def _blocked_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local (cloud metadata) address"
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT):
        return "a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return "a reserved address"
    return None


def _resolve(host: str, port: int) -> list[str]:
    """The host's addresses, in the resolver's order (the order connections try them)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refusal(host: str, addresses: Iterable[str], policy: FetchPolicy) -> str | None:
    """Why ``host`` may not be connected to, or None. Every address must pass on its own:
    one allowlisted address must not let the connection fall back to a blocked one."""
    if policy.allow_private or any(entry.lower() == host.lower() for entry in policy.allowlist):
        return None
    networks = []
    for entry in policy.allowlist:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if any(ip in network for network in networks):
            continue
        reason = _blocked_reason(ip)
        if reason:
            return reason
    return None


def _parse(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL without credentials; ``BlockedURL`` otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BlockedURL(f"{url[:200]}: not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise BlockedURL(f"{url[:200]}: only http and https URLs can be ingested")
    host = parts.hostname
    if not host:
        raise BlockedURL(f"{url[:200]}: the URL has no host")
    if parts.username or parts.password:
        raise BlockedURL(f"{url[:200]}: URLs with credentials are refused")
    return host, port or (443 if parts.scheme == "https" else 80)


def check_url(url: str, policy: FetchPolicy) -> None:
    """Raise ``BlockedURL`` unless ``url`` is http(s) to an allowed, resolvable host.
    (A preview: ``fetch`` checks the addresses it actually connects to.)"""
    host, port = _parse(url)
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"{url[:200]}: cannot resolve host {host[:100]!r}") from exc
    reason = _refusal(host, addresses, policy)
    if reason:
        raise BlockedURL(f"{url[:200]}: refused, {host[:100]} resolves to {reason}")


class _Refused(Exception):
    """The guarded backend refused a host; ``fetch`` turns it into ``BlockedURL``."""


class _Unresolvable(Exception):
    pass


class _Undecodable(Exception):
    pass


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects only to addresses that passed the policy, from the one lookup that was
    checked. TLS is unaffected: httpcore still sends SNI and verifies the certificate
    for the URL's host name, and httpx still sends it as the Host header."""

    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = _resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise _Unresolvable(f"cannot resolve host {host[:100]!r}") from exc
        reason = _refusal(host, addresses, self._policy)
        if reason:
            raise _Refused(f"refused, {host[:100]} resolves to {reason}")
        error: httpcore.ConnectError | None = None
        for address in addresses:  # in order, like socket.create_connection, but only these
            try:
                return self._tcp.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {host[:100]!r}")


@functools.lru_cache(maxsize=4)
def _ssl_context(ca_bundle: str) -> ssl.SSLContext:
    """One TLS context per CA bundle: loading the bundle costs ~0.1-0.3 s, which a poll of
    many feeds paid on every fetch. (Keyed by the bundle's path, which tests point elsewhere.)"""
    return httpx.create_ssl_context(trust_env=False)


def _client(policy: FetchPolicy) -> httpx.Client:
    ssl_context = _ssl_context(certifi.where())
    transport = httpx.HTTPTransport(verify=ssl_context, trust_env=False)
    # httpx takes no network backend, so its connection pool is swapped for one over the
    # guarded backend (same TLS context; the transport only calls the pool).
    transport._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=_GuardedBackend(policy))
    # Offer only the encodings decoded below (httpx would add br or zstd as installed).
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": ", ".join(_DECODERS)}
    return httpx.Client(transport=transport, follow_redirects=False, trust_env=False, headers=headers)


# -- decoding, a bounded piece at a time ----------------------------------------------------
def _inflate(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    """gzip or deflate; each step yields at most ``_PIECE`` bytes (zlib's max_length)."""
    raw_deflate = False
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if name == "gzip" else zlib.MAX_WBITS)
    started = False
    for chunk in chunks:
        data = chunk
        while not inflater.eof:
            try:
                out = inflater.decompress(data, _PIECE)
            except zlib.error as exc:
                if name == "deflate" and not started and not raw_deflate:
                    # Many servers send raw deflate for "deflate" (browsers and httpx accept it).
                    raw_deflate = True
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise _Undecodable(name) from exc
            started = True
            if out:
                yield out
            data = inflater.unconsumed_tail
            if not data and len(out) < _PIECE:
                break  # this chunk is used up and nothing is pending
        # After the end of the stream, trailing bytes are ignored (as httpx does).


class _ChunkReader:
    """``read(size)`` over an iterator of chunks, for zstandard's stream reader."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buffer = chunk
        size = len(self._buffer) if size < 0 else size
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def _unzstd(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    import zstandard

    decompressor = zstandard.ZstdDecompressor(max_window_size=_ZSTD_WINDOW)
    source = cast(IO[bytes], _ChunkReader(chunks))  # zstandard only calls read()
    reader = decompressor.stream_reader(source, read_size=_PIECE, read_across_frames=True)
    while True:
        try:
            out = reader.read(_PIECE)
        except zstandard.ZstdError as exc:
            raise _Undecodable(name) from exc
        if not out:
            return
        yield out


def _zstd_available() -> bool:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


_DECODERS: dict[str, Callable[[Iterator[bytes], str], Iterator[bytes]]] = {"gzip": _inflate, "deflate": _inflate}
if _zstd_available():
    _DECODERS["zstd"] = _unzstd
_ALIASES = {"x-gzip": "gzip"}


def _decoded(raw: Iterator[bytes], content_encoding: str | None, url: str) -> Iterator[bytes]:
    """The body under its Content-Encodings, undone last-applied first."""
    names = [_ALIASES.get(n, n) for n in (e.strip().lower() for e in (content_encoding or "").split(","))]
    names = [n for n in names if n and n != "identity"]
    if len(names) > _MAX_ENCODINGS:
        listed = (content_encoding or "")[:100]
        raise FetchError(f"{url[:200]}: more than {_MAX_ENCODINGS} Content-Encodings ({listed!r})")
    stream = raw
    for name in reversed(names):
        decoder = _DECODERS.get(name)
        if decoder is None:
            raise FetchError(f"{url[:200]}: unsupported Content-Encoding {name[:40]!r}")
        stream = decoder(stream, name)
    return stream


# -- media type sniffing --------------------------------------------------------------------
_HTML_START = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|title|script|style|iframe|h1|div|font|table|a|b|br|p|!--)[\s>]",
    re.IGNORECASE,
)
_UNDECLARED = {"", "unknown/unknown", "application/unknown", "*/*"}


def sniff_type(data: bytes) -> str | None:
    """The type of a body served without a usable Content-Type, from its first bytes (the
    WHATWG MIME-sniffing patterns, for the types Citebot reads): HTML, PDF or None."""
    head = data[:1024].removeprefix(b"\xef\xbb\xbf").lstrip(b"\t\n\x0c\r ")
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if _HTML_START.match(head):
        return "text/html"
    return None


def _media_type(declared: str | None, body: bytes) -> str | None:
    if declared is not None and declared.split(";", 1)[0].strip().lower() not in _UNDECLARED:
        return declared
    return sniff_type(body) or declared


# -- fetching -------------------------------------------------------------------------------
class _TimedOut(Exception):
    pass


def _read_body(response: httpx.Response, policy: FetchPolicy, deadline: float, url: str) -> bytes:
    """The decoded body; never more than ``max_bytes`` of it (decoded or on the wire) held."""
    too_large = f"{url[:200]}: larger than the limit of {policy.max_bytes:,} bytes"

    def wire() -> Iterator[bytes]:
        # The bytes on the wire count too: a stream of empty gzip members decodes to
        # nothing but must still end.
        received = 0
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > policy.max_bytes:
                raise SourceTooLarge(too_large)
            if time.monotonic() > deadline:
                raise _TimedOut
            yield chunk

    body = io.BytesIO()  # getvalue() hands over its buffer: no second copy of the body
    for piece in _decoded(wire(), response.headers.get("content-encoding"), url):
        if body.tell() + len(piece) > policy.max_bytes:
            raise SourceTooLarge(too_large)
        body.write(piece)
        if time.monotonic() > deadline:
            raise _TimedOut
    return body.getvalue()


_CONDITIONAL = {"if-none-match", "if-modified-since"}


def fetch(url: str, policy: FetchPolicy, headers: Mapping[str, str] | None = None) -> Fetched:
    """GET ``url`` following at most ``max_redirects`` redirects, each one re-checked.
    ``headers``: only the conditional ones (If-None-Match, If-Modified-Since) are sent."""
    extra = {k: v for k, v in (headers or {}).items() if k.lower() in _CONDITIONAL and v}
    deadline = time.monotonic() + policy.timeout_seconds

    def timed_out() -> FetchError:
        return FetchError(f"{url[:200]}: timed out after {policy.timeout_seconds:g}s")

    current = url
    with _client(policy) as client:
        for _ in range(policy.max_redirects + 1):
            _parse(current)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timed_out()
            try:
                with client.stream("GET", current, headers=extra, timeout=httpx.Timeout(remaining)) as response:
                    etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
                    if response.status_code == 304 and extra:  # only an answer to a conditional request
                        return Fetched(str(response.url), b"", None, etag, modified, not_modified=True)
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchError(f"{current[:200]}: redirect without a Location")
                        current = urljoin(current, location)
                        continue
                    if response.status_code >= 400:
                        raise FetchError(f"{current[:200]}: HTTP error {response.status_code}")
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                        raise SourceTooLarge(
                            f"{current[:200]}: {int(declared):,} bytes is over the limit of {policy.max_bytes:,}"
                        )
                    body = _read_body(response, policy, deadline, current)
                    content_type = _media_type(response.headers.get("content-type"), body[:1024])
                    return Fetched(str(response.url), body, content_type, etag, modified)
            except _Refused as exc:
                raise BlockedURL(f"{current[:200]}: {exc}") from None
            except _Unresolvable as exc:
                raise FetchError(f"{current[:200]}: {exc}") from None
            except _Undecodable as exc:
                raise FetchError(f"{current[:200]}: cannot decode the {exc} content") from None
            except _TimedOut:
                raise timed_out() from None
            except (httpx.InvalidURL, UnicodeError) as exc:  # e.g. control characters in a redirect's Location
                raise BlockedURL(f"{current[:200]!r}: not a valid URL") from exc
            except httpx.TimeoutException as exc:
                raise timed_out() from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"{current[:200]}: cannot fetch ({type(exc).__name__})") from exc
    raise FetchError(f"{url[:200]}: more than {policy.max_redirects} redirects")
