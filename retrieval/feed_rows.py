"""How feeds lie in the catalog's tables (``migrations/*/0004_feeds.sql``): the columns and
row shapes both backends share (this SQL has no placeholders, so it is the same on both)."""

from __future__ import annotations

from collections.abc import Sequence

from retrieval.feed_values import Feed, FeedEntryRecord, FeedState

FEED_COLUMNS = (
    "namespace, feed_id, url, set_name, announce, added_at, title, etag, last_modified, last_poll_at, "
    "last_ok_at, last_error, failures, next_poll_at"
)
FEEDS_QUERY = (
    "SELECT f.namespace, f.feed_id, f.url, f.set_name, f.announce, f.added_at, f.title, f.etag, f.last_modified, "
    "f.last_poll_at, f.last_ok_at, f.last_error, f.failures, f.next_poll_at, "
    "(SELECT COUNT(*) FROM feed_entries e WHERE e.namespace = f.namespace AND e.feed_id = f.feed_id "
    "AND e.doc_id IS NOT NULL) FROM feeds f"
)
ENTRY_COLUMNS = "entry_key, link, fingerprint, doc_id, error, failures, seen_at"


def feed_from_row(r: Sequence) -> Feed:
    state = FeedState(r[6], r[7], r[8], r[9], r[10], r[11], int(r[12]), float(r[13]))
    return Feed(r[1], r[0], r[2], r[3], r[4], float(r[5]), state, int(r[14]))


def state_values(s: FeedState) -> tuple:
    return (s.title, s.etag, s.last_modified, s.last_poll_at, s.last_ok_at, s.last_error, s.failures, s.next_poll_at)


def entry_values(e: FeedEntryRecord) -> tuple:
    return (e.key, e.link, e.fingerprint, e.doc_id, e.error, e.failures, e.seen_at)


def feed_values(f: Feed) -> tuple:
    """The values of FEED_COLUMNS, in order."""
    return (f.namespace, f.id, f.url, f.set_name, f.announce, f.added_at, *state_values(f.state))
