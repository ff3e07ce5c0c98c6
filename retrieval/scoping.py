"""A question's scope: documents published (or, undated, ingested) in a time window, or from one site.

``Scope.parse("7d", "reuters.com")`` turns the user's words into a frozen value the search
applies before its top-n cut; bad words raise ``InvalidScope`` with a one-line reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from dateutil import parser as date_parser

from retrieval.errors import InvalidScope

# Months are 30 days and years 365: a window, not calendar arithmetic.
_UNITS = {
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "m": timedelta(days=30),
    "y": timedelta(days=365),
}
_RELATIVE = re.compile(r"^(\d{1,6})\s*([hdwmy])$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$")
SINCE_HELP = "use e.g. 12h, 7d, 2w, 3m, 1y or a date like 2024-05-01"


@dataclass(frozen=True)
class Scope:
    since: datetime | None = None  # aware, UTC
    source: str | None = None  # a lowercase host; its subdomains match too
    until: datetime | None = None  # aware, UTC; the window ends before it

    @classmethod
    def parse(cls, since: str | None = None, source: str | None = None, *, now: datetime | None = None) -> Scope | None:
        """The scope the words describe, or None when both are blank (no filter at all)."""
        since_at = parse_since(since, now) if since and since.strip() else None
        site = parse_source(source) if source and source.strip() else None
        return cls(since_at, site) if since_at or site else None

    def within(self, since: datetime | None, until: datetime | None) -> Scope:
        """This scope narrowed to a window as well (both hold)."""
        if since is not None and self.since is not None:
            since = max(since, self.since)
        if until is not None and self.until is not None:
            until = min(until, self.until)
        return replace(self, since=since or self.since, until=until or self.until)

    def describe(self) -> str:
        parts = []
        if self.since is not None:
            parts.append(f"since {self.since:%Y-%m-%d %H:%M} UTC")
        if self.until is not None:
            parts.append(f"before {self.until:%Y-%m-%d %H:%M} UTC")
        if self.source is not None:
            parts.append(f"from {self.source}")
        return " and ".join(parts)

    def allows(self, url: str | None, published: str | None, ingested_at: float | None) -> bool:
        if self.source is not None:
            host = host_of(url)
            if host is None or not (host == self.source or host.endswith("." + self.source)):
                return False
        if self.since is not None or self.until is not None:
            when = parse_published(published)
            if when is None and ingested_at is not None:
                when = datetime.fromtimestamp(ingested_at, UTC)
            if when is None or (self.since is not None and when < self.since):
                return False
            if self.until is not None and when >= self.until:
                return False
        return True


def parse_since(text: str, now: datetime | None = None) -> datetime:
    words = text.strip().lower()
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(words)
    if relative:
        try:
            return now - int(relative.group(1)) * _UNITS[relative.group(2)]
        except OverflowError:
            raise InvalidScope(f"since {text.strip()[:40]!r} reaches back too far; {SINCE_HELP}") from None
    if _ISO_DATE.match(words):
        try:
            return datetime.combine(date.fromisoformat(words), datetime.min.time(), UTC)
        except ValueError:
            pass
    raise InvalidScope(f"since {text.strip()[:40]!r} is not a time window: {SINCE_HELP}")


def parse_source(text: str) -> str:
    """A site's host from a domain ("reuters.com") or any URL of it ("https://www.reuters.com/world")."""
    words = text.strip().lower()
    host = host_of(words if "://" in words else "http://" + words)
    if host is None or not _HOST.match(host) or "." not in host:
        raise InvalidScope(f"source {text.strip()[:60]!r} is not a site: give a domain like reuters.com or a URL")
    return host


def host_of(url: str | None) -> str | None:
    """The URL's host, lowercase, without a leading "www." (the outlet a reader knows)."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    return host[4:] if host.startswith("www.") else host


def parse_published(text: str | None) -> datetime | None:
    """A publication date as loaders and feeds give it (ISO, RFC 822, ...); None when unparsable.
    A date without a zone is taken as UTC."""
    if not text or not text.strip():
        return None
    try:
        when = date_parser.parse(text.strip())
    except (ValueError, OverflowError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def published_day(text: str | None) -> str | None:
    """The publication date as a reader scans it ("2024-05-03"), or None when unknown."""
    when = parse_published(text)
    return None if when is None else f"{when:%Y-%m-%d}"


def byline(url: str | None, published: str | None) -> str:
    """ "reuters.com · 2024-05-03": the outlet (the URL's host) and publication day, where
    known; a date that does not parse is shown as given (one line, at most 40 characters)."""
    day = published_day(published) or (published and " ".join(published.split())[:40])
    return " · ".join(part for part in (host_of(url), day) if part)
