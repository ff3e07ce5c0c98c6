"""Shared fixtures: settings on a temporary data dir, a fast service (hashing embedder)
and a real one (the bundled all-MiniLM-L6-v2 model, loaded once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config import Settings, load_settings
from retrieval.embedding import HashingEmbedder, SentenceTransformerEmbedder, load_embedder
from retrieval.service import CitebotService

# Never let a test reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def make_settings(tmp_path: Path):
    def make(**overrides) -> Settings:
        overrides.setdefault("data_dir", tmp_path / "data")
        return load_settings(**overrides)

    return make


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


@pytest.fixture
def fast_service(settings: Settings) -> CitebotService:
    """Real Chroma and catalog, deterministic hashing embedder (no model)."""
    return CitebotService(settings, embedder=HashingEmbedder())


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    return load_embedder("all-MiniLM-L6-v2")


@pytest.fixture
def real_service(settings: Settings, real_embedder) -> CitebotService:
    return CitebotService(settings, embedder=real_embedder)
