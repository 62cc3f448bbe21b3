-- Sessions as credentials: the idle clock, the refresh token's hash and why a
-- session ended; failed password attempts for the guessing limits.
ALTER TABLE sessions ADD COLUMN last_active_at TEXT;
UPDATE sessions SET last_active_at = COALESCE(profile_switched_at, started_at);
ALTER TABLE sessions ADD COLUMN refresh_token_hash TEXT;
ALTER TABLE sessions ADD COLUMN end_reason TEXT;
-- The idle reaper looks for active sessions by their idle clock.
CREATE INDEX sessions_active_idle ON sessions (state, last_active_at);

CREATE TABLE login_failures (
    id BLOB PRIMARY KEY,
    -- The login name as tried (its key), whether or not such a login exists.
    login_name_key TEXT NOT NULL,
    client_address TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE INDEX login_failures_login ON login_failures (login_name_key, failed_at);
CREATE INDEX login_failures_address ON login_failures (client_address, failed_at);
