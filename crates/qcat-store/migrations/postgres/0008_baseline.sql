-- Performance baselines (issue #12).

-- A period captured as a summary ("before release 1.4") that later periods are compared
-- with: per series its minute statistics, hourly profile and 10-minute block means (JSON).
CREATE TABLE baseline_named (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    from_ms BIGINT NOT NULL,
    until_ms BIGINT NOT NULL,
    selectors TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    summary TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Periods marked as an incident or maintenance: the learned baselines learn nothing from
-- them and raise nothing in them. `series` is a selector, or '' for every series.
CREATE TABLE baseline_marks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    from_ms BIGINT NOT NULL,
    until_ms BIGINT NOT NULL,
    series TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX baseline_marks_by_until ON baseline_marks (until_ms);

-- Deviation events raised by the live baselines, one per series and start; end_ms is NULL
-- while the deviation lasts. Written by the process leading the baselines duty.
CREATE TABLE baseline_events (
    series TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    raised_ms BIGINT NOT NULL,
    end_ms BIGINT,
    peak_score DOUBLE PRECISION NOT NULL,
    direction TEXT NOT NULL,
    PRIMARY KEY (series, start_ms)
);
CREATE INDEX baseline_events_by_start ON baseline_events (start_ms);

-- Each learned series' state as the baselines duty last saw it (learning share, expected
-- value and score), so every console shows it whoever leads.
CREATE TABLE baseline_series (
    series TEXT PRIMARY KEY,
    learning DOUBLE PRECISION NOT NULL,
    level TEXT,
    last_ms BIGINT,
    value DOUBLE PRECISION,
    expected DOUBLE PRECISION,
    scale DOUBLE PRECISION,
    score DOUBLE PRECISION,
    updated_ms BIGINT NOT NULL
);
