-- Licensing (SPEC §7). Instants are BIGINT microseconds since the Unix epoch:
-- deadlines are compared in SQL, and integers compare the same on both backends.

-- Concurrent licence pools (R7.1, R7.3, R7.5, R7.7, R7.8). seats_used is the
-- number of people holding a seat; it only changes through guarded updates
-- (seats_used < seat_count), so a pool never has more holders than seats.
CREATE TABLE license_pools (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    seat_count BIGINT NOT NULL,
    seats_used BIGINT NOT NULL DEFAULT 0,
    license_expiration_date TEXT NOT NULL DEFAULT '',
    time_zone TEXT NOT NULL DEFAULT '',
    license_expires_at BIGINT,
    idle_timeout_minutes BIGINT NOT NULL,
    browser_idle_timeout_minutes BIGINT NOT NULL,
    inactivity_warning_minutes BIGINT NOT NULL,
    auto_release_after_minutes BIGINT NOT NULL,
    portal_license_on BIGINT NOT NULL,
    consuming_channels TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per person holding a seat of a pool (R7.2: one person, one seat).
CREATE TABLE license_seats (
    pool_id UUID NOT NULL REFERENCES license_pools (id),
    login_id UUID NOT NULL,
    source BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL,
    session_count BIGINT NOT NULL,
    PRIMARY KEY (pool_id, login_id)
);
CREATE INDEX license_seats_by_acquired ON license_seats (pool_id, acquired_at, login_id);

CREATE TABLE license_sessions (
    id UUID PRIMARY KEY,
    pool_id UUID NOT NULL REFERENCES license_pools (id),
    login_id UUID NOT NULL,
    profile_id UUID NOT NULL,
    principal_kind BIGINT NOT NULL,
    channel BIGINT NOT NULL,
    device_id TEXT NOT NULL,
    state BIGINT NOT NULL,
    seat_held BOOLEAN NOT NULL,
    seat_source BIGINT NOT NULL,
    seat_acquired_at BIGINT,
    started_at BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL,
    last_heartbeat_at BIGINT NOT NULL,
    idle_deadline BIGINT,
    unresponsive_deadline BIGINT,
    ended_at BIGINT,
    end_reason BIGINT NOT NULL
);
CREATE INDEX license_sessions_by_pool ON license_sessions (pool_id, id);
CREATE INDEX license_sessions_by_login ON license_sessions (login_id, id);
CREATE INDEX license_sessions_by_profile ON license_sessions (profile_id, id);
CREATE INDEX license_sessions_idle ON license_sessions (idle_deadline) WHERE state = 1;
CREATE INDEX license_sessions_unresponsive ON license_sessions (unresponsive_deadline) WHERE state = 1;
CREATE INDEX license_sessions_holding ON license_sessions (pool_id, login_id) WHERE state = 1 AND seat_held;

-- Seats in use after every change, for peak usage (R7.1).
CREATE TABLE license_usage_events (
    id UUID PRIMARY KEY,
    pool_id UUID NOT NULL,
    at BIGINT NOT NULL,
    seats_in_use BIGINT NOT NULL
);
CREATE INDEX license_usage_events_by_pool ON license_usage_events (pool_id, at, id);

-- Every refused seat (R7.1, R7.6, R7.8, R7.11).
CREATE TABLE license_denials (
    id UUID PRIMARY KEY,
    reason BIGINT NOT NULL,
    pool_id UUID,
    seat_plan_id UUID,
    session_id UUID,
    login_id UUID,
    profile_id UUID,
    channel BIGINT NOT NULL,
    access BIGINT NOT NULL,
    record_type TEXT NOT NULL,
    record_id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL
);
CREATE INDEX license_denials_by_time ON license_denials (occurred_at);

-- The customer right "can request a licence" (R7.6): to one profile or one security group.
CREATE TABLE license_right_grants (
    id UUID PRIMARY KEY,
    profile_id UUID,
    security_group_id UUID,
    granted_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX license_right_grants_profile ON license_right_grants (profile_id) WHERE profile_id IS NOT NULL;
CREATE UNIQUE INDEX license_right_grants_group ON license_right_grants (security_group_id) WHERE security_group_id IS NOT NULL;

-- Named seats (R7.9-R7.13, R4.21). seats_used moves only through guarded updates.
CREATE TABLE seat_plans (
    id UUID PRIMARY KEY,
    product BIGINT NOT NULL UNIQUE,
    seat_limit BIGINT NOT NULL,
    seats_used BIGINT NOT NULL DEFAULT 0,
    license_valid_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE agent_seats (
    id UUID PRIMARY KEY,
    seat_plan_id UUID NOT NULL REFERENCES seat_plans (id),
    profile_id UUID NOT NULL,
    kind BIGINT NOT NULL,
    granted_at BIGINT NOT NULL,
    UNIQUE (seat_plan_id, profile_id)
);
CREATE INDEX agent_seats_by_profile ON agent_seats (profile_id);

-- One row whose no-op update makes SQLite take its write lock at the start
-- of a read-then-write transaction (PostgreSQL locks rows instead).
CREATE TABLE license_write_lock (
    id BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO license_write_lock (id, n) VALUES (1, 0);
