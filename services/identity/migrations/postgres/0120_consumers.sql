-- Consumers, consumer profiles, households (R1.3, R1.5, R1.17, R4.11).

CREATE TABLE consumers (
    id UUID PRIMARY KEY,
    first_name TEXT NOT NULL DEFAULT '',
    middle_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    mobile_phone TEXT NOT NULL DEFAULT '',
    business_phone TEXT NOT NULL DEFAULT '',
    home_phone TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE consumer_profiles (
    id UUID PRIMARY KEY,
    consumer_id UUID NOT NULL REFERENCES consumers (id),
    profile_type TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX consumer_profiles_consumer_id ON consumer_profiles (consumer_id);

CREATE TABLE households (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    head_consumer_id UUID REFERENCES consumers (id),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE household_members (
    household_id UUID NOT NULL REFERENCES households (id),
    consumer_id UUID NOT NULL REFERENCES consumers (id),
    status TEXT NOT NULL CHECK (status IN ('current', 'former')),
    joined_at TIMESTAMPTZ NOT NULL,
    left_at TIMESTAMPTZ,
    PRIMARY KEY (household_id, consumer_id)
);
CREATE INDEX household_members_consumer_id ON household_members (consumer_id);
