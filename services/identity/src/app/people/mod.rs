//! identity's people use cases: logins and passwords, employees and contacts (R1.1,
//! R1.2, R1.4, R2.14, R4.8, R6.3–R6.4) and the profile reads other services
//! cache (DESIGN §3).
//!
//! Who may: people administration ([`PEOPLE_ADMIN_ROLES`]) for logins and
//! employees; contact administration ([`CONTACT_ADMIN_ROLES`], or a delegated
//! customer/partner admin within its scope, R4.8) for contacts; a person for
//! its own login, sessions and (name and details of) its own profiles.
//! Service callers were authorized by the static policy already.

use std::collections::BTreeSet;

use csm_auth::{Caller, HumanCaller};
use csm_changefeed::Operation;
use csm_changefeed::idempotency::{Replay, RequestKey};
use csm_db::{PageRequest, Tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{AccountId, LoginId, ProfileId, SecurityGroupId, SessionId};

use super::{IdentityApp, Written};
use crate::domain::accounts::{Account, AccountKind};
use crate::domain::directory::SecurityGroup;
use crate::domain::people::{
    CONTACT_ADMIN_ROLES, Channel, DELEGATED_CONTACT_ADMIN_ROLES, Login, LoginChoice, NewContact, NewEmployee, NewLogin,
    NewPerson, PEOPLE_ADMIN_ROLES, PROFILE_READER_ROLES, Password, Profile, ProfileDraft, ProfileKind, ProfileUpdate,
    SNC_EXTERNAL, check_password_policy, first_forbidden_channel, login_name_key, manager_cycle, password_hash,
};
use crate::domain::sessions::Session;
use crate::domain::visibility::{self, Viewer, Visibility};

mod logins;
use crate::store::people::ProfileFilter;

/// What ResolvePrincipal answers from the people area; the consumer area
/// adds the consumer record, consumer profile and household memberships.
#[derive(Debug, Clone)]
pub struct ResolvedPrincipal {
    pub profile: Profile,
    pub login: Option<Login>,
    pub account: Option<Account>,
    pub security_group: Option<SecurityGroup>,
    pub session: Option<Session>,
    /// Feed revision the answer reflects.
    pub revision: u64,
}

fn password_policy_error(field: &str, problem: String) -> CsmError {
    CsmError::invalid_argument("PASSWORD_POLICY", format!("{field} {problem}")).with_metadata("field", field)
}

fn channel_not_allowed(kind: ProfileKind, channel: Channel) -> CsmError {
    CsmError::failed_precondition(
        "CHANNEL_NOT_ALLOWED_FOR_PROFILE",
        format!("a {} profile cannot hold the {} channel (R1.7)", kind.as_str(), channel.as_str()),
    )
    .with_metadata("channel", channel.as_str())
}

fn profile_already_on_login(profile: ProfileId) -> CsmError {
    CsmError::failed_precondition("PROFILE_ALREADY_ON_LOGIN", format!("profile {profile} already belongs to a login"))
        .with_metadata("profile_id", profile.to_string())
}

fn field_not_updatable(path: &str, why: &str) -> CsmError {
    CsmError::invalid_argument("FIELD_NOT_UPDATABLE", format!("{path} {why}")).with_metadata("field", path)
}

/// Runs a slow password hash off the async workers.
async fn hash_password(password: Password, iterations: u32) -> CsmResult<String> {
    tokio::task::spawn_blocking(move || password_hash::hash(&password, iterations)).await.map_err(CsmError::internal)
}

/// Verifies a password off the async workers; with no stored hash it spends
/// the same time and fails (no timing hint that a login exists).
pub(super) async fn verify_password(password: Password, stored: Option<String>, iterations: u32) -> CsmResult<bool> {
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => password_hash::verify(&password, &stored),
        None => {
            password_hash::verify_nothing(&password, iterations);
            false
        }
    })
    .await
    .map_err(CsmError::internal)
}

impl IdentityApp {
    // ----------------------------------------------------- authorization

