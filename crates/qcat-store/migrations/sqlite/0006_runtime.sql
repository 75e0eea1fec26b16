-- The runtime shared by consoles and agents (issue #9).

-- Every long-running process (console, agent) and every one-shot run that starts a job,
-- with a heartbeat: jobs of a member whose heartbeat stopped are marked interrupted.
CREATE TABLE runtime_members (
    id TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    version TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    stopped_ms BIGINT,
    -- The member's task health as JSON, written with each heartbeat (for `qcatctl status`).
    tasks TEXT NOT NULL DEFAULT '[]'
);

-- One row per singleton duty: who holds it, until when (the store's clock), and the fencing
-- token that grows by one with every new holder; a duty's writes check it.
CREATE TABLE duty_leases (
    duty TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token BIGINT NOT NULL,
    acquired_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);

-- Long actions with progress, visible to every console and agent on the store.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    actor TEXT NOT NULL,
    member TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    ended_ms BIGINT,
    done BIGINT NOT NULL DEFAULT 0,
    total BIGINT,
    unit TEXT NOT NULL DEFAULT '',
    phase TEXT NOT NULL DEFAULT '',
    result TEXT,
    error TEXT
);
CREATE INDEX jobs_by_start ON jobs (started_ms);
CREATE INDEX jobs_by_state ON jobs (state);

-- Schedules as configured, and their last and next runs (written by the scheduler duty).
CREATE TABLE schedules (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    jitter_ms BIGINT NOT NULL,
    missed TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    last_regular_ms BIGINT,
    last_started_ms BIGINT,
    last_ended_ms BIGINT,
    last_result TEXT,
    last_error TEXT,
    last_token BIGINT,
    next_ms BIGINT
);
