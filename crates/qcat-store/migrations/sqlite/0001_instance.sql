-- One row describing this store: which installation created it, and when.
-- Append-only: never edit a migration that has shipped; add a new file.
CREATE TABLE instance (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    installation_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