    /// The effective roles of a person's active profile (None: a service).
    pub(super) async fn person_roles(
        &self,
        caller: &Caller,
        action: &str,
    ) -> CsmResult<Option<(HumanCaller, BTreeSet<String>)>> {
        let human = match caller {
            Caller::Service(_) => return Ok(None),
            Caller::Human(human) => human.clone(),
        };
        let profile = human.profile_id.ok_or_else(|| {
            CsmError::permission_denied(
                "ACTIVE_PROFILE_REQUIRED",
                format!("{action} needs a token with an active profile"),
            )
        })?;
        let roles = self.roles.effective_roles(profile).await?;
        Ok(Some((human, roles)))
    }

    /// R4.8: authorizes managing contacts of `accounts`: contact admins
    /// everywhere, delegated (customer/partner) admins within
    /// {acct(me)} ∪ DESC(acct(me)). A partner admin's partner customers
    /// (PCUST) need the account-team service and are denied until it exists.
    async fn authorize_contact_admin(&self, caller: &Caller, accounts: &[AccountId], action: &str) -> CsmResult<()> {
        let Some((human, roles)) = self.person_roles(caller, action).await? else {
            return Ok(());
        };
        if CONTACT_ADMIN_ROLES.iter().any(|role| roles.contains(*role)) {
            return Ok(());
        }
        if !DELEGATED_CONTACT_ADMIN_ROLES.iter().any(|role| roles.contains(*role)) {
            let required: Vec<&str> =
                CONTACT_ADMIN_ROLES.iter().chain(DELEGATED_CONTACT_ADMIN_ROLES).copied().collect();
            return Err(CsmError::permission_denied(
                "MISSING_ROLE",
                format!("{action} requires one of: {}", required.join(", ")),
            )
            .with_metadata("required_any_of", required.join(",")));
        }
        let scope = visibility::delegated_scope(&self.viewer_of(human.profile_id, roles).await?);
        match accounts.iter().find(|account| !scope.contains(account)) {
            None => Ok(()),
            Some(outside) => Err(CsmError::permission_denied(
                "OUT_OF_ADMIN_SCOPE",
                format!("account {outside} is outside the accounts this admin manages (R4.8)"),
            )
            .with_metadata("account_id", outside.to_string())),
        }
    }

    /// The viewer `profile` is (R4.8, R4.9): its kind and account, and for
    /// external people DESC(acct(me)), CR(me) and PCUST(acct(me)).
    async fn viewer_of(&self, profile: Option<ProfileId>, roles: BTreeSet<String>) -> CsmResult<Viewer> {
        let mut viewer = Viewer { roles: roles.into_iter().collect(), ..Viewer::default() };
        let Some(record) = (match profile {
            Some(profile) => self.store.get_profile(profile).await?,
            None => None,
        }) else {
            return Ok(viewer);
        };
        viewer.internal = record.kind == ProfileKind::Internal;
        viewer.account = record.account;
        if viewer.needs_relationships() {
            if let Some(account) = viewer.account {
                viewer.descendants =
                    self.store.account_and_descendants(account).await?.into_iter().filter(|a| *a != account).collect();
            }
            let reached = self.account_team.principal_accounts(record.id).await?;
            viewer.contact_relationships = reached.contact_relationships;
            viewer.partner_customers = reached.partner_customers;
        }
        Ok(viewer)
    }

    /// What `caller` may see of accounts and contacts (R4.9); services see everything.
    pub(crate) async fn visibility(&self, caller: &Caller, action: &str) -> CsmResult<Visibility> {
        match self.person_roles(caller, action).await? {
            None => Ok(Visibility::Everything),
            Some((human, roles)) => Ok(visibility::visibility(&self.viewer_of(human.profile_id, roles).await?)),
        }
    }

