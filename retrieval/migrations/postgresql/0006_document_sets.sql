-- Schema 6 (document sets): the same tables and meaning as sqlite/0006_document_sets.sql.
CREATE TABLE IF NOT EXISTS document_sets (
    namespace TEXT COLLATE "C" NOT NULL, doc_id TEXT COLLATE "C" NOT NULL, set_name TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, doc_id, set_name));
CREATE INDEX IF NOT EXISTS document_sets_by_set ON document_sets (namespace, set_name);
CREATE TABLE IF NOT EXISTS set_roles (
    namespace TEXT COLLATE "C" NOT NULL, set_name TEXT COLLATE "C" NOT NULL, role_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, set_name, role_id));
