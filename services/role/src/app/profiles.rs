//! Profile-level use cases: effective roles (§0.4, R2.18, R2.19), the one
//! check of every direct-role change (AssignRole, ReplaceProfileRoles and
//! their ValidateAssignment dry runs), ListProfileRoles, ListAssignableRoles,
//! BatchGetEffectiveRoles, GetPrincipalClass and EnsureDefaultClass (R2.7,
//! R2.13, R2.13a, R1.6).

use std::collections::BTreeSet;

use csm_auth::Caller;
use csm_db::{PageRequest, Tx};
use csm_errors::{CsmError, CsmResult, ErrorCode};
use csm_proto::identity::UserClass;
use csm_types::{GroupId, ProfileId};
use uuid::Uuid;

use super::RoleApp;
use super::delegation::{active_profile, missing_assignment_role};
use super::validation::ValidationFinding;
use crate::domain::PrincipalClass;
use crate::domain::assignments::DirectAssignment;
use crate::domain::catalog::{ADMIN, SNC_EXTERNAL, SNC_INTERNAL};
use crate::domain::collisions::{Finding, Policies, check_additions};
use crate::domain::delegation::AssignmentAuthority;
use crate::domain::groups::{GroupHierarchy, GroupMembership, InheritanceLink, memberships_from};

/// One way a profile holds a role (R2.18, R2.19, §0.4 closure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub role: String,
    /// The role assigned to the profile or to `group`.
    pub assigned_role: String,
    /// The direct assignment, when `assigned_role` is assigned to the profile itself.
    pub assignment_id: Option<Uuid>,
    /// The group `assigned_role` is assigned to, when it comes through a group.
    pub group: Option<GroupId>,
    /// From the profile's direct membership up the parent chain to `group` (inclusive).
    pub group_path: Vec<GroupId>,
    /// From `assigned_role` down to `role`, both included.
    pub containment_path: Vec<String>,
}

/// `eff_roles(profile)` with the grants that explain them (§0.4, R2.7).
#[derive(Debug, Clone)]
pub struct EffectiveRoles {
    pub profile: ProfileId,
    pub roles: BTreeSet<String>,
    pub grants: Vec<RoleGrant>,
    pub class: PrincipalClass,
    /// Groups the profile belongs to, directly and through ancestry.
    pub group_memberships: Vec<GroupMembership>,
    pub flagged_for_review: bool,
}

/// A proposed change to what a profile holds, for PreviewEffectiveRoles:
/// role names or aliases, and groups joined or left directly.
#[derive(Debug, Clone, Default)]
pub struct RoleProposal {
    pub assign_roles: Vec<String>,
    pub revoke_roles: Vec<String>,
    pub join_groups: Vec<GroupId>,
    pub leave_groups: Vec<GroupId>,
}

/// A change to a profile's direct roles.
#[derive(Debug, Clone, Copy)]
pub enum ProfileRoleChange<'a> {
    /// AssignRole: one more direct role.
    Add(&'a str),
    /// ReplaceProfileRoles: the new set within the caller's replaceable roles.
    Replace(&'a [String]),
}

/// What a direct-role change would write, after every check passed.
#[derive(Debug, Clone)]
pub struct ProfileRolePlan {
    pub remove: Vec<String>,
    pub add: Vec<String>,
    /// Direct roles kept because they are outside a delegated admin's assignable set.
    pub retained: Vec<String>,
    pub warnings: Vec<Finding>,
}

/// The result of ReplaceProfileRoles.
#[derive(Debug, Clone)]
pub struct ProfileRolesReplaced {
    pub profile: ProfileId,
    pub assignments: Vec<DirectAssignment>,
    pub retained: Vec<String>,
    pub warnings: Vec<Finding>,
    pub consistency_token: String,
}

/// The answer of ListAssignableRoles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignableRoles {
    pub roles: BTreeSet<String>,
    pub unrestricted: bool,
}

/// What EnsureDefaultClass did (R2.13, R2.13a).
#[derive(Debug, Clone)]
pub enum DefaultClassOutcome {
    AlreadyClassified,
    Assigned(DirectAssignment),
}