    /// Reading a profile: services, the person owning it, profile readers,
    /// and delegated admins for contacts in their scope (R4.9).
    async fn authorize_profile_read(&self, caller: &Caller, profile: &Profile, action: &str) -> CsmResult<()> {
        if let Caller::Human(human) = caller
            && profile.login.is_some()
            && profile.login == Some(human.login_id)
        {
            return Ok(());
        }
        self.authorize_reader_or_scope(caller, profile.account, action).await
    }

    /// Profile readers (R4.12), and external people for contacts of the
    /// accounts R4.9 lets them see (delegated admins: their R4.8 scope).
    async fn authorize_reader_or_scope(
        &self,
        caller: &Caller,
        account: Option<AccountId>,
        action: &str,
    ) -> CsmResult<()> {
        let Some((human, roles)) = self.person_roles(caller, action).await? else {
            return Ok(());
        };
        if PROFILE_READER_ROLES.iter().any(|role| roles.contains(*role)) {
            return Ok(());
        }
        if let Some(account) = account {
            let viewer = self.viewer_of(human.profile_id, roles).await?;
            if !viewer.sees_everything() && visibility::visibility(&viewer).contacts_of(account) {
                return Ok(());
            }
        }
        Err(CsmError::permission_denied(
            "MISSING_ROLE",
            format!("{action} requires one of: {}", PROFILE_READER_ROLES.join(", ")),
        )
        .with_metadata("required_any_of", PROFILE_READER_ROLES.join(",")))
    }

    /// A person acting on its own login, or a people admin.
    pub(super) async fn authorize_own_login(&self, caller: &Caller, login: LoginId, action: &str) -> CsmResult<()> {
        if let Caller::Human(human) = caller
            && human.login_id == login
        {
            return Ok(());
        }
        self.roles.authorize(caller, PEOPLE_ADMIN_ROLES, action).await
    }

    // ------------------------------------------------------------ logins

    // ------------------------------------------------ employees, contacts

    /// Creates an employee: an INTERNAL profile (R1.1, R6.4) in the given
    /// USER security group, else the default USER group (R1.8). snc_internal
    /// comes at first login (R2.13a), not here.
    pub async fn create_employee(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewEmployee,
    ) -> CsmResult<Written<Profile>> {
        const RPC: &str = "CreateEmployee";
        self.roles.authorize(caller, PEOPLE_ADMIN_ROLES, RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, &new);
        if let Some(replay) = key.replayed(self.store.db()).await? {
            return self.replayed_profile(replay).await;
        }
        let written = self.create_person(ProfileKind::Internal, None, &new.person, &key).await?;
        match written {
            Some(written) => Ok(written),
            None => Box::pin(self.create_employee(caller, request_id, new)).await,
        }
    }

    /// Creates a contact of one account (R1.2, R1.4): CONTACT for a CUSTOMER
    /// account, PARTNER_CONTACT for a PARTNER account; the role service gives
    /// it snc_external before the profile commits (R2.14). Delegated admins
    /// only within their scope (R4.8).
    pub async fn create_contact(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewContact,
    ) -> CsmResult<Written<Profile>> {
        const RPC: &str = "CreateContact";
        self.authorize_contact_admin(caller, &[new.account], RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, &new);
        if let Some(replay) = key.replayed(self.store.db()).await? {
            return self.replayed_profile(replay).await;
        }
        let account = self.store.get_account(new.account).await?;
        let account =
            account.ok_or_else(|| CsmError::not_found("account", new.account).with_metadata("field", "account_id"))?;
        if !account.active {
            return Err(CsmError::failed_precondition(
                "ACCOUNT_INACTIVE",
                format!("account {} is inactive", account.id),
            )
            .with_metadata("account_id", account.id.to_string()));
        }
        let kind = match account.kind {
            AccountKind::Customer => ProfileKind::Contact,
            AccountKind::Partner => ProfileKind::PartnerContact,
        };
        let written = self.create_person(kind, Some(account.id), &new.person, &key).await?;
        match written {
            Some(written) => Ok(written),
            None => Box::pin(self.create_contact(caller, request_id, new)).await,
        }
    }

