//! Use cases of account, consumer and household team members (R3.12–R3.14).
//! Uniqueness of unique responsibilities (R3.13) is the database's partial
//! unique index; this module only names the conflict.

use csm_auth::Caller;
use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult};
use csm_proto::identity::ProfileKind;
use csm_types::{ProfileId, ResponsibilityId};

use super::Written;
use crate::AccountTeamApp;
use crate::domain::access::{RecordTable, RelatedPartyConfiguration};
use crate::domain::definitions::ResponsibilityDefinition;
use crate::domain::teams::{
    ACCOUNT_TEAM_READER_ROLES, CONSUMER_TEAM_READER_ROLES, DEFAULT_ORDER, MemberKind, MemberProfileKind, NewTeamMember,
    TEAM_EDITOR_ROLES, Team, TeamMember, TeamMemberChanges, TeamMemberId, member_kind_admits, responsibility_fits_team,
};
use crate::store::teams::member_key;

impl AccountTeamApp {
    /// Creates a team member (R3.13, R3.14); idempotent by `request_id`.
    pub async fn create_team_member(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewTeamMember,
    ) -> CsmResult<Written<TeamMember>> {
        const RPC: &str = "CreateTeamMember";
        self.roles.authorize(caller, TEAM_EDITOR_ROLES, RPC).await?;
        let fingerprint = format!("{new:?}");
        if let Some((id, revision)) = self.replayed(RPC, caller, request_id, &fingerprint).await? {
            let member = self.get_team_member(caller, TeamMemberId::from_uuid(id)).await?;
            return Ok(self.written(member, revision));
        }
        self.ensure_team_exists(new.team).await?;
        self.ensure_member_profile(new.profile, new.member_kind).await?;
        let (responsibility, order) = self.member_defaults(&new).await?;
        let mut tx = self.store.db().begin().await?;
        // Locks the definition: its kind and unique flag cannot change before the insert commits.
        let definition = self.store.responsibility_for_update(&mut tx, responsibility).await?;
        let definition = definition.ok_or_else(|| CsmError::not_found("responsibility", responsibility))?;
        ensure_user_responsibility(&definition)?;
        let now = csm_db::now();
        let member = TeamMember {
            id: TeamMemberId::new(),
            team: new.team,
            profile: new.profile,
            member_kind: new.member_kind,
            related_party_configuration: new.related_party_configuration,
            responsibility,
            order,
            created_at: now,
            updated_at: now,
        };
        let revision = match self.store.insert_team_member(&mut tx, &member, definition.unique).await? {
            Ok(revision) => revision,
            Err(_conflict) => {
                drop(tx);
                if let Some((id, revision)) = self.replayed(RPC, caller, request_id, &fingerprint).await? {
                    // A concurrent retry of this very request won.
                    let member = self.get_team_member(caller, TeamMemberId::from_uuid(id)).await?;
                    return Ok(self.written(member, revision));
                }
                return Err(self.conflict_error(&member, &definition).await);
            }
        };
        if !self.record_created(&mut tx, RPC, caller, request_id, &fingerprint, *member.id.as_uuid(), revision).await? {
            drop(tx);
            return Box::pin(self.create_team_member(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(member, revision))
    }

    pub async fn get_team_member(&self, caller: &Caller, id: TeamMemberId) -> CsmResult<TeamMember> {
        let member = self.store.get_team_member(id).await?.ok_or_else(|| CsmError::not_found("team_member", id))?;
        if !is_own(caller, member.profile) {
            self.roles.authorize(caller, member.team.reader_roles(), "GetTeamMember").await?;
        }
        Ok(member)
    }

    /// Updates member_kind, type, responsibility or order (R3.13, R3.14).
    pub async fn update_team_member(
        &self,
        caller: &Caller,
        id: TeamMemberId,
        changes: TeamMemberChanges,
    ) -> CsmResult<Written<TeamMember>> {
        self.roles.authorize(caller, TEAM_EDITOR_ROLES, "UpdateTeamMember").await?;
        let before = self.get_team_member(caller, id).await?;
        if let Some(member_kind) = changes.member_kind {
            self.ensure_member_profile(before.profile, member_kind).await?;
        }
        if let Some(Some(configuration)) = changes.related_party_configuration {
            self.team_member_type(configuration, before.team).await?;
        }
        let responsibility = changes.responsibility.unwrap_or(before.responsibility);
        let mut tx = self.store.db().begin().await?;
        let definition = self.store.responsibility_for_update(&mut tx, responsibility).await?;
        let definition = definition.ok_or_else(|| CsmError::not_found("responsibility", responsibility))?;
        ensure_user_responsibility(&definition)?;
        let current = self.store.team_member_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("team_member", id))?;
        let updated = changes.apply_to(&current);
        if updated.responsibility != definition.id {
            // The responsibility moved under us: retry with the new state.
            drop(tx);
            return Box::pin(self.update_team_member(caller, id, changes)).await;
        }
        match self.store.save_team_member(&mut tx, &updated, definition.unique).await? {
            Ok((member, revision)) => {
                tx.commit().await?;
                Ok(self.committed(member, revision))
            }
            Err(_conflict) => {
                drop(tx);
                Err(self.conflict_error(&updated, &definition).await)
            }
        }
    }

    /// Deletes a team member (R3.14).
    pub async fn delete_team_member(&self, caller: &Caller, id: TeamMemberId) -> CsmResult<Written<()>> {
        self.roles.authorize(caller, TEAM_EDITOR_ROLES, "DeleteTeamMember").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.team_member_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("team_member", id))?;
        let revision = self.store.delete_team_member_row(&mut tx, &current).await?;
        tx.commit().await?;
        Ok(self.committed((), revision))
    }

