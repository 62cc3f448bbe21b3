//! Group use cases (R2.18, R2.19, R6.2, R1.8) and the collision rules of
//! group writes (R2.11.2, R2.11.5, R2.12.2–R2.12.5, with R2.15, R1.15 and
//! R2.17 for every profile reached).
//!
//! Every group write takes the role-graph lock exclusively as the first
//! statement of its transaction and reads what it checks after it, so two
//! writes that would only together create a collision (a role added to a
//! group while a conflicting member joins it) never both commit. Writes are
//! for role administrators (and services the static policy lets in); reads
//! are for any authenticated caller.

use std::collections::BTreeSet;

use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_db::{PageRequest, Tx};
use csm_errors::{CsmError, CsmResult, ErrorCode};
use csm_proto::identity::ProfileKind;
use csm_types::{GroupId, ProfileId};

use super::RoleApp;
use super::validation::{ValidationFinding, dry_run_findings};
use crate::domain::collisions::Policies;
use crate::domain::groups::{
    Affected, Group, GroupDetails, GroupFilter, GroupFinding, GroupKind, GroupMember, GroupMembership, GroupWrite,
    MemberKind, NewGroup, check_group_write, group_name_key, transitions_for_group_role, transitions_for_new_member,
    transitions_for_new_parent,
};
use crate::store::groups::GroupScope;

/// A group with what its Group message shows: its own and inherited roles and its managers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub group: Group,
    pub details: GroupDetails,
    /// Closure of the roles of the group and all its ancestors (what members inherit, R2.19).
    pub effective_roles: BTreeSet<String>,
}

/// The outcome of a group write that returns the group and may carry WARN-policy findings.
#[derive(Debug, Clone)]
pub struct GroupWritten {
    pub group: GroupView,
    pub warnings: Vec<GroupFinding>,
    pub consistency_token: String,
}

/// The outcome of AddGroupMember.
#[derive(Debug, Clone)]
pub struct MemberWritten {
    pub member: GroupMember,
    pub warnings: Vec<GroupFinding>,
    pub consistency_token: String,
}

/// The fields UpdateGroup changes (None: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// What an idempotent group write stored for its request id: the revision it
/// committed at, the entity it wrote and a fingerprint of the request, so a
/// retry is answered as the first call was and a reused id is refused.
struct StoredOutcome {
    revision: u64,
    entity: String,
}

const SEPARATOR: char = '\u{1f}';

const ADD_GROUP_MEMBER: &str = "AddGroupMember";
const ADD_GROUP_ROLE: &str = "AddGroupRole";
const SET_GROUP_PARENT: &str = "SetGroupParent";

/// The outcome of a group write's collision check: the WARN-policy warnings,
/// or the first blocking finding (R2.12: only the first is reported).
type GroupCheck = Result<Vec<GroupFinding>, Box<GroupFinding>>;

/// What SetGroupParent would do once its checks passed.
enum Reparenting {
    /// The group already has that parent: nothing to write.
    Unchanged,
    /// A move, with the collision check of every holder it changes.
    Move { row: Group, checked: GroupCheck },
}

impl RoleApp {
    // ------------------------------------------------------------ reads

    /// One group (any authenticated caller). NOT_FOUND reason GROUP_NOT_FOUND.
    pub async fn get_group(&self, group: GroupId) -> CsmResult<GroupView> {
        self.group_view(group).await
    }

    /// A page of groups ordered by name (any authenticated caller).
    pub async fn list_groups(&self, filter: &GroupFilter, page: &PageRequest) -> CsmResult<(Vec<GroupView>, String)> {
        let after = page.after_key(|token| {
            let (key, id) = token.rsplit_once(SEPARATOR)?;
            Some((key.to_owned(), GroupId::parse(id).ok()?))
        })?;
        let rows = self.store.list_groups(filter, after, page.fetch_limit()).await?;
        let (rows, next_page_token) =
            page.finish(rows, |group| format!("{}{SEPARATOR}{}", group_name_key(&group.name), group.id));
        Ok((self.group_views(rows).await?, next_page_token))
    }