    async fn replayed_profile(&self, replay: Replay) -> CsmResult<Written<Profile>> {
        let profile = self.store.get_profile(ProfileId::from_uuid(replay.id()?)).await?;
        let profile = profile.ok_or_else(|| CsmError::not_found("profile", &replay.entity))?;
        Ok(self.written(profile, replay.revision))
    }

    /// The common path of CreateEmployee and CreateContact. None: a
    /// concurrent retry with the same request id won (the caller replays).
    async fn create_person(
        &self,
        kind: ProfileKind,
        account: Option<AccountId>,
        person: &NewPerson,
        key: &RequestKey<'_>,
    ) -> CsmResult<Option<Written<Profile>>> {
        if let Some(channel) = first_forbidden_channel(kind, false, &person.channels) {
            return Err(channel_not_allowed(kind, channel));
        }
        if let Some(manager) = person.manager
            && self.store.get_profile(manager).await?.is_none()
        {
            return Err(CsmError::not_found("profile", manager).with_metadata("field", "manager_profile_id"));
        }
        if let Some(department) = person.department
            && !self.store.department_exists(department).await?
        {
            return Err(CsmError::not_found("department", department).with_metadata("field", "department_id"));
        }
        let needs_group = kind == ProfileKind::Internal || person.channels.iter().any(|channel| channel.is_portal());
        let security_group = match person.security_group {
            Some(group) => Some(self.checked_security_group(kind, group).await?.id),
            None if needs_group => self.default_security_group(kind).await?,
            None => None,
        };
        let new_login_hash = match &person.login {
            LoginChoice::New(NewLogin { password: Some(password), .. }) => {
                check_password_policy(password)
                    .map_err(|problem| password_policy_error("new_login.password", problem))?;
                Some(hash_password(password.clone(), self.password_hash_iterations).await?)
            }
            _ => None,
        };

        let mut tx = self.store.db().begin().await?;
        // The first statement writes (a login insert, a login lock or the
        // profile insert), so SQLite takes its write lock at once.
        let (login, new_login) = match &person.login {
            LoginChoice::None => (None, None),
            LoginChoice::Existing(login) => {
                if !self.store.lock_login(&mut tx, *login).await? {
                    return Err(CsmError::not_found("login", login).with_metadata("field", "login_id"));
                }
                (Some(*login), None)
            }
            LoginChoice::New(new_login) => {
                let id = LoginId::new();
                let key = login_name_key(&new_login.login_name);
                self.store.insert_login(&mut tx, id, &new_login.login_name, &key, new_login_hash.as_deref()).await?;
                (Some(id), Some(id))
            }
        };
        let draft = ProfileDraft {
            id: ProfileId::new(),
            kind,
            login,
            display_name: person.display_name.clone(),
            details: person.details.clone(),
            application: person.application.clone(),
            account,
            consumer: None,
            parent_profile: None,
            consumer_profile: None,
            sub_profile_type: String::new(),
            manager: person.manager,
            department: person.department,
            title: person.title.clone(),
            security_group,
            channels: person.channels.clone(),
        };
        let profile = self.store.insert_profile(&mut tx, &draft).await?;
        if kind.is_contact() {
            // R2.14: the profile is inserted but not committed; if the role
            // service cannot assign snc_external, nothing is written. Called
            // before the change append, so followers of identity's feed are not
            // held back (PostgreSQL: the feed's writer lock) across the call.
            self.roles.assign_role(profile.id, SNC_EXTERNAL).await?;
        }
        if let Some(login) = new_login {
            self.store.append_login_change(&mut tx, login, Operation::Created).await?;
        }
        let revision = self.store.append_profile_change_of(&mut tx, &profile, Operation::Created, None).await?;
        if !key.record(&mut tx, *profile.id.as_uuid(), revision, "").await? {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(self.committed(profile, revision)))
    }

