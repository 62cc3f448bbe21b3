-- Shared vocabulary of account-team: responsibility definitions (R3.12),
-- account relationship types (R3.4) and account relationships (R3.5, R3.6).
-- Later migrations (contact relationships, team members, access
-- configuration) reference these tables.

CREATE TABLE responsibility_definitions (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    -- 'user' | 'contact' | 'consumer' | 'account' | 'none'
    kind TEXT NOT NULL CHECK (kind IN ('user', 'contact', 'consumer', 'account', 'none')),
    is_unique BOOLEAN NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    seeded BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX responsibility_definitions_name ON responsibility_definitions (lower(name));

CREATE TABLE account_relationship_types (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    -- 'account' | 'partner'
    from_kind TEXT NOT NULL CHECK (from_kind IN ('account', 'partner')),
    to_kind TEXT NOT NULL CHECK (to_kind IN ('account', 'partner')),
    label TEXT NOT NULL,
    reverse_label TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    default_partner_type BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX account_relationship_types_name ON account_relationship_types (lower(name));

CREATE TABLE account_relationships (
    id UUID PRIMARY KEY,
    from_account_id UUID NOT NULL,
    type_id UUID NOT NULL REFERENCES account_relationship_types (id),
    to_account_id UUID NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (from_account_id, type_id, to_account_id)
);
CREATE INDEX account_relationships_to ON account_relationships (to_account_id);
CREATE INDEX account_relationships_type ON account_relationships (type_id);

-- Seeded vocabulary with fixed ids (R3.15, R3.17, R5.5; the default partner type of R3.4).
INSERT INTO responsibility_definitions (id, name, kind, is_unique, description, seeded, created_at, updated_at) VALUES
    ('a7000000-0000-4000-8000-000000000001', 'Account Manager', 'user', TRUE, 'Manages the account; acts on its behalf (R3.15).', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('a7000000-0000-4000-8000-000000000002', 'Preferred Technician', 'user', FALSE, 'Out-of-box account team responsibility (R3.17).', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('a7000000-0000-4000-8000-000000000003', 'Primary Support Agent', 'user', FALSE, 'Out-of-box account team responsibility (R3.17).', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('a7000000-0000-4000-8000-000000000004', 'Support Manager', 'user', FALSE, 'Out-of-box account team responsibility (R3.17).', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('a7000000-0000-4000-8000-000000000005', 'Relationship Manager', 'user', FALSE, 'External organization staff on account teams (R3.14).', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('a7000000-0000-4000-8000-000000000006', 'Asset Contact', 'contact', FALSE, 'Out-of-box contact relationship responsibility (R3.17).', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('a7000000-0000-4000-8000-000000000007', 'Authorized Representative', 'none', FALSE, 'Related-party responsibility (R5.5).', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('a7000000-0000-4000-8000-000000000008', 'Authorized Account', 'account', FALSE, 'Related-party responsibility (R5.5).', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ('a7000000-0000-4000-8000-000000000009', 'Authorized Service Organization', 'account', FALSE, 'Related-party responsibility (R5.5).', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
INSERT INTO account_relationship_types (id, name, from_kind, to_kind, label, reverse_label, active, default_partner_type, created_at, updated_at) VALUES
    ('a7000000-0000-4000-8000-000000000101', 'Partner', 'partner', 'account', 'Partner of', 'Partner', TRUE, TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
