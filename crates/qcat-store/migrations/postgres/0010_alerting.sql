-- Alerting (issue #13): what the alerting duty and the window share.
-- alert_rules: each rule's definition (JSON), audited saves against the version seen.
CREATE TABLE alert_rules (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
-- alert_routing: the one routing configuration (alertmanager.yml, credentials as
-- secret:NAME), versioned.
CREATE TABLE alert_routing (
    id BIGINT PRIMARY KEY,
    yaml TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
-- alert_silences: matchers (Alertmanager's list syntax), start/end, author and comment.
CREATE TABLE alert_silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_ms BIGINT NOT NULL,
    ends_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
-- alert_episodes: one row per firing of an alert (fingerprint and start), from a rule,
-- an event or Alertmanager's API; open while ends_ms is NULL or later than now.
CREATE TABLE alert_episodes (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    source TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    generator_url TEXT NOT NULL,
    starts_ms BIGINT NOT NULL,
    ends_ms BIGINT,
    updated_ms BIGINT NOT NULL,
    flapping BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX alert_episodes_fingerprint ON alert_episodes (fingerprint, starts_ms);
CREATE INDEX alert_episodes_updated ON alert_episodes (updated_ms);
-- alert_nflog: the last notification of each group to each receiver (what it said, the
-- fingerprints it told as firing, when, its sequence), written with the outbox rows it
-- queued: after a restart a group that says the same again within its repeat interval is
-- not sent twice, and an alert is told resolved only if it was told firing.
CREATE TABLE alert_nflog (
    receiver TEXT NOT NULL,
    group_key TEXT NOT NULL,
    digest TEXT NOT NULL,
    firing TEXT NOT NULL,
    seq BIGINT NOT NULL,
    notified_ms BIGINT NOT NULL,
    PRIMARY KEY (receiver, group_key)
);
