"""Both embedding backends give the same vectors; the fake one is deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.embedding import Embedder, SentenceTransformerEncoder, load_embedder, resolve_model
from retrieval.onnx_embedding import OnnxEncoder, supports
from tests.doubles import HashingEmbedder

TEXTS = [
    "What did Pompeo demand?",
    "Iran reportedly rejected Russia\u2019s demands that foreign troops leave Syria. "
    "Ghasemi said no one can force Iran.",
    "A much longer passage " + "about the war in Syria and the troops of several nations " * 40,
]


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    embedder = load_embedder("all-MiniLM-L6-v2", backend="torch")
    assert isinstance(embedder.encoder, SentenceTransformerEncoder)
    return embedder


def test_bundled_model_is_resolved_offline_and_supported():
    from pathlib import Path

    path = Path(resolve_model("all-MiniLM-L6-v2"))
    assert (path / "model.safetensors").exists()
    assert supports(path)
    assert resolve_model("some/other-model") == "some/other-model"


def test_default_backend_is_onnx_and_loaded_once(real_embedder):
    assert isinstance(real_embedder.encoder, OnnxEncoder)
    assert load_embedder("all-MiniLM-L6-v2") is real_embedder
    assert real_embedder.dimension == 384


@pytest.mark.slow
def test_onnx_vectors_equal_sentence_transformers(real_embedder, torch_embedder):
    a = real_embedder.embed_documents(TEXTS)
    b = torch_embedder.embed_documents(TEXTS)
    assert np.abs(a - b).max() < 1e-4
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.abs(real_embedder.embed_query(TEXTS[0]) - b[0]).max() < 1e-4


@pytest.mark.slow
def test_sentence_vectors_from_one_pass_agree_across_backends(real_embedder, torch_embedder):
    spans = [[(0, len(TEXTS[0]))], [(0, 53), (54, len(TEXTS[1]))], [(0, 22), (23, 80)]]
    chunks_a, sents_a = real_embedder.embed_chunks(TEXTS, spans)
    chunks_b, sents_b = torch_embedder.embed_chunks(TEXTS, spans)
    assert np.abs(chunks_a - chunks_b).max() < 1e-4
    for x, y, s in zip(sents_a, sents_b, spans, strict=True):
        assert x.shape == (len(s), 384)
        assert np.abs(x - y).max() < 1e-4
    # The chunk vector is the normal sentence embedding of the chunk.
    assert np.abs(chunks_a - real_embedder.embed_documents(TEXTS)).max() < 1e-5


def test_hashing_embedder_is_deterministic_and_normalised():
    e = HashingEmbedder(32)
    a, b = e.embed_documents(["alpha beta", "alpha beta"]), HashingEmbedder(32).embed_documents(["alpha beta", "gamma"])
    assert np.array_equal(a[0], b[0]) and not np.array_equal(b[0], b[1])
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert e.texts_embedded == 2


def test_backends_share_one_pooling_and_do_not_import_each_other():
    """Each backend is an Encoder over ``retrieval.encoding``; the loader alone knows both."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "retrieval"
    imported = {
        node.module
        for node in ast.walk(ast.parse((root / "onnx_embedding.py").read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("retrieval")
    }
    assert imported == {"retrieval.encoding"}
    assert "def span_vectors" not in (root / "embedding.py").read_text(encoding="utf-8")


def test_chunk_and_span_count_mismatch_is_refused(real_embedder):
    with pytest.raises(ValueError, match="span lists"):
        real_embedder.embed_chunks(TEXTS, [[(0, 5)]])
