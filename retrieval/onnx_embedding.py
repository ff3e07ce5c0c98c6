"""ONNX Runtime backend for mean-pooled, normalised sentence-transformers models.

Importing sentence-transformers (torch, transformers, scikit-learn) takes ~6 s on two
cores, longer than the whole cold-start budget. For models that are a transformer plus
mean pooling plus normalisation (all-MiniLM-L6-v2 among them) the same vectors come from
an ONNX export of the transformer run by onnxruntime and the model's own tokenizer.json,
which load in well under a second. The export is made once, with torch, on first use, and
cached; ``tests/test_embedding.py`` checks the vectors match sentence-transformers'.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.encoding import Encoded, normalise_rows

EXPORT_VERSION = 1
log = logging.getLogger(__name__)


def supports(model_dir: Path) -> bool:
    """Is ``model_dir`` a local sentence-transformers model this backend reproduces exactly?"""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        types = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if types not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
            return False
        pooling = json.loads((model_dir / modules[1]["path"] / "config.json").read_text())
        mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
            v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
        )
        return bool(mean_only) and (model_dir / "tokenizer.json").exists()
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return False


def _fingerprint(model_dir: Path) -> str:
    digest = hashlib.sha256(f"v{EXPORT_VERSION}".encode())
    for name in ("config.json", "modules.json", "tokenizer.json"):
        digest.update((model_dir / name).read_bytes())
    weights = model_dir / "model.safetensors"
    if weights.exists():
        stat = weights.stat()
        digest.update(f"{stat.st_size}".encode())
    return digest.hexdigest()[:16]


def export(model_dir: Path, target: Path) -> Path:
    """Export the model's transformer to ONNX at ``target`` (atomically).

    Announced in one INFO log line; the tracer's warnings and the weights progress bar
    say nothing a user can act on, so they are silenced here."""
    log.info("preparing the embedding model, once (about a minute; cached in %s)", target.parent)
    import torch
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _export(torch, model_dir, target)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _export(torch: Any, model_dir: Path, target: Path) -> Path:
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = tokenizer(["a sample sentence to trace the graph"], return_tensors="pt")
    token_type_ids = sample.get("token_type_ids", torch.zeros_like(sample["input_ids"]))
    axes = {0: "batch", 1: "sequence"}
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    with torch.no_grad():
        torch.onnx.export(
            LastHiddenState(model),
            (sample["input_ids"], sample["attention_mask"], token_type_ids),
            str(partial),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )
    os.replace(partial, target)
    return target


class OnnxEncoder:
    """A mean-pooled model's transformer on onnxruntime as an ``Encoder``; vectors equal
    sentence-transformers' (1e-5)."""

    def __init__(self, model_dir: Path, cache_dir: Path, batch_size: int = 32) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.batch_size = batch_size
        onnx_path = cache_dir / f"{model_dir.name}-{_fingerprint(model_dir)}.onnx"
        if not onnx_path.exists():
            export(model_dir, onnx_path)
        max_len = json.loads((model_dir / "sentence_bert_config.json").read_text()).get("max_seq_length", 256)
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()  # padding is done here, with a real attention mask
        self._tokenizer.enable_truncation(max_length=max_len)
        options = ort.SessionOptions()
        options.intra_op_num_threads = min(4, os.cpu_count() or 1)
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()
        self.dimension = int(self._session.get_outputs()[0].shape[-1] or 0) or self._probe_dimension()

    def _probe_dimension(self) -> int:
        return int(self._run(["probe"])[0].shape[-1])

    def _run(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list]:
        with self._lock:  # one batch at a time: the threads share the session's intra-op pool
            encodings = self._tokenizer.encode_batch(list(texts))
            length = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(encodings), length), dtype=np.int64)
            mask = np.zeros_like(ids)
            for i, e in enumerate(encodings):
                ids[i, : len(e.ids)] = e.ids
                mask[i, : len(e.ids)] = e.attention_mask
            hidden = self._session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
        return hidden, mask, encodings

    def _batches(self, texts: Sequence[str]):
        # Sorting by length keeps padding (wasted compute) low within a batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            picked = order[start : start + self.batch_size]
            yield picked, self._run([texts[i] for i in picked])

    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray:
        # The model's own Pooling and Normalize modules: the masked mean of the padded batch.
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for picked, (hidden, mask, _) in self._batches(texts):
            pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out[picked] = normalise_rows(pooled)
        return out

    def encode(self, texts: Sequence[str]) -> Iterator[tuple[int, Encoded]]:
        for picked, (hidden, mask, encodings) in self._batches(texts):
            for row, i in enumerate(picked):
                length = int(mask[row].sum())
                offsets = np.asarray(encodings[row].offsets[:length]).reshape(-1, 2)
                yield i, Encoded(hidden[row, :length], offsets)