    /// A page of a group's members ordered by profile, then group (any
    /// authenticated caller), optionally with the members of its descendants
    /// (who inherit its roles, R2.19) or only its managers (R6.2).
    pub async fn list_group_members(
        &self,
        group: GroupId,
        include_descendants: bool,
        managers_only: bool,
        page: &PageRequest,
    ) -> CsmResult<(Vec<GroupMember>, String)> {
        if self.store.group(group).await?.is_none() {
            return Err(CsmError::not_found("group", group));
        }
        let after = page.after_key(|token| {
            let (profile, member_group) = token.split_once('/')?;
            Some((ProfileId::parse(profile).ok()?, GroupId::parse(member_group).ok()?))
        })?;
        let rows =
            self.store.list_group_members(group, include_descendants, managers_only, after, page.fetch_limit()).await?;
        Ok(page.finish(rows, |member| format!("{}/{}", member.profile, member.group)))
    }

    /// A page of the groups a profile belongs to, ordered by group id (any
    /// authenticated caller; R2.19, R6.2, R6.3).
    pub async fn list_profile_groups(
        &self,
        profile: ProfileId,
        kind: Option<GroupKind>,
        include_ancestors: bool,
        page: &PageRequest,
    ) -> CsmResult<(Vec<GroupMembership>, String)> {
        let after = page.after_key(|token| GroupId::parse(token).ok())?;
        let rows = self.store.list_profile_groups(profile, kind, include_ancestors, after, page.fetch_limit()).await?;
        Ok(page.finish(rows, |membership| membership.group.to_string()))
    }

    // ----------------------------------------------------------- writes

    /// Creates a group, optionally under a parent of the same kind (R2.19,
    /// R6.2). A new group has no members and no roles, so it cannot collide.
    pub async fn create_group(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewGroup,
    ) -> CsmResult<(GroupView, String)> {
        const RPC: &str = "CreateGroup";
        self.authorize_role_administration(caller, RPC).await?;
        let fingerprint = [
            new.kind.as_str().to_owned(),
            group_name_key(&new.name),
            new.description.clone(),
            new.parent.map(|parent| parent.to_string()).unwrap_or_default(),
        ]
        .join(&SEPARATOR.to_string());
        if let Some(stored) = self.stored_outcome(RPC, caller, request_id, &fingerprint).await? {
            return self.replay_group(&stored).await;
        }
        let attempt = async {
            let mut tx = self.store.db().begin().await?;
            self.store.lock_role_graph(&mut tx).await?;
            if let Some(parent) = new.parent {
                let parent_row =
                    self.store.group_in(&mut tx, parent).await?.ok_or_else(|| CsmError::not_found("group", parent))?;
                if parent_row.kind != new.kind {
                    return Err(kind_mismatch(new.kind, &parent_row));
                }
            }
            let (row, revision) = self.store.insert_group(&mut tx, &new).await?;
            if !self
                .record_outcome(&mut tx, RPC, caller, request_id, revision, &row.id.to_string(), &fingerprint)
                .await?
            {
                return Ok(None);
            }
            tx.commit().await?;
            self.feed.committed(revision);
            Ok(Some((row.id, revision)))
        };
        match self.retry_aware(RPC, caller, request_id, &fingerprint, attempt.await).await? {
            Attempt::Done((group, revision)) => Ok((self.group_view(group).await?, self.feed.token(revision))),
            Attempt::Replay(stored) => self.replay_group(&stored).await,
        }
    }

    /// Renames and/or re-describes a group (R6.2). Kind and parent do not change here.
    pub async fn update_group(
        &self,
        caller: &Caller,
        group: GroupId,
        update: GroupUpdate,
    ) -> CsmResult<(GroupView, String)> {
        self.authorize_role_administration(caller, "UpdateGroup").await?;
        let mut tx = self.store.db().begin().await?;
        self.store.lock_role_graph(&mut tx).await?;
        let row = self.store.group_in(&mut tx, group).await?.ok_or_else(|| CsmError::not_found("group", group))?;
        let revision =
            self.store.update_group(&mut tx, &row, update.name.as_deref(), update.description.as_deref()).await?;
        tx.commit().await?;
        self.feed.committed(revision);
        Ok((self.group_view(group).await?, self.feed.token(revision)))
    }

