"""Feeds (issue 13): RSS 2.0 and Atom feeds whose new articles are ingested by themselves.

A poll fetches each due feed (a conditional request: ETag / Last-Modified, so an unchanged
feed costs a 304), parses it with feedparser (from bytes: feedparser never fetches), and
for each entry not seen before — or seen with another version (its ``updated`` date or
content changed) — fetches the article page and ingests it under the page's URL as its
source, so a changed article replaces its old version. Every fetch goes through the
SSRF-guarded fetcher (``fetching.py``). Entries without a link are ingested from their
summary or content (HTML turned into text); enclosures (podcasts, images) are ignored.

Each feed keeps its own state in the catalog: the last error (one line), consecutive
failures and the next poll time, later after each failure (exponential backoff) — so a
dead feed costs one bounded fetch per backoff period and never blocks the others. Bounds:
entries per feed and poll, the poll's total time, feeds per namespace, and the namespace's
quota (a refusal is the feed's error, not a crash).
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from retrieval.catalog import Catalog
from retrieval.errors import CitebotError, EmptyDocument, IngestError, LimitReached, NotFound, StoreError
from retrieval.feed_values import (
    Feed,
    FeedArticle,
    FeedEntryRecord,
    FeedPollItem,
    FeedPollReport,
    FeedState,
    feed_id,
)
from retrieval.fetching import FetchPolicy, check_url, fetch
from retrieval.loaders import Limits, content_id, load_bytes, normalise
from retrieval.models import Document, IngestItem
from retrieval.quota import Quota

log = logging.getLogger(__name__)

MAX_ENTRY_ATTEMPTS = 3  # an article that failed this often is not tried again until its entry changes
ENTRY_MEMORY_DAYS = 90  # an entry gone from its feed is forgotten this long after it was recorded
_ERROR_CHARS = 300


@dataclass(frozen=True)
class FeedConfig:
    poll_minutes: float
    max_entries_per_poll: int
    poll_max_seconds: float
    max_backoff_minutes: float
    max_per_namespace: int
    jitter: float = 0.1  # each interval is stretched or shrunk by up to this share, at random


class FeedError(IngestError):
    """The feed itself cannot be used (not a feed, unparsable)."""


# -- parsing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeedEntry:
    """An entry as the feed shows it. ``key``: its id (guid), else its link; ``text``: its
    content or summary as plain text (used when it has no link)."""

    key: str
    link: str | None
    title: str | None
    author: str | None
    published: str | None  # YYYY-MM-DD, the form page extraction gives
    fingerprint: str
    text: str


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    entries: tuple[FeedEntry, ...]


_EMAIL_NAME = re.compile(r"^\s*\S+@\S+\s*\((.+)\)\s*$")
_BLOCKS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "pre"}


class _Text(HTMLParser):
    """HTML (a summary, a title of type html) to text: paragraphs at block boundaries."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    paragraphs = (re.sub(r"\s+", " ", p).strip() for p in "".join(parser.parts).split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def _date(parsed: Any) -> str | None:
    if not parsed:
        return None
    try:
        return time.strftime("%Y-%m-%d", time.gmtime(calendar.timegm(parsed)))
    except (TypeError, ValueError, OverflowError):
        return None


def _entry(raw: Any, base: str) -> FeedEntry | None:
    link = raw.get("link")
    link = urljoin(base, link.strip()) if isinstance(link, str) and link.strip() else None
    contents = [c.get("value", "") for c in raw.get("content") or [] if isinstance(c, dict)]
    html = max(contents, key=len) if contents else raw.get("summary") or ""
    text = html_to_text(html) if html else ""
    title = html_to_text(raw["title"]) if raw.get("title") else None
    author = raw.get("author") or None
    if author:  # RSS writes "email (Name)"; feedparser's own split of it is unreliable
        named = _EMAIL_NAME.match(author)
        author = html_to_text(named.group(1) if named else author) or None
    updated = raw.get("updated") or raw.get("published") or ""
    key = raw.get("id") or link
    if not key:
        if not (title or text):
            return None  # nothing to ingest and nothing to know it by
        key = "sha256:" + hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()[:32]
    fingerprint = hashlib.sha256("\x1f".join((updated, title or "", html)).encode()).hexdigest()[:32]
    published = _date(raw.get("published_parsed") or raw.get("updated_parsed"))
    return FeedEntry(str(key)[:2000], link, title, author, published, fingerprint, text)


