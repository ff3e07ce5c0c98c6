-- Schema 1: the catalog as first shipped (IF NOT EXISTS: data dirs made before numbered
-- migrations already hold these tables and record version 1).
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (namespace TEXT PRIMARY KEY, generation INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS documents (
    namespace TEXT NOT NULL, doc_id TEXT NOT NULL, source TEXT NOT NULL, title TEXT NOT NULL,
    url TEXT, author TEXT, published TEXT, media_type TEXT NOT NULL, content_hash TEXT NOT NULL,
    text TEXT NOT NULL, chars INTEGER NOT NULL, bytes INTEGER NOT NULL, chunks INTEGER NOT NULL,
    ingested_at REAL NOT NULL, PRIMARY KEY (namespace, doc_id));
CREATE INDEX IF NOT EXISTS documents_by_source ON documents (namespace, source);
CREATE TABLE IF NOT EXISTS chunks (
    namespace TEXT NOT NULL, doc_id TEXT NOT NULL, idx INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, paragraph INTEGER NOT NULL,
    PRIMARY KEY (namespace, doc_id, idx));
CREATE TABLE IF NOT EXISTS sentences (
    namespace TEXT NOT NULL, doc_id TEXT NOT NULL, idx INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, paragraph INTEGER NOT NULL, vector BLOB,
    terms TEXT, PRIMARY KEY (namespace, doc_id, idx));
-- A question reads only its candidate chunks' sentences: a range seek by position.
CREATE INDEX IF NOT EXISTS sentences_by_start ON sentences (namespace, doc_id, start);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL, op TEXT NOT NULL,
    doc_id TEXT NOT NULL, chunks INTEGER NOT NULL, stale TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ingest_events (namespace TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL, user_id TEXT NOT NULL,
    question TEXT NOT NULL, answer TEXT NOT NULL, citations TEXT NOT NULL, vote INTEGER NOT NULL,
    created_at REAL NOT NULL);