    /// Deletes a childless group with its memberships and roles; its former
    /// members lose what they held only through it (R2.18).
    pub async fn delete_group(&self, caller: &Caller, group: GroupId) -> CsmResult<String> {
        self.authorize_role_administration(caller, "DeleteGroup").await?;
        let mut tx = self.store.db().begin().await?;
        self.store.lock_role_graph(&mut tx).await?;
        self.store.group_in(&mut tx, group).await?.ok_or_else(|| CsmError::not_found("group", group))?;
        if self.store.has_child_groups_in(&mut tx, group).await? {
            return Err(CsmError::failed_precondition(
                "GROUP_HAS_CHILDREN",
                format!("group {group} has child groups; re-parent or delete them first"),
            )
            .with_metadata("group_id", group.to_string()));
        }
        let revision = self.store.delete_group(&mut tx, group).await?;
        tx.commit().await?;
        self.feed.committed(revision);
        Ok(self.feed.token(revision))
    }

    /// Sets or clears a group's parent (R2.19). The group, its descendants
    /// and their members lose the old chain's roles and gain the new one's;
    /// the gain is checked for every one of them (R2.12.3, R2.15, R1.15, R2.17).
    pub async fn set_group_parent(
        &self,
        caller: &Caller,
        group: GroupId,
        parent: Option<GroupId>,
    ) -> CsmResult<GroupWritten> {
        self.authorize_role_administration(caller, SET_GROUP_PARENT).await?;
        let policies = self.policies().await?;
        let mut tx = self.store.db().begin().await?;
        self.store.lock_role_graph(&mut tx).await?;
        let (row, checked) = match self.check_group_parent(&mut tx, group, parent, policies).await? {
            Reparenting::Move { row, checked } => (row, checked),
            Reparenting::Unchanged => {
                // Nothing changes: answer with the current state and revision.
                drop(tx);
                let head = self.feed.head().await?;
                return Ok(GroupWritten {
                    group: self.group_view(group).await?,
                    warnings: Vec::new(),
                    consistency_token: self.feed.token(head),
                });
            }
        };
        let warnings = checked.map_err(|finding| group_collision_error(group, &finding))?;
        let revision = self.store.set_group_parent(&mut tx, &row, parent).await?;
        self.flag_warned_profiles(&mut tx, &warnings).await?;
        tx.commit().await?;
        self.feed.committed(revision);
        Ok(GroupWritten {
            group: self.group_view(group).await?,
            warnings,
            consistency_token: self.feed.token(revision),
        })
    }

    /// The checks of SetGroupParent, read in `tx` (under the role-graph lock
    /// for the write): both groups exist, have the same kind and the parent is
    /// not the group or below it; then the collision check of every holder the
    /// move changes (R2.12.3, R2.15, R1.15, R2.17).
    async fn check_group_parent(
        &self,
        tx: &mut Tx,
        group: GroupId,
        parent: Option<GroupId>,
        policies: Policies,
    ) -> CsmResult<Reparenting> {
        let row = self.store.group_in(tx, group).await?.ok_or_else(|| CsmError::not_found("group", group))?;
        if let Some(parent) = parent {
            let parent_row =
                self.store.group_in(tx, parent).await?.ok_or_else(|| CsmError::not_found("group", parent))?;
            if parent_row.kind != row.kind {
                return Err(kind_mismatch(row.kind, &parent_row));
            }
            if parent == group || self.store.is_ancestor_in(tx, parent, group).await? {
                return Err(CsmError::invalid_argument(
                    "GROUP_HIERARCHY_CYCLE",
                    format!("group {parent} is {group} or one of its descendants"),
                )
                .with_metadata("group_id", group.to_string())
                .with_metadata("parent_group_id", parent.to_string()));
            }
        }
        if row.parent == parent {
            return Ok(Reparenting::Unchanged);
        }
        let mut hierarchy = self.store.hierarchy_in(tx, GroupScope::Subtree(group)).await?;
        if let Some(parent) = parent {
            hierarchy.absorb(self.store.hierarchy_in(tx, GroupScope::Group(parent)).await?);
        }
        let members = self.store.profile_holdings_in(tx, GroupScope::Subtree(group)).await?;
        let transitions = transitions_for_new_parent(&hierarchy, group, parent, &members);
        let checked = check_group_write(&self.graph, GroupWrite::SetParent, &transitions, policies);
        Ok(Reparenting::Move { row, checked })
    }

