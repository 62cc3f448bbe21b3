//! AssignRole and RevokeRole: one direct role of a profile (R2.10–R2.17,
//! R1.13–R1.15, R1.6), for role administrators, services and delegated admins
//! (R4.7, R4.8).

use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_errors::{CsmError, CsmResult};
use csm_types::ProfileId;

use super::RoleApp;
use super::profiles::ProfileRoleChange;
use crate::domain::assignments::DirectAssignment;
use crate::domain::collisions::Finding;

/// The result of an assignment: the new direct assignment and the warnings a
/// WARN policy let through.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub assignment: DirectAssignment,
    pub profile: ProfileId,
    pub warnings: Vec<Finding>,
    pub consistency_token: String,
}

impl RoleApp {
    /// Assigns `role` directly to `profile` (R2.10–R2.17, R1.13–R1.15),
    /// checked against everything the profile holds, directly and through its
    /// groups. The profile's assignment lock serializes writers of one profile
    /// and the shared role-graph lock keeps group writes out, so two writes
    /// that would together collide cannot both succeed.
    pub async fn assign_role(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        profile: ProfileId,
        role: &str,
    ) -> CsmResult<Assigned> {
        let role = self.known_role(role)?;
        const RPC: &str = "AssignRole";
        // Role administrators, services and delegated admins (R4.7, R4.8).
        self.authorize_profile_assignment(caller, profile, std::slice::from_ref(&role), RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, &(profile, &role));
        if let Some(replay) = key.replayed(self.store.db()).await? {
            let (id, revision) = (replay.id()?, replay.revision);
            let assignments = self.store.direct_assignments(profile).await?;
            let assignment = assignments
                .into_iter()
                .find(|assignment| assignment.id == id)
                .ok_or_else(|| CsmError::not_found("assignment", id))?;
            return Ok(Assigned {
                assignment,
                profile,
                warnings: Vec::new(),
                consistency_token: self.feed.token(revision),
            });
        }
        // People name profiles identity must know; services (identity itself,
        // assigning snc_external while it creates a contact) are trusted.
        if matches!(caller, Caller::Human(_)) && !self.identity.profile_exists(profile).await? {
            return Err(CsmError::not_found("profile", profile));
        }
        let policies = self.policies().await?;
        let mut tx = self.store.db().begin().await?;
        // The profile lock is the first statement: on SQLite a transaction must
        // write first to be serialized with the other writers.
        self.store.lock_profile(&mut tx, profile).await?;
        self.store.lock_role_graph_shared(&mut tx).await?;
        // One check for AssignRole, ReplaceProfileRoles and ValidateAssignment;
        // roles inherited through groups collide like direct ones (R2.18, R2.19).
        let warnings =
            self.checked_profile_roles(&mut tx, profile, ProfileRoleChange::Add(&role), None, policies).await?.warnings;
        let (assignment, revision) = self.store.insert_assignment(&mut tx, profile, &role).await?;
        if let Some(warning) = warnings.first() {
            self.store.flag_for_review(&mut tx, profile, warning.reason).await?;
        }
        if !key.record(&mut tx, assignment.id, revision, "").await? {
            drop(tx);
            return Box::pin(self.assign_role(caller, request_id, profile, &role)).await;
        }
        tx.commit().await?;
        self.feed.committed(revision);
        Ok(Assigned { assignment, profile, warnings, consistency_token: self.feed.token(revision) })
    }

    /// Revokes the direct assignment of `role` to `profile`. A profile is never
    /// left without any role (R1.6: every user holds at least one role).
    pub async fn revoke_role(&self, caller: &Caller, profile: ProfileId, role: &str) -> CsmResult<String> {
        let role = self.known_role(role)?;
        self.authorize_profile_assignment(caller, profile, std::slice::from_ref(&role), "RevokeRole").await?;
        let mut tx = self.store.db().begin().await?;
        self.store.lock_profile(&mut tx, profile).await?;
        let held = self.store.direct_assignments_in(&mut tx, profile).await?;
        if !held.iter().any(|assignment| assignment.role == role) {
            return Err(CsmError::not_found("assignment", format!("{profile}/{role}")));
        }
        if held.len() == 1 {
            return Err(CsmError::failed_precondition(
                "LAST_ROLE",
                format!("{role} is the last role of {profile}; every user holds at least one role (R1.6)"),
            ));
        }
        let revision = self
            .store
            .delete_assignment(&mut tx, profile, &role)
            .await?
            .ok_or_else(|| CsmError::not_found("assignment", format!("{profile}/{role}")))?;
        tx.commit().await?;
        self.feed.committed(revision);
        Ok(self.feed.token(revision))
    }
}
