-- Case-access settings (contract: Settings; R4.3 note, X14, R4.10, R1.16, R6.4)
-- and the Cherwell ownership-based rights of security groups (R6.3–R6.6).

-- One row (id = 1) holding every switch; loaded at start-up.
CREATE TABLE case_access_settings (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    nonb2x_case_agents_both BOOLEAN NOT NULL,
    partner_sees_account_cases BOOLEAN NOT NULL,
    use_asset_contact_relationship BOOLEAN NOT NULL,
    consumer_max_new_cases_daily BIGINT NOT NULL CHECK (consumer_max_new_cases_daily >= 0),
    consumer_max_comments_per_case_daily BIGINT NOT NULL CHECK (consumer_max_comments_per_case_daily >= 0),
    consumer_max_attachments_per_record BIGINT NOT NULL CHECK (consumer_max_attachments_per_record >= 0),
    holds_owner BOOLEAN NOT NULL,
    holds_owner_group BOOLEAN NOT NULL,
    holds_department BOOLEAN NOT NULL,
    holds_manager BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

INSERT INTO case_access_settings VALUES
    (1, TRUE, FALSE, FALSE, 10, 25, 5, TRUE, TRUE, TRUE, TRUE, TIMESTAMPTZ '1970-01-01 00:00:00+00');

-- Rights of one security group on cases. Rights are stored as codes:
-- base_rights "VIEW,EDIT"; ownership_rights "OWNER=VIEW,EDIT;MANAGER_OF_OWNER=VIEW".
CREATE TABLE security_group_rights (
    security_group_id UUID PRIMARY KEY,
    base_rights TEXT NOT NULL,
    rights_based_on_ownership BOOLEAN NOT NULL,
    ownership_rights TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Security groups whose out-of-the-box rights (R6.5, R6.6) were seeded once,
-- so a deliberate delete is not undone by the next start.
CREATE TABLE security_group_rights_seeded (
    security_group_id UUID PRIMARY KEY,
    seeded_at TIMESTAMPTZ NOT NULL
);
