"""Frozen values for feeds (issue 13): a subscribed feed with its poll state, a remembered
entry, and what a poll did. The catalog stores the first two; the service returns the last."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any


def feed_id(url: str) -> str:
    """A feed's id within its namespace: derived from its URL, so the same feed added twice
    is the same row, and the id is the same on every backend."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True)
class FeedState:
    """How the feed's polls have gone. ``failures``: consecutive failed polls (0 after a good
    one); ``next_poll_at``: when it is due (later after failures: exponential backoff)."""

    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_poll_at: float | None = None
    last_ok_at: float | None = None
    last_error: str | None = None  # one line
    failures: int = 0
    next_poll_at: float = 0.0


@dataclass(frozen=True)
class Feed:
    id: str
    namespace: str
    url: str
    set_name: str | None  # the document set its articles go to (None: none)
    announce: str | None  # an opaque target a front end posts "New: <title>" to (a channel id)
    added_at: float
    state: FeedState
    entries: int = 0  # entries ingested so far (read with the feed)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("state"))
        data.pop("etag")
        data.pop("last_modified")
        return data


@dataclass(frozen=True)
class FeedEntryRecord:
    """An entry the feed was seen with. ``fingerprint``: what identifies its version in the
    feed (its ``updated`` date and content); a changed one is fetched again. ``doc_id``: the
    document it became (None while it failed); ``failures``: attempts that failed so far."""

    key: str
    link: str | None
    fingerprint: str
    doc_id: str | None
    error: str | None
    failures: int
    seen_at: float


@dataclass(frozen=True)
class FeedArticle:
    """An article a poll added or replaced (for a "New: <title>" post)."""

    title: str
    url: str | None
    doc_id: str
    status: str  # "added" | "replaced"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FeedPollItem:
    """One feed's poll. ``status``: "ok", "not_modified" (304), "failed" (the feed itself:
    fetch, parse, quota) or "deferred" (the poll's time ran out before it)."""

    feed_id: str
    namespace: str
    url: str
    status: str
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    failed: int = 0  # entries whose article could not be fetched or read
    articles: tuple[FeedArticle, ...] = ()
    error: str | None = None
    announce: str | None = None
    next_poll_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["articles"] = [a.to_dict() for a in self.articles]
        return data


@dataclass(frozen=True)
class FeedPollReport:
    items: tuple[FeedPollItem, ...]
    seconds: float

    def count(self, what: str) -> int:
        return sum(int(getattr(item, what)) for item in self.items)

    def summary(self) -> str:
        failed = sum(1 for i in self.items if i.status == "failed")
        return (
            f"{len(self.items)} feeds polled ({failed} failed): {self.count('added')} added, "
            f"{self.count('replaced')} replaced, {self.count('unchanged')} unchanged, "
            f"{self.count('failed')} entries failed in {self.seconds:.1f}s"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "feeds": len(self.items),
            "added": self.count("added"),
            "replaced": self.count("replaced"),
            "unchanged": self.count("unchanged"),
            "failed": self.count("failed"),
            "seconds": round(self.seconds, 3),
            "items": [item.to_dict() for item in self.items],
        }
