-- Who holds a role directly (R2.16 anomaly scan: profiles holding a role that
-- reaches snc_internal), without a scan of every assignment.
CREATE INDEX role_assignments_role ON role_assignments (role, profile_id);
