//! identity's directory use cases: departments (R6.3, R6.4), Cherwell security
//! groups (R1.8, R6.1, R6.6) and settings (R1.3, R2.13a).
//!
//! Changes are for administrators ([`DIRECTORY_ADMIN_ROLES`]); reads are open
//! to every authenticated caller (people data, R6.2; no visibility rule yet).

use csm_auth::Caller;
use csm_changefeed::Operation;
use csm_changefeed::idempotency::RequestKey;
use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult};
use csm_types::{DepartmentId, ProfileId, SecurityGroupId};

use super::{IdentityApp, Written};
use crate::domain::directory::{
    DIRECTORY_ADMIN_ROLES, Department, DepartmentChanges, IdentitySettings, NewDepartment, NewSecurityGroup,
    PresentationRolesError, SecurityGroup, SecurityGroupChanges, SecurityGroupKind, SettingsChanges,
};
use crate::domain::people::Profile;

/// The result of AssignSecurityGroup (R1.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupAssignment {
    pub profile_id: ProfileId,
    pub security_group_id: SecurityGroupId,
    /// The replaced group; `None` if the profile had none.
    pub previous_security_group_id: Option<SecurityGroupId>,
}

/// The error of a refused set of presentation roles: DEFAULT_ROLE_NOT_IN_GROUP
/// for a default outside the roles, else a field violation of `roles_field`.
pub(crate) fn presentation_roles_error(error: PresentationRolesError, roles_field: &str) -> CsmError {
    match error {
        PresentationRolesError::DefaultNotInGroup(_) => {
            CsmError::invalid_argument("DEFAULT_ROLE_NOT_IN_GROUP", error.to_string())
        }
        other => CsmError::invalid_field(roles_field, other.to_string()),
    }
}

impl IdentityApp {
    /// Creates the out-of-the-box security groups (R6.6) that do not exist yet.
    /// Idempotent: safe at every start-up and from several replicas at once.
    pub async fn seed_directory(&self) -> CsmResult<()> {
        if let Some(revision) = self.store.seed_security_groups().await? {
            self.feed.committed(revision);
        }
        Ok(())
    }

    // ------------------------------------------------------------ departments