#[derive(Debug, Clone)]
pub struct DefaultClassEnsured {
    pub profile: ProfileId,
    pub outcome: DefaultClassOutcome,
    pub class: PrincipalClass,
    pub consistency_token: String,
}

impl RoleApp {
    /// The effective roles of `profile`. A person may read its own; reading
    /// another profile's needs `admin` (services are authorized by policy).
    pub async fn effective_roles(&self, caller: &Caller, profile: ProfileId) -> CsmResult<(EffectiveRoles, String)> {
        let head = self.feed.head().await?;
        if let Caller::Human(human) = caller
            && human.profile_id != Some(profile)
        {
            let own = human.profile_id.ok_or_else(|| {
                CsmError::permission_denied(
                    "ACTIVE_PROFILE_REQUIRED",
                    "reading effective roles needs an active profile",
                )
            })?;
            if !self.compute(own).await?.roles.contains(ADMIN) {
                return Err(CsmError::permission_denied(
                    "MISSING_ROLE",
                    "reading another profile's effective roles requires admin",
                ));
            }
        }
        Ok((self.compute(profile).await?, self.feed.token(head)))
    }

    /// `eff_roles(profile)`: the closure of every role assigned to the profile
    /// directly or to a group it belongs to directly or through ancestry
    /// (§0.4, R2.18, R2.19). The group part is one query (memberships →
    /// ancestry closure → group roles); closures come precomputed from the graph.
    pub(super) async fn compute(&self, profile: ProfileId) -> CsmResult<EffectiveRoles> {
        let assignments = self.store.direct_assignments(profile).await?;
        let inheritance = self.store.profile_inheritance(profile).await?;
        let flagged_for_review = self.store.is_flagged_for_review(profile).await?;
        Ok(self.effective_from(profile, &assignments, &inheritance, flagged_for_review))
    }

    /// `eff_roles` of `profile` from its direct assignments and its groups'
    /// inheritance rows, whether read (GetEffectiveRoles) or proposed
    /// (PreviewEffectiveRoles): one computation for both.
    fn effective_from(
        &self,
        profile: ProfileId,
        assignments: &[DirectAssignment],
        inheritance: &[InheritanceLink],
        flagged_for_review: bool,
    ) -> EffectiveRoles {
        let mut roles = BTreeSet::new();
        let mut grants = Vec::new();
        for assignment in assignments {
            let Some(paths) = self.graph.closure_paths(&assignment.role) else { continue };
            for (role, path) in paths {
                roles.insert(role.clone());
                grants.push(RoleGrant {
                    role: role.clone(),
                    assigned_role: assignment.role.clone(),
                    assignment_id: (!assignment.id.is_nil()).then_some(assignment.id),
                    group: None,
                    group_path: Vec::new(),
                    containment_path: path.clone(),
                });
            }
        }
        let hierarchy = GroupHierarchy::new(
            inheritance.iter().map(|row| (row.member_group, row.ancestor, row.depth)),
            inheritance.iter().filter_map(|row| row.role.clone().map(|role| (row.ancestor, role))),
        );
        for row in inheritance {
            let Some(assigned_role) = &row.role else { continue };
            let Some(paths) = self.graph.closure_paths(assigned_role) else { continue };
            let chain = hierarchy.chain(row.member_group);
            let group_path: Vec<GroupId> = chain.iter().take(row.depth as usize + 1).copied().collect();
            for (role, path) in paths {
                roles.insert(role.clone());
                grants.push(RoleGrant {
                    role: role.clone(),
                    assigned_role: assigned_role.clone(),
                    assignment_id: None,
                    group: Some(row.ancestor),
                    group_path: group_path.clone(),
                    containment_path: path.clone(),
                });
            }
        }
        // By role; within a role direct grants come before group grants (stable sort).
        grants.sort_by(|left, right| left.role.cmp(&right.role));
        let group_memberships = memberships_from(
            inheritance.iter().map(|row| (row.member_group, row.manager, row.ancestor, row.depth, row.ancestor_kind)),
        );
        let class = PrincipalClass::of(roles.iter().map(String::as_str));
        EffectiveRoles { profile, roles, grants, class, group_memberships, flagged_for_review }
    }

