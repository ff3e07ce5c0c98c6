"""LLM answers: a chat model writes the answer, ``grounding.py`` keeps what its citations support.

The model is any LangChain chat model, made from the settings' ``provider:model`` string by
``langchain.chat_models.init_chat_model`` (the provider package is an optional extra:
``citebot[openai]``, ``citebot[ollama]``). The extractive answer is computed first (it
costs milliseconds): when it abstains, so does this (the calibrated "not in the articles"
stays calibrated, and no model call is made); when the model fails in any way — an error,
a timeout, no connection, output that is not text, or nothing grounded left — the
extractive answer is shown with a one-line note. No unverified sentence is ever returned:
``on_token`` sees the raw stream for display only, and the caller replaces it with the
returned ``Answer``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from config import Settings
from retrieval.answering import Answerer
from retrieval.embedding import Embedder
from retrieval.errors import CitebotError
from retrieval.grounding import Grounded, GroundingConfig, Verifier
from retrieval.llm_prompt import answer_messages, condense_messages, passages, standalone_question
from retrieval.models import Answer, Evidence

log = logging.getLogger(__name__)

API_KEY_ENV = "CITEBOT_LLM_API_KEY"
TokenCallback = Callable[[str], None]

NOTE_NOTHING_GROUNDED = "The model's answer had no sentence its sources support; showing the quoted answer instead."
NOTE_TIMEOUT = "The model took too long; showing the quoted answer instead."
NOTE_UNREACHABLE = "The model could not be reached; showing the quoted answer instead."
NOTE_FAILED = "The model failed; showing the quoted answer instead."
NOTE_MALFORMED = "The model's reply was not usable text; showing the quoted answer instead."
NOTE_DROPPED = "{count} sentence(s) of the model's answer were removed: their sources do not support them."

# Provider extras named in the message when a provider package is missing.
_EXTRAS = {"openai": "openai", "ollama": "ollama", "anthropic": "anthropic"}


@dataclass(frozen=True)
class LLMConfig:
    model: str  # LangChain "provider:model", e.g. "ollama:llama3.2"
    base_url: str = ""
    temperature: float = 0.0
    timeout_seconds: float = 30.0
    max_tokens: int = 400
    max_passages: int = 5
    max_sentences: int = 4
    max_question_chars: int = 1000


class ModelTimeout(Exception):
    """The whole answer took longer than ``timeout_seconds`` (checked between streamed chunks)."""


def provider_of(model: str) -> str:
    return model.split(":", 1)[0].strip().lower() if ":" in model else ""


def chat_model(config: LLMConfig) -> Any:
    """The LangChain chat model for ``config`` (the API key from the environment only)."""
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise CitebotError("LLM mode needs the langchain package: pip install 'langchain>=1,<2'") from exc
    provider = provider_of(config.model)
    if not provider or not config.model.split(":", 1)[1].strip():
        raise CitebotError(f"llm_model must be provider:model (e.g. ollama:llama3.2), not {config.model!r}")
    kwargs: dict[str, Any] = {"temperature": config.temperature}
    key = os.environ.get(API_KEY_ENV)
    if provider == "ollama":
        kwargs["num_predict"] = config.max_tokens
        kwargs["client_kwargs"] = {"timeout": config.timeout_seconds}
        if config.base_url:
            kwargs["base_url"] = config.base_url
    else:
        kwargs.update(timeout=config.timeout_seconds, max_tokens=config.max_tokens, max_retries=0)
        if config.base_url:
            kwargs["base_url"] = config.base_url
        if key:
            kwargs["api_key"] = key
        elif provider == "openai" and config.base_url:
            kwargs["api_key"] = "not-needed"  # local OpenAI-compatible servers (llama.cpp, vLLM) take any key
    try:
        return init_chat_model(config.model, **kwargs)
    except ImportError as exc:
        extra = _EXTRAS.get(provider, provider)
        raise CitebotError(
            f"the {provider!r} provider is not installed: pip install 'citebot[{extra}]' (or langchain-{provider})"
        ) from exc
    except ValueError as exc:  # unknown provider, bad arguments
        raise CitebotError(f"cannot use llm_model {config.model!r}: {str(exc).splitlines()[0][:200]}") from exc


def _text_of(content: Any) -> str:
    """A message's text; content blocks of other kinds (tool calls, images) are malformed here."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
                parts.append(block["text"])
            else:
                raise TypeError(f"a content block of type {type(block).__name__}")
        return "".join(parts)
    raise TypeError(f"content of type {type(content).__name__}")