    /// Adds a profile to a group, optionally as a manager (R6.2). identity
    /// must know the profile, and its kind must suit the group's (R1.8). The
    /// profile gains the roles of the group's chain (R2.18, R2.19), checked
    /// against everything it holds (R2.11.2, R2.12.5, R2.15, R1.15, R2.17).
    pub async fn add_group_member(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        group: GroupId,
        profile: ProfileId,
        manager: bool,
    ) -> CsmResult<MemberWritten> {
        const RPC: &str = ADD_GROUP_MEMBER;
        self.authorize_role_administration(caller, RPC).await?;
        let fingerprint = format!("{group}/{profile}/{manager}");
        if let Some(stored) = self.stored_outcome(RPC, caller, request_id, &fingerprint).await? {
            return self.replay_membership(group, profile, &stored).await;
        }
        self.check_member_kind(group, profile).await?;
        let policies = self.policies().await?;
        let attempt = async {
            let mut tx = self.store.db().begin().await?;
            self.store.lock_role_graph(&mut tx).await?;
            let warnings = self
                .check_group_member(&mut tx, group, profile, policies)
                .await?
                .map_err(|finding| group_collision_error(group, &finding))?;
            let (member, revision) = self.store.insert_membership(&mut tx, group, profile, manager).await?;
            self.flag_warned_profiles(&mut tx, &warnings).await?;
            if !self
                .record_outcome(&mut tx, RPC, caller, request_id, revision, &format!("{group}/{profile}"), &fingerprint)
                .await?
            {
                return Ok(None);
            }
            tx.commit().await?;
            self.feed.committed(revision);
            Ok(Some(MemberWritten { member, warnings, consistency_token: self.feed.token(revision) }))
        };
        match self.retry_aware(RPC, caller, request_id, &fingerprint, attempt.await).await? {
            Attempt::Done(written) => Ok(written),
            Attempt::Replay(stored) => self.replay_membership(group, profile, &stored).await,
        }
    }

    /// The first checks of AddGroupMember, before its transaction (the group
    /// kind is immutable, and the identity call must not hold the role-graph
    /// lock): the group exists, identity knows the profile, and its kind suits
    /// the group's (R1.8).
    async fn check_member_kind(&self, group: GroupId, profile: ProfileId) -> CsmResult<()> {
        let row = self.store.group(group).await?.ok_or_else(|| CsmError::not_found("group", group))?;
        let member_kind = match self.identity.profile_kind(profile).await? {
            None => return Err(CsmError::not_found("profile", profile)),
            Some(ProfileKind::Internal) => MemberKind::User,
            Some(ProfileKind::Unspecified) => MemberKind::Unknown,
            Some(_) => MemberKind::Customer,
        };
        if row.kind.admits(member_kind) {
            return Ok(());
        }
        Err(CsmError::failed_precondition(
            "GROUP_MEMBER_KIND_MISMATCH",
            match row.kind {
                GroupKind::Team => format!("team {group} takes only INTERNAL profiles (Cherwell Users); {profile} is not one"),
                _ => format!("customer workgroup {group} takes only non-INTERNAL profiles (Cherwell Customers); {profile} is not one"),
            },
        )
        .with_metadata("group_id", group.to_string())
        .with_metadata("profile_id", profile.to_string())
        .with_metadata("group_kind", row.kind.as_str()))
    }

