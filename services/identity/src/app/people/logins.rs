//! identity's login use cases: create, read, update and list logins, set
//! passwords (R1.1, R6.3–R6.4), attach profiles to a login, and the bootstrap
//! administrator the suite starts with.

use csm_auth::Caller;
use csm_changefeed::Operation;
use csm_changefeed::idempotency::RequestKey;
use csm_db::{PageRequest, Tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{AccountId, LoginId, ProfileId};

use super::{hash_password, password_policy_error, profile_already_on_login, verify_password};
use crate::app::{IdentityApp, Written};
use crate::domain::people::{
    Channel, Login, LoginUpdate, NewLoginRequest, PEOPLE_ADMIN_ROLES, Password, Profile, ProfileDraft, ProfileKind,
    check_password_policy, login_name_key,
};

impl IdentityApp {
    /// Creates a login, optionally attaching login-less profiles (R1.9).
    pub async fn create_login(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewLoginRequest,
    ) -> CsmResult<Written<Login>> {
        const RPC: &str = "CreateLogin";
        self.roles.authorize(caller, PEOPLE_ADMIN_ROLES, RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, &new);
        if let Some(replay) = key.replayed(self.store.db()).await? {
            let login = self.store.get_login(LoginId::from_uuid(replay.id()?)).await?;
            let login = login.ok_or_else(|| CsmError::not_found("login", &replay.entity))?;
            return Ok(self.written(login, replay.revision));
        }
        if let Some(password) = &new.login.password {
            check_password_policy(password).map_err(|problem| password_policy_error("password", problem))?;
        }
        let hash = match new.login.password.clone() {
            Some(password) => Some(hash_password(password, self.password_hash_iterations).await?),
            None => None,
        };
        let login_id = LoginId::new();
        let mut tx = self.store.db().begin().await?;
        let mut login = self
            .store
            .insert_login(
                &mut tx,
                login_id,
                &new.login.login_name,
                &login_name_key(&new.login.login_name),
                hash.as_deref(),
            )
            .await?;
        let now = csm_db::now();
        for profile in &new.profile_ids {
            self.attach_to_login(&mut tx, *profile, login_id, now).await?;
        }
        if let Some(default) = new.default_profile {
            login.default_profile = Some(default);
            self.store.save_login(&mut tx, &login, &login_name_key(&login.login_name)).await?;
        }
        let revision = self.store.append_login_change(&mut tx, login_id, Operation::Created).await?;
        if !key.record(&mut tx, *login_id.as_uuid(), revision, "").await? {
            drop(tx);
            return Box::pin(self.create_login(caller, request_id, new)).await;
        }
        let login = self.store.login_credentials_in(&mut tx, login_id).await?.map(|credentials| credentials.login);
        let login = login.ok_or_else(|| CsmError::internal("a created login cannot be read back"))?;
        tx.commit().await?;
        Ok(self.committed(login, revision))
    }

    /// Attaches a login-less profile (and the sub-profiles under it) to `login`.
    async fn attach_to_login(
        &self,
        tx: &mut Tx,
        profile: ProfileId,
        login: LoginId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> CsmResult<()> {
        if !self.store.lock_profile(tx, profile).await? {
            return Err(CsmError::not_found("profile", profile).with_metadata("field", "profile_ids"));
        }
        let current =
            self.store.profile_in(tx, profile).await?.ok_or_else(|| CsmError::not_found("profile", profile))?;
        if current.login.is_some() {
            return Err(profile_already_on_login(profile));
        }
        if current.kind == ProfileKind::ConsumerSubProfile {
            return Err(CsmError::failed_precondition(
                "SUB_PROFILE_FOLLOWS_PARENT",
                format!("profile {profile} is a consumer sub-profile: it belongs to its parent's login"),
            )
            .with_metadata("profile_id", profile.to_string()));
        }
        let mut attached = current.clone();
        attached.login = Some(login);
        attached.updated_at = now;
        self.store.save_profile(tx, &attached).await?;
        self.store.append_profile_change_of(tx, &attached, Operation::Updated, Some(&current)).await?;
        self.move_sub_profiles(tx, &attached, now).await
    }

    /// Keeps a CONSUMER profile's sub-profiles on its login (R1.9).
    pub(super) async fn move_sub_profiles(
        &self,
        tx: &mut Tx,
        parent: &Profile,
        now: chrono::DateTime<chrono::Utc>,
    ) -> CsmResult<()> {
        if parent.kind != ProfileKind::Consumer {
            return Ok(());
        }
        for sub_profile in self.store.move_sub_profiles_to_login(tx, parent.id, parent.login, now).await? {
            self.store.end_sessions_of_profile(tx, sub_profile, now).await?;
            if let Some(moved) = self.store.profile_in(tx, sub_profile).await? {
                self.store.append_profile_change_of(tx, &moved, Operation::Updated, None).await?;
            }
        }
        Ok(())
    }

    /// Reads a login (never its secret): the person itself or a people admin.
    pub async fn get_login(&self, caller: &Caller, id: LoginId) -> CsmResult<Login> {
        self.authorize_own_login(caller, id, "GetLogin").await?;
        self.store.get_login(id).await?.ok_or_else(|| CsmError::not_found("login", id))
    }

    /// Updates login_name, enabled or default_profile_id (R1.9, R4.8).
    /// Disabling a login ends all its sessions. A delegated admin may enable
    /// or disable the login of contacts in its scope (R4.8).
    pub async fn update_login(&self, caller: &Caller, id: LoginId, update: LoginUpdate) -> CsmResult<Written<Login>> {
        const RPC: &str = "UpdateLogin";
        let only_enabled = update.login_name.is_none() && update.default_profile.is_none();
        match self.roles.authorize(caller, PEOPLE_ADMIN_ROLES, RPC).await {
            Ok(()) => {}
            Err(denied) if only_enabled && denied.reason() == "MISSING_ROLE" => {
                // R4.8 "enable/disable login": every profile of the login must be a contact in scope.
                let profiles = self.store.profiles_of_login(id).await?;
                let accounts: Option<Vec<AccountId>> = profiles.iter().map(|profile| profile.account).collect();
                match accounts {
                    Some(accounts) if !accounts.is_empty() => {
                        self.authorize_contact_admin(caller, &accounts, RPC).await?
                    }
                    _ => return Err(denied),
                }
            }
            Err(denied) => return Err(denied),
        }
        let mut tx = self.store.db().begin().await?;
        if !self.store.lock_login(&mut tx, id).await? {
            return Err(CsmError::not_found("login", id));
        }
        let current =
            self.store.login_credentials_in(&mut tx, id).await?.ok_or_else(|| CsmError::not_found("login", id))?;
        let mut login = current.login.clone();
        if let Some(name) = &update.login_name {
            login.login_name = name.clone();
        }
        if let Some(enabled) = update.enabled {
            login.enabled = enabled;
        }
        if let Some(default) = update.default_profile {
            if let Some(default) = default
                && !login.profile_ids.contains(&default)
            {
                return Err(CsmError::invalid_argument(
                    "PROFILE_NOT_OF_LOGIN",
                    format!("profile {default} does not belong to login {id}"),
                )
                .with_metadata("field", "login.default_profile_id"));
            }
            login.default_profile = default;
        }
        let now = csm_db::now();
        login.updated_at = now;
        self.store.save_login(&mut tx, &login, &login_name_key(&login.login_name)).await?;
        if current.login.enabled && !login.enabled {
            self.store.end_sessions_of_login(&mut tx, id, now).await?;
        }
        let revision = self.store.append_login_change(&mut tx, id, Operation::Updated).await?;
        tx.commit().await?;
        Ok(self.committed(login, revision))
    }

    /// Lists logins by id, optionally by name prefix (people admins).
    pub async fn list_logins(
        &self,
        caller: &Caller,
        page: &PageRequest,
        name_prefix: Option<&str>,
    ) -> CsmResult<(Vec<Login>, String)> {
        self.roles.authorize(caller, PEOPLE_ADMIN_ROLES, "ListLogins").await?;
        let rows = self.store.list_logins(page, name_prefix).await?;
        Ok(page.finish(rows, |login| login.id.to_string()))
    }

    /// Sets a login's password: the person itself with its current password,
    /// or a people admin resetting another login.
    pub async fn set_login_password(
        &self,
        caller: &Caller,
        id: LoginId,
        new_password: Password,
        current_password: Option<Password>,
    ) -> CsmResult<Written<Login>> {
        const RPC: &str = "SetLoginPassword";
        check_password_policy(&new_password).map_err(|problem| password_policy_error("new_password", problem))?;
        let own = matches!(caller, Caller::Human(human) if human.login_id == id);
        if own {
            let current_password = current_password.ok_or_else(|| {
                CsmError::invalid_field("current_password", "is required to change your own password")
            })?;
            // A read-only transaction: the credentials are read in one.
            let mut read = self.store.db().begin().await?;
            let stored_hash =
                self.store.login_credentials_in(&mut read, id).await?.and_then(|found| found.password_hash);
            drop(read);
            if !verify_password(current_password, stored_hash, self.password_hash_iterations).await? {
                return Err(CsmError::unauthenticated("INVALID_CREDENTIALS", "the current password is wrong"));
            }
        } else {
            self.roles.authorize(caller, PEOPLE_ADMIN_ROLES, RPC).await?;
        }
        let hash = hash_password(new_password, self.password_hash_iterations).await?;
        let mut tx = self.store.db().begin().await?;
        if !self.store.lock_login(&mut tx, id).await? {
            return Err(CsmError::not_found("login", id));
        }
        self.store.set_password_hash(&mut tx, id, &hash, csm_db::now()).await?;
        let revision = self.store.append_login_change(&mut tx, id, Operation::Updated).await?;
        let login = self.store.login_credentials_in(&mut tx, id).await?.map(|credentials| credentials.login);
        let login = login.ok_or_else(|| CsmError::not_found("login", id))?;
        tx.commit().await?;
        Ok(self.committed(login, revision))
    }

    /// The first administrator (`CSM_BOOTSTRAP_ADMIN_LOGIN`): creates its
    /// login and INTERNAL profile when they do not exist (role gives the
    /// profile `admin`). Idempotent across restarts and replicas.
    pub async fn ensure_bootstrap_admin(&self, admin: &csm_server::BootstrapAdmin) -> CsmResult<()> {
        if self.store.get_profile(admin.profile_id).await?.is_some() {
            return Ok(());
        }
        let key = login_name_key(&admin.login_name);
        let hash = match &admin.password {
            Some(password) => {
                Some(hash_password(Password::new(password.clone()), self.password_hash_iterations).await?)
            }
            None => None,
        };
        let existing = self.store.login_credentials_by_name(&key).await?.map(|found| found.login.id);
        let mut tx = self.store.db().begin().await?;
        let login = match existing {
            Some(login) => login,
            None => {
                self.store.insert_login(&mut tx, admin.login_id, &admin.login_name, &key, hash.as_deref()).await?;
                self.store.append_login_change(&mut tx, admin.login_id, Operation::Created).await?;
                admin.login_id
            }
        };
        let draft = ProfileDraft {
            id: admin.profile_id,
            kind: ProfileKind::Internal,
            login: Some(login),
            display_name: "Administrator".to_owned(),
            details: Default::default(),
            application: crate::domain::people::DEFAULT_APPLICATION.to_owned(),
            account: None,
            consumer: None,
            parent_profile: None,
            consumer_profile: None,
            sub_profile_type: String::new(),
            manager: None,
            department: None,
            title: "Administrator".to_owned(),
            security_group: self.default_security_group(ProfileKind::Internal).await?,
            channels: vec![Channel::Browser, Channel::Api, Channel::Administrator],
        };
        let profile = self.store.insert_profile(&mut tx, &draft).await?;
        let revision = self.store.append_profile_change_of(&mut tx, &profile, Operation::Created, None).await?;
        match tx.commit().await {
            Ok(()) => {
                self.feed.committed(revision);
                Ok(())
            }
            // Another replica bootstrapped at the same moment.
            Err(_) if self.store.get_profile(admin.profile_id).await?.is_some() => Ok(()),
            Err(error) => Err(error),
        }
    }
}
