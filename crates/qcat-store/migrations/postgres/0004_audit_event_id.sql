-- Audit events queued through the local spool carry an id, so a spool replayed after a
-- crash stores each event once (issue #4). Not covered by the entry hash: bookkeeping only.
ALTER TABLE audit_log ADD COLUMN event_id TEXT;
CREATE UNIQUE INDEX audit_log_event_id ON audit_log (event_id);
