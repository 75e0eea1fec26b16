-- Monitoring targets (issue #10): the connection profiles defined in the window or with
-- `qcatctl target add`, and each target's health as last seen by the collecting process.

CREATE TABLE monitor_targets (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    -- '' or `secret:NAME` or `ENC:v1:…` (bound to monitor.targets.<name>.password); never
    -- plaintext.
    password TEXT NOT NULL DEFAULT '',
    environment TEXT NOT NULL,
    interval_ms BIGINT NOT NULL,
    timeout_ms BIGINT NOT NULL,
    -- Kind-specific settings as JSON (the Prometheus server's named queries…).
    options TEXT NOT NULL DEFAULT '{}',
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);

-- Written when a target's state changes (up ↔ down, another error), not per scrape.
CREATE TABLE monitor_target_health (
    name TEXT PRIMARY KEY,
    up BIGINT NOT NULL,
    since_ms BIGINT NOT NULL,
    error_kind TEXT,
    error TEXT,
    checked_ms BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    samples BIGINT NOT NULL,
    -- What the last reading carried besides series, as JSON (PostgreSQL's top statements).
    detail TEXT
);
