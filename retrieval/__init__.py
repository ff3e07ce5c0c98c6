"""Citebot's retrieval core: documents, chunking, embedding, store, search, answers, citations.

This module is the public API (``__all__``): the service, the values that cross its
boundary, the errors, and the few facts a front end checks before calling it (supported
file suffixes, the citation-id pattern, the question-length check, lone surrogates). The
bot imports nothing else from ``retrieval``. This package never imports discord.

Names load on first use (PEP 562), so ``import retrieval.errors`` in a parser worker or
``citebot --help`` does not pay for the service's models and stores.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrieval.access import OPERATOR, PUBLIC, Access, DocumentSet, parse_set_name, parse_set_names
    from retrieval.catalog import NamespaceInfo
    from retrieval.citations import CITATION_ID_PATTERN
    from retrieval.decoding import replace_surrogates
    from retrieval.errors import (
        BlockedURL,
        CitebotError,
        EmptyDocument,
        FetchError,
        IngestError,
        InvalidQuestion,
        InvalidScope,
        InvalidSet,
        LimitReached,
        NotFound,
        SourceTooLarge,
        StoreBusy,
        StoreError,
        StoreWriteError,
        UnsupportedSource,
        check_length,
    )
    from retrieval.feed_values import Feed, FeedArticle, FeedPollItem, FeedPollReport
    from retrieval.loaders import SUPPORTED_SUFFIXES
    from retrieval.models import (
        Answer,
        Chunk,
        Citation,
        CitationContext,
        Document,
        DocumentInfo,
        IngestItem,
        IngestReport,
        SearchHit,
        Sentence,
        Span,
    )
    from retrieval.scoping import Scope, byline
    from retrieval.service import CitebotService, Progress, Quota, sample_path

__all__ = [
    "CITATION_ID_PATTERN",
    "OPERATOR",
    "PUBLIC",
    "SUPPORTED_SUFFIXES",
    "Access",
    "Answer",
    "BlockedURL",
    "Chunk",
    "Citation",
    "CitationContext",
    "CitebotError",
    "CitebotService",
    "Document",
    "DocumentInfo",
    "DocumentSet",
    "EmptyDocument",
    "Feed",
    "FeedArticle",
    "FeedHealth",
    "FeedPollItem",
    "FeedPollReport",
    "FetchError",
    "IngestError",
    "IngestItem",
    "IngestReport",
    "InvalidQuestion",
    "InvalidScope",
    "InvalidSet",
    "LimitReached",
    "NamespaceInfo",
    "NotFound",
    "Progress",
    "Quota",
    "Scope",
    "SearchHit",
    "Sentence",
    "SourceTooLarge",
    "Span",
    "Stats",
    "StoreBusy",
    "StoreError",
    "StoreWriteError",
    "UnsupportedSource",
    "byline",
    "check_length",
    "parse_set_name",
    "parse_set_names",
    "reads_as_question",
    "replace_surrogates",
    "sample_path",
]

# Where each public name is defined.
_HOMES = {
    "Access": "retrieval.access",
    "DocumentSet": "retrieval.access",
    "OPERATOR": "retrieval.access",
    "PUBLIC": "retrieval.access",
    "parse_set_name": "retrieval.access",
    "parse_set_names": "retrieval.access",
    "InvalidSet": "retrieval.errors",
    "CitebotService": "retrieval.service",
    "Progress": "retrieval.service",
    "Quota": "retrieval.quota",
    "sample_path": "retrieval.service",
    "NamespaceInfo": "retrieval.catalog",
    "CITATION_ID_PATTERN": "retrieval.citations",
    "SUPPORTED_SUFFIXES": "retrieval.loaders",
    "replace_surrogates": "retrieval.decoding",
    "Feed": "retrieval.feed_values",
    "FeedArticle": "retrieval.feed_values",
    "FeedPollItem": "retrieval.feed_values",
    "FeedPollReport": "retrieval.feed_values",
    "Answer": "retrieval.models",
    "Chunk": "retrieval.models",
    "Citation": "retrieval.models",
    "CitationContext": "retrieval.models",
    "Document": "retrieval.models",
    "DocumentInfo": "retrieval.models",
    "IngestItem": "retrieval.models",
    "IngestReport": "retrieval.models",
    "SearchHit": "retrieval.models",
    "Sentence": "retrieval.models",
    "Span": "retrieval.models",
    "BlockedURL": "retrieval.errors",
    "CitebotError": "retrieval.errors",
    "EmptyDocument": "retrieval.errors",
    "FetchError": "retrieval.errors",
    "IngestError": "retrieval.errors",
    "InvalidQuestion": "retrieval.errors",
    "InvalidScope": "retrieval.errors",
    "Scope": "retrieval.scoping",
    "byline": "retrieval.scoping",
    "LimitReached": "retrieval.errors",
    "NotFound": "retrieval.errors",
    "SourceTooLarge": "retrieval.errors",
    "StoreBusy": "retrieval.errors",
    "StoreError": "retrieval.errors",
    "StoreWriteError": "retrieval.errors",
    "UnsupportedSource": "retrieval.errors",
    "check_length": "retrieval.errors",
    "reads_as_question": "retrieval.question_detection",
    "Stats": "retrieval.stats",
    "FeedHealth": "retrieval.stats",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once loaded, a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
