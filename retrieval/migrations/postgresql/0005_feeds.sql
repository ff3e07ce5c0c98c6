-- Schema 4 (issue 13): the same tables and meaning as sqlite/0004_feeds.sql (IF NOT EXISTS, as
-- there: a catalog whose recorded version was set back still has them).
CREATE TABLE IF NOT EXISTS feeds (
    namespace TEXT COLLATE "C" NOT NULL, feed_id TEXT COLLATE "C" NOT NULL, url TEXT NOT NULL, set_name TEXT,
    announce TEXT, added_at DOUBLE PRECISION NOT NULL, title TEXT, etag TEXT, last_modified TEXT,
    last_poll_at DOUBLE PRECISION, last_ok_at DOUBLE PRECISION, last_error TEXT,
    failures INTEGER NOT NULL DEFAULT 0, next_poll_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, feed_id));
CREATE TABLE IF NOT EXISTS feed_entries (
    namespace TEXT COLLATE "C" NOT NULL, feed_id TEXT COLLATE "C" NOT NULL, entry_key TEXT COLLATE "C" NOT NULL,
    link TEXT, fingerprint TEXT NOT NULL, doc_id TEXT, error TEXT, failures INTEGER NOT NULL DEFAULT 0,
    seen_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (namespace, feed_id, entry_key));
