-- Schema 2: the same table and meaning as sqlite/0002_namespace_settings.sql.
CREATE TABLE namespace_settings (
    namespace TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (namespace, key));
