-- The same index is created by 0130 (catalog administration); kept idempotent so either order works.
-- Who holds a role directly (R2.16 anomaly scan: profiles holding a role that
-- reaches snc_internal), without a scan of every assignment.
CREATE INDEX IF NOT EXISTS role_assignments_role ON role_assignments (role, profile_id);
