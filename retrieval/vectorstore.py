"""The vector store seam: Chroma, embedded (PersistentClient) or server (HttpClient).

One collection per namespace: a metadata filter over one shared collection measured
~20x slower at 100k chunks, and separate collections also make isolation structural.

Embedded Chroma (1.x, Rust bindings) keeps one "System" per path per process, and with it
each collection's HNSW index, loaded once and never re-read: ``count()``/``get()`` read
SQLite and see another process's writes, ``query()`` does not, even through a new
``PersistentClient`` (chroma-core/chroma#3792). So every write by this store also writes
a fresh token to ``citebot-writes`` beside Chroma's files, and each access compares the
token with the last one this store saw (one small file read); when another process wrote,
the store opens a new System for the path, which loads the index from disk. Writers hold
the data dir's writer lock (``locking.py``), so tokens are written one writer at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from config import Settings
from retrieval.errors import StoreError, StoreWriteError
from retrieval.locking import WriterLock

STAMP_NAME = "citebot-writes"
OPEN_LOCK_NAME = "citebot-open.lock"
OPEN_LOCK_WAIT_SECONDS = 30.0
TOKEN_ENV = "CITEBOT_CHROMA_TOKEN"


class VectorStore(Protocol):
    def upsert(
        self, namespace: str, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str], metadatas: Sequence[dict]
    ) -> None: ...

    def delete(self, namespace: str, ids: Sequence[str]) -> None: ...

    def query(self, namespace: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]: ...

    def count(self, namespace: str) -> int: ...

    def all_ids(self, namespace: str) -> list[str]: ...

    def namespaces(self) -> list[str]: ...


def collection_name(namespace: str) -> str:
    """A valid Chroma collection name (3-512 chars of [A-Za-z0-9._-]) unique per namespace."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", namespace).strip("-_")[:40]
    digest = hashlib.sha256(namespace.encode("utf-8")).hexdigest()[:12]
    return f"citebot-{slug}-{digest}" if slug else f"citebot-{digest}"


