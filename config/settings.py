"""The one settings model.

Precedence (highest first): explicit arguments, environment variables (``CITEBOT_*``,
plus ``DISCORD_TOKEN``), a ``.env`` file in the working directory, the TOML file named by
``CITEBOT_CONFIG``, then ``config/defaults.toml``. Secrets come only from the environment.

``defaults.toml`` is the one place a default value is written: the fields below give only
types and bounds (a field missing from it is an error at start), except for values that
depend on the machine (the data dir) and secrets.
"""

from __future__ import annotations

import functools
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")


class SettingsError(ValueError):
    """A settings file cannot be used; the message is one line fit for a user."""


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "citebot"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CITEBOT_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    # Storage
    data_dir: Path = Field(default_factory=_default_data_dir)
    chroma_mode: Literal["embedded", "server"]
    chroma_host: str
    chroma_port: int
    # Server mode: TLS (and a CA bundle to verify with), Chroma's tenant and database, a bound
    # on each request; a token, if the server (or its proxy) wants one, only from CITEBOT_CHROMA_TOKEN.
    chroma_ssl: bool
    chroma_ca_file: str
    chroma_tenant: str = Field(min_length=1)
    chroma_database: str = Field(min_length=1)
    chroma_timeout_seconds: float = Field(gt=0)
    default_namespace: str
    write_wait_seconds: float = Field(gt=0)  # how long a writer waits for another process's write
    index_cache_mb: int = Field(ge=0)  # namespaces' search indexes kept in memory (LRU); 0 = unbounded
    # The catalog: "" (<data_dir>/catalog.sqlite3), sqlite:///PATH or postgresql://USER@HOST:PORT/DB
    # (the password only from CITEBOT_DATABASE_PASSWORD or PGPASSWORD; see retrieval/catalogs.py).
    catalog_url: str
    catalog_connect_timeout_seconds: float = Field(gt=0)
    catalog_statement_timeout_seconds: float = Field(gt=0)

    # Embeddings
    embedding_model: str
    embedding_batch_size: int = Field(ge=1)
    embedding_device: str
    embedding_backend: Literal["auto", "onnx", "torch"]
    model_cache_dir: Path | None = None  # default: $XDG_CACHE_HOME/citebot or ~/.cache/citebot

    # Chunking (characters; a chunk never cuts a sentence)
    chunk_size: int = Field(ge=100)
    chunk_overlap_sentences: int = Field(ge=0)

    # Retrieval and answers
    search_k: int = Field(ge=1, le=50)
    candidate_k: int = Field(ge=1, le=200)
    rrf_k: int = Field(ge=1)
    dense_weight: float = Field(ge=0)
    lexical_weight: float = Field(ge=0)
    answer_max_sentences: int = Field(ge=1, le=10)
    answer_max_chars: int = Field(ge=50)
    abstain_threshold: float
    answer_mode: Literal["extractive", "llm"]
    # LLM answers (answer_mode = "llm"): LangChain's "provider:model" string for
    # init_chat_model; the API key comes from CITEBOT_LLM_API_KEY in the environment only.
    llm_model: str
    llm_base_url: str  # "" = the provider's default (e.g. http://localhost:11434 for Ollama)
    llm_temperature: float = Field(ge=0, le=2)
    llm_timeout_seconds: float = Field(gt=0)
    llm_max_tokens: int = Field(ge=16, le=8192)
    # The learned reranking step: "ms-marco-MiniLM-L-12-v2" (bundled), a directory with
    # model.onnx + tokenizer.json, or "none" (off: the hand-tuned ranking alone).
    reranker_model: str
    reranker_max_tokens: int = Field(ge=16, le=512)
    reranker_threads: int = Field(ge=1, le=64)

    # Input limits
    max_question_chars: int = Field(ge=1)
    max_file_bytes: int = Field(ge=1)
    max_document_chars: int = Field(ge=1)

    # URL fetching (server-side on behalf of users, so guarded)
    url_timeout_seconds: float = Field(gt=0)
    url_max_redirects: int = Field(ge=0)
    url_allow_private: bool
    url_allowlist: list[str]

    # Feeds (issue 13): polled for new articles
    feed_poll_minutes: float = Field(gt=0)
    feed_max_entries_per_poll: int = Field(ge=1)
    feed_poll_max_seconds: float = Field(gt=0)
    feed_max_backoff_minutes: float = Field(gt=0)
    feed_max_per_namespace: int = Field(ge=1)

    # Per-guild resource bounds, applied to Discord ingests (0 = unlimited)
    guild_max_documents: int = Field(ge=0)
    guild_max_bytes: int = Field(ge=0)
    guild_ingests_per_hour: int = Field(ge=0)

    # Discord
    discord_token: SecretStr | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN", "discord_token"))
    discord_api_base: str
    dm_namespace: str
    cooldown_seconds: float = Field(ge=0)
    cooldown_rate: int = Field(ge=1)
    create_threads: bool
    thread_history_messages: int = Field(ge=0, le=50)

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = [DEFAULTS_FILE]
        user_file = os.environ.get("CITEBOT_CONFIG")
        if user_file:
            files.append(Path(user_file).expanduser())
        for file in files:  # the TOML source skips a missing file silently and raises bare parse errors
            _check_toml(file, named_by="CITEBOT_CONFIG" if file != DEFAULTS_FILE else None)
        # Later files override earlier ones.
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=files),
        )


def _check_toml(file: Path, named_by: str | None) -> None:
    where = f"{named_by}={file}" if named_by else str(file)
    try:
        tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{where}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{where}: not valid TOML ({exc})") from None


@functools.cache
def shipped_defaults() -> Settings:
    """The settings as shipped (``defaults.toml`` alone: no environment, no user file), for
    library callers that build a stage config without a settings object."""
    data = tomllib.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    return Settings.model_validate(data | {"data_dir": _default_data_dir()})


def load_settings(**overrides: Any) -> Settings:
    """Build settings; ``None`` overrides are ignored so CLI options can pass through.
    Raises ``ValidationError`` for a bad value, ``SettingsError`` for an unusable file."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def describe_error(exc: ValidationError | SettingsError) -> str:
    """One line naming each bad setting and where it can be set (never echoing a secret)."""
    if isinstance(exc, SettingsError):
        return str(exc)
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "settings"
        field = Settings.model_fields.get(str(error["loc"][0])) if error["loc"] else None
        secret = field is not None and field.annotation in (SecretStr, SecretStr | None)
        got = "" if secret or error["type"] == "missing" else f" (got {str(error.get('input'))[:60]!r})"
        env = "DISCORD_TOKEN" if key == "discord_token" else f"CITEBOT_{key.upper()}"
        problems.append(f"{key} (env {env}): {error['msg']}{got}")
    return "invalid setting " + "; ".join(problems)
