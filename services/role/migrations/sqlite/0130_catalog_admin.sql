-- Catalog administration (SPEC §2.2, R2.6–R2.12, R4.13, X1, X11): display
-- names and update times of roles, the origin of containment edges, and the
-- seeded edges and aliases an administrator removed (start-up seeding skips
-- them, so a removal survives restarts).
ALTER TABLE roles ADD COLUMN display_name TEXT;
ALTER TABLE roles ADD COLUMN updated_at TEXT;
ALTER TABLE role_contains ADD COLUMN origin TEXT NOT NULL DEFAULT 'seed' CHECK (origin IN ('seed', 'custom'));

CREATE TABLE role_seed_removals (
    kind TEXT NOT NULL CHECK (kind IN ('edge', 'alias')),
    name TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);

-- Holders of a role (containment edits check every holder; DeleteRole checks use).
CREATE INDEX role_assignments_role ON role_assignments (role, profile_id);
CREATE INDEX role_aliases_role ON role_aliases (role);