    /// One page of a team ordered by (order, create time), and the next page token.
    pub async fn list_team_members(
        &self,
        caller: &Caller,
        team: Team,
        responsibility: Option<ResponsibilityId>,
        page: PageRequest,
    ) -> CsmResult<(Vec<TeamMember>, String)> {
        self.roles.authorize(caller, team.reader_roles(), "ListTeamMembers").await?;
        let rows = self.store.list_team_members(team, responsibility, &page).await?;
        Ok(page.finish(rows, member_key))
    }

    /// One page of the team memberships of a profile, ordered by create time.
    pub async fn list_team_memberships_of_user(
        &self,
        caller: &Caller,
        profile: ProfileId,
        page: PageRequest,
    ) -> CsmResult<(Vec<TeamMember>, String)> {
        // A person reads its own memberships; others need to read every kind of team.
        if !is_own(caller, profile) {
            self.roles.authorize(caller, ACCOUNT_TEAM_READER_ROLES, "ListTeamMembershipsOfUser").await?;
            self.roles.authorize(caller, CONSUMER_TEAM_READER_ROLES, "ListTeamMembershipsOfUser").await?;
        }
        let rows = self.store.list_memberships_of_profile(profile, &page).await?;
        Ok(page.finish(rows, |member| member.id.to_string()))
    }

    /// The responsibility and order of a new member: its own, else its
    /// related-party type's defaults (R5.4), else the default order.
    async fn member_defaults(&self, new: &NewTeamMember) -> CsmResult<(ResponsibilityId, i64)> {
        let configuration = match new.related_party_configuration {
            Some(configuration) => Some(self.team_member_type(configuration, new.team).await?),
            None => None,
        };
        let responsibility = new
            .responsibility
            .or_else(|| configuration.as_ref().and_then(|configuration| configuration.default_responsibility))
            .ok_or_else(|| {
                CsmError::invalid_field(
                    "team_member.responsibility_id",
                    "is required: the related-party type has no default responsibility (a Listed type)",
                )
            })?;
        let order = new
            .order
            .or_else(|| configuration.as_ref().map(|configuration| i64::from(configuration.default_order)))
            .unwrap_or(DEFAULT_ORDER);
        Ok((responsibility, order))
    }

    /// The related-party type of a member of `team`: it must exist and apply
    /// to the team's member table (RELATED_PARTY_TYPE_NOT_APPLICABLE otherwise).
    async fn team_member_type(&self, id: uuid::Uuid, team: Team) -> CsmResult<RelatedPartyConfiguration> {
        let table = RecordTable::parse(team.member_table_name())
            .ok_or_else(|| CsmError::internal("unknown team member table"))?;
        self.applicable_type(id, table).await
    }

