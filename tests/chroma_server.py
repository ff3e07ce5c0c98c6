"""A real Chroma server (``chroma run``) on 127.0.0.1 for tests: started, awaited, stopped."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http_server import free_port, send


def chroma_admin(port: int) -> Any:
    """Chroma's AdminClient for the server on ``port`` (databases and tenants)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.AdminClient(
        ChromaSettings(
            chroma_server_host="127.0.0.1",
            chroma_server_http_port=port,
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            anonymized_telemetry=False,
        )
    )


@contextlib.contextmanager
def chroma_server(path: Path, port: int | None = None) -> Iterator[int]:
    """Serve a Chroma store at ``path`` (on ``port``, or a free one); yields the port once
    the heartbeat answers."""
    with chroma_process(path, port) as (_, port):
        yield port


@contextlib.contextmanager
def chroma_process(path: Path, port: int | None = None) -> Iterator[tuple[subprocess.Popen, int]]:
    """``chroma_server`` that also yields the process (a test that kills the server)."""
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = port or free_port()
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
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


@contextlib.contextmanager
def checking_proxy(upstream: int, token: str, tls: ssl.SSLContext) -> Iterator[tuple[int, list[str]]]:
    """A TLS proxy in front of a Chroma server that wants ``Authorization: Bearer <token>``,
    as one deploys Chroma behind nginx/Caddy: yields (port, the auth header of each request)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            auth = self.headers.get("Authorization", "")
            seen.append(auth)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if auth != f"Bearer {token}":
                send(self, 401, b'{"error": "unauthorized"}', "application/json")
                return
            headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
            got = httpx.request(
                self.command, f"http://127.0.0.1:{upstream}{self.path}", content=body, headers=headers, timeout=30
            )
            send(self, got.status_code, got.content, got.headers.get("content-type", "application/json"))

        do_GET = do_POST = do_PUT = do_DELETE = _forward

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def frozen_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]
