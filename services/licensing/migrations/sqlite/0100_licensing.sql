-- Licensing (SPEC §7). Instants are INTEGER microseconds since the Unix epoch:
-- deadlines are compared in SQL, and integers compare the same on both backends.

-- Concurrent licence pools (R7.1, R7.3, R7.5, R7.7, R7.8). seats_used is the
-- number of people holding a seat; it only changes through guarded updates
-- (seats_used < seat_count), so a pool never has more holders than seats.
CREATE TABLE license_pools (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    seat_count INTEGER NOT NULL,
    seats_used INTEGER NOT NULL DEFAULT 0,
    license_expiration_date TEXT NOT NULL DEFAULT '',
    time_zone TEXT NOT NULL DEFAULT '',
    license_expires_at INTEGER,
    idle_timeout_minutes INTEGER NOT NULL,
    browser_idle_timeout_minutes INTEGER NOT NULL,
    inactivity_warning_minutes INTEGER NOT NULL,
    auto_release_after_minutes INTEGER NOT NULL,
    portal_license_on INTEGER NOT NULL,
    consuming_channels TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per person holding a seat of a pool (R7.2: one person, one seat).
CREATE TABLE license_seats (
    pool_id BLOB NOT NULL REFERENCES license_pools (id),
    login_id BLOB NOT NULL,
    source INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL,
    session_count INTEGER NOT NULL,
    PRIMARY KEY (pool_id, login_id)
);
CREATE INDEX license_seats_by_acquired ON license_seats (pool_id, acquired_at, login_id);

CREATE TABLE license_sessions (
    id BLOB PRIMARY KEY,
    pool_id BLOB NOT NULL REFERENCES license_pools (id),
    login_id BLOB NOT NULL,
    profile_id BLOB NOT NULL,
    principal_kind INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    seat_held BOOLEAN NOT NULL,
    seat_source INTEGER NOT NULL,
    seat_acquired_at INTEGER,
    started_at INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    last_heartbeat_at INTEGER NOT NULL,
    idle_deadline INTEGER,
    unresponsive_deadline INTEGER,
    ended_at INTEGER,
    end_reason INTEGER NOT NULL
);
CREATE INDEX license_sessions_by_pool ON license_sessions (pool_id, id);
CREATE INDEX license_sessions_by_login ON license_sessions (login_id, id);
CREATE INDEX license_sessions_by_profile ON license_sessions (profile_id, id);
CREATE INDEX license_sessions_idle ON license_sessions (idle_deadline) WHERE state = 1;
CREATE INDEX license_sessions_unresponsive ON license_sessions (unresponsive_deadline) WHERE state = 1;
CREATE INDEX license_sessions_holding ON license_sessions (pool_id, login_id) WHERE state = 1 AND seat_held;

-- Seats in use after every change, for peak usage (R7.1).
CREATE TABLE license_usage_events (
    id BLOB PRIMARY KEY,
    pool_id BLOB NOT NULL,
    at INTEGER NOT NULL,
    seats_in_use INTEGER NOT NULL
);
CREATE INDEX license_usage_events_by_pool ON license_usage_events (pool_id, at, id);

-- Every refused seat (R7.1, R7.6, R7.8, R7.11).
CREATE TABLE license_denials (
    id BLOB PRIMARY KEY,
    reason INTEGER NOT NULL,
    pool_id BLOB,
    seat_plan_id BLOB,
    session_id BLOB,
    login_id BLOB,
    profile_id BLOB,
    channel INTEGER NOT NULL,
    access INTEGER NOT NULL,
    record_type TEXT NOT NULL,
    record_id TEXT NOT NULL,
    occurred_at INTEGER NOT NULL
);
CREATE INDEX license_denials_by_time ON license_denials (occurred_at);

-- The customer right "can request a licence" (R7.6): to one profile or one security group.
CREATE TABLE license_right_grants (
    id BLOB PRIMARY KEY,
    profile_id BLOB,
    security_group_id BLOB,
    granted_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX license_right_grants_profile ON license_right_grants (profile_id) WHERE profile_id IS NOT NULL;
CREATE UNIQUE INDEX license_right_grants_group ON license_right_grants (security_group_id) WHERE security_group_id IS NOT NULL;

-- Named seats (R7.9-R7.13, R4.21). seats_used moves only through guarded updates.
CREATE TABLE seat_plans (
    id BLOB PRIMARY KEY,
    product INTEGER NOT NULL UNIQUE,
    seat_limit INTEGER NOT NULL,
    seats_used INTEGER NOT NULL DEFAULT 0,
    license_valid_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE agent_seats (
    id BLOB PRIMARY KEY,
    seat_plan_id BLOB NOT NULL REFERENCES seat_plans (id),
    profile_id BLOB NOT NULL,
    kind INTEGER NOT NULL,
    granted_at INTEGER NOT NULL,
    UNIQUE (seat_plan_id, profile_id)
);
CREATE INDEX agent_seats_by_profile ON agent_seats (profile_id);

-- One row whose no-op update makes SQLite take its write lock at the start
-- of a read-then-write transaction (PostgreSQL locks rows instead).
CREATE TABLE license_write_lock (
    id INTEGER PRIMARY KEY,
    n INTEGER NOT NULL
);
INSERT INTO license_write_lock (id, n) VALUES (1, 0);
