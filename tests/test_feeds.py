"""Feeds (issue 13) over real HTTP on 127.0.0.1: parsing real-world-shaped RSS and Atom,
polls that ingest new articles once, replace changed ones, answer conditional requests,
and keep each feed's error state and backoff — a feed that 500s, one that redirects to a
private address, one of 50 MB — without blocking the others. A real service (real Chroma
and catalog, the hashing embedder)."""

from __future__ import annotations

import time

import pytest

from retrieval.errors import BlockedURL, CitebotError, NotFound
from retrieval.feeds import FeedError, html_to_text, parse_feed
from retrieval.fetching import FetchPolicy, fetch
from retrieval.quota import Quota
from retrieval.service import CitebotService
from tests.doubles import HashingEmbedder
from tests.feed_site import FeedDoc, Item, Site, article_html, atom, rss, site
from tests.http_server import send

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)

LOCAL = FetchPolicy.shipped(allowlist=("127.0.0.1",), timeout_seconds=5.0)
PARAGRAPHS = [
    "The harbour council approved a new ferry terminal on Monday after a long public consultation.",
    "Construction is expected to begin in the spring and to take roughly two years, officials said.",
    "Local businesses welcomed the plan, saying the terminal would bring thousands of visitors each summer.",
]


@pytest.fixture
def news():
    with site() as s:
        yield s


@pytest.fixture
def service(make_settings) -> CitebotService:
    return CitebotService.from_settings(make_settings(url_allowlist=["127.0.0.1"]), embedder=HashingEmbedder())


def add_article(s: Site, path: str, title: str | None, words: str, content_type: str = "text/html") -> None:
    paragraphs = [f"{p} The {words} story continues." for p in PARAGRAPHS]
    s.pages[path] = (content_type, article_html(title, paragraphs))


def news_feed(s: Site, name: str = "rss", kind: str = "rss", n: int = 3) -> str:
    feed = FeedDoc(kind, f"The {name} Gazette")
    for i in range(n):
        path = f"/news/{name}/{i}.html"
        feed.items.append(Item(f"{name}-{i}", f"Headline {name} {i}", path, enclosure="/media/episode.mp3"))
        add_article(s, path, None if i == 0 else f"Page title {name} {i}", f"{name}{i}")
    s.feeds[name] = feed
    return s.url(f"/feeds/{name}")


# -- parsing ----------------------------------------------------------------------------------
def test_rss_links_resolve_against_the_feed_html_summaries_become_text_and_enclosures_are_not_links():
    feed = FeedDoc("rss", "Gazette", [Item("g1", "One &amp; two", "../news/1.html?a=1&b=2", enclosure="/p.mp3")])
    parsed = parse_feed(rss(feed), "http://127.0.0.1:9/feeds/main/rss.xml")
    assert parsed.title == "Gazette"
    (entry,) = parsed.entries
    assert entry.link == "http://127.0.0.1:9/feeds/news/1.html?a=1&b=2"
    assert entry.key == "g1" and entry.title == "One & two"
    assert entry.text == "A summary with markup."
    assert entry.author == "Jane Reporter" and entry.published == "2025-06-10"


def test_atom_titles_of_type_html_dates_and_relative_links():
    item = Item("urn:1", "A <i>big</i> day", "2025/a.html", updated="2025-07-01T09:00:00Z")
    feed = FeedDoc("atom", "Atom News", [item])
    parsed = parse_feed(atom(feed), "http://127.0.0.1:9/atom/index.xml")
    (entry,) = parsed.entries
    assert entry.title == "A big day"
    assert entry.link == "http://127.0.0.1:9/atom/2025/a.html"
    assert entry.published == "2025-06-10"  # <published>, not <updated>
    changed = parse_feed(atom(FeedDoc("atom", "Atom News", [Item("urn:1", "A <i>big</i> day", "2025/a.html")])), "x")
    assert changed.entries[0].fingerprint != entry.fingerprint  # another <updated>: another version


def test_html_is_not_a_feed():
    with pytest.raises(FeedError, match="not an RSS or Atom feed"):
        parse_feed(article_html("T", PARAGRAPHS), "http://127.0.0.1/x")
    assert html_to_text("<p>a<script>x()</script></p><ul><li>b</li></ul>") == "a\n\nb"


