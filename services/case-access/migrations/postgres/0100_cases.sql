-- Cases and the rows the decision table looks through (SPEC §0.4, §4, §5.2–§5.3, §6).
-- Every column a decision-table condition compares is a plain indexed column,
-- so ListVisibleCases compiles a principal's grants into one WHERE clause
-- (DESIGN §3 "listing = pre-filter").

CREATE TABLE cases (
    id UUID PRIMARY KEY,                     -- v7: keyset pagination in creation order
    number TEXT NOT NULL UNIQUE,
    short_description TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    priority TEXT NOT NULL,
    channel TEXT NOT NULL,
    -- 'B2B' | 'B2C' | 'SERVICE_ORG' | 'EMPLOYEE' (R4.1), stored for the predicate
    segment TEXT NOT NULL CHECK (segment IN ('B2B', 'B2C', 'SERVICE_ORG', 'EMPLOYEE')),
    account_id UUID,
    contact_id UUID,
    consumer_id UUID,
    household_id UUID,
    consumer_profile_id UUID,
    partner_account_id UUID,
    partner_contact_id UUID,
    internal_contact_id UUID,
    requestor_organization_id UUID,
    requested_by_id UUID,
    opened_by_id UUID NOT NULL,
    service_organization_id UUID,
    sold_product_id UUID,
    install_base_item_id UUID,
    assignment_group_id UUID,
    assigned_to_id UUID,
    owner_id UUID,
    owner_group_id UUID,
    escalation TEXT NOT NULL DEFAULT 'UNSPECIFIED',
    close_notes TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    closed_at TIMESTAMPTZ
);
CREATE INDEX cases_account ON cases (account_id, id);
CREATE INDEX cases_contact ON cases (contact_id, id);
CREATE INDEX cases_consumer ON cases (consumer_id, id);
CREATE INDEX cases_household ON cases (household_id, id);
CREATE INDEX cases_partner_account ON cases (partner_account_id, id);
CREATE INDEX cases_partner_contact ON cases (partner_contact_id, id);
CREATE INDEX cases_internal_contact ON cases (internal_contact_id, id);
CREATE INDEX cases_requestor_organization ON cases (requestor_organization_id, id);
CREATE INDEX cases_requested_by ON cases (requested_by_id, id);
CREATE INDEX cases_opened_by ON cases (opened_by_id, id);
CREATE INDEX cases_owner ON cases (owner_id, id);
CREATE INDEX cases_owner_group ON cases (owner_group_id, id);
CREATE INDEX cases_sold_product ON cases (sold_product_id, id);
CREATE INDEX cases_segment ON cases (segment, id);
CREATE INDEX cases_state ON cases (state, id);

CREATE TABLE case_contributor_users (
    case_id UUID NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    profile_id UUID NOT NULL,
    PRIMARY KEY (case_id, profile_id)
);
CREATE INDEX case_contributor_users_profile ON case_contributor_users (profile_id, case_id);

CREATE TABLE case_contributor_groups (
    case_id UUID NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    group_id UUID NOT NULL,
    PRIMARY KEY (case_id, group_id)
);
CREATE INDEX case_contributor_groups_group ON case_contributor_groups (group_id, case_id);

CREATE TABLE case_watch_list (
    case_id UUID NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    profile_id UUID NOT NULL,
    work_notes BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (case_id, profile_id, work_notes)
);

CREATE TABLE case_tasks (
    id UUID PRIMARY KEY,
    case_id UUID NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    number TEXT NOT NULL UNIQUE,
    short_description TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    assigned_to_id UUID,
    assignment_group_id UUID,
    customer_visible BOOLEAN NOT NULL DEFAULT FALSE,
    consumer_profile_id UUID,
    opened_by_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    closed_at TIMESTAMPTZ
);
CREATE INDEX case_tasks_case ON case_tasks (case_id, id);
CREATE INDEX case_tasks_assigned_to ON case_tasks (assigned_to_id, case_id);
CREATE INDEX case_tasks_assignment_group ON case_tasks (assignment_group_id, case_id);
CREATE INDEX case_tasks_opened_by ON case_tasks (opened_by_id, case_id);

CREATE TABLE sold_products (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    product_model_id UUID,
    account_id UUID,
    consumer_id UUID,
    household_id UUID,
    consumer_profile_id UUID,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sold_products_account ON sold_products (account_id, id);
CREATE INDEX sold_products_consumer ON sold_products (consumer_id, id);

CREATE TABLE install_base_items (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    sold_product_id UUID REFERENCES sold_products (id),
    parent_id UUID REFERENCES install_base_items (id),
    account_id UUID,
    consumer_id UUID,
    consumer_profile_id UUID,
    service_organization_id UUID,
    asset_id UUID,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX install_base_items_sold_product ON install_base_items (sold_product_id);
CREATE INDEX install_base_items_account ON install_base_items (account_id, id);

CREATE TABLE install_base_asset_contacts (
    install_base_item_id UUID NOT NULL REFERENCES install_base_items (id) ON DELETE CASCADE,
    contact_id UUID NOT NULL,
    PRIMARY KEY (install_base_item_id, contact_id)
);

CREATE TABLE case_affected_install_bases (
    case_id UUID NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    install_base_item_id UUID NOT NULL REFERENCES install_base_items (id),
    PRIMARY KEY (case_id, install_base_item_id)
);
CREATE INDEX case_affected_install_bases_item ON case_affected_install_bases (install_base_item_id, case_id);

-- Related parties of cases, sold products and install base items (R5.4–R5.11).
-- responsibility_name is NULL for "listed" types, which grant nothing (R5.4).
CREATE TABLE related_parties (
    id UUID PRIMARY KEY,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('case', 'sold_product', 'install_base_item')),
    subject_id UUID NOT NULL,
    party_kind TEXT NOT NULL CHECK (party_kind IN ('contact', 'consumer', 'user', 'account', 'service_organization')),
    party_id UUID NOT NULL,
    related_party_configuration_id UUID,
    related_party_type_name TEXT NOT NULL,
    responsibility_id UUID,
    responsibility_name TEXT,
    sort_order INTEGER NOT NULL DEFAULT 100,
    created_by_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (subject_kind, subject_id, party_kind, party_id, related_party_type_name)
);
CREATE INDEX related_parties_party ON related_parties (party_kind, party_id, subject_kind, subject_id);
CREATE INDEX related_parties_subject ON related_parties (subject_kind, subject_id);

-- Human-readable numbers (CS0001001, TSK0001001), one counter row per kind.
CREATE TABLE number_counters (
    kind TEXT PRIMARY KEY,
    next_value BIGINT NOT NULL
);
INSERT INTO number_counters (kind, next_value) VALUES ('case', 1001001), ('case_task', 1001001);
