"""A throwaway PostgreSQL cluster on 127.0.0.1 for the catalog tests.

``initdb`` + ``pg_ctl`` from PATH (or the Debian layout ``/usr/lib/postgresql/*/bin``), a
data dir in a temporary directory, trust auth for local connections only, a free port.
The server refuses to run as root, so as root the cluster is owned by and run as the
``postgres`` user (``runuser``). ``postgres_server`` is a session-scoped fixture that
skips cleanly when no binaries exist; ``PostgresServer`` can also be used directly
(a test that stops and restarts its own server).

Measured on the 2-core shared dev machine (PostgreSQL 15): initdb ~2.6 s, start ~0.3 s,
stop ~0.15 s; a database per test ~0.1 s.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def psycopg_available() -> bool:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    return True


class PostgresServer:
    """One cluster: ``start()``, ``stop()``, ``url(database)``, ``create_database()``."""

    def __init__(self, bin_dir: Path, base: Path | None = None) -> None:
        self.bin_dir = bin_dir
        self.base = Path(base or tempfile.mkdtemp(prefix="citebot-pg-"))
        self.data = self.base / "cluster"
        self.port = free_port()
        self.user = "postgres"
        self._as_root = os.geteuid() == 0
        self.init_seconds = 0.0
        self.start_seconds = 0.0

    # -- lifecycle ----------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd="/")
        if check and result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
        return result

    def init(self) -> None:
        started = time.monotonic()
        self.base.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            uid, gid = pwd.getpwnam("postgres")[2:4]
            os.chown(self.base, uid, gid)
            self.base.chmod(0o755)
            # The cluster's parents must be traversable by the postgres user.
            for parent in self.base.parents:
                if parent == Path("/"):
                    break
                with contextlib.suppress(OSError):
                    if not parent.stat().st_mode & 0o001:
                        parent.chmod(parent.stat().st_mode | 0o001)
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        self._run(
            "initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.base}'\n"
                # fsync off: the OS still has every commit after a server crash (tests stop
                # the server with -m immediate), only a machine crash could lose them.
                "fsync = off\nfull_page_writes = off\n"
                "max_connections = 200\nshared_buffers = 32MB\n"
            )
        # Local TCP only, no password (a throwaway cluster that listens on 127.0.0.1).
        (self.data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\nlocal all all trust\n")
        self.init_seconds = time.monotonic() - started

    def start(self) -> None:
        started = time.monotonic()
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-w", "-t", "60", "start")
        self.start_seconds = time.monotonic() - started

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    # -- databases ----------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def admin(self):
        import psycopg

        return psycopg.connect(self.url(), autocommit=True, connect_timeout=10)

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_server() -> PostgresServer:
    """A started cluster, or ``pytest.skip`` when PostgreSQL or psycopg is missing."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) on PATH")
    if not psycopg_available():
        pytest.skip("psycopg is not installed (pip install 'psycopg[binary]')")
    server = PostgresServer(bin_dir)
    try:
        server.init()
        server.start()
    except BaseException:
        server.cleanup()
        raise
    return server


# One cluster for the whole session, shared by every module that imports the fixture
# (pytest makes one fixture per importing module; the count keeps them on one server).
_shared: PostgresServer | None = None
_users = 0
_shared_lock = threading.Lock()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    global _shared, _users
    with _shared_lock:
        if _shared is None:
            _shared = start_server()
        _users += 1
        server = _shared
    try:
        yield server
    finally:
        with _shared_lock:
            _users -= 1
            if _users == 0 and _shared is not None:
                _shared.cleanup()
                _shared = None


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database on the session's server, dropped afterwards."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)