    /// The security group `group` if a profile of `kind` may be in it (R1.8).
    async fn checked_security_group(&self, kind: ProfileKind, group: SecurityGroupId) -> CsmResult<SecurityGroup> {
        let found = self.store.get_security_group(group).await?;
        let found = found
            .ok_or_else(|| CsmError::not_found("security group", group).with_metadata("field", "security_group_id"))?;
        if found.kind != kind.security_group_kind() {
            return Err(CsmError::failed_precondition(
                "SECURITY_GROUP_KIND_MISMATCH",
                format!(
                    "a {} profile needs a {} security group, not a {} one (R1.8)",
                    kind.as_str(),
                    kind.security_group_kind(),
                    found.kind
                ),
            )
            .with_metadata("security_group_id", group.to_string()));
        }
        Ok(found)
    }

    /// The default security group of the kind `kind` needs (R1.8), if one is set.
    async fn default_security_group(&self, kind: ProfileKind) -> CsmResult<Option<SecurityGroupId>> {
        // A read-only transaction: the directory store reads the default in one.
        let mut read = self.store.db().begin().await?;
        let group = self.store.default_security_group_in(&mut read, kind.security_group_kind()).await?;
        drop(read);
        Ok(group.map(|group| group.id))
    }

    // ---------------------------------------------------------- profiles

    /// Reads one profile (R1.9, R6.4).
    pub async fn get_profile(&self, caller: &Caller, id: ProfileId) -> CsmResult<Profile> {
        let profile = self.store.get_profile(id).await?.ok_or_else(|| CsmError::not_found("profile", id))?;
        self.authorize_profile_read(caller, &profile, "GetProfile").await?;
        Ok(profile)
    }

    /// Reads up to 1000 profiles at one feed revision (DESIGN §3): the found
    /// ones in request order, the unknown ids apart.
    pub async fn batch_get_profiles(
        &self,
        caller: &Caller,
        ids: &[ProfileId],
    ) -> CsmResult<(Vec<Profile>, Vec<ProfileId>, u64)> {
        self.authorize_reader_or_scope(caller, None, "BatchGetProfiles").await?;
        // The head first: the read below sees every change up to it.
        let revision = self.feed.head().await?;
        let found = self.store.get_profiles(ids).await?;
        let mut profiles = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        let mut seen = BTreeSet::new();
        for id in ids {
            if !seen.insert(*id) {
                continue;
            }
            match found.iter().find(|profile| profile.id == *id) {
                Some(profile) => profiles.push(profile.clone()),
                None => missing.push(*id),
            }
        }
        Ok((profiles, missing, revision))
    }

