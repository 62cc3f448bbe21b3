//! SQL of the anomaly scan (R2.16): the profiles that may hold a role anomaly.

use csm_db::{DbRow, db_error, with_db};
use csm_errors::CsmResult;
use csm_types::ProfileId;

use super::{RoleStore, placeholders};

impl RoleStore {
    /// Up to `limit` profiles after `after` (profile id order) that may have a
    /// role anomaly: holding, directly or through a group chain, one of
    /// `internal_roles` (the roles whose closure reaches snc_internal), or
    /// flagged for review. Keyset over indexed columns.
    pub async fn anomaly_candidates(
        &self,
        internal_roles: &[String],
        after: Option<ProfileId>,
        limit: i64,
    ) -> CsmResult<Vec<ProfileId>> {
        let count = internal_roles.len().max(1);
        let direct_in = placeholders(3, count);
        let group_in = placeholders(3 + count, count);
        let after_filter = if after.is_some() { "WHERE c.profile_id > $2" } else { "WHERE $2 IS NULL" };
        let sql = format!(
            "SELECT DISTINCT c.profile_id FROM ( \
                 SELECT profile_id FROM role_assignments WHERE role IN ({direct_in}) \
                 UNION SELECT m.profile_id FROM role_group_members m \
                     JOIN role_group_ancestors a ON a.group_id = m.group_id \
                     JOIN role_group_roles r ON r.group_id = a.ancestor_id \
                     WHERE r.role IN ({group_in}) \
                 UNION SELECT profile_id FROM role_review_flags \
             ) c {after_filter} ORDER BY c.profile_id LIMIT $1"
        );
        // An empty list still needs its placeholders bound: a role name no row has.
        let roles: Vec<String> = if internal_roles.is_empty() { vec![String::new()] } else { internal_roles.to_vec() };
        with_db!(&self.db, |pool| {
            let mut query = sqlx::query(&sql).bind(limit).bind(after.map(|profile| *profile.as_uuid()));
            for role in roles.iter().chain(roles.iter()) {
                query = query.bind(role.as_str());
            }
            query
                .fetch_all(pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| Ok(ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?)))
                .collect()
        })
    }
}