    /// PreviewEffectiveRoles: `profile`'s effective roles as they would be
    /// after `proposal`, nothing written (access review "what if", issue 13).
    /// Role administrators and services. A revoked role must be held
    /// directly and a left group be a direct membership (NOT_FOUND otherwise,
    /// as RevokeRole and RemoveGroupMember answer); collisions are not
    /// checked here (ValidateAssignment answers those).
    pub async fn preview_effective_roles(
        &self,
        caller: &Caller,
        profile: ProfileId,
        proposal: &RoleProposal,
    ) -> CsmResult<(EffectiveRoles, String)> {
        self.authorize_role_administration(caller, "PreviewEffectiveRoles").await?;
        let head = self.feed.head().await?;
        let mut assignments = self.store.direct_assignments(profile).await?;
        let mut inheritance = self.store.profile_inheritance(profile).await?;
        for role in &proposal.revoke_roles {
            let role = self.known_role(role)?;
            let before = assignments.len();
            assignments.retain(|assignment| assignment.role != role);
            if assignments.len() == before {
                return Err(CsmError::not_found("assignment", format!("{profile}/{role}")));
            }
        }
        for role in &proposal.assign_roles {
            let role = self.known_role(role)?;
            if !assignments.iter().any(|assignment| assignment.role == role) {
                assignments.push(DirectAssignment { id: Uuid::nil(), role, created_at: csm_db::now() });
            }
        }
        for group in &proposal.leave_groups {
            let before = inheritance.len();
            inheritance.retain(|row| row.member_group != *group);
            if inheritance.len() == before {
                return Err(CsmError::not_found("membership", format!("{group}/{profile}")));
            }
        }
        for group in &proposal.join_groups {
            if inheritance.iter().any(|row| row.member_group == *group) {
                continue;
            }
            let rows = self.store.group_inheritance(*group).await?;
            if rows.is_empty() {
                return Err(CsmError::not_found("group", group));
            }
            inheritance.extend(rows);
        }
        let flagged_for_review = self.store.is_flagged_for_review(profile).await?;
        Ok((self.effective_from(profile, &assignments, &inheritance, flagged_for_review), self.feed.token(head)))
    }

    /// The one check of a change to `profile`'s direct roles, read in `tx`
    /// (after the profile lock for a write): ASSIGNMENT_EXISTS for an Add of a
    /// held role, then the collision rules over what the profile would hold,
    /// directly and through its groups (R2.10–R2.17, R1.13–R1.15).
    /// `replaceable` limits a Replace to a delegated admin's assignable roles.
    pub(crate) async fn plan_profile_roles(
        &self,
        tx: &mut Tx,
        profile: ProfileId,
        change: ProfileRoleChange<'_>,
        replaceable: Option<&BTreeSet<String>>,
        policies: Policies,
    ) -> CsmResult<Result<ProfileRolePlan, Finding>> {
        let current = self.store.direct_assignments_in(tx, profile).await?;
        let inherited: BTreeSet<String> =
            self.store.profile_inheritance_in(tx, profile).await?.into_iter().filter_map(|row| row.role).collect();
        let held: BTreeSet<String> = current.iter().map(|assignment| assignment.role.clone()).collect();
        let (base, additions, remove, add, retained) = match change {
            ProfileRoleChange::Add(role) => {
                if held.contains(role) {
                    return Err(CsmError::already_exists(
                        "ASSIGNMENT_EXISTS",
                        format!("{profile} already holds {role}"),
                    )
                    .with_metadata("profile_id", profile.to_string())
                    .with_metadata("role", role));
                }
                let base: BTreeSet<String> = held.union(&inherited).cloned().collect();
                (base, vec![role.to_owned()], Vec::new(), vec![role.to_owned()], Vec::new())
            }
            ProfileRoleChange::Replace(roles) => {
                let wanted: BTreeSet<String> = roles.iter().cloned().collect();
                let retained: Vec<String> = held
                    .iter()
                    .filter(|role| !wanted.contains(*role))
                    .filter(|role| replaceable.is_some_and(|replaceable| !replaceable.contains(*role)))
                    .cloned()
                    .collect();
                let remove: Vec<String> =
                    held.iter().filter(|role| !wanted.contains(*role) && !retained.contains(role)).cloned().collect();
                let add: Vec<String> = wanted.iter().filter(|role| !held.contains(*role)).cloned().collect();
                let base: BTreeSet<String> = retained.iter().cloned().chain(inherited.iter().cloned()).collect();
                // Checked in request order: the first collision reported is the one the form would show.
                (base, roles.to_vec(), remove, add, retained)
            }
        };
        Ok(check_additions(&self.graph, &base, &additions, policies).map(|warnings| ProfileRolePlan {
            remove,
            add,
            retained,
            warnings,
        }))
    }

