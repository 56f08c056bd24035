-- Delivery control: ordered keys, paused destinations, replayed events.

-- Ordered deliveries: those of one route to one destination sharing order_key form a lane, and
-- go out one at a time in seq order (their events' acceptance order). Only a lane's head is
-- 'pending'; the rest are 'waiting' until it is delivered or dead. seq comes from counters.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS order_key TEXT;
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS seq BIGINT;
CREATE INDEX IF NOT EXISTS deliveries_lanes ON deliveries (route, order_key, destination, seq)
    WHERE order_key IS NOT NULL AND state IN ('waiting', 'pending', 'paused');

-- An accepted event that may yet produce ordered deliveries holds its place in their lanes
-- (route, key) from its append until its dispatch of that route ends: a later event's
-- deliveries wait behind it. events.held says the event has holds (dispatch skips the lookup
-- otherwise).
CREATE TABLE IF NOT EXISTS order_holds (
    route           TEXT NOT NULL,
    order_key       TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    event_id        TEXT NOT NULL,
    PRIMARY KEY (route, order_key, seq)
);
CREATE INDEX IF NOT EXISTS order_holds_event ON order_holds (event_id);
ALTER TABLE events ADD COLUMN IF NOT EXISTS held INTEGER NOT NULL DEFAULT 0;

-- Named counters. Taking a value locks its row until the commit, which also makes every
-- transaction that touches lanes run one at a time across gateways.
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);

-- Paused destinations (by the breaker after failures, or by an operator): their deliveries are
-- parked as 'paused', keeping their attempts, until a probe succeeds or an operator resumes.
CREATE TABLE IF NOT EXISTS destination_pauses (
    destination     TEXT PRIMARY KEY,
    paused_by       TEXT NOT NULL,           -- breaker | operator
    reason          TEXT NOT NULL,
    since_ms        BIGINT NOT NULL,
    probe_at_ms     BIGINT                     -- next probe (breaker pauses only)
);
CREATE INDEX IF NOT EXISTS deliveries_paused ON deliveries (destination, due_at_ms) WHERE state = 'paused';

-- How many times an event was replayed: its deliveries from a replay get new ids.
ALTER TABLE events ADD COLUMN IF NOT EXISTS replays INTEGER NOT NULL DEFAULT 0;
