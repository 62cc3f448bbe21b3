-- account-team's access half: settings (R3.8, R3.10), contact relationships
-- (R3.7–R3.11), consumer and household member relationships (R3.12, R3.13),
-- responsibility access configurations (R5.2, R5.3), related-party
-- configurations (R5.4, R5.5) and account access records (R5.12, R5.13).

-- The single settings row, with the defaults of R3.8 and R3.10.
CREATE TABLE account_team_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    restrict_within_account_hierarchy BOOLEAN NOT NULL,
    allow_multiple_contact_responsibilities BOOLEAN NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO account_team_settings (id, restrict_within_account_hierarchy, allow_multiple_contact_responsibilities, updated_at)
    VALUES (1, 1, 0, '2026-01-01T00:00:00+00:00');

-- Related-party types (R5.4); seeded rows (R3.17, R5.5) are inserted at start-up with fixed ids.
CREATE TABLE related_party_configurations (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    applies_to TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    -- JSON array of {field, operator, values}.
    reference_condition TEXT NOT NULL,
    default_responsibility_id BLOB REFERENCES responsibility_definitions (id),
    default_order INTEGER NOT NULL,
    seeded BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX related_party_configurations_name ON related_party_configurations (applies_to, lower(name));
CREATE INDEX related_party_configurations_responsibility ON related_party_configurations (default_responsibility_id);

-- Contact relationships (R3.7). Invariants enforced here, not in Rust:
-- R3.9: unique_responsibility_id is the responsibility when it is unique (NULL otherwise),
--       so one contact per (account, unique responsibility);
-- R3.10: contact_relationship_pairs counts the rows of an (account, contact) pair; a new row
--        is admitted by a guarded upsert (see the store), which serialises writers of a pair;
--        the same (account, contact, responsibility) never twice.
CREATE TABLE contact_relationships (
    id BLOB PRIMARY KEY,
    account_id BLOB NOT NULL,
    contact_id BLOB NOT NULL,
    related_party_configuration_id BLOB REFERENCES related_party_configurations (id),
    responsibility_id BLOB REFERENCES responsibility_definitions (id),
    unique_responsibility_id BLOB REFERENCES responsibility_definitions (id),
    sort_order INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX contact_relationships_unique_responsibility
    ON contact_relationships (account_id, unique_responsibility_id) WHERE unique_responsibility_id IS NOT NULL;
CREATE UNIQUE INDEX contact_relationships_triple
    ON contact_relationships (account_id, contact_id, COALESCE(responsibility_id, X'00000000000000000000000000000000'));
CREATE INDEX contact_relationships_contact ON contact_relationships (contact_id, id);
CREATE INDEX contact_relationships_account ON contact_relationships (account_id, id);
CREATE INDEX contact_relationships_responsibility ON contact_relationships (responsibility_id);
CREATE INDEX contact_relationships_type ON contact_relationships (related_party_configuration_id);

CREATE TABLE contact_relationship_pairs (
    account_id BLOB NOT NULL,
    contact_id BLOB NOT NULL,
    relationship_count INTEGER NOT NULL,
    PRIMARY KEY (account_id, contact_id)
);

-- Consumer-to-consumer and household member relationships (R3.12; unique NOT enforced, R3.13).
CREATE TABLE consumer_relationships (
    id BLOB PRIMARY KEY,
    consumer_id BLOB NOT NULL,
    related_consumer_id BLOB NOT NULL,
    household_id BLOB,
    related_party_configuration_id BLOB REFERENCES related_party_configurations (id),
    responsibility_id BLOB REFERENCES responsibility_definitions (id),
    sort_order INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX consumer_relationships_key ON consumer_relationships (
    consumer_id, related_consumer_id,
    COALESCE(household_id, X'00000000000000000000000000000000'),
    COALESCE(responsibility_id, X'00000000000000000000000000000000'));
CREATE INDEX consumer_relationships_consumer ON consumer_relationships (consumer_id, created_at, id);
CREATE INDEX consumer_relationships_related ON consumer_relationships (related_consumer_id, created_at, id);
CREATE INDEX consumer_relationships_household ON consumer_relationships (household_id, created_at, id);
CREATE INDEX consumer_relationships_created ON consumer_relationships (created_at, id);
CREATE INDEX consumer_relationships_type ON consumer_relationships (related_party_configuration_id);

-- Responsibility access configurations (R5.2); list-valued fields are JSON text.
CREATE TABLE responsibility_access_configurations (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    responsibility_id BLOB NOT NULL REFERENCES responsibility_definitions (id),
    active BOOLEAN NOT NULL,
    required_roles TEXT NOT NULL,
    access_levels TEXT NOT NULL,
    accessible_table TEXT NOT NULL,
    accessible_filter TEXT NOT NULL,
    relationship_table TEXT NOT NULL,
    relationship_filter TEXT NOT NULL,
    association_type TEXT NOT NULL,
    relationship_field TEXT NOT NULL,
    accessible_field TEXT NOT NULL,
    dependent_table TEXT NOT NULL,
    dependent_relationship_field TEXT NOT NULL,
    dependent_accessible_field TEXT NOT NULL,
    advanced_resolver TEXT NOT NULL,
    seeded BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX responsibility_access_configurations_created ON responsibility_access_configurations (created_at, id);
CREATE INDEX responsibility_access_configurations_responsibility ON responsibility_access_configurations (responsibility_id);

-- Account access records (R5.12, R5.13): at most one per account.
CREATE TABLE account_accesses (
    id BLOB PRIMARY KEY,
    account_id BLOB NOT NULL UNIQUE,
    restrict_contact_access BOOLEAN NOT NULL,
    -- JSON array of contact ids (R5.12 (a)).
    allowed_contact_ids TEXT NOT NULL,
    restrict_account_access BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
