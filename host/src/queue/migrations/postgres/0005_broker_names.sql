-- Broker destinations name each message from its event (`{source}`, `{scope}`, the route's
-- params): a delivery to one keeps those names, as JSON, so every attempt renders the
-- destination's template as the config has it then. NULL for HTTP deliveries.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS vars TEXT;
