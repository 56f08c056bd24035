-- What the plugins logged while handling an event, for the console's event page: a JSON array
-- of {route, plugin, level, message}, from the last try that logged anything (each call keeps
-- its first lines, each cut; see plugin/kept_log.rs). NULL when no plugin logged.
ALTER TABLE events ADD COLUMN plugin_log TEXT;
