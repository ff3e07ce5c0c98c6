"""Guarded HTTP(S) fetching for URL ingestion.

URL ingestion fetches on behalf of chat users, so by default it refuses loopback,
private, link-local (cloud metadata), multicast and reserved addresses — checked after
DNS resolution and again after every redirect — and caps redirects, time and size.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from retrieval.errors import BlockedURL, FetchError, SourceTooLarge

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
USER_AGENT = "Citebot/0.1 (+https://github.com/citebot)"


@dataclass(frozen=True)
class FetchPolicy:
    timeout_seconds: float = 15.0
    max_redirects: int = 5
    max_bytes: int = 20_000_000
    allow_private: bool = False
    # Hosts ("intranet.example", "127.0.0.1") or networks ("10.0.0.0/8") exempt from the
    # private-address refusal: for tests and intranets.
    allowlist: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Fetched:
    url: str
    content: bytes
    content_type: str | None


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


def _allowlisted(host: str, addresses: list[str], allowlist: tuple[str, ...]) -> bool:
    for entry in allowlist:
        if entry.lower() == host.lower():
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if any(ipaddress.ip_address(a) in network for a in addresses):
            return True
    return False


def check_url(url: str, policy: FetchPolicy) -> None:
    """Raise ``BlockedURL`` unless ``url`` is http(s) to an allowed, resolvable host."""
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
    try:
        infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"{url[:200]}: cannot resolve host {host[:100]!r}") from exc
    addresses = sorted({str(info[4][0]).split("%", 1)[0] for info in infos})
    if policy.allow_private or _allowlisted(host, addresses, policy.allowlist):
        return
    for address in addresses:
        reason = _blocked_reason(ipaddress.ip_address(address))
        if reason:
            raise BlockedURL(f"{url[:200]}: refused, {host[:100]} resolves to {reason}")


def fetch(url: str, policy: FetchPolicy) -> Fetched:
    """GET ``url`` following at most ``max_redirects`` redirects, each one re-checked."""
    deadline = time.monotonic() + policy.timeout_seconds
    current = url
    with httpx.Client(follow_redirects=False, trust_env=False, headers={"User-Agent": USER_AGENT}) as client:
        for _ in range(policy.max_redirects + 1):
            check_url(current, policy)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchError(f"{url[:200]}: timed out after {policy.timeout_seconds:g}s")
            try:
                with client.stream("GET", current, timeout=httpx.Timeout(remaining)) as response:
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
                    body = bytearray()
                    for piece in response.iter_bytes():
                        body.extend(piece)
                        if len(body) > policy.max_bytes:
                            raise SourceTooLarge(
                                f"{current[:200]}: larger than the limit of {policy.max_bytes:,} bytes"
                            )
                        if time.monotonic() > deadline:
                            raise FetchError(f"{url[:200]}: timed out after {policy.timeout_seconds:g}s")
                    return Fetched(str(response.url), bytes(body), response.headers.get("content-type"))
            except (httpx.InvalidURL, UnicodeError) as exc:  # e.g. control characters in a redirect's Location
                raise BlockedURL(f"{current[:200]!r}: not a valid URL") from exc
            except httpx.TimeoutException as exc:
                raise FetchError(f"{url[:200]}: timed out after {policy.timeout_seconds:g}s") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"{current[:200]}: cannot fetch ({type(exc).__name__})") from exc
    raise FetchError(f"{url[:200]}: more than {policy.max_redirects} redirects")
