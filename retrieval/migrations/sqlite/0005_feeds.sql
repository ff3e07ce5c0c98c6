-- Schema 4 (issue 13): subscribed feeds with their poll state (etag/last-modified for
-- conditional requests, the last error, consecutive failures, when the next poll is due),
-- and every entry a feed was seen with (so an ingested entry is not fetched again).
-- Per namespace, like everything else; not a visible change, so no generation bump.
CREATE TABLE IF NOT EXISTS feeds (
    namespace TEXT NOT NULL, feed_id TEXT NOT NULL, url TEXT NOT NULL, set_name TEXT, announce TEXT,
    added_at REAL NOT NULL, title TEXT, etag TEXT, last_modified TEXT, last_poll_at REAL, last_ok_at REAL,
    last_error TEXT, failures INTEGER NOT NULL DEFAULT 0, next_poll_at REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, feed_id));
CREATE TABLE IF NOT EXISTS feed_entries (
    namespace TEXT NOT NULL, feed_id TEXT NOT NULL, entry_key TEXT NOT NULL, link TEXT,
    fingerprint TEXT NOT NULL, doc_id TEXT, error TEXT, failures INTEGER NOT NULL DEFAULT 0,
    seen_at REAL NOT NULL, PRIMARY KEY (namespace, feed_id, entry_key));