# -- the fetcher's conditional requests ----------------------------------------------------------
def test_a_conditional_request_gets_its_304_and_the_validators(news: Site):
    url = news_feed(news)
    first = fetch(url, LOCAL)
    assert first.etag and first.last_modified and not first.not_modified
    again = fetch(url, LOCAL, {"If-None-Match": first.etag, "User-Agent": "ignored"})
    assert again.not_modified and again.content == b""
    news.feeds["rss"].items.pop()
    assert not fetch(url, LOCAL, {"If-None-Match": first.etag}).not_modified


def test_fetches_share_one_tls_context(news: Site, monkeypatch):
    """Loading the CA bundle took ~0.3 s a fetch here: most of a poll's time before it was shared."""
    import httpx

    made = []
    create = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *a, **k: made.append(1) or create(*a, **k))
    url = news_feed(news)
    for _ in range(3):
        fetch(url, LOCAL)
    assert len(made) <= 1


# -- polls ------------------------------------------------------------------------------------
def test_a_poll_ingests_each_entry_once_with_the_feeds_metadata(news: Site, service: CitebotService):
    url = news_feed(news, n=3)
    feed = service.add_feed(url, "ns", set_name="world")
    assert feed.set_name == "world" and feed.state.title == "The rss Gazette"
    report = service.poll_feeds("ns")
    (item,) = report.items
    assert (item.status, item.added, item.failed) == ("ok", 3, 0), item
    docs = {d.source: d for d in service.sources("ns")}
    assert set(docs) == {news.url(f"/news/rss/{i}.html") for i in range(3)}
    first = docs[news.url("/news/rss/0.html")]
    assert first.title == "Headline rss 0"  # the page has no title: the entry's
    assert docs[news.url("/news/rss/1.html")].title == "Page title rss 1"  # the page's own wins
    assert first.author == "Jane Reporter" and first.published == "2025-06-10"
    assert news.requests("/media/episode.mp3") == 0  # enclosures are not articles
    assert [a.title for a in item.articles] == ["Headline rss 0", "Page title rss 1", "Page title rss 2"]
    hits = service.search("ferry terminal rss1 story", "ns")
    assert hits and hits[0].title == "Page title rss 1"

    # Due again later; unchanged, the feed answers 304 and no article is fetched again.
    assert service.poll_feeds("ns").items == ()  # not due yet
    again = service.poll_feeds("ns", force=True)
    assert again.items[0].status == "not_modified"
    assert news.requests("/news/rss/0.html") == 1
    (listed,) = service.feeds("ns")
    assert listed.entries == 3 and listed.state.failures == 0 and listed.state.last_error is None
    assert listed.state.next_poll_at > time.time() + 25 * 60  # 30 minutes, jittered by 10%


def test_a_changed_feed_fetches_only_new_and_changed_entries_and_replaces_the_changed(news: Site, service):
    url = news_feed(news, "atom", kind="atom", n=3)
    service.add_feed(url, "ns")
    service.poll_feeds("ns")
    old = {d.source: d.id for d in service.sources("ns")}
    feed = news.feeds["atom"]
    feed.items[1].updated = "2025-06-11T08:00:00Z"  # entry 1 edited
    add_article(news, "/news/atom/1.html", "Page title atom 1", "corrected")
    feed.items.insert(0, Item("atom-new", "Brand new", "/news/atom/new.html"))
    add_article(news, "/news/atom/new.html", "Brand new page", "fresh")
    (item,) = service.poll_feeds("ns", force=True).items
    assert (item.added, item.replaced, item.unchanged) == (1, 1, 0), item
    assert news.requests("/news/atom/0.html") == 1 and news.requests("/news/atom/2.html") == 1
    docs = {d.source: d.id for d in service.sources("ns")}
    assert len(docs) == 4 == len(service.sources("ns"))  # one version per article
    changed = news.url("/news/atom/1.html")
    assert docs[changed] != old[changed]
    assert "corrected" in (service.catalog.text("ns", docs[changed]) or "")


