-- Switchyard's embedded schema, first step. Every statement is idempotent, so a database made
-- before steps were counted takes it as a no-op and goes on to the next.
-- Times are milliseconds since the Unix epoch. A row is leased while lease_until_ms > now.

CREATE TABLE IF NOT EXISTS events (
    id              TEXT PRIMARY KEY,
    source          TEXT NOT NULL,
    scope           TEXT NOT NULL,
    headers         TEXT NOT NULL,           -- JSON [[name, value], …]
    body            BLOB NOT NULL,
    received_at_ms  INTEGER NOT NULL,
    depth           INTEGER NOT NULL DEFAULT 0,
    state           TEXT NOT NULL,           -- pending | done | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_at_ms       INTEGER NOT NULL,
    lease_until_ms  INTEGER NOT NULL DEFAULT 0,
    routes_done     TEXT NOT NULL DEFAULT '[]',  -- JSON [route name, …] finished in earlier tries
    last_error      TEXT,
    updated_at_ms   INTEGER NOT NULL
);
-- Only the rows waiting or in flight are indexed for the lease query, so this index stays as
-- small as the backlog however long the history kept; dead rows, rarely written, for the DLQ.
DROP INDEX IF EXISTS events_due;
CREATE INDEX IF NOT EXISTS events_pending ON events (due_at_ms) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS events_dead ON events (updated_at_ms) WHERE state = 'dead';

CREATE TABLE IF NOT EXISTS deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    route           TEXT NOT NULL,
    destination     TEXT NOT NULL,
    body            BLOB NOT NULL,
    headers         TEXT NOT NULL,
    state           TEXT NOT NULL,           -- pending | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_at_ms       INTEGER NOT NULL,
    lease_until_ms  INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
-- Only the rows waiting or in flight are indexed for the lease query, so this index stays as
-- small as the backlog however long the history kept; dead rows, rarely written, for the DLQ.
DROP INDEX IF EXISTS deliveries_due;
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (due_at_ms) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_dead ON deliveries (updated_at_ms) WHERE state = 'dead';
CREATE INDEX IF NOT EXISTS deliveries_event ON deliveries (event_id);

-- Dedup keys of stored events: while expires_at_ms > now, an append with the same key is a
-- duplicate of event_id. Written in the event's own transaction; prune deletes expired keys.
CREATE TABLE IF NOT EXISTS dedup (
    key             BLOB PRIMARY KEY,        -- 32-byte fingerprint of source + provider id or body hash
    event_id        TEXT NOT NULL,
    expires_at_ms   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedup_expiry ON dedup (expires_at_ms);
