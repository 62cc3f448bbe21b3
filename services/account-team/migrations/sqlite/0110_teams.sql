-- Account relationships listed from the source account and PCUST(p) (R3.5, R3.6):
-- one index range per partner, ordered by customer.
CREATE INDEX account_relationships_from_to ON account_relationships (from_account_id, to_account_id, id);

-- Account, consumer and household team members (R3.12–R3.14).
CREATE TABLE team_members (
    id BLOB PRIMARY KEY,
    -- 'account' | 'consumer' | 'household'
    team_kind TEXT NOT NULL CHECK (team_kind IN ('account', 'consumer', 'household')),
    team_id BLOB NOT NULL,
    profile_id BLOB NOT NULL,
    -- 'internal' | 'external_organization_staff'
    member_kind TEXT NOT NULL CHECK (member_kind IN ('internal', 'external_organization_staff')),
    -- The related-party type ("Type", R3.17); owned by this service's related-party configurations.
    related_party_configuration_id BLOB,
    responsibility_id BLOB NOT NULL REFERENCES responsibility_definitions (id),
    -- Copy of the responsibility's unique flag, kept in step by UpdateResponsibilityDefinition,
    -- so the partial unique index below enforces R3.13 in the database.
    unique_responsibility BOOLEAN NOT NULL,
    sort_order INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT team_members_same_member UNIQUE (team_kind, team_id, profile_id, responsibility_id)
);
-- R3.13: one holder of a unique responsibility per account / consumer / household.
CREATE UNIQUE INDEX team_members_unique_holder ON team_members (team_kind, team_id, responsibility_id)
    WHERE unique_responsibility;
CREATE INDEX team_members_team_order ON team_members (team_kind, team_id, sort_order, id);
CREATE INDEX team_members_profile ON team_members (profile_id, id);
CREATE INDEX team_members_responsibility ON team_members (responsibility_id);