    /// [`plan_profile_roles`](Self::plan_profile_roles) for a mutation: the first
    /// blocking finding is the FAILED_PRECONDITION the RPC answers.
    pub(crate) async fn checked_profile_roles(
        &self,
        tx: &mut Tx,
        profile: ProfileId,
        change: ProfileRoleChange<'_>,
        replaceable: Option<&BTreeSet<String>>,
        policies: Policies,
    ) -> CsmResult<ProfileRolePlan> {
        self.plan_profile_roles(tx, profile, change, replaceable, policies).await?.map_err(|finding| {
            let role = finding.added_role().to_owned();
            tracing::info!(%profile, %role, reason = finding.reason, rule = finding.rule, "assignment refused");
            collision_error(profile, &role, &finding)
        })
    }

    /// Replaces `profile`'s direct roles with `roles` in one transaction (R1.6,
    /// R4.8): all of them for role administrators and services, only the
    /// assignable ones for a delegated admin (the others are retained).
    pub async fn replace_profile_roles(
        &self,
        caller: &Caller,
        profile: ProfileId,
        roles: &[String],
    ) -> CsmResult<ProfileRolesReplaced> {
        const RPC: &str = "ReplaceProfileRoles";
        let roles = self.canonical_role_set(roles)?;
        let authority = self.authorize_profile_assignment(caller, profile, &roles, RPC).await?;
        if matches!(caller, Caller::Human(_)) && !self.identity.profile_exists(profile).await? {
            return Err(CsmError::not_found("profile", profile));
        }
        let replaceable = match &authority {
            AssignmentAuthority::Delegated(admin) => Some(admin.assignable.clone()),
            _ => None,
        };
        let policies = self.policies().await?;
        let mut tx = self.store.db().begin().await?;
        self.store.lock_profile(&mut tx, profile).await?;
        self.store.lock_role_graph_shared(&mut tx).await?;
        let plan = self
            .checked_profile_roles(&mut tx, profile, ProfileRoleChange::Replace(&roles), replaceable.as_ref(), policies)
            .await?;
        let mut last_revision = None;
        for role in &plan.remove {
            last_revision = self.store.delete_assignment(&mut tx, profile, role).await?.or(last_revision);
        }
        for role in &plan.add {
            last_revision = Some(self.store.insert_assignment(&mut tx, profile, role).await?.1);
        }
        if let (Some(warning), Some(_)) = (plan.warnings.first(), last_revision) {
            self.store.flag_for_review(&mut tx, profile, warning.reason).await?;
        }
        let assignments = self.store.direct_assignments_in(&mut tx, profile).await?;
        tx.commit().await?;
        let revision = match last_revision {
            Some(revision) => {
                self.feed.committed(revision);
                revision
            }
            None => self.feed.head().await?,
        };
        Ok(ProfileRolesReplaced {
            profile,
            assignments,
            retained: plan.retained,
            warnings: plan.warnings,
            consistency_token: self.feed.token(revision),
        })
    }

    /// Canonical, known, deduplicated role names in request order; EMPTY_ROLE_SET when none (R1.6).
    fn canonical_role_set(&self, roles: &[String]) -> CsmResult<Vec<String>> {
        if roles.is_empty() {
            return Err(CsmError::invalid_argument(
                "EMPTY_ROLE_SET",
                "a profile's role set cannot be saved empty; every user holds at least one role (R1.6)",
            ));
        }
        let mut canonical: Vec<String> = Vec::new();
        for role in roles {
            let role = self.known_role(role)?;
            if !canonical.contains(&role) {
                canonical.push(role);
            }
        }
        Ok(canonical)
    }

