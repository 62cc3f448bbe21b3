CREATE TABLE roles (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('seed', 'doc', 'custom')),
    created_at TEXT NOT NULL
);

CREATE TABLE role_contains (
    parent TEXT NOT NULL REFERENCES roles (name),
    child TEXT NOT NULL REFERENCES roles (name),
    suspect BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (parent, child)
);
CREATE INDEX role_contains_child ON role_contains (child);

CREATE TABLE role_aliases (
    alias TEXT PRIMARY KEY,
    role TEXT NOT NULL REFERENCES roles (name)
);

CREATE TABLE role_assignments (
    id BLOB PRIMARY KEY,
    profile_id BLOB NOT NULL,
    role TEXT NOT NULL REFERENCES roles (name),
    created_at TEXT NOT NULL,
    UNIQUE (profile_id, role)
);
