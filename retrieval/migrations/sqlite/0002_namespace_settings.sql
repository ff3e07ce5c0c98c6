-- Schema 2: settings a namespace overrides (e.g. a server's answer mode), one row per key;
-- no row = the global default from the settings.
CREATE TABLE IF NOT EXISTS namespace_settings (
    namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (namespace, key));