    /// ValidateAssignment for AssignRole / ReplaceProfileRoles: the same
    /// authorization and checks as the mutation, nothing written. Authority
    /// and scope refusals of a delegated admin, collisions and every other
    /// refusal of the mutation (unknown role or profile, a held role, an empty
    /// set) are blocking findings; a caller with no assignment right at all is
    /// MISSING_ROLE.
    pub async fn validate_profile_roles(
        &self,
        caller: &Caller,
        profile: ProfileId,
        change: ProfileRoleChange<'_>,
    ) -> CsmResult<Vec<ValidationFinding>> {
        const RPC: &str = "ValidateAssignment";
        let roles = match change {
            ProfileRoleChange::Add(role) => self.known_role(role).map(|role| vec![role]),
            ProfileRoleChange::Replace(roles) => self.canonical_role_set(roles),
        };
        let roles = match roles {
            Ok(roles) => roles,
            Err(error) => return Ok(vec![ValidationFinding::refusal(error)?]),
        };
        let authority = match self.authorize_profile_assignment(caller, profile, &roles, RPC).await {
            Ok(authority) => authority,
            Err(error) if error.code() == ErrorCode::PermissionDenied => {
                let rule = match error.reason() {
                    "ROLE_NOT_ASSIGNABLE" => "R4.7",
                    "PROFILE_OUT_OF_SCOPE" => "R4.8",
                    _ => return Err(error),
                };
                let finding = ValidationFinding {
                    reason: error.reason().to_owned(),
                    rule: rule.to_owned(),
                    blocking: true,
                    path: None,
                };
                return Ok(vec![finding]);
            }
            Err(error) => return Err(error),
        };
        if matches!(caller, Caller::Human(_)) && !self.identity.profile_exists(profile).await? {
            return Ok(vec![ValidationFinding::refusal(CsmError::not_found("profile", profile))?]);
        }
        let replaceable = match &authority {
            AssignmentAuthority::Delegated(admin) => Some(admin.assignable.clone()),
            _ => None,
        };
        let change = match change {
            ProfileRoleChange::Add(_) => ProfileRoleChange::Add(&roles[0]),
            ProfileRoleChange::Replace(_) => ProfileRoleChange::Replace(&roles),
        };
        let policies = self.policies().await?;
        // Read-only: the transaction is rolled back when dropped.
        let mut tx = self.store.db().begin().await?;
        let planned = self.plan_profile_roles(&mut tx, profile, change, replaceable.as_ref(), policies).await;
        drop(tx);
        match planned {
            Ok(Ok(plan)) => {
                Ok(plan.warnings.iter().map(|finding| ValidationFinding::of_profile(profile, finding, false)).collect())
            }
            Ok(Err(finding)) => Ok(vec![ValidationFinding::of_profile(profile, &finding, true)]),
            Err(error) => Ok(vec![ValidationFinding::refusal(error)?]),
        }
    }

    /// Grants of `profile` (one per role and path, R2.18, R2.19), for the
    /// profile itself, role administrators, delegated admins in scope and
    /// services; keyset-paged by (role, path).
    pub async fn list_profile_roles(
        &self,
        caller: &Caller,
        profile: ProfileId,
        sources: &[GrantSource],
        page: &PageRequest,
    ) -> CsmResult<(Vec<RoleGrant>, String)> {
        const RPC: &str = "ListProfileRoles";
        if let Some(actor) = active_profile(caller, RPC)?
            && actor != profile
        {
            match self.authority_of(actor).await? {
                AssignmentAuthority::Unrestricted => {}
                AssignmentAuthority::Delegated(admin) => self.check_delegated_scope(actor, &admin, profile).await?,
                AssignmentAuthority::None => return Err(missing_assignment_role(RPC)),
            }
        }
        let effective = self.compute(profile).await?;
        let mut grants: Vec<(String, RoleGrant)> = effective
            .grants
            .into_iter()
            .filter(|grant| sources.is_empty() || sources.contains(&GrantSource::of(grant)))
            .map(|grant| (grant_key(&grant), grant))
            .collect();
        grants.sort_by(|left, right| left.0.cmp(&right.0));
        let rows: Vec<(String, RoleGrant)> = grants
            .into_iter()
            .filter(|(key, _)| page.after.as_ref().is_none_or(|after| key > after))
            .take(page.fetch_limit() as usize)
            .collect();
        let (rows, token) = page.finish(rows, |(key, _)| key.clone());
        Ok((rows.into_iter().map(|(_, grant)| grant).collect(), token))
    }

