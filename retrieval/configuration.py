"""The retrieval side's frozen projection of the settings: what the service and each stage
read, and nothing the Discord side owns. Built once, at the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config import Settings
from retrieval.answering import AnswerConfig
from retrieval.chunking import ChunkerConfig
from retrieval.feeds import FeedConfig
from retrieval.fetching import FetchPolicy
from retrieval.llm_answering import LLMConfig, llm_config
from retrieval.loaders import Limits
from retrieval.reranking import RerankerConfig
from retrieval.search import FusionConfig


@dataclass(frozen=True)
class EmbeddingConfig:
    model: str
    device: str
    batch_size: int
    backend: str
    cache_dir: Path | None


@dataclass(frozen=True)
class RetrievalConfig:
    default_namespace: str
    max_question_chars: int
    search_k: int
    index_cache_bytes: int
    chunker: ChunkerConfig
    limits: Limits
    fetch: FetchPolicy
    embedding: EmbeddingConfig
    fusion: FusionConfig
    reranker: RerankerConfig
    answer: AnswerConfig
    answer_mode: str  # "extractive" | "llm"
    llm: LLMConfig
    feeds: FeedConfig

    @classmethod
    def from_settings(cls, s: Settings) -> RetrievalConfig:
        return cls(
            default_namespace=s.default_namespace,
            max_question_chars=s.max_question_chars,
            search_k=s.search_k,
            index_cache_bytes=s.index_cache_mb * 1024 * 1024,
            chunker=ChunkerConfig(s.chunk_size, s.chunk_overlap_sentences),
            limits=Limits(s.max_file_bytes, s.max_document_chars),
            fetch=FetchPolicy(
                timeout_seconds=s.url_timeout_seconds,
                max_redirects=s.url_max_redirects,
                max_bytes=s.max_file_bytes,
                allow_private=s.url_allow_private,
                allowlist=tuple(s.url_allowlist),
            ),
            embedding=EmbeddingConfig(
                s.embedding_model, s.embedding_device, s.embedding_batch_size, s.embedding_backend, s.model_cache_dir
            ),
            fusion=FusionConfig(s.candidate_k, s.rrf_k, s.dense_weight, s.lexical_weight),
            reranker=RerankerConfig(s.reranker_model, s.reranker_max_tokens, s.reranker_threads, s.model_cache_dir),
            answer=AnswerConfig(
                max_sentences=s.answer_max_sentences,
                max_chars=s.answer_max_chars,
                abstain_threshold=s.abstain_threshold,
                dense_weight=s.dense_weight,
                lexical_weight=s.lexical_weight,
            ),
            answer_mode=s.answer_mode,
            llm=llm_config(s),
            feeds=FeedConfig(
                poll_minutes=s.feed_poll_minutes,
                max_entries_per_poll=s.feed_max_entries_per_poll,
                poll_max_seconds=s.feed_poll_max_seconds,
                max_backoff_minutes=s.feed_max_backoff_minutes,
                max_per_namespace=s.feed_max_per_namespace,
            ),
        )
