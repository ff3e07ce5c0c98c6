"""Choosing the catalog backend: one setting, ``catalog_url``.

* empty (the default) or ``sqlite://``: the embedded catalog, ``<data_dir>/catalog.sqlite3``,
  with the data dir's file lock (``<data_dir>/write.lock``);
* ``sqlite:///PATH`` (relative) or ``sqlite:////ABS/PATH``: an SQLite file elsewhere, with
  its lock file beside it (the lock guards the catalog's journal);
* ``postgresql://USER@HOST:PORT/DB`` (or ``postgres://``, or any libpq parameters after
  ``?``): the shared catalog, with a PostgreSQL advisory lock. A password in the URL is
  refused: it comes only from the environment (``CITEBOT_DATABASE_PASSWORD``, or libpq's own
  ``PGPASSWORD`` / ``~/.pgpass``), so it never sits in a config file or a log line.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from config import Settings
from retrieval.catalog import Catalog
from retrieval.errors import StoreError
from retrieval.locking import WriteLock, WriterLock
from retrieval.sqlite_catalog import SqliteCatalog

PASSWORD_ENV = "CITEBOT_DATABASE_PASSWORD"


def open_catalog(settings: Settings) -> tuple[Catalog, WriteLock]:
    """The catalog ``settings.catalog_url`` names and the writer lock that goes with it."""
    url = settings.catalog_url.strip()
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if not url or url == "sqlite://":
        lock = WriterLock(settings.data_dir / "write.lock", settings.write_wait_seconds)
        return SqliteCatalog(settings.data_dir / "catalog.sqlite3"), lock
    if scheme == "sqlite":
        if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
            raise StoreError("catalog_url: write an SQLite catalog as sqlite:///relative/path or sqlite:////abs/path")
        path = Path(url[len("sqlite:///") :]).expanduser()
        return SqliteCatalog(path), WriterLock(path.with_name(path.name + ".lock"), settings.write_wait_seconds)
    if scheme in ("postgresql", "postgres"):
        return _open_postgres(url, settings)
    # Never echo the URL: it may hold a secret.
    raise StoreError(f"catalog_url: unsupported scheme {scheme[:20]!r}; use sqlite:///PATH or postgresql://HOST/DB")


def describe(url: str) -> str:
    """host:port/dbname of a PostgreSQL URL, for messages (no user info, no password)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if _port(parts) else ""
    return f"{host}{port}{parts.path or '/'}"


def _port(parts) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _open_postgres(url: str, settings: Settings) -> tuple[Catalog, WriteLock]:
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise StoreError(
            "catalog_url names PostgreSQL but psycopg is not installed (pip install 'psycopg[binary]')"
        ) from None
    try:
        params = conninfo_to_dict(url)
    except Exception:
        raise StoreError("catalog_url: not a valid PostgreSQL URL (postgresql://USER@HOST:PORT/DB)") from None
    if params.get("password"):
        raise StoreError(
            f"catalog_url must not contain a password; set {PASSWORD_ENV} (or PGPASSWORD) in the environment instead"
        )
    from retrieval.locking import PostgresWriterLock
    from retrieval.postgres_catalog import LOCK_KEY, PostgresCatalog

    where = describe(url)
    catalog = PostgresCatalog(
        url,
        where=where,
        password=os.environ.get(PASSWORD_ENV) or None,
        connect_timeout=settings.catalog_connect_timeout_seconds,
        statement_timeout=settings.catalog_statement_timeout_seconds,
    )
    lock = PostgresWriterLock(catalog.connect, LOCK_KEY, where, settings.write_wait_seconds)
    catalog.fence = lock.backend_pid
    return catalog, lock
