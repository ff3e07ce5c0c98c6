"""What an embedding backend's forward pass gives, and the one pooling over it.

A backend (sentence-transformers on torch, or an ONNX export on onnxruntime) is an
``Encoder``: sentence vectors by the model's own pooling, and per text the vectors of its
tokens with each token's character span. ``retrieval.embedding.EncoderEmbedder`` turns
an encoder into the ``Embedder`` the service uses; the pooling of chunks and of the
sentence spans inside them lives here only, so both backends pool alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

Spans = Sequence[tuple[int, int]]


@dataclass(frozen=True)
class Encoded:
    """One text's forward pass.

    ``tokens``: (length, dimension) float32, the real tokens (no padding), special ones
    included; ``offsets``: (length, 2) character spans, empty for a special token;
    ``vector``: the model's own sentence vector from this pass, or None when the model is
    mean-pooled (the tokens' mean is its vector)."""

    tokens: np.ndarray
    offsets: np.ndarray
    vector: np.ndarray | None = None


class Encoder(Protocol):
    """One embedding backend."""

    dimension: int

    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dimension) normalised vectors, by the model's own pooling; texts is not empty."""
        ...

    def encode(self, texts: Sequence[str]) -> Iterator[tuple[int, Encoded]]:
        """Each text's forward pass as (its index in texts, Encoded), in any order."""
        ...


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


def chunk_vector(encoded: Encoded) -> np.ndarray:
    """The text's vector: the model's own, else the normalised mean of all its tokens."""
    if encoded.vector is not None:
        return encoded.vector
    return normalise_rows(encoded.tokens.mean(axis=0, keepdims=True))[0]


def span_vectors(encoded: Encoded, spans: Spans, fallback: np.ndarray) -> np.ndarray:
    """(len(spans), dimension) normalised: each span's mean over the real tokens inside it.

    The sentence is read in the context of its chunk (the same pass)."""
    offsets = encoded.offsets
    real = offsets[:, 1] > offsets[:, 0]  # skips [CLS]/[SEP]
    vectors = np.empty((len(spans), encoded.tokens.shape[1]), dtype=np.float32)
    for i, (s, e) in enumerate(spans):
        inside = real & (offsets[:, 0] >= s) & (offsets[:, 1] <= e)
        # A sentence past the model's window falls back to its chunk's vector.
        vectors[i] = encoded.tokens[inside].mean(axis=0) if inside.any() else fallback
    return normalise_rows(vectors)