    /// The checks of AddGroupMember in `tx` (under the role-graph lock for the
    /// write): the group exists, the profile is not a member yet, and what it
    /// gains from the group's chain is checked against everything it holds
    /// (R2.11.2, R2.12.5, R2.15, R1.15, R2.17).
    async fn check_group_member(
        &self,
        tx: &mut Tx,
        group: GroupId,
        profile: ProfileId,
        policies: Policies,
    ) -> CsmResult<GroupCheck> {
        self.store.group_in(tx, group).await?.ok_or_else(|| CsmError::not_found("group", group))?;
        if self.store.membership_in(tx, group, profile).await?.is_some() {
            return Err(membership_exists(group, profile));
        }
        let mut hierarchy = self.store.hierarchy_in(tx, GroupScope::Profile(profile)).await?;
        hierarchy.absorb(self.store.hierarchy_in(tx, GroupScope::Group(group)).await?);
        let holdings = self.store.profile_holdings_in(tx, GroupScope::Profile(profile)).await?;
        let Some(holdings) = holdings.into_iter().find(|holdings| holdings.profile == profile) else {
            return Err(CsmError::internal("the holdings of the joining profile are missing"));
        };
        let transitions = transitions_for_new_member(&hierarchy, group, &holdings);
        Ok(check_group_write(&self.graph, GroupWrite::AddMember, &transitions, policies))
    }

    /// Removes a profile from a group: it loses what it held only through it (R2.19).
    pub async fn remove_group_member(&self, caller: &Caller, group: GroupId, profile: ProfileId) -> CsmResult<String> {
        self.authorize_role_administration(caller, "RemoveGroupMember").await?;
        let mut tx = self.store.db().begin().await?;
        self.store.lock_role_graph(&mut tx).await?;
        let revision = self
            .store
            .delete_membership(&mut tx, group, profile)
            .await?
            .ok_or_else(|| CsmError::not_found("membership", format!("{group}/{profile}")))?;
        tx.commit().await?;
        self.feed.committed(revision);
        Ok(self.feed.token(revision))
    }

    /// Marks or unmarks a member as a manager of the group (R6.2).
    pub async fn set_group_member_manager(
        &self,
        caller: &Caller,
        group: GroupId,
        profile: ProfileId,
        manager: bool,
    ) -> CsmResult<(GroupMember, String)> {
        self.authorize_role_administration(caller, "SetGroupMemberManager").await?;
        let mut tx = self.store.db().begin().await?;
        self.store.lock_role_graph(&mut tx).await?;
        let (member, revision) = self
            .store
            .set_membership_manager(&mut tx, group, profile, manager)
            .await?
            .ok_or_else(|| CsmError::not_found("membership", format!("{group}/{profile}")))?;
        tx.commit().await?;
        self.feed.committed(revision);
        Ok((member, self.feed.token(revision)))
    }

    /// Assigns a role to a group: the group, its descendants and their
    /// members inherit it (R2.18, R2.19), checked for each of them (R2.11.4,
    /// R2.11.5, R2.12.2, R2.12.4, R2.15, R1.15, R2.17).
    pub async fn add_group_role(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        group: GroupId,
        role: &str,
    ) -> CsmResult<GroupWritten> {
        const RPC: &str = ADD_GROUP_ROLE;
        self.authorize_role_administration(caller, RPC).await?;
        let role = self.known_role(role)?;
        let fingerprint = format!("{group}/{role}");
        if let Some(stored) = self.stored_outcome(RPC, caller, request_id, &fingerprint).await? {
            return self.replay_group_written(&stored).await;
        }
        let policies = self.policies().await?;
        let attempt = async {
            let mut tx = self.store.db().begin().await?;
            self.store.lock_role_graph(&mut tx).await?;
            let warnings = self.check_group_role(&mut tx, group, &role, policies).await?.map_err(|finding| {
                tracing::info!(%group, %role, reason = finding.finding.reason, rule = finding.finding.rule, "group role refused");
                group_collision_error(group, &finding)
            })?;
            let revision = self.store.insert_group_role(&mut tx, group, &role).await?;
            self.flag_warned_profiles(&mut tx, &warnings).await?;
            if !self
                .record_outcome(&mut tx, RPC, caller, request_id, revision, &group.to_string(), &fingerprint)
                .await?
            {
                return Ok(None);
            }
            tx.commit().await?;
            self.feed.committed(revision);
            Ok(Some((warnings, revision)))
        };
        match self.retry_aware(RPC, caller, request_id, &fingerprint, attempt.await).await? {
            Attempt::Done((warnings, revision)) => Ok(GroupWritten {
                group: self.group_view(group).await?,
                warnings,
                consistency_token: self.feed.token(revision),
            }),
            Attempt::Replay(stored) => self.replay_group_written(&stored).await,
        }
    }

