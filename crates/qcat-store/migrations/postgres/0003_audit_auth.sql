-- The hash-chained audit log, sign-in throttling and change counters (issue #4).
-- Append-only: change the schema in a new file.

-- One row per audited event. `hash` = SHA-256 over the entry's fields and `prev_hash`
-- (see qcat-audit's chain module), so changing, deleting or reordering a row breaks the chain.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_ms);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);

-- The chain's head: locked by every append so writers from several processes serialize.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Where retention cut the chain: entries up to `seq` were pruned; `hash` is the last
-- pruned entry's hash, which the first kept entry's prev_hash must equal.
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    pruned BIGINT NOT NULL
);

-- Failed sign-ins per subject ("user:NAME" or "source:WHERE").
CREATE TABLE login_throttle (
    subject TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start_ms BIGINT NOT NULL,
    locked_until_ms BIGINT NOT NULL,
    lockouts BIGINT NOT NULL
);

-- A counter per topic, bumped in the transaction that changes it; other processes watch it
-- (PostgreSQL also sends NOTIFY on the topic's channel).
CREATE TABLE change_counters (
    topic TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