    /// Updates a profile (R1.4, R1.7, R1.9, R4.8, R6.4): only the given
    /// fields. A person may change the name and details of its own profiles.
    pub async fn update_profile(
        &self,
        caller: &Caller,
        id: ProfileId,
        update: ProfileUpdate,
    ) -> CsmResult<Written<Profile>> {
        const RPC: &str = "UpdateProfile";
        let existing = self.store.get_profile(id).await?.ok_or_else(|| CsmError::not_found("profile", id))?;
        let own = matches!(caller, Caller::Human(human) if existing.login == Some(human.login_id));
        if !(own && update.is_self_service()) {
            match existing.account {
                Some(account) if existing.kind.is_contact() => {
                    let mut accounts = vec![account];
                    accounts.extend(update.account);
                    self.authorize_contact_admin(caller, &accounts, RPC).await?;
                }
                _ if existing.kind == ProfileKind::Internal => {
                    self.roles.authorize(caller, PEOPLE_ADMIN_ROLES, RPC).await?
                }
                _ => self.roles.authorize(caller, CONTACT_ADMIN_ROLES, RPC).await?,
            }
        }
        self.check_profile_update(&existing, &update).await?;

        let now = csm_db::now();
        let mut tx = self.store.db().begin().await?;
        if !self.store.lock_profile(&mut tx, id).await? {
            return Err(CsmError::not_found("profile", id));
        }
        let current = self.store.profile_in(&mut tx, id).await?.ok_or_else(|| CsmError::not_found("profile", id))?;
        let mut updated = current.clone();
        update.apply_fields(&mut updated);
        updated.updated_at = now;

        if let Some(Some(manager)) = update.manager {
            let chain = self.store.manager_chain_in(&mut tx, manager).await?;
            if manager_cycle(id, manager, &chain) {
                return Err(CsmError::invalid_argument(
                    "MANAGER_CYCLE",
                    format!("profile {manager} cannot manage profile {id}: the management chain would loop (R6.4)"),
                )
                .with_metadata("field", "profile.manager_profile_id"));
            }
        }
        let login_changed = updated.login != current.login;
        if login_changed {
            if current.login.is_some() && updated.login.is_some() {
                return Err(profile_already_on_login(id));
            }
            if let Some(login) = updated.login
                && !self.store.lock_login(&mut tx, login).await?
            {
                return Err(CsmError::not_found("login", login).with_metadata("field", "profile.login_id"));
            }
            if let Some(before) = current.login {
                self.clear_default_profile(&mut tx, before, id, now).await?;
            }
        }
        let gains_portal = updated.channels.iter().any(|channel| channel.is_portal())
            && !current.channels.iter().any(|channel| channel.is_portal());
        if gains_portal && updated.security_group.is_none() {
            // R1.8: portal credentials bring the default CUSTOMER group.
            let group = self.store.default_security_group_in(&mut tx, updated.kind.security_group_kind()).await?;
            updated.security_group = group.map(|group| group.id);
        }
        self.store.save_profile(&mut tx, &updated).await?;
        let deactivated = current.active && !updated.active;
        if deactivated || login_changed {
            self.store.end_sessions_of_profile(&mut tx, id, now).await?;
        }
        if login_changed {
            self.move_sub_profiles(&mut tx, &updated, now).await?;
        }
        let revision =
            self.store.append_profile_change_of(&mut tx, &updated, Operation::Updated, Some(&current)).await?;
        tx.commit().await?;
        let saved = self.store.get_profile(id).await?.unwrap_or(updated);
        Ok(self.committed(saved, revision))
    }

    /// The checks of an update that need the store but no lock.
    async fn check_profile_update(&self, existing: &Profile, update: &ProfileUpdate) -> CsmResult<()> {
        let sub_profile = existing.kind == ProfileKind::ConsumerSubProfile;
        if let Some(account) = update.account {
            if !existing.kind.is_contact() {
                return Err(field_not_updatable("account_id", "is updatable for contacts only (R1.4)"));
            }
            let found = self.store.get_account(account).await?;
            let found = found
                .ok_or_else(|| CsmError::not_found("account", account).with_metadata("field", "profile.account_id"))?;
            let expected =
                if existing.kind == ProfileKind::PartnerContact { AccountKind::Partner } else { AccountKind::Customer };
            if found.kind != expected {
                return Err(CsmError::failed_precondition(
                    "ACCOUNT_KIND_MISMATCH",
                    format!("a {} needs a {} account", existing.kind.as_str(), expected.as_str()),
                )
                .with_metadata("account_id", account.to_string()));
            }
            if !found.active {
                return Err(CsmError::failed_precondition(
                    "ACCOUNT_INACTIVE",
                    format!("account {account} is inactive"),
                )
                .with_metadata("account_id", account.to_string()));
            }
        }
        if let Some(channels) = &update.channels {
            if sub_profile {
                return Err(field_not_updatable("channels", "of a consumer sub-profile are its parent's"));
            }
            if let Some(channel) = first_forbidden_channel(existing.kind, existing.consumer.is_some(), channels) {
                return Err(channel_not_allowed(existing.kind, channel));
            }
        }
        if update.login.is_some() && sub_profile {
            return Err(field_not_updatable("login_id", "of a consumer sub-profile is its parent's"));
        }
        if let Some(Some(manager)) = update.manager
            && manager != existing.id
            && self.store.get_profile(manager).await?.is_none()
        {
            return Err(CsmError::not_found("profile", manager).with_metadata("field", "profile.manager_profile_id"));
        }
        if let Some(Some(department)) = update.department
            && !self.store.department_exists(department).await?
        {
            return Err(CsmError::not_found("department", department).with_metadata("field", "profile.department_id"));
        }
        Ok(())
    }