    /// The checks of AddGroupRole in `tx` (under the role-graph lock for the
    /// write): the group exists and does not hold the role yet, and the group,
    /// its descendants and their members are checked for what they gain
    /// (R2.11.4, R2.11.5, R2.12.2, R2.12.4, R2.15, R1.15, R2.17).
    async fn check_group_role(
        &self,
        tx: &mut Tx,
        group: GroupId,
        role: &str,
        policies: Policies,
    ) -> CsmResult<GroupCheck> {
        self.store.group_in(tx, group).await?.ok_or_else(|| CsmError::not_found("group", group))?;
        if self.store.group_has_role_in(tx, group, role).await? {
            return Err(CsmError::already_exists("GROUP_ROLE_EXISTS", format!("group {group} already holds {role}"))
                .with_metadata("group_id", group.to_string())
                .with_metadata("role", role));
        }
        let hierarchy = self.store.hierarchy_in(tx, GroupScope::Subtree(group)).await?;
        let members = self.store.profile_holdings_in(tx, GroupScope::Subtree(group)).await?;
        let transitions = transitions_for_group_role(&hierarchy, group, role, &members);
        Ok(check_group_write(&self.graph, GroupWrite::AddRole, &transitions, policies))
    }

    /// Removes a role from a group: members and descendants lose it unless
    /// they hold it another way (R2.19). Removing never creates a collision.
    pub async fn remove_group_role(
        &self,
        caller: &Caller,
        group: GroupId,
        role: &str,
    ) -> CsmResult<(GroupView, String)> {
        self.authorize_role_administration(caller, "RemoveGroupRole").await?;
        let role = self.known_role(role)?;
        let mut tx = self.store.db().begin().await?;
        self.store.lock_role_graph(&mut tx).await?;
        self.store.group_in(&mut tx, group).await?.ok_or_else(|| CsmError::not_found("group", group))?;
        let revision = self
            .store
            .delete_group_role(&mut tx, group, &role)
            .await?
            .ok_or_else(|| CsmError::not_found("group role", format!("{group}/{role}")))?;
        tx.commit().await?;
        self.feed.committed(revision);
        Ok((self.group_view(group).await?, self.feed.token(revision)))
    }

    // --------------------------------------------------------- dry runs

    // ValidateAssignment for the group writes: the mutation's authorization
    // and its own check functions, in a transaction that is only read and then
    // dropped (no role-graph lock: a dry run must not wait for or block
    // writers). Nothing is written: no row, change, flag or request record.

    /// ValidateAssignment of AddGroupRole(`group`, `role`).
    pub async fn validate_group_role(
        &self,
        caller: &Caller,
        group: GroupId,
        role: &str,
    ) -> CsmResult<Vec<ValidationFinding>> {
        self.authorize_role_administration(caller, ADD_GROUP_ROLE).await?;
        let checked = async {
            let role = self.known_role(role)?;
            let policies = self.policies().await?;
            let mut tx = self.store.db().begin().await?;
            let checked = self.check_group_role(&mut tx, group, &role, policies).await;
            drop(tx);
            checked
        };
        dry_run_findings(checked.await)
    }