@dataclass(frozen=True)
class ChromaServer:
    """Where and how to reach a Chroma server (``chroma_mode = "server"``)."""

    host: str
    port: int
    ssl: bool = False
    ca_file: str = ""  # a CA bundle to verify the server's certificate; "" = the system's
    tenant: str = "default_tenant"
    database: str = "default_database"
    timeout_seconds: float = 5.0
    token: str = field(default="", repr=False)  # sent as a bearer token (e.g. to a TLS proxy that checks it)

    @property
    def where(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"


def chroma_server(settings: Settings) -> ChromaServer:
    """The server the settings name; its token only from the environment."""
    return ChromaServer(
        host=settings.chroma_host,
        port=settings.chroma_port,
        ssl=settings.chroma_ssl,
        ca_file=settings.chroma_ca_file,
        tenant=settings.chroma_tenant,
        database=settings.chroma_database,
        timeout_seconds=settings.chroma_timeout_seconds,
        token=os.environ.get(TOKEN_ENV, ""),
    )


class ChromaStore:
    def __init__(
        self,
        client: Any,
        *,
        reopen: Callable[[], Any] | None = None,
        stamp: Path | None = None,
        unavailable: str | None = None,
    ) -> None:
        self._client = client
        self._unavailable = unavailable  # why every vector operation fails (read-only media)
        self._path: Path | None = None  # embedded: where the files are (to tell a full disk)
        self._server = ""  # server mode: its URL, for messages
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._reopen = reopen  # embedded only: a fresh client for the path (see the module docstring)
        self._stamp = stamp
        self._seen = self._read_stamp()

    @classmethod
    def embedded(cls, path: Path) -> ChromaStore:
        try:
            path.mkdir(parents=True, exist_ok=True)
            # A System of our own, not one this process cached for the path earlier: opening
            # reads what is on disk now (e.g. after chroma/ was deleted or another process wrote).
            client = _reopener(path)()
        except Exception as exc:  # chromadb raises many types for a bad directory
            reason = _reason(exc)
            if reason == "the data dir is read-only":
                # Chroma writes as it opens, so it cannot open on read-only media; the
                # catalog can, and answers everything that needs no vector query.
                return cls(None, unavailable=f"the vector store at {path} cannot be opened: {reason}")
            raise StoreError(f"cannot open the vector store at {path}: {reason}") from exc
        store = cls(client, reopen=_reopener(path), stamp=path / STAMP_NAME)
        store._path = path
        return store

    @classmethod
    def server(cls, server: ChromaServer) -> ChromaStore:
        import chromadb
        import httpx
        from chromadb.config import Settings as ChromaSettings

        headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
        verify: str | bool = server.ca_file or True
        settings = ChromaSettings(anonymized_telemetry=False)
        if server.ca_file:
            settings.chroma_server_ssl_verify = server.ca_file
        try:
            # Chroma's HTTP session has no timeout (a frozen server hangs every caller) and no
            # setting for one, and its constructor already makes requests: a bounded heartbeat
            # first, then the bound set on the client's session for every later request.
            httpx.get(
                f"{server.where}/api/v2/heartbeat", headers=headers, verify=verify, timeout=server.timeout_seconds
            ).raise_for_status()
            client = chromadb.HttpClient(
                host=server.host,
                port=server.port,
                ssl=server.ssl,
                headers=headers or None,
                settings=settings,
                tenant=server.tenant,
                database=server.database,
            )
            client._server._session.timeout = httpx.Timeout(server.timeout_seconds)  # type: ignore[attr-defined]
        except Exception as exc:
            raise StoreError(f"cannot reach the Chroma server at {server.where}: {_reason(exc)}") from exc
        store = cls(client)
        store._server = server.where
        return store

    # -- cross-process freshness ------------------------------------------------------
    def _read_stamp(self) -> str:
        if self._stamp is None:
            return ""
        try:
            return self._stamp.read_text()
        except OSError:
            return ""

    def _refresh_if_stale(self) -> None:
        """(Under ``_lock``.) A new client when another process wrote since we last looked."""
        if self._reopen is None:
            return
        stamp = self._read_stamp()
        if stamp != self._seen:
            try:
                self._client = self._reopen()
            except Exception as exc:
                raise StoreError(f"cannot reopen the vector store: {_reason(exc)}") from exc
            self._collections.clear()
            self._seen = stamp

    def _wrote(self) -> None:
        """Tell other processes' stores that the vectors changed."""
        if self._stamp is None:
            return
        token = uuid.uuid4().hex
        tmp = self._stamp.with_name(f"{STAMP_NAME}.{os.getpid()}.tmp")
        tmp.write_text(token)
        os.replace(tmp, self._stamp)
        with self._lock:
            self._seen = token

    def _collection(self, namespace: str) -> Any:
        if self._unavailable:
            raise StoreError(self._unavailable)
        with self._lock:
            self._refresh_if_stale()
            collection = self._collections.get(namespace)
            if collection is None:
                try:
                    collection = self._client.get_or_create_collection(
                        collection_name(namespace),
                        configuration={"hnsw": {"space": "cosine"}},
                        metadata={"namespace": namespace},
                        embedding_function=None,
                    )
                except Exception as exc:
                    raise StoreError(f"cannot open the collection for namespace {namespace!r}: {exc}") from exc
                self._collections[namespace] = collection
            return collection

    def upsert(
        self, namespace: str, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str], metadatas: Sequence[dict]
    ) -> None:
        if not ids:
            return
        collection = self._collection(namespace)
        batch = 2000  # below Chroma's max batch size
        try:
            for i in range(0, len(ids), batch):
                collection.upsert(
                    ids=list(ids[i : i + batch]),
                    embeddings=vectors[i : i + batch],
                    documents=list(texts[i : i + batch]),
                    metadatas=list(metadatas[i : i + batch]),
                )
        except Exception as exc:  # chromadb.errors.InternalError, OSError, ...
            raise StoreWriteError(f"the vector store could not be written: {self._write_reason(exc)}") from exc
        finally:
            self._written()

    def _write_reason(self, exc: BaseException) -> str:
        # Chroma's own message for ENOSPC is e.g. "Error in compaction: Failed to apply logs
        # to the metadata segment": ask the filesystem whether it is full.
        if self._path is not None:
            with contextlib.suppress(OSError):
                st = os.statvfs(self._path)
                if st.f_bavail * st.f_frsize < 1 << 20:
                    return "the disk is full"
        if self._server:
            return self._no_answer(exc)
        return _reason(exc)

    def _no_answer(self, exc: BaseException) -> str:
        return f"the Chroma server at {self._server} did not answer: {_reason(exc)}"

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        collection = self._collection(namespace)
        try:
            collection.delete(ids=list(ids))
        except Exception as exc:
            raise StoreWriteError(f"the vector store could not be written: {self._write_reason(exc)}") from exc
        finally:
            self._written()

    def _written(self) -> None:
        # Even a failed write may have changed some vectors: others must look again.
        with contextlib.suppress(OSError):  # a full or read-only disk: the write itself says so
            self._wrote()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """A server that is down or too slow is a one-line StoreError, as a write's failure is."""
        if not self._server:
            yield
            return
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(self._no_answer(exc)) from exc

    def query(self, namespace: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        with self._reading():
            collection = self._collection(namespace)
            result = collection.query(query_embeddings=[vector], n_results=k, include=["distances"])
        ids = result["ids"][0]
        distances = result["distances"][0] if result.get("distances") else [1.0] * len(ids)
        # cosine distance -> similarity
        return [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]

    def count(self, namespace: str) -> int:
        with self._reading():
            return int(self._collection(namespace).count())

    def all_ids(self, namespace: str) -> list[str]:
        ids: list[str] = []
        offset, page = 0, 5000
        with self._reading():
            collection = self._collection(namespace)
            while True:
                got = collection.get(include=[], limit=page, offset=offset)["ids"]
                ids.extend(got)
                if len(got) < page:
                    return ids
                offset += page

    def namespaces(self) -> list[str]:
        """The namespaces that have a collection here (e.g. to find orphans of a lost catalog)."""
        if self._unavailable:
            raise StoreError(self._unavailable)
        with self._lock, self._reading():
            self._refresh_if_stale()
            collections = self._client.list_collections()
        out = []
        for c in collections:
            meta = getattr(c, "metadata", None) or {}
            if isinstance(meta.get("namespace"), str) and collection_name(meta["namespace"]) == c.name:
                out.append(meta["namespace"])
        return sorted(out)


def _persistent_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    # One process at a time opens Chroma at a path: opening a new directory creates its schema,
    # and two processes doing that at once fail ("table collections already exists"). Held for
    # the open only; past the wait a stuck opener elsewhere does not stop this one.
    lock = WriterLock(path / OPEN_LOCK_NAME, OPEN_LOCK_WAIT_SECONDS)
    try:
        held = lock.acquire(OPEN_LOCK_WAIT_SECONDS)
    except StoreWriteError:  # read-only media: nobody can be creating the schema there
        held = False
    try:
        return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    finally:
        if held:
            lock.release()


def _reopener(path: Path) -> Callable[[], Any]:
    def reopen() -> Any:
        from chromadb.api.shared_system_client import SharedSystemClient

        # Drop Chroma's per-path System from its process-wide cache (not stopped: readers
        # in other threads may still be using it; it goes when the last one lets go), so
        # the new client builds its own and reads the HNSW index from disk. The cache key
        # is the path as given (chromadb.PersistentClient: persist_directory = str(path)).
        SharedSystemClient._identifier_to_system.pop(str(path), None)
        return _persistent_client(path)

    return reopen


def _reason(exc: BaseException) -> str:
    """A one-line reason for a storage failure."""
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if "disk is full" in low or "no space left" in low or getattr(exc, "errno", None) == 28:
        return "the disk is full"
    if "readonly" in low or "read-only" in low or getattr(exc, "errno", None) == 30:
        return "the data dir is read-only"
    line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return line[:200]