    /// NOT_FOUND (ACCOUNT_/CONSUMER_/HOUSEHOLD_NOT_FOUND) unless identity knows the team.
    async fn ensure_team_exists(&self, team: Team) -> CsmResult<()> {
        let exists = match team {
            Team::Account(account) => self.identity.account_kinds(&[account]).await?.contains_key(&account),
            Team::Consumer(consumer) => self.identity.consumer_exists(consumer).await?,
            Team::Household(household) => self.identity.household_exists(household).await?,
        };
        if exists {
            return Ok(());
        }
        Err(match team {
            Team::Account(account) => CsmError::not_found("account", account),
            Team::Consumer(consumer) => CsmError::not_found("consumer", consumer),
            Team::Household(household) => CsmError::not_found("household", household),
        })
    }

    /// PROFILE_NOT_FOUND, or INVALID_TEAM_MEMBER_PROFILE when the profile's
    /// kind does not fit `member_kind` (R3.14).
    async fn ensure_member_profile(&self, profile: ProfileId, member_kind: MemberKind) -> CsmResult<()> {
        let found = self.identity.profile(profile).await?.ok_or_else(|| CsmError::not_found("profile", profile))?;
        let profile_kind = match ProfileKind::try_from(found.kind) {
            Ok(ProfileKind::Internal) => MemberProfileKind::Internal,
            Ok(ProfileKind::Contact | ProfileKind::PartnerContact) => MemberProfileKind::OrganizationContact,
            _ => MemberProfileKind::Other,
        };
        if member_kind_admits(member_kind, profile_kind) {
            return Ok(());
        }
        let needed = match member_kind {
            MemberKind::Internal => "an INTERNAL (employee) profile",
            MemberKind::ExternalOrganizationStaff => "a contact profile of an external organization",
        };
        Err(CsmError::failed_precondition(
            "INVALID_TEAM_MEMBER_PROFILE",
            format!("member_kind {} needs {needed}", member_kind.as_str()),
        )
        .with_metadata("profile_id", profile.to_string()))
    }

    /// Which unique key refused `member` (read after the rollback).
    async fn conflict_error(&self, member: &TeamMember, definition: &ResponsibilityDefinition) -> CsmError {
        match self.store.find_team_member(member.team, member.profile, member.responsibility).await {
            Ok(Some(existing)) if existing.id != member.id => {
                return CsmError::already_exists(
                    "TEAM_MEMBER_EXISTS",
                    format!("the profile already holds {} on this team", definition.name),
                )
                .with_metadata("team_member_id", existing.id.to_string());
            }
            Err(error) => return error,
            _ => {}
        }
        match self.store.unique_holder(member.team, member.responsibility).await {
            Ok(holder) => {
                let error = CsmError::already_exists(
                    "UNIQUE_RESPONSIBILITY_TAKEN",
                    format!("{} is unique and already has a holder on this team (R3.13)", definition.name),
                );
                match holder {
                    Some(holder) => error.with_metadata("team_member_id", holder.id.to_string()),
                    None => error,
                }
            }
            Err(error) => error,
        }
    }
}

/// FAILED_PRECONDITION reason RESPONSIBILITY_KIND_MISMATCH unless the definition is of kind USER (R3.12).
fn ensure_user_responsibility(definition: &ResponsibilityDefinition) -> CsmResult<()> {
    if responsibility_fits_team(definition.kind) {
        return Ok(());
    }
    Err(CsmError::failed_precondition(
        "RESPONSIBILITY_KIND_MISMATCH",
        format!(
            "{} is a {} responsibility; team members take USER responsibilities",
            definition.name,
            definition.kind.as_str()
        ),
    ))
}

/// Whether a human caller acts as `profile` itself.
fn is_own(caller: &Caller, profile: ProfileId) -> bool {
    matches!(caller, Caller::Human(human) if human.profile_id == Some(profile))
}