    /// ValidateAssignment of AddGroupMember(`group`, `profile`).
    pub async fn validate_group_member(
        &self,
        caller: &Caller,
        group: GroupId,
        profile: ProfileId,
    ) -> CsmResult<Vec<ValidationFinding>> {
        self.authorize_role_administration(caller, ADD_GROUP_MEMBER).await?;
        let checked = async {
            self.check_member_kind(group, profile).await?;
            let policies = self.policies().await?;
            let mut tx = self.store.db().begin().await?;
            let checked = self.check_group_member(&mut tx, group, profile, policies).await;
            drop(tx);
            checked
        };
        dry_run_findings(checked.await)
    }

    /// ValidateAssignment of SetGroupParent(`group`, `parent`); keeping the
    /// current parent is allowed without findings, as the mutation answers it.
    pub async fn validate_group_parent(
        &self,
        caller: &Caller,
        group: GroupId,
        parent: Option<GroupId>,
    ) -> CsmResult<Vec<ValidationFinding>> {
        self.authorize_role_administration(caller, SET_GROUP_PARENT).await?;
        let checked = async {
            let policies = self.policies().await?;
            let mut tx = self.store.db().begin().await?;
            let reparenting = self.check_group_parent(&mut tx, group, parent, policies).await;
            drop(tx);
            match reparenting? {
                Reparenting::Unchanged => Ok(Ok(Vec::new())),
                Reparenting::Move { checked, .. } => Ok(checked),
            }
        };
        dry_run_findings(checked.await)
    }

    // ---------------------------------------------------------- helpers

    async fn group_view(&self, group: GroupId) -> CsmResult<GroupView> {
        let row = self.store.group(group).await?.ok_or_else(|| CsmError::not_found("group", group))?;
        Ok(self.group_views(vec![row]).await?.remove(0))
    }