def test_a_feed_that_fails_backs_off_and_never_blocks_the_others(news: Site, service):
    good = news_feed(news, "good")
    broken = news.url("/feeds/broken")
    news.feeds["broken"] = FeedDoc("rss", "Broken")
    service.add_feed(broken, "ns")
    service.add_feed(good, "ns")
    news.extra["/feeds/broken"] = lambda h: send(h, 500, b"oops", "text/plain")
    report = service.poll_feeds("ns")
    by_url = {i.url: i for i in report.items}
    assert by_url[good].status == "ok" and by_url[good].added == 3
    assert by_url[broken].status == "failed" and "HTTP error 500" in (by_url[broken].error or "")
    feeds = {f.url: f for f in service.feeds("ns")}
    state = feeds[broken].state
    assert state.failures == 1 and "HTTP error 500" in (state.last_error or "") and "\n" not in state.last_error
    first_wait = state.next_poll_at - (state.last_poll_at or 0)
    assert 27 * 60 <= first_wait <= 33 * 60
    service.poll_feeds("ns", force=True)
    state = {f.url: f for f in service.feeds("ns")}[broken].state
    assert state.failures == 2 and 54 * 60 <= state.next_poll_at - (state.last_poll_at or 0) <= 66 * 60
    del news.extra["/feeds/broken"]  # back: the next poll clears the error
    service.poll_feeds("ns", force=True)
    state = {f.url: f for f in service.feeds("ns")}[broken].state
    assert (state.failures, state.last_error) == (0, None)


@pytest.mark.parametrize("target", ["http://10.0.0.1/feed", "http://169.254.169.254/latest/meta-data/"])
def test_a_feed_or_an_entry_redirecting_to_a_private_address_is_refused(news: Site, service, target):
    url = news_feed(news, n=2)
    service.add_feed(url, "ns")
    news.extra["/news/rss/1.html"] = lambda h: send(h, 302, headers={"Location": target})
    (item,) = service.poll_feeds("ns").items
    assert (item.status, item.added, item.failed) == ("ok", 1, 1)
    assert "refused" in (item.error or "") and target.split("/")[2] in (item.error or "")
    news.extra["/feeds/rss"] = lambda h: send(h, 301, headers={"Location": target})
    (item,) = service.poll_feeds("ns", force=True).items
    assert item.status == "failed" and "refused" in (item.error or "")
    with pytest.raises(BlockedURL):  # and a feed at such an address is refused when added
        service.add_feed(target, "ns")


