"""The one settings model: defaults come from config/defaults.toml alone; precedence."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

import config.settings as settings_module
from config import Settings, load_settings


def test_defaults_toml_and_the_model_name_the_same_settings():
    keys = set(tomllib.loads(settings_module.DEFAULTS_FILE.read_text()))
    fields = Settings.model_fields
    required = {name for name, field in fields.items() if field.is_required()}
    assert keys <= set(fields), keys - set(fields)  # no stray key in the TOML
    assert required <= keys, required - keys  # every value without a machine-dependent default is in it
    assert required == keys  # and it is written nowhere else


def test_precedence_arguments_env_config_file_defaults(monkeypatch, tmp_path: Path):
    assert load_settings().chunk_size == 1000
    user = tmp_path / "citebot.toml"
    user.write_text("chunk_size = 700\nsearch_k = 7\n")
    monkeypatch.setenv("CITEBOT_CONFIG", str(user))
    assert (load_settings().chunk_size, load_settings().search_k) == (700, 7)
    monkeypatch.setenv("CITEBOT_CHUNK_SIZE", "800")
    assert (load_settings().chunk_size, load_settings().search_k) == (800, 7)
    assert load_settings(chunk_size=900, search_k=None).chunk_size == 900  # None passes through


def test_a_default_missing_from_the_toml_is_a_clear_error(monkeypatch, tmp_path: Path):
    text = settings_module.DEFAULTS_FILE.read_text()
    broken = tmp_path / "defaults.toml"
    broken.write_text("\n".join(line for line in text.splitlines() if not line.startswith("chunk_size")))
    monkeypatch.setattr(settings_module, "DEFAULTS_FILE", broken)
    with pytest.raises(ValidationError, match="chunk_size"):
        load_settings()


def test_bounds_are_checked(monkeypatch):
    monkeypatch.setenv("CITEBOT_CHUNK_SIZE", "10")
    with pytest.raises(ValidationError, match="chunk_size"):
        load_settings()


def test_the_token_comes_from_the_environment_and_is_never_shown(monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "secret-token-value")
    s = load_settings()
    assert s.discord_token is not None and s.discord_token.get_secret_value() == "secret-token-value"
    assert "secret-token-value" not in repr(s) and "secret-token-value" not in str(s.model_dump())


def test_each_stage_config_takes_its_values_from_the_one_settings_model(make_settings, monkeypatch):
    from retrieval.configuration import RetrievalConfig
    from retrieval.fetching import FetchPolicy
    from retrieval.loaders import Limits

    s = make_settings(chunk_size=333, dense_weight=0.7, url_timeout_seconds=3.0, max_file_bytes=1234)
    c = RetrievalConfig.from_settings(s)
    assert c.chunker.chunk_size == 333
    assert c.fusion.dense_weight == c.answer.dense_weight == 0.7  # search and answers agree
    assert (c.fetch.timeout_seconds, c.fetch.max_bytes, c.limits.max_bytes) == (3.0, 1234, 1234)
    # Library callers without settings get the shipped defaults, never the environment's.
    monkeypatch.setenv("CITEBOT_MAX_FILE_BYTES", "99")
    shipped = tomllib.loads(settings_module.DEFAULTS_FILE.read_text())
    assert Limits.shipped().max_bytes == FetchPolicy.shipped().max_bytes == shipped["max_file_bytes"]
    assert Limits.shipped(max_chars=5).max_chars == 5
