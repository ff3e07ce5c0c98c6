"""Test doubles: one home for the stand-ins the tests use in place of real parts."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

import numpy as np

from retrieval.encoding import Spans

# A recognisable fake Discord token: the whole session runs with it in DISCORD_TOKEN, and
# tests/conftest.py fails the session if it shows up in any output.
FAKE_TOKEN = "MTE5OTk5OTk5OTk5OTk5OTk5.Gx-FAKE.citebot-test-token-do-not-log-0123456789"


class HashingEmbedder:
    """A deterministic, model-free embedder for fast unit tests (bag of hashed words)."""

    def __init__(self, dimension: int = 64) -> None:
        self.name = f"hashing-{dimension}"
        self.dimension = dimension
        self.texts_embedded = 0

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dimension, dtype=np.float32)
        for word in text.lower().split():
            word = "".join(ch for ch in word if ch.isalnum())
            if word:
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                vec[h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
        norm = np.linalg.norm(vec)
        if norm == 0:
            vec[0] = 1.0
            return vec
        return vec / norm

    def embed_query(self, text: str) -> np.ndarray:
        self.texts_embedded += 1
        return self._vector(text)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.texts_embedded += len(texts)
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def embed_chunks(self, texts: Sequence[str], spans: Sequence[Spans]) -> tuple[np.ndarray, list[np.ndarray]]:
        chunk_vectors = self.embed_documents(texts)
        span_vectors = [
            np.stack([self._vector(t[s:e]) for s, e in text_spans])
            if text_spans
            else np.zeros((0, self.dimension), np.float32)
            for t, text_spans in zip(texts, spans, strict=True)
        ]
        return chunk_vectors, span_vectors


class Utf8Embedder(HashingEmbedder):
    """The hashing embedder, as strict about its input as a real tokenizer: Hugging Face
    tokenizers raise TypeError on text that is not valid Unicode (lone surrogates)."""

    def embed_query(self, text: str) -> np.ndarray:
        text.encode("utf-8")
        return super().embed_query(text)

    def embed_chunks(self, texts: Sequence[str], spans: Sequence[Spans]) -> tuple[np.ndarray, list[np.ndarray]]:
        for text in texts:
            text.encode("utf-8")
        return super().embed_chunks(texts, spans)


class Clock:
    """Stands in for the ``time`` module of the service and the catalog: real time plus an offset."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def perf_counter(self) -> float:
        return time.perf_counter()

    def monotonic(self) -> float:  # waits are measured in real time
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