    async fn group_views(&self, rows: Vec<Group>) -> CsmResult<Vec<GroupView>> {
        let ids: Vec<GroupId> = rows.iter().map(|row| row.id).collect();
        let mut details = self.store.group_details(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|group| {
                let details = details.remove(&group.id).unwrap_or_default();
                let effective_roles =
                    details.chain_roles.iter().flat_map(|role| self.graph.closure(role)).map(str::to_owned).collect();
                GroupView { group, details, effective_roles }
            })
            .collect())
    }

    /// Flags every profile a WARN policy let through (R2.15, R1.15).
    async fn flag_warned_profiles(&self, tx: &mut Tx, warnings: &[GroupFinding]) -> CsmResult<()> {
        let mut flagged = BTreeSet::new();
        for warning in warnings {
            if let Some(profile) = warning.profile()
                && flagged.insert(profile)
            {
                self.store.flag_for_review(tx, profile, warning.finding.reason).await?;
            }
        }
        Ok(())
    }

    /// The stored outcome of (`rpc`, `request_id`): `None` for a new request;
    /// FAILED_PRECONDITION reason REQUEST_ID_CONFLICT when the id came with
    /// other parameters (the one idempotency rule).
    async fn stored_outcome(
        &self,
        rpc: &str,
        caller: &Caller,
        request_id: Option<&str>,
        fingerprint: &str,
    ) -> CsmResult<Option<StoredOutcome>> {
        let request = RequestKey::new(rpc, caller.request_scope(), request_id, &fingerprint);
        Ok(request
            .replayed(self.store.db())
            .await?
            .map(|replay| StoredOutcome { revision: replay.revision, entity: replay.entity }))
    }

    /// Records the outcome of (`rpc`, `request_id`) in `tx`; `false` when a
    /// concurrent retry recorded first (the caller then answers as that one did).
    #[allow(clippy::too_many_arguments)]
    async fn record_outcome(
        &self,
        tx: &mut Tx,
        rpc: &str,
        caller: &Caller,
        request_id: Option<&str>,
        revision: u64,
        entity: &str,
        fingerprint: &str,
    ) -> CsmResult<bool> {
        RequestKey::new(rpc, caller.request_scope(), request_id, &fingerprint).record(tx, entity, revision, "").await
    }

    /// Turns an attempt into its answer: a retry that lost the race to its own
    /// first call (seen as ALREADY_EXISTS, or as a request id recorded first)
    /// is answered as that call was.
    async fn retry_aware<T>(
        &self,
        rpc: &str,
        caller: &Caller,
        request_id: Option<&str>,
        fingerprint: &str,
        attempt: CsmResult<Option<T>>,
    ) -> CsmResult<Attempt<T>> {
        match attempt {
            Ok(Some(done)) => Ok(Attempt::Done(done)),
            Ok(None) => match self.stored_outcome(rpc, caller, request_id, fingerprint).await? {
                Some(stored) => Ok(Attempt::Replay(stored)),
                None => Err(CsmError::internal("an idempotency record vanished")),
            },
            Err(error) if error.code() == ErrorCode::AlreadyExists && request_id.is_some() => {
                match self.stored_outcome(rpc, caller, request_id, fingerprint).await? {
                    Some(stored) => Ok(Attempt::Replay(stored)),
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    async fn replay_group(&self, stored: &StoredOutcome) -> CsmResult<(GroupView, String)> {
        let group = GroupId::parse(&stored.entity).map_err(CsmError::internal)?;
        Ok((self.group_view(group).await?, self.feed.token(stored.revision)))
    }

    async fn replay_group_written(&self, stored: &StoredOutcome) -> CsmResult<GroupWritten> {
        let (group, consistency_token) = self.replay_group(stored).await?;
        Ok(GroupWritten { group, warnings: Vec::new(), consistency_token })
    }

    async fn replay_membership(
        &self,
        group: GroupId,
        profile: ProfileId,
        stored: &StoredOutcome,
    ) -> CsmResult<MemberWritten> {
        let member = self
            .store
            .membership(group, profile)
            .await?
            .ok_or_else(|| CsmError::not_found("membership", format!("{group}/{profile}")))?;
        Ok(MemberWritten { member, warnings: Vec::new(), consistency_token: self.feed.token(stored.revision) })
    }
}

/// What an idempotent attempt came to.
enum Attempt<T> {
    Done(T),
    Replay(StoredOutcome),
}

fn membership_exists(group: GroupId, profile: ProfileId) -> CsmError {
    CsmError::already_exists("MEMBERSHIP_EXISTS", format!("{profile} is already a member of {group}"))
        .with_metadata("group_id", group.to_string())
        .with_metadata("profile_id", profile.to_string())
}

fn kind_mismatch(kind: GroupKind, parent: &Group) -> CsmError {
    CsmError::failed_precondition(
        "GROUP_KIND_MISMATCH",
        format!("a {} cannot have the {} {} as its parent", kind.as_str(), parent.kind.as_str(), parent.id),
    )
    .with_metadata("group_kind", kind.as_str())
    .with_metadata("parent_group_id", parent.id.to_string())
    .with_metadata("parent_group_kind", parent.kind.as_str())
}

/// FAILED_PRECONDITION naming the rule and the first colliding path (R2.12:
/// only the first collision is reported), as AssignRole does.
fn group_collision_error(edited_group: GroupId, found: &GroupFinding) -> CsmError {
    let finding = &found.finding;
    let (subject, group) = match found.affected {
        Affected::Profile(profile) => (format!("profile {profile}"), edited_group),
        Affected::Group(group) => (format!("group {group}"), group),
    };
    let mut error = CsmError::failed_precondition(finding.reason, format!("{subject}: {}", finding.message))
        .with_metadata("rule", finding.rule)
        .with_metadata("group_id", group.to_string())
        .with_metadata("role", finding.added_role())
        .with_metadata("conflicting_role", finding.conflicting_role())
        .with_metadata("path", format!("{} | {}", found.existing_labels.join(" > "), found.new_labels.join(" > ")));
    if let Some(profile) = found.profile() {
        error = error.with_metadata("profile_id", profile.to_string());
    }
    error
}
