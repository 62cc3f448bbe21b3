-- Shared vocabulary of account-team: responsibility definitions (R3.12),
-- account relationship types (R3.4) and account relationships (R3.5, R3.6).
-- Later migrations (contact relationships, team members, access
-- configuration) reference these tables.

CREATE TABLE responsibility_definitions (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    -- 'user' | 'contact' | 'consumer' | 'account' | 'none'
    kind TEXT NOT NULL CHECK (kind IN ('user', 'contact', 'consumer', 'account', 'none')),
    is_unique BOOLEAN NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    seeded BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX responsibility_definitions_name ON responsibility_definitions (lower(name));

CREATE TABLE account_relationship_types (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    -- 'account' | 'partner'
    from_kind TEXT NOT NULL CHECK (from_kind IN ('account', 'partner')),
    to_kind TEXT NOT NULL CHECK (to_kind IN ('account', 'partner')),
    label TEXT NOT NULL,
    reverse_label TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    default_partner_type BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX account_relationship_types_name ON account_relationship_types (lower(name));

CREATE TABLE account_relationships (
    id BLOB PRIMARY KEY,
    from_account_id BLOB NOT NULL,
    type_id BLOB NOT NULL REFERENCES account_relationship_types (id),
    to_account_id BLOB NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (from_account_id, type_id, to_account_id)
);
CREATE INDEX account_relationships_to ON account_relationships (to_account_id);
CREATE INDEX account_relationships_type ON account_relationships (type_id);

-- Seeded vocabulary with fixed ids (R3.15, R3.17, R5.5; the default partner type of R3.4).
INSERT INTO responsibility_definitions (id, name, kind, is_unique, description, seeded, created_at, updated_at) VALUES
    (X'a7000000000040008000000000000001', 'Account Manager', 'user', 1, 'Manages the account; acts on its behalf (R3.15).', 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'),
    (X'a7000000000040008000000000000002', 'Preferred Technician', 'user', 0, 'Out-of-box account team responsibility (R3.17).', 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'),
    (X'a7000000000040008000000000000003', 'Primary Support Agent', 'user', 0, 'Out-of-box account team responsibility (R3.17).', 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'),
    (X'a7000000000040008000000000000004', 'Support Manager', 'user', 0, 'Out-of-box account team responsibility (R3.17).', 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'),
    (X'a7000000000040008000000000000005', 'Relationship Manager', 'user', 0, 'External organization staff on account teams (R3.14).', 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'),
    (X'a7000000000040008000000000000006', 'Asset Contact', 'contact', 0, 'Out-of-box contact relationship responsibility (R3.17).', 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'),
    (X'a7000000000040008000000000000007', 'Authorized Representative', 'none', 0, 'Related-party responsibility (R5.5).', 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'),
    (X'a7000000000040008000000000000008', 'Authorized Account', 'account', 0, 'Related-party responsibility (R5.5).', 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'),
    (X'a7000000000040008000000000000009', 'Authorized Service Organization', 'account', 0, 'Related-party responsibility (R5.5).', 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00');
INSERT INTO account_relationship_types (id, name, from_kind, to_kind, label, reverse_label, active, default_partner_type, created_at, updated_at) VALUES
    (X'a7000000000040008000000000000101', 'Partner', 'partner', 'account', 'Partner of', 'Partner', 1, 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00');
