-- Alerting (issue #13): the durable outbox. Every notification an integration of a
-- receiver must get is a row, enqueued once by its key; the process leading delivery claims
-- due rows for an attempt (claimed_until_ms: a sender that died mid-attempt leaves the row
-- to be claimed again once it passes), then marks them sent, reschedules them with the
-- error, or makes them dead letters. Unsent rows are never deleted.
CREATE TABLE alert_outbox (
    key TEXT PRIMARY KEY,
    receiver TEXT NOT NULL,
    integration TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    due_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    claimed_until_ms BIGINT,
    sent_ms BIGINT,
    last_error TEXT
);
CREATE INDEX alert_outbox_due ON alert_outbox (state, due_ms);
