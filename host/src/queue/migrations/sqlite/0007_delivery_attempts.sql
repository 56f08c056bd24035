-- Every attempt of every delivery, for the console's event page: when it ended, how long it
-- took, the destination's status, what was decided, the error and when the next one is due.
-- Written in the transaction that records the attempt's outcome; pruned with its delivery.
-- Numbered 0007 (0006 is the node list's); both are idempotent, so their order does not matter.
CREATE TABLE IF NOT EXISTS delivery_attempts (
    id              INTEGER PRIMARY KEY,
    delivery_id     TEXT NOT NULL,
    attempt         INTEGER NOT NULL,        -- 1-based; a replay of a dead letter starts again at 1
    at_ms           INTEGER NOT NULL,        -- when the outcome was recorded
    duration_ms     INTEGER,                 -- NULL when nothing was sent (the destination is gone)
    status          INTEGER,                 -- the HTTP status, NULL without an answer
    outcome         TEXT NOT NULL,           -- delivered | retry | dead
    error           TEXT,
    next_at_ms      INTEGER                  -- when the next attempt is due (outcome retry)
);
CREATE INDEX IF NOT EXISTS delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
