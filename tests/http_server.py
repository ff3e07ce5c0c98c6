"""A real local HTTP server for URL-ingestion tests (threaded, on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Route = Callable[[BaseHTTPRequestHandler], None]


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    content_type: str | None = "text/html",
    headers: dict[str, str] | None = None,
) -> None:
    """``content_type=None`` sends no Content-Type header at all."""
    handler.send_response(status)
    if content_type is not None:
        handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def serve(
    routes: dict[str, Route], log: list[tuple[str, str]] | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[str]:
    """Serve ``routes`` (path -> handler function); yields the base URL. ``log`` records
    every request received, as (path, Host header); ``tls`` serves https."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if log is not None:
                log.append((self.path, self.headers.get("Host", "")))
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                send(self, 404, b"not found", "text/plain")
            else:
                route(self)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def slow(seconds: float) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        with contextlib.suppress(OSError):  # the client gave up: that is the point
            send(handler, 200, b"<p>late</p>")

    return route


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Nothing listens on a port just freed: where a test needs a refused connection.
closed_port = free_port


def make_certificate(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for ``name`` signed by it, made with the openssl
    command line: (ca.pem, cert.pem, key.pem)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        import pytest

        pytest.skip("the openssl command is not installed")
    ca, ca_key, cert, key, csr = (directory / f for f in ("ca.pem", "ca.key", "cert.pem", "key.pem", "cert.csr"))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    ext = directory / "ext.cnf"
    ext.write_text(f"subjectAltName=DNS:{name}\n")
    signed = ["-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-extfile", ext]
    for args in (
        ["req", "-x509", *ec, *ca_ext, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=Citebot Test CA"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={name}"],
        ["x509", "-req", "-in", csr, *signed, "-out", cert, "-days", "2"],
    ):
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True, timeout=60)
    return ca, cert, key


class FakeNet:
    """A name server and a router for tests, installed over ``socket.getaddrinfo`` and
    ``socket.create_connection`` (what httpx/httpcore use) by ``install``.

    ``names[name]`` is a list of answers, one per lookup, the last one repeated: a
    rebinding name answers a public address first and 127.0.0.1 after. ``routes`` sends
    connections to a (public ip, port) to a local server instead, so a "public" host is
    real HTTP on 127.0.0.1. Any other destination outside 127.0.0.0/8 and ::1 is refused
    like an unreachable host (and recorded in ``unreachable``): no test traffic leaves
    loopback. Connections follow the address list in order, as the real
    ``create_connection`` does."""

    def __init__(self) -> None:
        self.names: dict[str, list[list[str]]] = {}
        self.routes: dict[tuple[str, int], tuple[str, int]] = {}
        self.lookups: list[str] = []
        self.unreachable: list[tuple[str, int]] = []
        self._getaddrinfo = socket.getaddrinfo
        self._create_connection = socket.create_connection

    def install(self, monkeypatch) -> FakeNet:
        monkeypatch.setattr(socket, "getaddrinfo", self.getaddrinfo)
        monkeypatch.setattr(socket, "create_connection", self.create_connection)
        return self

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if name in self.names:
            self.lookups.append(name)
            answers = self.names[name]
            addresses = answers.pop(0) if len(answers) > 1 else answers[0]
            return [info for a in addresses for info in self._getaddrinfo(a, port, family, type, proto)]
        # Numeric hosts only: no name reaches a real DNS server.
        return self._getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    def create_connection(self, address, timeout=None, source_address=None, **kwargs):
        host, port = address[0], address[1]
        error: OSError = OSError(f"test network: cannot resolve {host!r}")
        for *_, sockaddr in self.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
            ip = str(sockaddr[0])
            target = self.routes.get((ip, port))
            if target is None and not ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback:
                self.unreachable.append((ip, port))
                error = OSError(f"test network: no route to {ip} (only loopback is reachable)")
                continue
            try:
                return self._create_connection(target or (ip, port), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error
