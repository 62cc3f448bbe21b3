-- Groups (R2.18, R2.19, R6.2, R1.8): assignment groups, Cherwell teams and
-- customer workgroups, their hierarchy, members and roles.
CREATE TABLE role_groups (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    -- The name lower-cased: names are unique per kind, case-insensitively.
    name_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('assignment_group', 'team', 'customer_workgroup')),
    description TEXT NOT NULL,
    parent_id UUID REFERENCES role_groups (id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (kind, name_key)
);
CREATE INDEX role_groups_parent ON role_groups (parent_id);
CREATE INDEX role_groups_name ON role_groups (name_key, id);

-- The ancestry closure: one row per (group, ancestor) including the group
-- itself at depth 0, kept up to date on create and re-parent, so effective
-- roles are one join and never a walk up the hierarchy.
CREATE TABLE role_group_ancestors (
    group_id UUID NOT NULL REFERENCES role_groups (id),
    ancestor_id UUID NOT NULL REFERENCES role_groups (id),
    depth BIGINT NOT NULL,
    PRIMARY KEY (group_id, ancestor_id)
);
CREATE INDEX role_group_ancestors_ancestor ON role_group_ancestors (ancestor_id, group_id);

CREATE TABLE role_group_members (
    group_id UUID NOT NULL REFERENCES role_groups (id),
    profile_id UUID NOT NULL,
    manager BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (group_id, profile_id)
);
CREATE INDEX role_group_members_profile ON role_group_members (profile_id, group_id);

CREATE TABLE role_group_roles (
    group_id UUID NOT NULL REFERENCES role_groups (id),
    role TEXT NOT NULL REFERENCES roles (name),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (group_id, role)
);
CREATE INDEX role_group_roles_role ON role_group_roles (role);

-- One row: every group write updates it first (exclusive) and every direct
-- assignment reads it FOR SHARE (PostgreSQL), so two writes that would
-- together create a collision across groups and profiles never both commit.
CREATE TABLE role_graph_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO role_graph_lock (id, version) VALUES (1, 0);
