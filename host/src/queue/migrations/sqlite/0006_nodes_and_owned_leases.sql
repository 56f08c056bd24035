-- Several gateways on one store. Each lease names the gateway holding it (its node id, new at
-- every start), so a gateway renews all of its leases with one statement per table, and
-- commits a row's outcome only while it still holds the row: a gateway that froze past its
-- lease finds the row taken by another and writes nothing. leased_at_ms bounds renewal, so a
-- row whose work was lost in a live gateway still comes back. NULL/0 when nobody holds it.
ALTER TABLE events ADD COLUMN lease_owner TEXT;
ALTER TABLE events ADD COLUMN leased_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
ALTER TABLE deliveries ADD COLUMN leased_at_ms INTEGER NOT NULL DEFAULT 0;
-- The rows in flight by holder, for renewal rounds, hand-backs and the node list: as small as
-- the work in flight.
CREATE INDEX IF NOT EXISTS events_leased ON events (lease_owner) WHERE lease_until_ms > 0;
CREATE INDEX IF NOT EXISTS deliveries_leased ON deliveries (lease_owner) WHERE lease_until_ms > 0;

-- The W3C traceparent of the event's trace, so every gateway that works on the event or its
-- deliveries continues the same trace. NULL when the ingesting gateway exports no traces.
ALTER TABLE events ADD COLUMN trace TEXT;
ALTER TABLE deliveries ADD COLUMN trace TEXT;

-- The gateways sharing this store, each writing its heartbeat while it runs.
CREATE TABLE IF NOT EXISTS nodes (
    id              TEXT PRIMARY KEY,
    host            TEXT NOT NULL,
    version         TEXT NOT NULL,
    started_at_ms   INTEGER NOT NULL,
    heartbeat_ms    INTEGER NOT NULL,
    stopped_at_ms   INTEGER                    -- set when it stopped cleanly
);
