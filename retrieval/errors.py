"""Domain errors. Each carries a one-line message fit to show a user as is."""

from __future__ import annotations


class CitebotError(Exception):
    """Base class: ``str(err)`` is a clear, user-facing sentence."""


class InvalidQuestion(CitebotError):
    pass


class IngestError(CitebotError):
    """One item of an ingest failed; the store is unchanged for that item."""


class UnsupportedSource(IngestError):
    pass


class SourceTooLarge(IngestError):
    pass


class EmptyDocument(IngestError):
    pass


class FetchError(IngestError):
    pass


class BlockedURL(FetchError):
    pass


class LimitReached(IngestError):
    pass


class NotFound(CitebotError):
    pass


class StoreError(CitebotError):
    """The data dir or vector store cannot be used (unreadable, corrupt, unreachable)."""


class StoreWriteError(StoreError):
    """A write to the data dir failed (disk full, read-only, ...); nothing of it is visible."""


class StoreBusy(StoreWriteError):
    """Another process held the data dir's writer lock for longer than the wait allows."""
