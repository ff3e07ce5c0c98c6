-- Schema 6 (document sets): which named sets each document belongs to (none: "unfiled",
-- visible to all), and the roles a restricted set is visible to (no row: unrestricted).
-- Per namespace; memberships go with their document (a forget removes them).
CREATE TABLE IF NOT EXISTS document_sets (
    namespace TEXT NOT NULL, doc_id TEXT NOT NULL, set_name TEXT NOT NULL,
    PRIMARY KEY (namespace, doc_id, set_name));
CREATE INDEX IF NOT EXISTS document_sets_by_set ON document_sets (namespace, set_name);
CREATE TABLE IF NOT EXISTS set_roles (
    namespace TEXT NOT NULL, set_name TEXT NOT NULL, role_id TEXT NOT NULL,
    PRIMARY KEY (namespace, set_name, role_id));