def _note_for(exc: BaseException) -> str:
    if isinstance(exc, ModelTimeout | TimeoutError) or "timeout" in type(exc).__name__.lower():
        return NOTE_TIMEOUT
    if isinstance(exc, ConnectionError) or "connect" in type(exc).__name__.lower():
        return NOTE_UNREACHABLE
    if isinstance(exc, TypeError | ValueError | KeyError):
        return NOTE_MALFORMED
    return NOTE_FAILED


class LLMAnswerer:
    """The ``Answerer`` of LLM mode, with a streaming form (``answer(evidence, on_token=...)``)."""

    def __init__(
        self,
        model: Any,
        embedder: Embedder,
        fallback: Answerer,
        config: LLMConfig,
        grounding: GroundingConfig | None = None,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self.config = config
        self.verifier = Verifier(embedder, grounding)
        self.last: Grounded | None = None  # the last verification, for measurement

    def _generate(self, messages: Sequence[Any], on_token: TokenCallback | None) -> str:
        deadline = time.monotonic() + self.config.timeout_seconds
        parts: list[str] = []
        for chunk in self.model.stream(list(messages)):
            piece = _text_of(chunk.content)
            if piece:
                parts.append(piece)
                if on_token is not None:
                    on_token(piece)
            if time.monotonic() > deadline:
                raise ModelTimeout(f"no complete answer within {self.config.timeout_seconds:g} s")
        return "".join(parts)

    def answer(self, evidence: Evidence, on_token: TokenCallback | None = None) -> Answer:
        extractive = self.fallback.answer(evidence)
        self.last = None
        if extractive.abstained or not evidence.hits:
            return extractive
        shown = passages(evidence, self.config.max_passages)
        messages = answer_messages(evidence.question, shown, self.config.max_sentences)
        try:
            reply = self._generate(messages, on_token)
        except Exception as exc:  # any failure of the model or its client: the quoted answer stands
            log.info("LLM answer failed (%s: %s); falling back", type(exc).__name__, str(exc)[:200])
            return replace(extractive, note=_note_for(exc))
        grounded = self.verifier.verify(reply, shown)
        self.last = grounded
        if not grounded.kept:
            return replace(extractive, note=NOTE_NOTHING_GROUNDED)
        dropped = len(grounded.judged) - grounded.kept
        return Answer(
            question=evidence.question,
            text=grounded.text,
            abstained=False,
            citations=grounded.citations,
            confidence=extractive.confidence,
            mode="llm",
            note=NOTE_DROPPED.format(count=dropped) if dropped else None,
        )

    def condense(self, question: str, history: Sequence[str]) -> str | None:
        """A follow-up made standalone by the model; None (use the extractive rule) on any failure."""
        if not history:
            return question
        try:
            reply = "".join(
                _text_of(chunk.content) for chunk in self.model.stream(condense_messages(question, history))
            )
        except Exception as exc:
            log.info("LLM condensing failed (%s); using the extractive rule", type(exc).__name__)
            return None
        return standalone_question(reply, self.config.max_question_chars)


def llm_config(settings: Settings) -> LLMConfig:
    return LLMConfig(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        temperature=settings.llm_temperature,
        timeout_seconds=settings.llm_timeout_seconds,
        max_tokens=settings.llm_max_tokens,
        max_sentences=max(2, settings.answer_max_sentences + 2),
        max_question_chars=settings.max_question_chars,
    )