def test_a_50_mb_feed_is_refused_without_reading_it_all(news: Site, service):
    """The size bound (max_file_bytes, 20 MB) stops the download: the server could not even
    write the whole 50 MB (streamed without a Content-Length)."""
    url = news_feed(news)
    service.add_feed(url, "ns")
    written = []

    def huge(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.end_headers()
        chunk = b"<!-- padding -->" * 65536  # 1 MiB
        sent = 0
        try:
            h.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>')
            for _ in range(50):
                h.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
        written.append(sent)

    news.extra["/feeds/rss"] = huge
    started = time.perf_counter()
    (item,) = service.poll_feeds("ns").items
    assert item.status == "failed" and "larger than the limit" in (item.error or "")
    assert time.perf_counter() - started < 10
    deadline = time.time() + 5
    while not written and time.time() < deadline:
        time.sleep(0.05)
    assert written and written[0] < 40 * 1024 * 1024

    # Declared as 50 MB: refused before any of it is read.
    def declared(h):
        h.send_response(200)
        h.send_header("Content-Length", "52428800")
        h.end_headers()
        h.wfile.write(b"<rss>")

    news.extra["/feeds/rss"] = declared
    (item,) = service.poll_feeds("ns", force=True).items
    assert "52,428,800 bytes is over the limit" in (item.error or "")


def test_entries_per_poll_and_the_quota_bound_a_poll(news: Site, make_settings):
    svc = CitebotService.from_settings(
        make_settings(url_allowlist=["127.0.0.1"], feed_max_entries_per_poll=2), embedder=HashingEmbedder()
    )
    url = news_feed(news, n=5)
    svc.add_feed(url, "ns")
    assert svc.poll_feeds("ns").items[0].added == 2
    # The rest come with the next polls (the feed's validators were not kept, so no 304 hides them).
    assert svc.poll_feeds("ns", force=True).items[0].added == 2
    assert svc.poll_feeds("ns", force=True).items[0].added == 1
    assert len(svc.sources("ns")) == 5
    other = news_feed(news, "more", n=3)
    svc.add_feed(other, "ns")
    report = svc.poll_feeds("ns", force=True, quota=Quota(max_documents=6))
    item = {i.url: i for i in report.items}[other]
    assert item.status == "failed" and item.added == 1 and (item.error or "").startswith("quota: ")
    assert len(svc.sources("ns")) == 6
    state = {f.url: f for f in svc.feeds("ns")}[other].state
    assert state.failures == 1 and "limit is 6" in (state.last_error or "")


def test_a_poll_stops_starting_fetches_at_its_time_bound(news: Site, make_settings):
    svc = CitebotService.from_settings(
        make_settings(url_allowlist=["127.0.0.1"], feed_poll_max_seconds=1.0), embedder=HashingEmbedder()
    )
    first = news_feed(news, "first", n=2)
    svc.add_feed(first, "ns")
    svc.add_feed(news_feed(news, "second", n=2), "ns")

    def slow(h):
        time.sleep(1.5)
        send(h, 200, *news.pages["/news/first/0.html"][::-1])

    news.extra["/news/first/0.html"] = slow
    report = svc.poll_feeds("ns")
    assert report.seconds < 4
    assert [i.status for i in report.items] == ["ok", "deferred"]
    assert svc.poll_feeds("ns").items[0].status == "ok"  # the deferred one is still due, and goes first


def test_an_entry_without_a_link_is_ingested_from_its_summary(news: Site, service):
    feed = FeedDoc("rss", "Briefs", [Item("b1", "Brief", "", summary="<p>" + " ".join(PARAGRAPHS) + "</p>")])
    news.feeds["briefs"] = feed
    service.add_feed(news.url("/feeds/briefs"), "ns")
    assert service.poll_feeds("ns").items[0].added == 1
    (doc,) = service.sources("ns")
    assert doc.title == "Brief" and "ferry terminal" in (service.catalog.text("ns", doc.id) or "")


def test_feeds_are_per_namespace_and_survive_a_restart(news: Site, make_settings):
    settings = make_settings(url_allowlist=["127.0.0.1"])
    svc = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    url = news_feed(news)
    feed = svc.add_feed(url, "a")
    with pytest.raises(CitebotError, match="already subscribed"):
        svc.add_feed(url, "a")
    assert svc.feeds("b") == []
    with pytest.raises(NotFound):
        svc.remove_feed(feed.id, "b")
    assert svc.poll_feeds("b").items == ()
    svc.poll_feeds("a")
    again = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    (kept,) = again.feeds("a")
    assert (kept.id, kept.url, kept.entries) == (feed.id, url, 3)
    news.feeds["rss"].version += 1
    news.feeds["rss"].title = "Renamed"  # a new ETag: the feed is read, its entries are known
    (item,) = again.poll_feeds(every_namespace=True, force=True).items
    assert (item.added, item.unchanged) == (0, 0) and news.requests("/news/rss/0.html") == 1
    assert again.remove_feed(url, "a").id == feed.id and again.feeds("a") == []
    assert len(again.sources("a")) == 3  # its articles stay


def test_adding_something_that_is_not_a_feed_is_a_clear_error(news: Site, service):
    add_article(news, "/page.html", "T", "x")
    with pytest.raises(FeedError, match="not an RSS or Atom feed"):
        service.add_feed(news.url("/page.html"), "ns")
    with pytest.raises(CitebotError, match="HTTP error 404"):
        service.add_feed(news.url("/feeds/none"), "ns")
    assert service.feeds("ns") == []


def test_entries_that_left_the_feed_long_ago_are_forgotten(news: Site, service):
    url = news_feed(news, n=3)
    feed = service.add_feed(url, "ns")
    service.poll_feeds("ns")
    news.feeds["rss"].items.pop()  # out of the feed's window
    service.poll_feeds("ns", force=True)
    assert len(service.catalog.feed_entries("ns", feed.id)) == 3  # recently recorded: kept
    service.poller.clock = lambda: time.time() + 91 * 86400
    news.feeds["rss"].title = "The Gazette, renamed"  # changed (not a 304): its entries are read
    service.poll_feeds("ns", force=True)
    assert set(service.catalog.feed_entries("ns", feed.id)) == {"rss-0", "rss-1"}
    assert len(service.sources("ns")) == 3  # the article itself stays
