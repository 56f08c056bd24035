-- Derived events (plugin emits) know the webhook they descend from, and a webhook's row counts
-- the derived events written under it, so one webhook cannot set off more than max_emits.
ALTER TABLE events ADD COLUMN root_id TEXT;
ALTER TABLE events ADD COLUMN emits INTEGER NOT NULL DEFAULT 0;

-- One row rewritten by a readiness probe while the store is failing: a commit that changed it
-- proves the store writes again (a commit that changed nothing proves nothing on a full disk).
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);
