"""A news site for feed tests: real HTTP on 127.0.0.1 serving RSS 2.0 and Atom feeds, shaped
like real ones (relative links, HTML in summaries, enclosures, guids), and their article
pages; both can change between polls. Feeds answer conditional requests (ETag and
Last-Modified; 304 when unchanged), and every request is logged."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from html import escape
from http.server import BaseHTTPRequestHandler

from tests.http_server import Route, send, serve


@dataclass
class Item:
    guid: str
    title: str
    path: str  # the article's path (the feed links to it relatively)
    summary: str = "<p>A <b>summary</b> with <a href='/x'>markup</a>.</p>"
    author: str | None = "Jane Reporter"
    published: str = "Tue, 10 Jun 2025 04:00:00 GMT"
    updated: str | None = None  # Atom: the entry's updated date (RSS: none)
    enclosure: str | None = None  # a podcast file's path (never fetched)


@dataclass
class FeedDoc:
    kind: str  # "rss" | "atom"
    title: str
    items: list[Item] = field(default_factory=list)
    version: int = 1  # bumped by ``touch``: a new ETag and Last-Modified


def rss(feed: FeedDoc) -> bytes:
    items = []
    for it in feed.items:
        enclosure = f'<enclosure url="{it.enclosure}" length="12345" type="audio/mpeg"/>' if it.enclosure else ""
        author = f"<author>news@example.invalid ({escape(it.author)})</author>" if it.author else ""
        items.append(
            f"<item><title>{escape(it.title)}</title><link>{escape(it.path)}</link>"
            f'<guid isPermaLink="false">{escape(it.guid)}</guid><pubDate>{it.published}</pubDate>{author}'
            f"<description>{escape(it.summary)}</description>{enclosure}</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(feed.title)}</title><link>/</link><description>News</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def atom(feed: FeedDoc) -> bytes:
    entries = []
    for it in feed.items:
        enclosure = f'<link rel="enclosure" type="audio/mpeg" href="{it.enclosure}"/>' if it.enclosure else ""
        author = f"<author><name>{escape(it.author)}</name></author>" if it.author else ""
        entries.append(
            f'<entry><title type="html">{escape(it.title)}</title><link rel="alternate" href="{escape(it.path)}"/>'
            f"{enclosure}<id>{escape(it.guid)}</id><updated>{it.updated or '2025-06-10T04:00:00Z'}</updated>"
            f'<published>2025-06-10T04:00:00Z</published>{author}<summary type="html">{escape(it.summary)}</summary>'
            "</entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(feed.title)}</title><id>urn:feed</id><updated>2025-06-10T04:00:00Z</updated>"
        + "".join(entries)
        + "</feed>"
    ).encode()


class Site:
    """Feeds at ``/feeds/NAME``, pages at their items' paths (``pages[path]`` = (type, body))."""

    def __init__(self) -> None:
        self.feeds: dict[str, FeedDoc] = {}
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.extra: dict[str, Route] = {}
        self.log: list[tuple[str, str]] = []
        self.base = ""
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        return self.base + path

    def requests(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.log if p.split("?", 1)[0] == path)

    def route(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            feed = self.feeds.get(path.removeprefix("/feeds/")) if path.startswith("/feeds/") else None
            page = self.pages.get(path)
            extra = self.extra.get(path)
        if extra is not None:
            extra(handler)
        elif feed is not None:
            body = rss(feed) if feed.kind == "rss" else atom(feed)
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            modified = formatdate(1_700_000_000 + feed.version * 60, usegmt=True)
            if handler.headers.get("If-None-Match") == etag:
                handler.send_response(304)
                handler.send_header("ETag", etag)
                handler.end_headers()
                return
            kind = "application/rss+xml" if feed.kind == "rss" else "application/atom+xml"
            send(handler, 200, body, kind, {"ETag": etag, "Last-Modified": modified})
        elif page is not None:
            send(handler, 200, page[1], page[0])
        else:
            send(handler, 404, b"not found", "text/plain")


@contextmanager
def site() -> Iterator[Site]:
    s = Site()

    class Routes(dict):
        def get(self, key, default=None):  # every path goes to the site
            return s.route

    with serve(Routes(), s.log) as base:
        s.base = base
        yield s


def article_html(title: str | None, paragraphs: list[str]) -> bytes:
    head = f"<title>{escape(title)}</title>" if title else ""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"<!doctype html><html><head>{head}</head><body><article>{body}</article></body></html>".encode()
