-- Logins, profiles, sessions, departments, security groups (SPEC §1, §6).
-- Ids are UUIDs (BLOB on SQLite); lists of enum values are
-- stored as comma-separated lower-case names.

CREATE TABLE logins (
    id UUID PRIMARY KEY,
    login_name TEXT NOT NULL,
    -- Login names compare case-insensitively.
    login_name_key TEXT NOT NULL UNIQUE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    default_profile_id UUID,
    -- Salted slow hash only (pbkdf2-sha256$<iterations>$<salt>$<hash>); never the password.
    password_hash TEXT,
    password_updated_at TIMESTAMPTZ,
    last_login_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE departments (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE security_groups (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'customer', 'anonymous')),
    description TEXT NOT NULL DEFAULT '',
    -- Cherwell presentation roles of the group and the default one (R6.1).
    presentation_roles TEXT NOT NULL DEFAULT '',
    default_presentation_role TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE profiles (
    id UUID PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('internal', 'contact', 'partner_contact', 'consumer', 'consumer_sub_profile')),
    login_id UUID REFERENCES logins (id),
    display_name TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    middle_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    mobile_phone TEXT NOT NULL DEFAULT '',
    business_phone TEXT NOT NULL DEFAULT '',
    home_phone TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    application TEXT NOT NULL DEFAULT 'csm',
    -- Primary account of a contact (R1.4).
    account_id UUID REFERENCES accounts (id),
    -- Linked consumer record (R1.3, R1.11, R1.12); see consumers migration.
    consumer_id UUID,
    parent_profile_id UUID REFERENCES profiles (id),
    consumer_profile_id UUID,
    sub_profile_type TEXT NOT NULL DEFAULT '',
    manager_profile_id UUID REFERENCES profiles (id),
    department_id UUID REFERENCES departments (id),
    title TEXT NOT NULL DEFAULT '',
    security_group_id UUID REFERENCES security_groups (id),
    -- Channels this profile may log in on (R1.7).
    channels TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    -- A contact has exactly one primary account (R1.4).
    CHECK ((kind IN ('contact', 'partner_contact')) = (account_id IS NOT NULL))
);
CREATE INDEX profiles_login_id ON profiles (login_id);
CREATE INDEX profiles_account_id ON profiles (account_id);
CREATE INDEX profiles_manager_profile_id ON profiles (manager_profile_id);
CREATE INDEX profiles_department_id ON profiles (department_id);
CREATE INDEX profiles_consumer_id ON profiles (consumer_id);
CREATE INDEX profiles_security_group_id ON profiles (security_group_id);
CREATE INDEX profiles_parent_profile_id ON profiles (parent_profile_id);

CREATE TABLE sessions (
    id UUID PRIMARY KEY,
    login_id UUID NOT NULL REFERENCES logins (id),
    channel TEXT NOT NULL,
    active_profile_id UUID NOT NULL REFERENCES profiles (id),
    presentation_role TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('active', 'ended')),
    started_at TIMESTAMPTZ NOT NULL,
    profile_switched_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ
);
CREATE INDEX sessions_login_id ON sessions (login_id);
-- Ending the sessions of a deactivated profile (R4.8).
CREATE INDEX sessions_active_profile_id ON sessions (active_profile_id);

-- Configurable switches (R1.3 allowed consumer user types, R2.13a deny list).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