    /// A profile leaving `login` stops being its default profile.
    async fn clear_default_profile(
        &self,
        tx: &mut Tx,
        login: LoginId,
        profile: ProfileId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> CsmResult<()> {
        self.store.lock_login(tx, login).await?;
        let Some(credentials) = self.store.login_credentials_in(tx, login).await? else {
            return Ok(());
        };
        if credentials.login.default_profile != Some(profile) {
            return Ok(());
        }
        let mut cleared = credentials.login;
        cleared.default_profile = None;
        cleared.updated_at = now;
        self.store.save_login(tx, &cleared, &login_name_key(&cleared.login_name)).await?;
        self.store.append_login_change(tx, login, Operation::Updated).await?;
        Ok(())
    }

    /// Lists profiles by id (R1.9, R6.3–R6.5): profile readers, or a person
    /// listing the profiles of its own login.
    pub async fn list_profiles(
        &self,
        caller: &Caller,
        filter: &ProfileFilter,
        page: &PageRequest,
    ) -> CsmResult<(Vec<Profile>, String)> {
        let own_login = matches!(caller, Caller::Human(human) if filter.login == Some(human.login_id));
        if !own_login {
            self.authorize_reader_or_scope(caller, filter.account, "ListProfiles").await?;
        }
        let rows = self.store.list_profiles(filter, page).await?;
        Ok(page.finish(rows, |profile| profile.id.to_string()))
    }

    /// Lists the contacts of an account, optionally also of DESC(account)
    /// (R1.4, R4.8, R4.9): profile readers, or a delegated admin in scope.
    pub async fn list_account_contacts(
        &self,
        caller: &Caller,
        account: AccountId,
        include_descendants: bool,
        include_inactive: bool,
        page: &PageRequest,
    ) -> CsmResult<(Vec<Profile>, String)> {
        self.authorize_reader_or_scope(caller, Some(account), "ListAccountContacts").await?;
        if self.store.get_account(account).await?.is_none() {
            return Err(CsmError::not_found("account", account));
        }
        let rows = self.store.list_account_contacts(account, include_descendants, include_inactive, page).await?;
        Ok(page.finish(rows, |profile| profile.id.to_string()))
    }

    /// Resolves a profile or a session (its active profile) to the people
    /// data case-access caches about a principal (DESIGN §3).
    pub async fn resolve_principal(
        &self,
        caller: &Caller,
        profile: Option<ProfileId>,
        session: Option<SessionId>,
    ) -> CsmResult<ResolvedPrincipal> {
        let revision = self.feed.head().await?;
        let session = match session {
            Some(id) => Some(self.store.get_session(id).await?.ok_or_else(|| CsmError::not_found("session", id))?),
            None => None,
        };
        let profile_id = match (&session, profile) {
            (Some(session), _) => session.active_profile,
            (None, Some(profile)) => profile,
            (None, None) => return Err(CsmError::invalid_field("principal", "give profile_id or session_id")),
        };
        let profile =
            self.store.get_profile(profile_id).await?.ok_or_else(|| CsmError::not_found("profile", profile_id))?;
        self.authorize_profile_read(caller, &profile, "ResolvePrincipal").await?;
        let login = match profile.login {
            Some(login) => self.store.get_login(login).await?,
            None => None,
        };
        let account = match profile.account {
            Some(account) => self.store.get_account(account).await?,
            None => None,
        };
        let security_group = match profile.security_group {
            Some(group) => self.store.get_security_group(group).await?,
            None => None,
        };
        Ok(ResolvedPrincipal { profile, login, account, security_group, session, revision })
    }
}
