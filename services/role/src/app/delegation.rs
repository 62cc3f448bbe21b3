//! Delegated assignment (R4.7, R4.8): a caller's authority over direct
//! assignments, and the scope of a customer or partner admin.
//!
//! Delegated admins' scope is read from identity (DESIGN §2: role calls
//! identity to validate principals; these are admin RPCs, not the hot path):
//! the target's primary account must be acct(me) or one of its descendants.

use csm_auth::Caller;
use csm_errors::{CsmError, CsmResult};
use csm_proto::identity::ProfileKind;
use csm_types::{AccountId, ProfileId};

use super::RoleApp;
use crate::domain::catalog::ADMIN;
use crate::domain::delegation::{AssignmentAuthority, CUSTOMER_ADMIN, DelegatedAdmin, PARTNER_ADMIN};

pub(super) fn active_profile(caller: &Caller, action: &str) -> CsmResult<Option<ProfileId>> {
    match caller {
        Caller::Service(_) => Ok(None),
        Caller::Human(human) => human.profile_id.map(Some).ok_or_else(|| {
            CsmError::permission_denied(
                "ACTIVE_PROFILE_REQUIRED",
                format!("{action} needs a token with an active profile"),
            )
        }),
    }
}

pub(super) fn missing_assignment_role(action: &str) -> CsmError {
    let any_of = [ADMIN, CUSTOMER_ADMIN, PARTNER_ADMIN].join(",");
    CsmError::permission_denied("MISSING_ROLE", format!("{action} requires one of: {any_of}"))
        .with_metadata("required_any_of", any_of)
}

impl RoleApp {
    /// The authority of `profile` over direct assignments (R4.7, R4.8).
    pub(crate) async fn authority_of(&self, profile: ProfileId) -> CsmResult<AssignmentAuthority> {
        let effective = self.compute(profile).await?;
        let settings = self.settings().await?;
        Ok(AssignmentAuthority::of_person(&self.graph, &effective.roles, &settings.contact_role_assignment))
    }

    /// The caller's authority: services are unrestricted (the static policy let them in).
    async fn caller_authority(
        &self,
        caller: &Caller,
        action: &str,
    ) -> CsmResult<(AssignmentAuthority, Option<ProfileId>)> {
        match active_profile(caller, action)? {
            None => Ok((AssignmentAuthority::Unrestricted, None)),
            Some(profile) => Ok((self.authority_of(profile).await?, Some(profile))),
        }
    }

    /// Authorizes `caller` to assign or revoke each of `roles` on `target`:
    /// role administrators and services anything; delegated admins only
    /// assignable roles (ROLE_NOT_ASSIGNABLE) on contacts in scope
    /// (PROFILE_OUT_OF_SCOPE); anyone else MISSING_ROLE. Returns the authority.
    pub(crate) async fn authorize_profile_assignment(
        &self,
        caller: &Caller,
        target: ProfileId,
        roles: &[String],
        action: &str,
    ) -> CsmResult<AssignmentAuthority> {
        let (authority, actor) = self.caller_authority(caller, action).await?;
        match &authority {
            AssignmentAuthority::Unrestricted => {}
            AssignmentAuthority::None => return Err(missing_assignment_role(action)),
            AssignmentAuthority::Delegated(admin) => {
                if let Some(role) = roles.iter().find(|role| !admin.assignable.contains(role.as_str())) {
                    return Err(CsmError::permission_denied(
                        "ROLE_NOT_ASSIGNABLE",
                        format!(
                            "{role} is not assignable by a delegated admin: it must be listed in \
                             contact_role_assignment and held by the admin (R4.7, R4.8)"
                        ),
                    )
                    .with_metadata("role", role.as_str()));
                }
                let actor = actor.ok_or_else(|| CsmError::internal("delegated authority without a profile"))?;
                self.check_delegated_scope(actor, admin, target).await?;
            }
        }
        Ok(authority)
    }

    /// PERMISSION_DENIED PROFILE_OUT_OF_SCOPE unless `target` is a contact of
    /// acct(actor) or of one of its descendants (R4.8, X5); NOT_FOUND
    /// PROFILE_NOT_FOUND when identity does not know it.
    // TODO(account-team): CR(me) accounts (contact relationships, X5) for
    // customer admins and PCUST(acct(me)) for partner admins (R4.8) live in
    // account-team, which has no RPC for them yet; until then such contacts
    // are out of scope.
    pub(super) async fn check_delegated_scope(
        &self,
        actor: ProfileId,
        admin: &DelegatedAdmin,
        target: ProfileId,
    ) -> CsmResult<()> {
        let target_profile =
            self.identity.profile(target).await?.ok_or_else(|| CsmError::not_found("profile", target))?;
        let out_of_scope = || {
            CsmError::permission_denied(
                "PROFILE_OUT_OF_SCOPE",
                format!("{target} is not a contact of the admin's account or its descendants (R4.8)"),
            )
            .with_metadata("profile_id", target.to_string())
        };
        let is_contact = matches!(
            ProfileKind::try_from(target_profile.kind),
            Ok(ProfileKind::Contact | ProfileKind::PartnerContact)
        );
        if !is_contact || target_profile.account_id.is_empty() {
            return Err(out_of_scope());
        }
        let actor_account = match self.identity.profile(actor).await? {
            Some(profile) if !profile.account_id.is_empty() => profile.account_id,
            _ => return Err(out_of_scope()),
        };
        if target_profile.account_id == actor_account {
            return Ok(());
        }
        let ancestors = self.identity.account_ancestors(&target_profile.account_id).await?;
        if ancestors.contains(&actor_account) {
            return Ok(());
        }
        // A partner admin also manages the contacts of its customer accounts, PCUST(acct(me)) (R4.8).
        if admin.partner_admin
            && let (Ok(partner), Ok(target_account)) =
                (AccountId::parse(&actor_account), AccountId::parse(&target_profile.account_id))
            && self.account_team.partner_customers(partner).await?.contains(&target_account)
        {
            return Ok(());
        }
        Err(out_of_scope())
    }
}