def parse_feed(data: bytes, url: str) -> ParsedFeed:
    """An RSS or Atom document's title and entries, links resolved against ``url``.
    ``FeedError`` when it is neither."""
    import feedparser  # only a poll needs it

    parsed = feedparser.parse(data, response_headers={"content-location": url})
    if not parsed.get("version"):
        raise FeedError(f"{url[:200]}: not an RSS or Atom feed")
    title = parsed.feed.get("title")
    entries = [e for e in (_entry(raw, url) for raw in parsed.entries) if e is not None]
    unique = {e.key: e for e in reversed(entries)}  # a key listed twice: its first occurrence
    return ParsedFeed(html_to_text(title) if title else None, tuple(e for e in entries if unique[e.key] is e))


# -- polling ------------------------------------------------------------------------------
Ingest = Callable[[Document, str, Quota | None, str | None], IngestItem]  # (doc, namespace, quota, set name)


def one_line(message: str) -> str:
    return " ".join(message.split())[:_ERROR_CHARS]


class FeedPoller:
    """Adds, lists, removes and polls a catalog's feeds. ``ingest``: the service's
    single-document ingest (it replaces a same-source document)."""

    def __init__(
        self,
        catalog: Catalog,
        config: FeedConfig,
        policy: FetchPolicy,
        limits: Limits,
        ingest: Ingest,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.policy = policy
        self.limits = limits
        self.ingest = ingest
        self.clock = clock
        self.monotonic = monotonic
        self.rng = rng

    # -- subscriptions --------------------------------------------------------------------
    def add(self, namespace: str, url: str, *, set_name: str | None = None, announce: str | None = None) -> Feed:
        """Subscribe after one fetch that shows ``url`` is a feed (its entries come with the
        first poll, due at once)."""
        url = url.strip()
        check_url(url, self.policy)  # BlockedURL for a refused address, before anything else
        existing = self.catalog.feeds(namespace)
        fid = feed_id(url)
        if any(f.id == fid for f in existing):
            raise CitebotError(f"{url[:200]}: this feed is already subscribed (id {fid})")
        if len(existing) >= self.config.max_per_namespace:
            raise CitebotError(
                f"this namespace already has {len(existing)} feeds (the limit is {self.config.max_per_namespace})"
            )
        fetched = fetch(url, self.policy)
        parsed = parse_feed(fetched.content, fetched.url)
        now = self.clock()
        set_name = set_name.strip() if set_name and set_name.strip() else None
        feed = Feed(fid, namespace, url, set_name, announce, now, FeedState(title=parsed.title, next_poll_at=now))
        if not self.catalog.add_feed(feed):  # another process subscribed it meanwhile
            raise CitebotError(f"{url[:200]}: this feed is already subscribed (id {fid})")
        return feed

    def find(self, namespace: str, ref: str) -> Feed:
        """A feed by id, unique id prefix (4 characters or more) or URL."""
        ref = ref.strip()
        feeds = self.catalog.feeds(namespace)
        exact = [f for f in feeds if ref in (f.id, f.url)]
        matches = exact or [f for f in feeds if len(ref) >= 4 and f.id.startswith(ref.lower())]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise NotFound(f"{ref[:100]!r} matches {len(matches)} feeds; use the full id or the URL")
        raise NotFound(f"no feed {ref[:200]!r} in this namespace")

    def remove(self, namespace: str, ref: str) -> Feed:
        feed = self.find(namespace, ref)
        if not self.catalog.remove_feed(namespace, feed.id):
            raise NotFound(f"no feed {ref[:200]!r} in this namespace (removed meanwhile)")
        return feed

    # -- polls ----------------------------------------------------------------------------
    def poll(self, feeds: Iterable[Feed], *, force: bool = False, quota: Quota | None = None) -> FeedPollReport:
        """Poll the due feeds among ``feeds`` (all of them with ``force``), longest overdue
        first, within ``poll_max_seconds`` (the feeds not reached stay due)."""
        started = self.monotonic()
        deadline = started + self.config.poll_max_seconds
        now = self.clock()
        due = sorted((f for f in feeds if force or f.state.next_poll_at <= now), key=lambda f: f.state.next_poll_at)
        items = []
        for feed in due:
            if self.monotonic() >= deadline:
                items.append(FeedPollItem(feed.id, feed.namespace, feed.url, "deferred", announce=feed.announce))
                continue
            try:
                items.append(self._poll_one(feed, deadline, quota))
            except StoreError:
                raise  # the catalog or store cannot be used: no other feed would do better
            except Exception as exc:  # a bug on odd input must not stop the other feeds
                log.exception("polling feed %s (%s) failed unexpectedly", feed.id, feed.url)
                items.append(self._failed(feed, f"unexpected {type(exc).__name__}: {exc}"))
        return FeedPollReport(tuple(items), self.monotonic() - started)

    def _interval(self, minutes: float) -> float:
        return minutes * 60 * (1 + self.config.jitter * (2 * self.rng() - 1))

    def _failed(self, feed: Feed, error: str) -> FeedPollItem:
        now = self.clock()
        failures = feed.state.failures + 1
        wait = min(self.config.max_backoff_minutes, self.config.poll_minutes * 2 ** (failures - 1))
        state = replace(
            feed.state,
            last_poll_at=now,
            last_error=one_line(error),
            failures=failures,
            next_poll_at=now + self._interval(wait),
        )
        self.catalog.set_feed_state(feed.namespace, feed.id, state)
        return FeedPollItem(
            feed.id,
            feed.namespace,
            feed.url,
            "failed",
            error=state.last_error,
            announce=feed.announce,
            next_poll_at=state.next_poll_at,
        )

    def _policy(self, deadline: float) -> FetchPolicy:
        remaining = max(0.5, deadline - self.monotonic())
        return replace(self.policy, timeout_seconds=min(self.policy.timeout_seconds, remaining))

    def _poll_one(self, feed: Feed, deadline: float, quota: Quota | None) -> FeedPollItem:
        ns = feed.namespace
        conditional = {"If-None-Match": feed.state.etag or "", "If-Modified-Since": feed.state.last_modified or ""}
        try:
            fetched = fetch(feed.url, self._policy(deadline), conditional)
            parsed = None if fetched.not_modified else parse_feed(fetched.content, fetched.url)
        except IngestError as exc:
            return self._failed(feed, str(exc))
        now = self.clock()
        ok = replace(feed.state, last_poll_at=now, last_ok_at=now, failures=0, next_poll_at=0.0)
        if parsed is None:
            state = replace(ok, last_error=None, next_poll_at=now + self._interval(self.config.poll_minutes))
            self.catalog.set_feed_state(ns, feed.id, state)
            return FeedPollItem(
                feed.id, ns, feed.url, "not_modified", announce=feed.announce, next_poll_at=state.next_poll_at
            )
        known = self.catalog.feed_entries(ns, feed.id)

        def wanted(entry: FeedEntry) -> bool:
            seen = known.get(entry.key)
            if seen is None or seen.fingerprint != entry.fingerprint:
                return True
            return seen.doc_id is None and seen.failures < MAX_ENTRY_ATTEMPTS

        todo = [e for e in parsed.entries if wanted(e)]
        counts = {"added": 0, "replaced": 0, "unchanged": 0, "failed": 0}
        articles: list[FeedArticle] = []
        records: list[FeedEntryRecord] = []
        entry_error: str | None = None
        feed_error: str | None = None
        done = 0
        for entry in todo[: self.config.max_entries_per_poll]:
            if self.monotonic() >= deadline:
                break
            seen = known.get(entry.key)
            attempts = seen.failures if seen is not None and seen.fingerprint == entry.fingerprint else 0
            try:
                doc = self._article(feed, entry, self._policy(deadline))
                item = self.ingest(doc, ns, quota, feed.set_name)
                if item.status == "failed":
                    raise IngestError(item.error or f"{entry.link}: failed")
            except LimitReached as exc:  # the namespace is full: this feed stops here, and says why
                feed_error = f"quota: {exc}"
                break
            except IngestError as exc:  # this article only: the others go on
                done += 1
                counts["failed"] += 1
                entry_error = one_line(str(exc))
                record = FeedEntryRecord(entry.key, entry.link, entry.fingerprint, None, entry_error, attempts + 1, now)
                records.append(record)
                continue
            done += 1
            counts[item.status] += 1
            records.append(FeedEntryRecord(entry.key, entry.link, entry.fingerprint, item.doc_id, None, 0, now))
            if item.status in ("added", "replaced") and item.doc_id:
                articles.append(FeedArticle(item.title or doc.title, doc.url, item.doc_id, item.status))
        self.catalog.record_feed_entries(ns, feed.id, records)
        # Entries that left the feed's window long ago: forget them, so its memory stays bounded.
        listed = [e.key for e in parsed.entries]
        self.catalog.prune_feed_entries(ns, feed.id, listed, now - ENTRY_MEMORY_DAYS * 86400)
        if feed_error is not None:
            stopped = self._failed(feed, feed_error)
            return replace(
                stopped,
                added=counts["added"],
                replaced=counts["replaced"],
                unchanged=counts["unchanged"],
                failed=counts["failed"],
                articles=tuple(articles),
            )
        # Entries left for the next poll: keep no validators, or a 304 would hide them.
        complete = done == len(todo)
        state = replace(
            ok,
            title=parsed.title or feed.state.title,
            etag=fetched.etag if complete else None,
            last_modified=fetched.last_modified if complete else None,
            last_error=one_line(f"{counts['failed']} entries failed; the last: {entry_error}") if entry_error else None,
            next_poll_at=now + self._interval(self.config.poll_minutes),
        )
        self.catalog.set_feed_state(ns, feed.id, state)
        return FeedPollItem(
            feed.id,
            ns,
            feed.url,
            "ok",
            added=counts["added"],
            replaced=counts["replaced"],
            unchanged=counts["unchanged"],
            failed=counts["failed"],
            articles=tuple(articles),
            error=state.last_error,
            announce=feed.announce,
            next_poll_at=state.next_poll_at,
        )

    def _article(self, feed: Feed, entry: FeedEntry, policy: FetchPolicy) -> Document:
        """The entry's article: its page (fetched, guarded), or its own text when it has no
        link; title, author and date from the entry where the page has none."""
        if entry.link is None:
            text = normalise(entry.text)
            if not text:
                raise EmptyDocument(f"{feed.url[:200]}: entry {entry.key[:100]!r} has no link and no text")
            if len(text) > self.limits.max_chars:
                raise IngestError(f"{feed.url[:200]}: entry {entry.key[:100]!r} is longer than the limit")
            return Document(
                id=content_id(text),
                text=text,
                source=f"{feed.url}#{entry.key}",
                title=normalise(entry.title or text.split("\n", 1)[0])[:300],
                author=entry.author,
                published=entry.published,
            )
        fetched = fetch(entry.link, policy)
        doc = load_bytes(
            fetched.content,
            fetched.url,
            source=entry.link,
            url=fetched.url,
            content_type=fetched.content_type,
            limits=self.limits,
        )
        name = fetched.url
        fallback = Path(name.split("?", 1)[0]).stem or name  # what the loader names a page without a title
        return replace(
            doc,
            title=normalise(entry.title)[:300] if entry.title and doc.title in (fallback, name) else doc.title,
            author=doc.author or (normalise(entry.author)[:200] if entry.author else None),
            published=doc.published or entry.published,
        )
