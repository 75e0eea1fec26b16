-- Roles with inheritance and users (issue #4). Append-only: change the schema in a new file.
CREATE TABLE roles (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    -- Booleans are BIGINT 0/1 in every table: sqlx's Any driver cannot decode SQLite BOOLEAN.
    builtin BIGINT NOT NULL DEFAULT 0,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE role_grants (
    role TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    pattern TEXT NOT NULL,
    PRIMARY KEY (role, pattern)
);

CREATE TABLE role_parents (
    role TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    parent TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    PRIMARY KEY (role, parent)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at_ms BIGINT NOT NULL,
    last_login_ms BIGINT
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role)
);
