"""The vector store seam: Chroma, embedded (PersistentClient) or server (HttpClient).

One collection per namespace: a metadata filter over one shared collection measured
~20x slower at 100k chunks, and separate collections also make isolation structural.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.errors import StoreError


class VectorStore(Protocol):
    def upsert(
        self, namespace: str, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str], metadatas: Sequence[dict]
    ) -> None: ...

    def delete(self, namespace: str, ids: Sequence[str]) -> None: ...

    def query(self, namespace: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]: ...

    def count(self, namespace: str) -> int: ...

    def all_ids(self, namespace: str) -> list[str]: ...


def collection_name(namespace: str) -> str:
    """A valid Chroma collection name (3-512 chars of [A-Za-z0-9._-]) unique per namespace."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", namespace).strip("-_")[:40]
    digest = hashlib.sha256(namespace.encode("utf-8")).hexdigest()[:12]
    return f"citebot-{slug}-{digest}" if slug else f"citebot-{digest}"


class ChromaStore:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def embedded(cls, path: Path) -> ChromaStore:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
        except Exception as exc:  # chromadb raises many types for a bad directory
            raise StoreError(f"cannot open the vector store at {path}: {exc}") from exc
        return cls(client)

    @classmethod
    def server(cls, host: str, port: int) -> ChromaStore:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            client = chromadb.HttpClient(host=host, port=port, settings=ChromaSettings(anonymized_telemetry=False))
            client.heartbeat()
        except Exception as exc:
            raise StoreError(f"cannot reach the Chroma server at {host}:{port}: {exc}") from exc
        return cls(client)

    def _collection(self, namespace: str) -> Any:
        with self._lock:
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
        for i in range(0, len(ids), batch):
            collection.upsert(
                ids=list(ids[i : i + batch]),
                embeddings=vectors[i : i + batch],
                documents=list(texts[i : i + batch]),
                metadatas=list(metadatas[i : i + batch]),
            )

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        if ids:
            self._collection(namespace).delete(ids=list(ids))

    def query(self, namespace: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        collection = self._collection(namespace)
        result = collection.query(query_embeddings=[vector], n_results=k, include=["distances"])
        ids = result["ids"][0]
        distances = result["distances"][0] if result.get("distances") else [1.0] * len(ids)
        # cosine distance -> similarity
        return [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]

    def count(self, namespace: str) -> int:
        return int(self._collection(namespace).count())

    def all_ids(self, namespace: str) -> list[str]:
        collection = self._collection(namespace)
        ids: list[str] = []
        offset, page = 0, 5000
        while True:
            got = collection.get(include=[], limit=page, offset=offset)["ids"]
            ids.extend(got)
            if len(got) < page:
                return ids
            offset += page
