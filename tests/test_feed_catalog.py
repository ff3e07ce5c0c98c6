"""Feeds in the catalog (schema step NNNN_feeds), on both backends: a feed and its state round-trip, the
same feed twice is one row, entries are upserted and counted, and every namespace sees only
its own feeds; state is in the catalog, so another handle (a restarted process) sees it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from retrieval import migrations
from retrieval.feed_values import Feed, FeedEntryRecord, FeedState, feed_id
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.test_catalog_backends import _execute, _set_version, backend, catalog  # noqa: F401  (fixtures)

URL = "https://news.example/rss.xml"


def make_feed(namespace: str = "ns", url: str = URL, **state) -> Feed:
    return Feed(feed_id(url), namespace, url, "world", "123", 1000.0, FeedState(title="News", **state))


def entry(key: str, doc_id: str | None = "d1", fingerprint: str = "f1", failures: int = 0) -> FeedEntryRecord:
    error = None if doc_id else "x"
    return FeedEntryRecord(key, f"https://news.example/{key}", fingerprint, doc_id, error, failures, 5.0)


def test_a_feed_and_its_state_round_trip(catalog):  # noqa: F811
    feed = make_feed(next_poll_at=1000.0)
    assert catalog.add_feed(feed) is True
    assert catalog.add_feed(make_feed(next_poll_at=9.0)) is False  # the same URL: one row, unchanged
    assert catalog.feeds("ns") == [feed]
    state = FeedState("Renamed", '"e1"', "Tue, 14 Nov 2023 22:14:20 GMT", 2000.0, 1990.0, "HTTP error 500", 3, 4000.5)
    catalog.set_feed_state("ns", feed.id, state)
    (stored,) = catalog.feeds("ns")
    assert stored.state == state and stored.set_name == "world" and stored.announce == "123"
    assert catalog.generation("ns") == 0  # not a visible change


def test_entries_are_upserted_and_only_ingested_ones_counted(catalog):  # noqa: F811
    feed = make_feed()
    catalog.add_feed(feed)
    catalog.record_feed_entries("ns", feed.id, [entry("a"), entry("b", None, failures=1)])
    catalog.record_feed_entries("ns", feed.id, [entry("b", "d2", "f2")])
    entries = catalog.feed_entries("ns", feed.id)
    assert set(entries) == {"a", "b"}
    assert entries["b"] == entry("b", "d2", "f2")
    assert catalog.feeds("ns")[0].entries == 2
    catalog.record_feed_entries("ns", feed.id, [])  # nothing: no write


def test_feeds_are_per_namespace(catalog):  # noqa: F811
    a, b = make_feed("guild-a"), make_feed("guild-b", "https://other.example/feed")
    same_url_in_b = make_feed("guild-b")
    for feed in (a, b, same_url_in_b):
        assert catalog.add_feed(feed)
    catalog.record_feed_entries("guild-a", a.id, [entry("x")])
    assert [f.url for f in catalog.feeds("guild-a")] == [URL]
    assert {f.url for f in catalog.feeds("guild-b")} == {URL, "https://other.example/feed"}
    assert catalog.feed_entries("guild-b", a.id) == {}  # b's copy of the URL has none of a's entries
    assert catalog.remove_feed("guild-b", a.id) is True  # b's row, not a's
    assert catalog.feeds("guild-a")[0].entries == 1 and catalog.feed_entries("guild-a", a.id)
    assert catalog.remove_feed("guild-b", a.id) is False
    assert [f.namespace for f in catalog.feeds(None)] == ["guild-a", "guild-b"]
    assert catalog.remove_feed("guild-a", a.id) and catalog.feed_entries("guild-a", a.id) == {}


def test_another_handle_sees_the_feeds(backend):  # noqa: F811
    first = backend()
    feed = make_feed()
    first.add_feed(feed)
    first.record_feed_entries("ns", feed.id, [entry("a")])
    again = backend()
    assert again.feeds("ns") == [replace(feed, entries=1)]


def test_the_schema_before_feeds_steps_up_to_feeds(backend):  # noqa: F811
    """A catalog of the schema before feeds gets the feed tables on its next open."""
    backend()
    _execute(backend.name, backend.settings, "DROP TABLE feeds")
    _execute(backend.name, backend.settings, "DROP TABLE feed_entries")
    (feeds_step,) = [s.version for s in migrations.steps(backend.name) if s.name.endswith("_feeds.sql")]
    _set_version(backend.name, backend.settings, feeds_step - 1)
    reopened = backend()
    assert reopened.feeds("ns") == []
    assert reopened.add_feed(make_feed())


@pytest.mark.parametrize("name", ["sqlite", "postgresql"])
def test_both_backends_have_the_feeds_step(name):
    assert [s.name for s in migrations.steps(name) if s.name.endswith("_feeds.sql")]


def test_old_entries_gone_from_the_feed_are_pruned(catalog):  # noqa: F811
    feed = make_feed()
    catalog.add_feed(feed)
    old = [FeedEntryRecord(k, None, "f", "d", None, 0, 10.0) for k in ("listed", "gone")]
    catalog.record_feed_entries("ns", feed.id, [*old, FeedEntryRecord("recent", None, "f", "d", None, 0, 99.0)])
    other = make_feed("other")
    catalog.add_feed(other)
    catalog.record_feed_entries("other", other.id, old)
    assert catalog.prune_feed_entries("ns", feed.id, ["listed"], before=50.0) == 1
    assert set(catalog.feed_entries("ns", feed.id)) == {"listed", "recent"}
    assert set(catalog.feed_entries("other", other.id)) == {"listed", "gone"}  # another namespace: untouched
    assert catalog.prune_feed_entries("ns", feed.id, [], before=50.0) == 1