    /// The roles `actor` (default: the caller) may assign as a delegated
    /// admin, optionally checking its scope over `target` (R4.7, R4.8).
    /// Naming another actor needs a service or a role administrator.
    pub async fn list_assignable_roles(
        &self,
        caller: &Caller,
        actor: Option<ProfileId>,
        target: Option<ProfileId>,
    ) -> CsmResult<AssignableRoles> {
        const RPC: &str = "ListAssignableRoles";
        let own = active_profile(caller, RPC)?;
        let actor = match (actor, own) {
            (Some(actor), Some(own)) if actor != own => {
                if self.authority_of(own).await? != AssignmentAuthority::Unrestricted {
                    return Err(CsmError::permission_denied(
                        "MISSING_ROLE",
                        "naming another actor_profile_id requires admin",
                    )
                    .with_metadata("required_any_of", ADMIN));
                }
                actor
            }
            (Some(actor), _) => actor,
            (None, Some(own)) => own,
            (None, None) => {
                return Err(CsmError::invalid_field("actor_profile_id", "is required for a service caller"));
            }
        };
        match self.authority_of(actor).await? {
            AssignmentAuthority::Unrestricted => Ok(AssignableRoles { roles: BTreeSet::new(), unrestricted: true }),
            AssignmentAuthority::None => Ok(AssignableRoles { roles: BTreeSet::new(), unrestricted: false }),
            AssignmentAuthority::Delegated(admin) => {
                if let Some(target) = target {
                    self.check_delegated_scope(actor, &admin, target).await?;
                }
                Ok(AssignableRoles { roles: admin.assignable, unrestricted: false })
            }
        }
    }

    /// GetEffectiveRoles for many profiles at one revision (DESIGN §3): each
    /// distinct profile once, in request order. People may read only their
    /// own profile unless they hold admin.
    pub async fn batch_effective_roles(
        &self,
        caller: &Caller,
        profiles: &[ProfileId],
    ) -> CsmResult<(Vec<EffectiveRoles>, String)> {
        let head = self.feed.head().await?;
        if let Some(own) = active_profile(caller, "BatchGetEffectiveRoles")?
            && profiles.iter().any(|profile| *profile != own)
            && !self.compute(own).await?.roles.contains(ADMIN)
        {
            return Err(CsmError::permission_denied(
                "MISSING_ROLE",
                "reading another profile's effective roles requires admin",
            )
            .with_metadata("required_any_of", ADMIN));
        }
        let mut seen = BTreeSet::new();
        let mut answers = Vec::new();
        for profile in profiles {
            if seen.insert(*profile) {
                answers.push(self.compute(*profile).await?);
            }
        }
        Ok((answers, self.feed.token(head)))
    }

    /// The explicit class of `profile` and how it holds snc_internal /
    /// snc_external (R2.7, R1.1); readable like GetEffectiveRoles.
    pub async fn principal_class(
        &self,
        caller: &Caller,
        profile: ProfileId,
    ) -> CsmResult<(PrincipalClass, Vec<RoleGrant>, String)> {
        let (effective, token) = self.effective_roles(caller, profile).await?;
        let explicit = effective
            .grants
            .into_iter()
            .filter(|grant| grant.role == SNC_INTERNAL || grant.role == SNC_EXTERNAL)
            .collect();
        Ok((effective.class, explicit, token))
    }

