-- Alerting history by time: the delivery log, the "notifications failing" event and the
-- hourly pruning read the outbox by creation time; the history reads episodes by start.
CREATE INDEX alert_outbox_created ON alert_outbox (created_ms);
CREATE INDEX alert_episodes_starts ON alert_episodes (starts_ms);
