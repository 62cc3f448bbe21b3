-- One row per profile whose assignments changed: every assignment write takes
-- this row's lock first, so concurrent writes that would together create a
-- collision are serialized by the database (also across replicas).
CREATE TABLE role_profile_locks (
    profile_id BLOB PRIMARY KEY,
    version INTEGER NOT NULL
);

-- Profiles holding a combination a WARN policy let through (R2.15, R1.15).
CREATE TABLE role_review_flags (
    profile_id BLOB PRIMARY KEY,
    reason TEXT NOT NULL,
    flagged_at TEXT NOT NULL
);

-- Role settings (R2.15, R1.15, X1, R4.7); absent keys take their defaults.
CREATE TABLE role_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
