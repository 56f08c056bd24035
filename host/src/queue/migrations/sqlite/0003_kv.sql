-- Plugins' key–value state: one namespace per plugin. A row with expires_at_ms > 0 is gone once
-- that time has passed (reads skip it, prune deletes it). Written in the transaction that
-- records the outcome of the event whose plugin call made the change.
CREATE TABLE IF NOT EXISTS kv (
    plugin          TEXT NOT NULL,
    key             TEXT NOT NULL,
    value           BLOB NOT NULL,
    expires_at_ms   INTEGER NOT NULL DEFAULT 0,
    updated_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (plugin, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at_ms) WHERE expires_at_ms > 0;
