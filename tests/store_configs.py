"""The two store configurations the retrieval integration suite runs against.

``embedded``: the SQLite catalog and Chroma's PersistentClient under the test's data dir
(the defaults). ``server``: the scale-out configuration, a PostgreSQL catalog and a Chroma
server (``chroma run``), both real, started once per session; each test gets a database
of its own on each, so tests stay as independent as they are on a data dir.

A module opts in with ``pytestmark = pytest.mark.stores``: every test in it that uses the
``make_settings`` fixture (directly or through ``settings``/``fast_service``) then runs once
per configuration, ids ``[embedded]`` and ``[server]``. A test about one configuration's
own files says so with ``pytest.mark.embedded_only``. A module-scoped service takes its
overrides from ``module_store_config`` instead.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.chroma_server import chroma_admin, chroma_server
from tests.postgres_server import PostgresServer, start_server

CONFIGS = ("embedded", "server")


@dataclass(frozen=True)
class StoreServers:
    postgres: PostgresServer
    chroma_port: int

    @contextlib.contextmanager
    def databases(self) -> Iterator[dict[str, Any]]:
        """A fresh PostgreSQL database and Chroma database; the settings that use them."""
        url = self.postgres.create_database()
        name = f"t-{uuid.uuid4().hex[:12]}"
        admin = chroma_admin(self.chroma_port)
        admin.create_database(name)
        try:
            yield {
                "catalog_url": url,
                "chroma_mode": "server",
                "chroma_host": "127.0.0.1",
                "chroma_port": self.chroma_port,
                "chroma_database": name,
            }
        finally:
            self.postgres.drop_database(url)
            with contextlib.suppress(Exception):  # a test that stopped the server
                admin.delete_database(name)


@pytest.fixture(scope="session")
def store_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServers]:
    postgres = start_server()
    try:
        with chroma_server(tmp_path_factory.mktemp("suite-chroma")) as port:
            yield StoreServers(postgres, port)
    finally:
        postgres.cleanup()


@contextlib.contextmanager
def configured(request: pytest.FixtureRequest, kind: str) -> Iterator[dict[str, Any]]:
    """The settings overrides of one configuration ({} for embedded)."""
    if kind == "embedded":
        yield {}
        return
    servers: StoreServers = request.getfixturevalue("store_servers")
    with servers.databases() as overrides:
        yield overrides


@pytest.fixture
def store_config(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """This test's configuration (embedded unless its module is marked ``stores``)."""
    with configured(request, getattr(request, "param", "embedded")) as overrides:
        yield overrides


@pytest.fixture(scope="module", params=CONFIGS)
def module_store_config(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """``store_config`` for a module-scoped service: the whole module runs in each configuration."""
    with configured(request, request.param) as overrides:
        yield overrides


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("stores") and "store_config" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("embedded_only")
        metafunc.parametrize("store_config", CONFIGS[:1] if only else CONFIGS, indirect=True)