    /// Creates a department. A retry with the same `request_id` returns the
    /// department the first call created.
    pub async fn create_department(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewDepartment,
    ) -> CsmResult<Written<Department>> {
        const RPC: &str = "CreateDepartment";
        self.roles.authorize(caller, DIRECTORY_ADMIN_ROLES, RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, &new);
        if let Some((id, revision)) = self.replayed(&key).await? {
            let department = self.store.get_department(DepartmentId::from_uuid(id)).await?;
            let department = department.ok_or_else(|| CsmError::not_found("department", id))?;
            return Ok(self.written(department, revision));
        }
        let mut tx = self.store.db().begin().await?;
        let (department, revision) = self.store.insert_department(&mut tx, &new).await?;
        if !self.record_created(&mut tx, &key, *department.id.as_uuid(), revision).await? {
            // A concurrent retry with the same request id won: answer with its result.
            drop(tx);
            return Box::pin(self.create_department(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(department, revision))
    }

    pub async fn get_department(&self, _caller: &Caller, id: DepartmentId) -> CsmResult<Department> {
        self.store.get_department(id).await?.ok_or_else(|| CsmError::not_found("department", id))
    }

    /// Updates name, description or active of a department.
    pub async fn update_department(
        &self,
        caller: &Caller,
        id: DepartmentId,
        changes: DepartmentChanges,
    ) -> CsmResult<Written<Department>> {
        self.roles.authorize(caller, DIRECTORY_ADMIN_ROLES, "UpdateDepartment").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.department_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("department", id))?;
        let (department, revision) = self.store.save_department(&mut tx, &changes.apply_to(&current)).await?;
        tx.commit().await?;
        Ok(self.committed(department, revision))
    }

    /// One page of departments ordered by id, and the next page token.
    pub async fn list_departments(
        &self,
        _caller: &Caller,
        page: PageRequest,
        name_prefix: Option<&str>,
        include_inactive: bool,
    ) -> CsmResult<(Vec<Department>, String)> {
        let rows = self.store.list_departments(&page, name_prefix, include_inactive).await?;
        Ok(page.finish(rows, |department| department.id.to_string()))
    }

    // -------------------------------------------------------- security groups

    /// Creates a USER or CUSTOMER security group (R1.8, R6.1); as the default
    /// group of its kind, it replaces the previous default.
    pub async fn create_security_group(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewSecurityGroup,
    ) -> CsmResult<Written<SecurityGroup>> {
        const RPC: &str = "CreateSecurityGroup";
        self.roles.authorize(caller, DIRECTORY_ADMIN_ROLES, RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, &new);
        if let Some((id, revision)) = self.replayed(&key).await? {
            let group = self.store.get_security_group(SecurityGroupId::from_uuid(id)).await?;
            let group = group.ok_or_else(|| CsmError::not_found("security_group", id))?;
            return Ok(self.written(group, revision));
        }
        if !new.kind.has_members() {
            return Err(CsmError::invalid_field(
                "kind",
                "must be SECURITY_GROUP_KIND_USER or SECURITY_GROUP_KIND_CUSTOMER",
            ));
        }
        let mut tx = self.store.db().begin().await?;
        let (group, revision) = self.store.insert_security_group(&mut tx, &new).await?;
        if !self.record_created(&mut tx, &key, *group.id.as_uuid(), revision).await? {
            drop(tx);
            return Box::pin(self.create_security_group(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(group, revision))
    }

    pub async fn get_security_group(&self, _caller: &Caller, id: SecurityGroupId) -> CsmResult<SecurityGroup> {
        self.store.get_security_group(id).await?.ok_or_else(|| CsmError::not_found("security_group", id))
    }

    /// Updates a security group (R6.1); its kind never changes. Sessions pick
    /// the change up when they start (R6.7).
    pub async fn update_security_group(
        &self,
        caller: &Caller,
        id: SecurityGroupId,
        changes: SecurityGroupChanges,
    ) -> CsmResult<Written<SecurityGroup>> {
        self.roles.authorize(caller, DIRECTORY_ADMIN_ROLES, "UpdateSecurityGroup").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.security_group_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("security_group", id))?;
        if changes.default_group == Some(true) && !current.kind.has_members() {
            return Err(CsmError::invalid_field(
                "security_group.default_group",
                "an ANONYMOUS group cannot be the default group: no profile can be in it",
            ));
        }
        let updated = changes
            .apply_to(&current)
            .map_err(|error| presentation_roles_error(error, "security_group.presentation_roles"))?;
        let (group, revision) = self.store.save_security_group(&mut tx, &current, &updated).await?;
        tx.commit().await?;
        Ok(self.committed(group, revision))
    }

    /// One page of security groups ordered by id, and the next page token.
    pub async fn list_security_groups(
        &self,
        _caller: &Caller,
        page: PageRequest,
        kind: Option<SecurityGroupKind>,
    ) -> CsmResult<(Vec<SecurityGroup>, String)> {
        let rows = self.store.list_security_groups(&page, kind).await?;
        Ok(page.finish(rows, |group| group.id.to_string()))
    }

    /// Puts a profile into a security group, replacing its previous one, so it
    /// is in exactly one (R1.8). The group's kind must be the one the profile
    /// needs (USER for INTERNAL, CUSTOMER otherwise), never ANONYMOUS.
    pub async fn assign_security_group(
        &self,
        caller: &Caller,
        profile: ProfileId,
        group: SecurityGroupId,
    ) -> CsmResult<Written<SecurityGroupAssignment>> {
        self.roles.authorize(caller, DIRECTORY_ADMIN_ROLES, "AssignSecurityGroup").await?;
        let mut tx = self.store.db().begin().await?;
        let before = self.locked_profile(&mut tx, profile).await?;
        let before = before.ok_or_else(|| CsmError::not_found("profile", profile))?;
        let target = self.store.security_group_in(&mut tx, group).await?;
        let target = target.ok_or_else(|| CsmError::not_found("security_group", group))?;
        let required_kind = before.kind.security_group_kind();
        if target.kind != required_kind {
            return Err(CsmError::failed_precondition(
                "SECURITY_GROUP_KIND_MISMATCH",
                format!(
                    "a {} profile needs a {required_kind} security group; {} is a {} group",
                    before.kind.as_str(),
                    target.name,
                    target.kind
                ),
            )
            .with_metadata("required_kind", required_kind.as_str())
            .with_metadata("security_group_kind", target.kind.as_str()));
        }
        let assignment = SecurityGroupAssignment {
            profile_id: profile,
            security_group_id: group,
            previous_security_group_id: before.security_group,
        };
        if before.security_group == Some(group) {
            // Already there: nothing to write (the lock is released unused).
            drop(tx);
            let head = self.feed.head().await?;
            return Ok(self.written(assignment, head));
        }
        let after = Profile { security_group: Some(group), updated_at: csm_db::now(), ..before.clone() };
        self.store.save_profile(&mut tx, &after).await?;
        let revision = self.store.append_profile_change_of(&mut tx, &after, Operation::Updated, Some(&before)).await?;
        tx.commit().await?;
        Ok(self.committed(assignment, revision))
    }

    // --------------------------------------------------------------- settings

    pub async fn get_settings(&self, _caller: &Caller) -> CsmResult<IdentitySettings> {
        self.store.settings().await
    }

    /// Updates identity's switches. The allowed consumer user types can never
    /// be emptied (INVALID_ARGUMENT reason EMPTY_ALLOWED_USER_TYPES). Changing
    /// them does not touch existing consumer links (R1.3).
    pub async fn update_settings(
        &self,
        caller: &Caller,
        changes: SettingsChanges,
    ) -> CsmResult<Written<IdentitySettings>> {
        self.roles.authorize(caller, DIRECTORY_ADMIN_ROLES, "UpdateSettings").await?;
        let mut tx = self.store.db().begin().await?;
        let revision = self.store.lock_settings(&mut tx).await?;
        let current = self.store.settings_in(&mut tx).await?;
        let updated = changes.apply_to(&current).map_err(|_| {
            CsmError::invalid_argument(
                "EMPTY_ALLOWED_USER_TYPES",
                "consumer_allowed_user_types must name at least one user class",
            )
        })?;
        let saved = self.store.save_settings(&mut tx, &updated).await?;
        tx.commit().await?;
        Ok(self.committed(saved, revision))
    }
}
