"""Domain errors. Each carries a one-line message fit to show a user as is."""

from __future__ import annotations


class CitebotError(Exception):
    """Base class: ``str(err)`` is a clear, user-facing sentence."""


class InvalidQuestion(CitebotError):
    pass


def check_length(text: str, limit: int, what: str = "question") -> str:
    """``text`` when it has at most ``limit`` characters, else ``InvalidQuestion``.

    One check and one message for the service, the CLI and the bot (which refuses before
    it acknowledges an interaction).
    """
    if len(text) > limit:
        raise InvalidQuestion(f"the {what} is {len(text):,} characters; the limit is {limit:,}")
    return text


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
    """One more ingest would pass a namespace's bound. ``bound`` is "documents", "bytes" or
    "ingests_per_hour"; the interfaces word it for their users (the message is neutral)."""

    def __init__(self, bound: str, limit: int, current: int) -> None:
        self.bound, self.limit, self.current = bound, limit, current
        super().__init__(
            {
                "documents": f"this namespace already has {current} documents (the limit is {limit})",
                "bytes": f"this namespace's documents would exceed {limit:,} bytes",
                "ingests_per_hour": f"this namespace reached its limit of {limit} ingests per hour",
            }[bound]
        )


class NotFound(CitebotError):
    pass


class DocumentExists(CitebotError):
    """The catalog already holds this document version (committed by another writer)."""


class StoreError(CitebotError):
    """The data dir or vector store cannot be used (unreadable, corrupt, unreachable)."""


class StoreWriteError(StoreError):
    """A write to the data dir failed (disk full, read-only, ...); nothing of it is visible."""


class StoreBusy(StoreWriteError):
    """Another process held the data dir's writer lock for longer than the wait allows."""


class InvalidScope(InvalidQuestion):
    """A ``since`` or ``source`` filter the user gave cannot be read (one line says why)."""


class InvalidSet(InvalidScope):
    """A document set name the user gave cannot be used (one line says why)."""