    /// At (first) login: a profile reaching neither explicit role gets
    /// snc_external when identity reports its user class on the enforced
    /// internal-user deny list, else snc_internal (R2.13, R2.13a) — the rule
    /// identity's own first-login path applies. Idempotent: the check is
    /// repeated under the profile lock, so concurrent calls write once.
    /// Callers: services (identity), the profile itself, role administrators.
    pub async fn ensure_default_class(&self, caller: &Caller, profile: ProfileId) -> CsmResult<DefaultClassEnsured> {
        const RPC: &str = "EnsureDefaultClass";
        if let Some(own) = active_profile(caller, RPC)?
            && own != profile
            && !self.compute(own).await?.roles.contains(ADMIN)
        {
            return Err(CsmError::permission_denied(
                "MISSING_ROLE",
                "EnsureDefaultClass is for the profile itself, its login flow or admin",
            )
            .with_metadata("required_any_of", ADMIN));
        }
        let current = self.compute(profile).await?;
        if current.class != PrincipalClass::None {
            return self.already_classified(profile, current.class).await;
        }
        let identity_profile =
            self.identity.profile(profile).await?.ok_or_else(|| CsmError::not_found("profile", profile))?;
        let settings = self.identity.settings().await?;
        let user_class = UserClass::try_from(identity_profile.user_class).unwrap_or(UserClass::Unspecified);
        let deny_listed =
            settings.enforce_internal_user_deny_list && settings.internal_user_deny_list.contains(&(user_class as i32));
        let role = if deny_listed { SNC_EXTERNAL } else { SNC_INTERNAL };

        let policies = self.policies().await?;
        let mut tx = self.store.db().begin().await?;
        self.store.lock_profile(&mut tx, profile).await?;
        self.store.lock_role_graph_shared(&mut tx).await?;
        let direct = self.store.direct_assignments_in(&mut tx, profile).await?;
        let inherited = self.store.profile_inheritance_in(&mut tx, profile).await?;
        let held: BTreeSet<String> = direct
            .iter()
            .map(|assignment| assignment.role.clone())
            .chain(inherited.into_iter().filter_map(|row| row.role))
            .collect();
        let class = PrincipalClass::of(held.iter().flat_map(|role| self.graph.closure(role)));
        if class != PrincipalClass::None {
            drop(tx);
            return self.already_classified(profile, class).await;
        }
        let plan = self.checked_profile_roles(&mut tx, profile, ProfileRoleChange::Add(role), None, policies).await?;
        let (assignment, revision) = self.store.insert_assignment(&mut tx, profile, role).await?;
        if let Some(warning) = plan.warnings.first() {
            self.store.flag_for_review(&mut tx, profile, warning.reason).await?;
        }
        tx.commit().await?;
        self.feed.committed(revision);
        let class = if role == SNC_INTERNAL { PrincipalClass::Internal } else { PrincipalClass::External };
        Ok(DefaultClassEnsured {
            profile,
            outcome: DefaultClassOutcome::Assigned(assignment),
            class,
            consistency_token: self.feed.token(revision),
        })
    }

    async fn already_classified(&self, profile: ProfileId, class: PrincipalClass) -> CsmResult<DefaultClassEnsured> {
        let head = self.feed.head().await?;
        Ok(DefaultClassEnsured {
            profile,
            outcome: DefaultClassOutcome::AlreadyClassified,
            class,
            consistency_token: self.feed.token(head),
        })
    }
}

/// How a grant is held (RoleSource).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantSource {
    Direct,
    Group,
    Containment,
}

impl GrantSource {
    pub fn of(grant: &RoleGrant) -> GrantSource {
        if grant.containment_path.len() > 1 {
            GrantSource::Containment
        } else if grant.group.is_some() {
            GrantSource::Group
        } else {
            GrantSource::Direct
        }
    }
}

/// The keyset position of a grant: role, then its path (unique per profile).
fn grant_key(grant: &RoleGrant) -> String {
    let groups: Vec<String> = grant.group_path.iter().map(ToString::to_string).collect();
    format!("{}\u{1f}{}\u{1f}{}", grant.role, groups.join(">"), grant.containment_path.join(">"))
}

/// FAILED_PRECONDITION naming the rule and the first colliding path.
fn collision_error(profile: ProfileId, role: &str, finding: &Finding) -> CsmError {
    CsmError::failed_precondition(finding.reason, finding.message.clone())
        .with_metadata("rule", finding.rule)
        .with_metadata("profile_id", profile.to_string())
        .with_metadata("role", role)
        .with_metadata("conflicting_role", finding.existing_path.last().cloned().unwrap_or_default())
        .with_metadata("path", format!("{} | {}", finding.existing_path.join(" > "), finding.new_path.join(" > ")))
}
