-- Plugins' key–value state: one namespace per plugin. A row with expires_at_ms > 0 is gone once
-- that time has passed (reads skip it, prune deletes it). Written in the transaction that
-- records the outcome of the event whose plugin call made the change. Keys compare byte by
-- byte (COLLATE "C"), as on SQLite, whatever the database's locale.
CREATE TABLE IF NOT EXISTS kv (
    plugin          TEXT NOT NULL,
    key             TEXT COLLATE "C" NOT NULL,
    value           BYTEA NOT NULL,
    expires_at_ms   BIGINT NOT NULL DEFAULT 0,
    updated_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (plugin, key)
);
CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at_ms) WHERE expires_at_ms > 0;
