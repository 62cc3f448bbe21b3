//! SQL of what a profile holds beyond its direct assignments: its groups'
//! inheritance (effective roles, R2.18, R2.19) and its WARN-policy review
//! flag (R2.15, R1.15).

use csm_db::{DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{GroupId, ProfileId};

use super::RoleStore;
use crate::domain::anomalies::ReviewFlag;
use crate::domain::groups::{GroupKind, InheritanceLink};

fn inheritance_from_row(row: &impl DbRow) -> CsmResult<InheritanceLink> {
    let kind = row.text("kind").map_err(db_error)?;
    Ok(InheritanceLink {
        member_group: GroupId::from_uuid(row.uuid("member_group_id").map_err(db_error)?),
        manager: row.boolean("manager").map_err(db_error)?,
        ancestor: GroupId::from_uuid(row.uuid("ancestor_id").map_err(db_error)?),
        depth: row.int("depth").map_err(db_error)?,
        ancestor_kind: GroupKind::parse(&kind)
            .ok_or_else(|| CsmError::internal(format!("stored group kind {kind:?}")))?,
        role: row.opt_text("role").map_err(db_error)?,
    })
}

/// Every group, membership and role of a profile in one join: memberships →
/// ancestry → group roles (a group without roles still gives one row, so the
/// memberships are complete). Shared by effective roles and assignments.
const PROFILE_INHERITANCE_SQL: &str = "SELECT m.group_id AS member_group_id, m.manager, a.ancestor_id, a.depth, g.kind, r.role \
     FROM role_group_members m \
     JOIN role_group_ancestors a ON a.group_id = m.group_id \
     JOIN role_groups g ON g.id = a.ancestor_id \
     LEFT JOIN role_group_roles r ON r.group_id = a.ancestor_id \
     WHERE m.profile_id = $1 \
     ORDER BY m.group_id, a.depth, r.role";

/// [`PROFILE_INHERITANCE_SQL`] for a membership that is only proposed: the
/// rows `group` would give a new (non-manager) member. None for an unknown group.
const GROUP_INHERITANCE_SQL: &str = "SELECT a.group_id AS member_group_id, 1 = 0 AS manager, a.ancestor_id, a.depth, g.kind, r.role \
     FROM role_group_ancestors a \
     JOIN role_groups g ON g.id = a.ancestor_id \
     LEFT JOIN role_group_roles r ON r.group_id = a.ancestor_id \
     WHERE a.group_id = $1 \
     ORDER BY a.depth, r.role";

impl RoleStore {
    /// The inheritance rows a new member of `group` would have (PreviewEffectiveRoles).
    pub async fn group_inheritance(&self, group: GroupId) -> CsmResult<Vec<InheritanceLink>> {
        self.inheritance(GROUP_INHERITANCE_SQL, *group.as_uuid()).await
    }

    /// A profile's memberships, chains and group roles in one query (effective roles).
    pub async fn profile_inheritance(&self, profile: ProfileId) -> CsmResult<Vec<InheritanceLink>> {
        self.inheritance(PROFILE_INHERITANCE_SQL, *profile.as_uuid()).await
    }

    async fn inheritance(&self, sql: &'static str, id: uuid::Uuid) -> CsmResult<Vec<InheritanceLink>> {
        with_db!(&self.db, |pool| {
            sqlx::query(sql)
                .bind(id)
                .fetch_all(pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(inheritance_from_row)
                .collect()
        })
    }

    /// [`profile_inheritance`](Self::profile_inheritance), read inside `tx`.
    pub async fn profile_inheritance_in(&self, tx: &mut Tx, profile: ProfileId) -> CsmResult<Vec<InheritanceLink>> {
        with_tx!(tx, |tx| {
            sqlx::query(PROFILE_INHERITANCE_SQL)
                .bind(*profile.as_uuid())
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?
                .iter()
                .map(inheritance_from_row)
                .collect()
        })
    }

    /// Flags `profile` for review (a WARN policy let a combination through).
    pub async fn flag_for_review(&self, tx: &mut Tx, profile: ProfileId, reason: &str) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO role_review_flags (profile_id, reason, flagged_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (profile_id) DO UPDATE SET reason = excluded.reason, flagged_at = excluded.flagged_at",
            )
            .bind(profile.as_uuid())
            .bind(reason)
            .bind(csm_db::now())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        Ok(())
    }

    pub async fn is_flagged_for_review(&self, profile: ProfileId) -> CsmResult<bool> {
        with_db!(&self.db, |pool| {
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM role_review_flags WHERE profile_id = $1")
                .bind(profile.as_uuid())
                .fetch_one(pool)
                .await
                .map_err(db_error)?;
            Ok(count > 0)
        })
    }

    /// The review flag of `profile`, if it has one.
    pub async fn review_flag(&self, profile: ProfileId) -> CsmResult<Option<ReviewFlag>> {
        with_db!(&self.db, |pool| {
            let row = sqlx::query("SELECT reason, flagged_at FROM role_review_flags WHERE profile_id = $1")
                .bind(profile.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.map(|row| {
                Ok(ReviewFlag {
                    reason: row.text("reason").map_err(db_error)?,
                    flagged_at: row.timestamp("flagged_at").map_err(db_error)?,
                })
            })
            .transpose()
        })
    }
}
