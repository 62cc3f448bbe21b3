-- Consumers, consumer profiles, households (R1.3, R1.5, R1.17, R4.11).
-- Ids are UUIDs (BLOB here, UUID on PostgreSQL).

CREATE TABLE consumers (
    id BLOB PRIMARY KEY,
    display_name TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    middle_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    -- Lower-cased email: ListConsumers matches emails case-insensitively.
    email_key TEXT NOT NULL DEFAULT '',
    mobile_phone TEXT NOT NULL DEFAULT '',
    business_phone TEXT NOT NULL DEFAULT '',
    home_phone TEXT NOT NULL DEFAULT '',
    -- The linked user profile (R1.3); a profile is linked to at most one
    -- consumer (the profile's consumer_id mirrors it).
    user_profile_id BLOB UNIQUE REFERENCES profiles (id),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX consumers_email_key ON consumers (email_key);

CREATE TABLE consumer_profiles (
    id BLOB PRIMARY KEY,
    consumer_id BLOB NOT NULL REFERENCES consumers (id),
    sub_profile_type TEXT NOT NULL,
    display_name TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    -- The CONSUMER_SUB_PROFILE profile bound to it, if any (R1.9, R1.10b).
    profile_id BLOB UNIQUE REFERENCES profiles (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX consumer_profiles_consumer_id ON consumer_profiles (consumer_id);

CREATE TABLE households (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    -- Always a current member (R1.5).
    head_consumer_id BLOB NOT NULL REFERENCES consumers (id),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX households_head_consumer_id ON households (head_consumer_id);

CREATE TABLE household_members (
    household_id BLOB NOT NULL REFERENCES households (id),
    consumer_id BLOB NOT NULL REFERENCES consumers (id),
    status TEXT NOT NULL CHECK (status IN ('current', 'former')),
    -- Start of the current (or last) membership.
    joined_at TEXT NOT NULL,
    left_at TEXT,
    PRIMARY KEY (household_id, consumer_id)
);
CREATE INDEX household_members_consumer_id ON household_members (consumer_id);
