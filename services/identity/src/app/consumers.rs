//! identity's consumer use cases: consumer records and their user link (R1.3,
//! R1.11, R1.12, R1.18), consumer profiles (R1.17), households (R1.5, R4.11).
//!
//! Changes are for consumer agents and managers ([`CONSUMER_ADMIN_ROLES`]).
//! Reads follow the consumer rules ([`ConsumerScope`]): services and
//! consumer-facing internal people read every consumer; a consumer reads its
//! own record, its household's (as head) and those it represents; nobody
//! else reads any personal data of consumers.
//!
//! Locking: a transaction locks every row it will change (consumer, then
//! consumer profile or household, then profiles in id order) before its first
//! change-feed append, so two writers never wait on each other crosswise.

use csm_auth::Caller;
use csm_changefeed::Operation;
use csm_changefeed::idempotency::RequestKey;
use csm_db::{PageRequest, Tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{ConsumerId, HouseholdId, LoginId, ProfileId, SecurityGroupId};

use super::{IdentityApp, Written};
use crate::domain::consumers::{
    CONSUMER_ADMIN_ROLES, Consumer, ConsumerChanges, ConsumerProfile, ConsumerProfileChanges, ConsumerProfileId,
    ConsumerScope, ConsumerUserChoice, Household, HouseholdChanges, HouseholdMember, HouseholdMemberStatus,
    LinkCandidate, LinkRefusal, MembershipRefusal, MembershipTransition, NewConsumer, NewConsumerProfile,
    NewConsumerUser, NewHousehold, channels_after_unlink, check_link, check_unlink, membership_transition,
    synchronized_details, syncs_details_to_linked_profile,
};
use crate::domain::directory::SecurityGroupKind;
use crate::domain::people::{
    Channel, DEFAULT_APPLICATION, LoginChoice, Profile, ProfileDraft, ProfileKind, SNC_EXTERNAL, check_password_policy,
    first_forbidden_channel, login_name_key, password_hash,
};
use crate::store::consumers::{ConsumerFilter, ConsumerProfileFilter, HouseholdFilter};

/// A consumer with the user profile linked (or created) with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerWithUser {
    pub consumer: Consumer,
    /// The linked profile; for UpdateConsumer only when R1.18 synchronized it.
    pub user_profile: Option<ProfileId>,
}

/// The consumer side of a principal (R1.3, R1.5, R1.12, R1.17; DESIGN §3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalConsumer {
    /// The linked consumer record.
    pub consumer: Option<Consumer>,
    /// For a CONSUMER_SUB_PROFILE: its consumer profile record.
    pub consumer_profile: Option<ConsumerProfile>,
    /// Current and former memberships of the linked consumer.
    pub household_memberships: Vec<HouseholdMember>,
}

/// A new CONSUMER profile's references, checked before its transaction.
struct PreparedConsumerUser {
    channels: Vec<Channel>,
    security_group: Option<SecurityGroupId>,
    login: PreparedLogin,
}

enum PreparedLogin {
    None,
    Existing(LoginId),
    New { login_name: String, password_hash: Option<String> },
}

/// What the link rules need to know about a profile.
fn link_candidate(profile: &Profile) -> LinkCandidate {
    LinkCandidate { profile: profile.id, kind: profile.kind, consumer: profile.consumer }
}

fn link_refused(refusal: LinkRefusal) -> CsmError {
    let mut error = CsmError::failed_precondition(refusal.reason(), refusal.to_string());
    if let LinkRefusal::ProfileAlreadyLinked(consumer) = &refusal {
        error = error.with_metadata("consumer_id", consumer.to_string());
    }
    error
}

fn consumer_not_visible(consumer: ConsumerId) -> CsmError {
    CsmError::permission_denied(
        "CONSUMER_NOT_VISIBLE",
        "this consumer's data is for the consumer, its household head or representative, and consumer agents",
    )
    .with_metadata("consumer_id", consumer.to_string())
}

fn consumer_inactive(consumer: ConsumerId) -> CsmError {
    CsmError::failed_precondition("CONSUMER_INACTIVE", format!("consumer {consumer} is inactive"))
        .with_metadata("consumer_id", consumer.to_string())
}

impl IdentityApp {
    // -------------------------------------------------------------- consumers

    /// Creates a consumer, optionally linked to an existing profile (R1.3,
    /// R1.11, R1.12) or to a new CONSUMER profile that the role service gives
    /// snc_external (R2.14). A retry with the same `request_id` returns the
    /// first result (and completes a role assignment that failed).
    pub async fn create_consumer(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewConsumer,
    ) -> CsmResult<Written<ConsumerWithUser>> {
        const RPC: &str = "CreateConsumer";
        self.roles.authorize(caller, CONSUMER_ADMIN_ROLES, RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, &new);
        if let Some((id, revision)) = self.replayed(&key).await? {
            let consumer = self.store.get_consumer(ConsumerId::from_uuid(id)).await?;
            let consumer = consumer.ok_or_else(|| CsmError::not_found("consumer", id))?;
            if let (ConsumerUserChoice::New(_), Some(profile)) = (&new.user, consumer.user_profile) {
                self.give_snc_external(profile).await?;
            }
            let user_profile = consumer.user_profile;
            return Ok(self.written(ConsumerWithUser { consumer, user_profile }, revision));
        }
        // Reference checks and the slow password hash happen before the
        // transaction, which then starts with a write (see the module comment).
        let prepared_user = match &new.user {
            ConsumerUserChoice::New(user) => Some(self.prepare_consumer_user(user).await?),
            _ => None,
        };
        let now = csm_db::now();
        let mut consumer = Consumer {
            id: ConsumerId::new(),
            display_name: new.display_name.clone(),
            details: new.details.clone(),
            user_profile: None,
            active: true,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.db().begin().await?;
        let revision = match (&new.user, prepared_user) {
            (ConsumerUserChoice::Link(profile), _) => {
                let before = self.locked_profile(&mut tx, *profile).await?;
                let before = before
                    .ok_or_else(|| CsmError::not_found("profile", profile).with_metadata("field", "link_profile_id"))?;
                let settings = self.store.settings_in(&mut tx).await?;
                check_link(&settings, consumer.id, &link_candidate(&before)).map_err(link_refused)?;
                consumer.user_profile = Some(before.id);
                self.store.insert_consumer(&mut tx, &consumer).await?;
                self.write_profile_consumer(&mut tx, &before, Some(consumer.id)).await?
            }
            (ConsumerUserChoice::New(_), Some(prepared)) => {
                let login = self.login_of_consumer_user(&mut tx, prepared.login).await?;
                let draft = ProfileDraft {
                    id: ProfileId::new(),
                    kind: ProfileKind::Consumer,
                    login,
                    display_name: consumer.display_name.clone(),
                    details: consumer.details.clone(),
                    application: DEFAULT_APPLICATION.to_owned(),
                    account: None,
                    consumer: Some(consumer.id),
                    parent_profile: None,
                    consumer_profile: None,
                    sub_profile_type: String::new(),
                    manager: None,
                    department: None,
                    title: String::new(),
                    security_group: prepared.security_group,
                    channels: prepared.channels,
                };
                let profile = self.store.insert_profile(&mut tx, &draft).await?;
                self.store.append_profile_change_of(&mut tx, &profile, Operation::Created, None).await?;
                consumer.user_profile = Some(profile.id);
                self.store.insert_consumer(&mut tx, &consumer).await?
            }
            _ => self.store.insert_consumer(&mut tx, &consumer).await?,
        };
        if !self.record_created(&mut tx, &key, *consumer.id.as_uuid(), revision).await? {
            // A concurrent retry with the same request id won: answer with its result.
            drop(tx);
            return Box::pin(self.create_consumer(caller, request_id, new)).await;
        }
        if let (ConsumerUserChoice::New(_), Some(profile)) = (&new.user, consumer.user_profile) {
            // R2.14, no bypass: the role is assigned before the commit, so a
            // refused or unreachable role service leaves nothing behind.
            self.give_snc_external(profile).await?;
        }
        tx.commit().await?;
        let user_profile = consumer.user_profile;
        Ok(self.committed(ConsumerWithUser { consumer, user_profile }, revision))
    }

    /// Checks a new CONSUMER profile (R1.3) before its transaction: at most
    /// CONSUMER_PORTAL (R1.7), a CUSTOMER group (the default one once it holds
    /// a portal channel, R1.8), an existing login or a valid new one (R1.9,
    /// R1.10a) whose password is hashed here.
    async fn prepare_consumer_user(&self, user: &NewConsumerUser) -> CsmResult<PreparedConsumerUser> {
        if let Some(channel) = first_forbidden_channel(ProfileKind::Consumer, true, &user.channels) {
            return Err(CsmError::failed_precondition(
                "CHANNEL_NOT_ALLOWED_FOR_PROFILE",
                format!("a CONSUMER profile cannot hold the {} channel", channel.as_str()),
            )
            .with_metadata("channel", channel.as_str()));
        }
        let security_group = match user.security_group {
            Some(group_id) => {
                let group = self.store.get_security_group(group_id).await?;
                let group = group.ok_or_else(|| {
                    CsmError::not_found("security_group", group_id)
                        .with_metadata("field", "new_consumer_user.security_group_id")
                })?;
                if group.kind != SecurityGroupKind::Customer {
                    return Err(CsmError::failed_precondition(
                        "SECURITY_GROUP_KIND_MISMATCH",
                        format!(
                            "a CONSUMER profile needs a customer security group; {} is a {} group",
                            group.name, group.kind
                        ),
                    ));
                }
                Some(group.id)
            }
            None if user.channels.iter().any(|channel| channel.is_portal()) => {
                self.store.default_security_group(SecurityGroupKind::Customer).await?.map(|group| group.id)
            }
            None => None,
        };
        let login = match &user.login {
            LoginChoice::None => PreparedLogin::None,
            LoginChoice::Existing(login) => PreparedLogin::Existing(*login),
            LoginChoice::New(new_login) => {
                let password_hash = match &new_login.password {
                    Some(password) => {
                        let field = "new_consumer_user.new_login.password";
                        check_password_policy(password).map_err(|problem| {
                            CsmError::invalid_argument("PASSWORD_POLICY", format!("{field} {problem}"))
                                .with_metadata("field", field)
                        })?;
                        // The slow hash runs off the async workers.
                        let password = password.clone();
                        let iterations = self.password_hash_iterations;
                        let hash = tokio::task::spawn_blocking(move || password_hash::hash(&password, iterations));
                        Some(hash.await.map_err(CsmError::internal)?)
                    }
                    None => None,
                };
                PreparedLogin::New { login_name: new_login.login_name.clone(), password_hash }
            }
        };
        Ok(PreparedConsumerUser { channels: user.channels.clone(), security_group, login })
    }

    /// The login a new CONSUMER profile joins: an existing one (locked, so it
    /// cannot vanish meanwhile) or a new one (LOGIN_NAME_TAKEN).
    async fn login_of_consumer_user(&self, tx: &mut Tx, login: PreparedLogin) -> CsmResult<Option<LoginId>> {
        match login {
            PreparedLogin::None => Ok(None),
            PreparedLogin::Existing(login) => {
                if !self.store.lock_login(tx, login).await? {
                    return Err(
                        CsmError::not_found("login", login).with_metadata("field", "new_consumer_user.login_id")
                    );
                }
                Ok(Some(login))
            }
            PreparedLogin::New { login_name, password_hash } => {
                let login = self
                    .store
                    .insert_login(
                        tx,
                        LoginId::new(),
                        &login_name,
                        &login_name_key(&login_name),
                        password_hash.as_deref(),
                    )
                    .await?;
                self.store.append_login_change(tx, login.id, Operation::Created).await?;
                Ok(Some(login.id))
            }
        }
    }

    /// Has the role service give `profile` snc_external (R2.14), as identity's
    /// service identity. An assignment that already exists is fine.
    async fn give_snc_external(&self, profile: ProfileId) -> CsmResult<()> {
        self.roles.assign_role(profile, SNC_EXTERNAL).await.map(|_| ())
    }

    /// Locks a profile (no-op UPDATE first) and reads it.
    pub(crate) async fn locked_profile(&self, tx: &mut Tx, profile: ProfileId) -> CsmResult<Option<Profile>> {
        if !self.store.lock_profile(tx, profile).await? {
            return Ok(None);
        }
        self.store.profile_in(tx, profile).await
    }

    /// Writes a profile's consumer link (`None`: unlinked, which also drops
    /// the CONSUMER_PORTAL channel only the link allowed, R1.7) and appends its
    /// change with the previous link.
    async fn write_profile_consumer(
        &self,
        tx: &mut Tx,
        before: &Profile,
        consumer: Option<ConsumerId>,
    ) -> CsmResult<u64> {
        let mut after = Profile { consumer, updated_at: csm_db::now(), ..before.clone() };
        if consumer.is_none() {
            after.channels = channels_after_unlink(after.kind, &after.channels);
        }
        self.store.save_profile(tx, &after).await?;
        self.store.set_profile_consumer(tx, after.id, consumer).await?;
        self.store.append_profile_change_of(tx, &after, Operation::Updated, Some(before)).await
    }

    /// The consumer record, consumer profile and household memberships of a
    /// principal's profile, for ResolvePrincipal (the caller is authorized there).
    pub async fn principal_consumer(&self, profile: &Profile) -> CsmResult<PrincipalConsumer> {
        let Some(consumer_id) = profile.consumer else {
            return Ok(PrincipalConsumer::default());
        };
        let consumer = self.store.get_consumer(consumer_id).await?;
        let consumer_profile = match profile.consumer_profile {
            Some(record) => self.store.get_consumer_profile(ConsumerProfileId::from_uuid(record)).await?,
            None => None,
        };
        let household_memberships = self.store.household_memberships_of(consumer_id).await?;
        Ok(PrincipalConsumer { consumer, consumer_profile, household_memberships })
    }

    /// A profile as the response of a write of this area shows it. No role
    /// check: the caller has just been authorized to write it.
    pub async fn profile_after_write(&self, profile: ProfileId) -> CsmResult<Profile> {
        self.store.get_profile(profile).await?.ok_or_else(|| CsmError::not_found("profile", profile))
    }

    /// The consumer records `caller` may read (the consumer rules).
    async fn consumer_scope(&self, caller: &Caller, action: &str) -> CsmResult<ConsumerScope> {
        let Some((human, roles)) = self.person_roles(caller, action).await? else {
            return Ok(ConsumerScope::All);
        };
        if CONSUMER_ADMIN_ROLES.iter().any(|role| roles.contains(*role)) {
            return Ok(ConsumerScope::All);
        }
        let refused = || {
            CsmError::permission_denied(
                "MISSING_ROLE",
                format!(
                    "{action}: consumers' personal data is for the consumer, its household head or representative, \
                     and for {}",
                    CONSUMER_ADMIN_ROLES.join(", ")
                ),
            )
            .with_metadata("required_any_of", CONSUMER_ADMIN_ROLES.join(","))
        };
        let profile = match human.profile_id {
            Some(profile) => self.store.get_profile(profile).await?,
            None => None,
        };
        let Some((profile, own)) = profile
            .filter(|profile| matches!(profile.kind, ProfileKind::Consumer | ProfileKind::ConsumerSubProfile))
            .and_then(|profile| profile.consumer.map(|consumer| (profile, consumer)))
        else {
            return Err(refused());
        };
        let mut visible = std::collections::BTreeSet::from([own]);
        visible.extend(self.store.members_of_households_headed_by(own).await?);
        visible.extend(self.account_team.represented_consumers(profile.id).await?);
        Ok(ConsumerScope::Only(visible))
    }

    pub async fn get_consumer(&self, caller: &Caller, id: ConsumerId) -> CsmResult<Consumer> {
        let scope = self.consumer_scope(caller, "GetConsumer").await?;
        if !scope.allows(id) {
            return Err(consumer_not_visible(id));
        }
        self.store.get_consumer(id).await?.ok_or_else(|| CsmError::not_found("consumer", id))
    }

    /// Updates a consumer. R1.18: changed names, email and phones are copied
    /// in the same transaction to the linked profile when it is a
    /// consumer-user (CONSUMER) profile; contacts and employees linked as
    /// consumers keep their own data.
    pub async fn update_consumer(
        &self,
        caller: &Caller,
        id: ConsumerId,
        changes: ConsumerChanges,
    ) -> CsmResult<Written<ConsumerWithUser>> {
        self.roles.authorize(caller, CONSUMER_ADMIN_ROLES, "UpdateConsumer").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.consumer_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("consumer", id))?;
        let updated = changes.apply_to(&current);
        let linked = match updated.user_profile {
            Some(profile) if !changes.detail_fields.is_empty() => self.locked_profile(&mut tx, profile).await?,
            _ => None,
        };
        let (consumer, mut revision) = self.store.save_consumer(&mut tx, &updated, None).await?;
        let mut synced_profile = None;
        if let Some(before) = linked.filter(|profile| syncs_details_to_linked_profile(profile.kind)) {
            let details = synchronized_details(&before.details, &consumer.details, &changes.detail_fields);
            let after = Profile { details, updated_at: csm_db::now(), ..before.clone() };
            self.store.save_profile(&mut tx, &after).await?;
            revision = self.store.append_profile_change_of(&mut tx, &after, Operation::Updated, Some(&before)).await?;
            synced_profile = Some(after.id);
        }
        tx.commit().await?;
        Ok(self.committed(ConsumerWithUser { consumer, user_profile: synced_profile }, revision))
    }

    /// One page of consumers ordered by id, and the next page token.
    pub async fn list_consumers(
        &self,
        caller: &Caller,
        page: PageRequest,
        mut filter: ConsumerFilter,
    ) -> CsmResult<(Vec<Consumer>, String)> {
        filter.only = self.consumer_scope(caller, "ListConsumers").await?.restriction();
        let rows = self.store.list_consumers(&page, &filter).await?;
        Ok(page.finish(rows, |consumer| consumer.id.to_string()))
    }

    /// Links a consumer to a profile, replacing its previous link, or unlinks
    /// it (`None`) (R1.3, R1.11, R1.12). A CONSUMER profile cannot lose its
    /// consumer (CONSUMER_LINK_REQUIRED); an unlinked contact or employee
    /// loses its CONSUMER_PORTAL channel (R1.7 needs the link).
    pub async fn set_consumer_user(
        &self,
        caller: &Caller,
        id: ConsumerId,
        profile: Option<ProfileId>,
    ) -> CsmResult<Written<ConsumerWithUser>> {
        self.roles.authorize(caller, CONSUMER_ADMIN_ROLES, "SetConsumerUser").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.consumer_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("consumer", id))?;
        let previous = current.user_profile;
        if previous == profile {
            // Already so: nothing to write.
            drop(tx);
            let head = self.feed.head().await?;
            return Ok(self.written(ConsumerWithUser { consumer: current, user_profile: profile }, head));
        }
        // Lock both profiles in id order (see the module comment).
        let mut to_lock: Vec<ProfileId> = previous.into_iter().chain(profile).collect();
        to_lock.sort();
        let mut locked: Vec<Profile> = Vec::with_capacity(to_lock.len());
        for wanted in to_lock {
            match self.locked_profile(&mut tx, wanted).await? {
                Some(found) => locked.push(found),
                None if Some(wanted) == profile => {
                    return Err(CsmError::not_found("profile", wanted).with_metadata("field", "profile_id"));
                }
                None => return Err(CsmError::internal(format!("linked profile {wanted} of consumer {id} is missing"))),
            }
        }
        let find = |wanted: Option<ProfileId>| locked.iter().find(|found| Some(found.id) == wanted);
        let (old, new) = (find(previous), find(profile));
        if let Some(old) = old {
            check_unlink(old.id, old.kind).map_err(link_refused)?;
        }
        if let Some(new) = new {
            let settings = self.store.settings_in(&mut tx).await?;
            check_link(&settings, id, &link_candidate(new)).map_err(link_refused)?;
        }
        if let Some(old) = old {
            self.write_profile_consumer(&mut tx, old, None).await?;
        }
        let updated = Consumer { user_profile: profile, ..current };
        let (consumer, mut revision) = self.store.save_consumer(&mut tx, &updated, Some(previous)).await?;
        if let Some(new) = new {
            revision = self.write_profile_consumer(&mut tx, new, Some(id)).await?;
        }
        tx.commit().await?;
        Ok(self.committed(ConsumerWithUser { consumer, user_profile: profile }, revision))
    }

    // ------------------------------------------------------ consumer profiles

    /// Creates a consumer profile (R1.17). When the consumer's user is a
    /// CONSUMER profile, a CONSUMER_SUB_PROFILE profile under it (same login,
    /// group and application) is created too, so it can be a session's active
    /// profile (R1.9, R1.10b).
    pub async fn create_consumer_profile(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewConsumerProfile,
    ) -> CsmResult<Written<ConsumerProfile>> {
        const RPC: &str = "CreateConsumerProfile";
        self.roles.authorize(caller, CONSUMER_ADMIN_ROLES, RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, &new);
        if let Some((id, revision)) = self.replayed(&key).await? {
            let record = self.store.get_consumer_profile(ConsumerProfileId::from_uuid(id)).await?;
            let record = record.ok_or_else(|| CsmError::not_found("consumer_profile", id))?;
            return Ok(self.written(record, revision));
        }
        let mut tx = self.store.db().begin().await?;
        let consumer = self.store.consumer_for_update(&mut tx, new.consumer).await?;
        let consumer = consumer
            .ok_or_else(|| CsmError::not_found("consumer", new.consumer).with_metadata("field", "consumer_id"))?;
        if !consumer.active {
            return Err(consumer_inactive(consumer.id));
        }
        let now = csm_db::now();
        let mut record = ConsumerProfile {
            id: ConsumerProfileId::new(),
            consumer: consumer.id,
            sub_profile_type: new.sub_profile_type.clone(),
            display_name: new.display_name_for(&consumer),
            active: true,
            profile: None,
            created_at: now,
            updated_at: now,
        };
        let parent = match consumer.user_profile {
            Some(profile) => self.store.profile_in(&mut tx, profile).await?,
            None => None,
        };
        if let Some(parent) = parent.filter(|parent| parent.kind == ProfileKind::Consumer) {
            let draft = ProfileDraft {
                id: ProfileId::new(),
                kind: ProfileKind::ConsumerSubProfile,
                login: parent.login,
                display_name: record.display_name.clone(),
                details: consumer.details.clone(),
                application: parent.application.clone(),
                account: None,
                consumer: Some(consumer.id),
                parent_profile: Some(parent.id),
                consumer_profile: Some(*record.id.as_uuid()),
                sub_profile_type: record.sub_profile_type.clone(),
                manager: None,
                department: None,
                title: String::new(),
                security_group: parent.security_group,
                // A sub-profile holds its parent's channels, never its own (R1.7).
                channels: Vec::new(),
            };
            let sub_profile = self.store.insert_profile(&mut tx, &draft).await?;
            self.store.append_profile_change_of(&mut tx, &sub_profile, Operation::Created, None).await?;
            record.profile = Some(sub_profile.id);
        }
        let revision = self.store.insert_consumer_profile(&mut tx, &record).await?;
        if !self.record_created(&mut tx, &key, *record.id.as_uuid(), revision).await? {
            drop(tx);
            return Box::pin(self.create_consumer_profile(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(record, revision))
    }

    /// Updates a consumer profile (R1.17); its CONSUMER_SUB_PROFILE profile
    /// follows its display name, sub-profile type and active flag.
    pub async fn update_consumer_profile(
        &self,
        caller: &Caller,
        id: ConsumerProfileId,
        changes: ConsumerProfileChanges,
    ) -> CsmResult<Written<ConsumerProfile>> {
        self.roles.authorize(caller, CONSUMER_ADMIN_ROLES, "UpdateConsumerProfile").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.consumer_profile_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("consumer_profile", id))?;
        let sub_profile = match current.profile {
            Some(profile) => self.locked_profile(&mut tx, profile).await?,
            None => None,
        };
        let (record, mut revision) = self.store.save_consumer_profile(&mut tx, &changes.apply_to(&current)).await?;
        if let Some(before) = sub_profile {
            let now = csm_db::now();
            let after = Profile {
                display_name: record.display_name.clone(),
                sub_profile_type: record.sub_profile_type.clone(),
                active: record.active,
                updated_at: now,
                ..before.clone()
            };
            self.store.save_profile(&mut tx, &after).await?;
            self.store.set_sub_profile_type(&mut tx, after.id, &after.sub_profile_type).await?;
            revision = self.store.append_profile_change_of(&mut tx, &after, Operation::Updated, Some(&before)).await?;
            if before.active && !after.active {
                // A deactivated profile cannot stay a session's active profile (R4.8).
                if let Some(ended) = self.store.end_sessions_of_profile(&mut tx, after.id, now).await? {
                    revision = ended;
                }
            }
        }
        tx.commit().await?;
        Ok(self.committed(record, revision))
    }

    /// One page of consumer profiles ordered by id, and the next page token.
    pub async fn list_consumer_profiles(
        &self,
        caller: &Caller,
        page: PageRequest,
        mut filter: ConsumerProfileFilter,
    ) -> CsmResult<(Vec<ConsumerProfile>, String)> {
        filter.consumers_in = self.consumer_scope(caller, "ListConsumerProfiles").await?.restriction();
        let rows = self.store.list_consumer_profiles(&page, &filter).await?;
        Ok(page.finish(rows, |record| record.id.to_string()))
    }

    // ------------------------------------------------------------- households

    /// Creates a household; its head becomes its first current member (R1.5).
    pub async fn create_household(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewHousehold,
    ) -> CsmResult<Written<Household>> {
        const RPC: &str = "CreateHousehold";
        self.roles.authorize(caller, CONSUMER_ADMIN_ROLES, RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, &new);
        if let Some((id, revision)) = self.replayed(&key).await? {
            let household = self.store.get_household(HouseholdId::from_uuid(id)).await?;
            let household = household.ok_or_else(|| CsmError::not_found("household", id))?;
            return Ok(self.written(household, revision));
        }
        let mut tx = self.store.db().begin().await?;
        let head = self.store.consumer_for_update(&mut tx, new.head).await?;
        let head =
            head.ok_or_else(|| CsmError::not_found("consumer", new.head).with_metadata("field", "head_consumer_id"))?;
        if !head.active {
            return Err(consumer_inactive(head.id));
        }
        let now = csm_db::now();
        let household = Household {
            id: HouseholdId::new(),
            name: new.name.clone(),
            head: head.id,
            active: true,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_household(&mut tx, &household).await?;
        let member = HouseholdMember {
            household: household.id,
            consumer: head.id,
            status: HouseholdMemberStatus::Current,
            head: true,
            joined_at: now,
            left_at: None,
        };
        let revision = self.store.save_household_member(&mut tx, &member, None).await?;
        if !self.record_created(&mut tx, &key, *household.id.as_uuid(), revision).await? {
            drop(tx);
            return Box::pin(self.create_household(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(household, revision))
    }

    pub async fn get_household(&self, caller: &Caller, id: HouseholdId) -> CsmResult<Household> {
        self.authorize_household_read(caller, id, "GetHousehold").await?;
        self.store.get_household(id).await?.ok_or_else(|| CsmError::not_found("household", id))
    }

    /// A household is visible to whoever may read one of its current members.
    async fn authorize_household_read(&self, caller: &Caller, id: HouseholdId, action: &str) -> CsmResult<()> {
        let scope = self.consumer_scope(caller, action).await?;
        if scope == ConsumerScope::All {
            return Ok(());
        }
        let members = self.store.current_members_of(id).await?;
        if members.iter().any(|member| scope.allows(*member)) {
            return Ok(());
        }
        Err(CsmError::permission_denied(
            "HOUSEHOLD_NOT_VISIBLE",
            "this household is visible to its members' readers (the consumer rules)",
        )
        .with_metadata("household_id", id.to_string()))
    }

    /// Updates name, active or head of a household; the new head must be a
    /// current member (HEAD_NOT_CURRENT_MEMBER) (R1.5).
    pub async fn update_household(
        &self,
        caller: &Caller,
        id: HouseholdId,
        changes: HouseholdChanges,
    ) -> CsmResult<Written<Household>> {
        self.roles.authorize(caller, CONSUMER_ADMIN_ROLES, "UpdateHousehold").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.household_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("household", id))?;
        let updated = changes.apply_to(&current);
        if updated.head != current.head {
            let member = self.store.household_member_in(&mut tx, id, updated.head, current.head).await?;
            if member.map(|member| member.status) != Some(HouseholdMemberStatus::Current) {
                return Err(CsmError::failed_precondition(
                    "HEAD_NOT_CURRENT_MEMBER",
                    format!("consumer {} is not a current member of household {id}", updated.head),
                )
                .with_metadata("consumer_id", updated.head.to_string()));
            }
        }
        let (household, revision) = self.store.save_household(&mut tx, &updated, current.head).await?;
        tx.commit().await?;
        Ok(self.committed(household, revision))
    }

    /// One page of households ordered by id, and the next page token.
    pub async fn list_households(
        &self,
        caller: &Caller,
        page: PageRequest,
        mut filter: HouseholdFilter,
    ) -> CsmResult<(Vec<Household>, String)> {
        filter.members_any = self.consumer_scope(caller, "ListHouseholds").await?.restriction();
        let rows = self.store.list_households(&page, &filter).await?;
        Ok(page.finish(rows, |household| household.id.to_string()))
    }

    /// Makes a consumer a current or former member of a household (R1.5).
    /// Leaving is a "household_member" change with household_id and
    /// consumer_id, on which account-team deletes the relationships created
    /// for that consumer within the household (R4.11). The head cannot leave.
    pub async fn set_household_membership(
        &self,
        caller: &Caller,
        household_id: HouseholdId,
        consumer_id: ConsumerId,
        status: HouseholdMemberStatus,
    ) -> CsmResult<Written<HouseholdMember>> {
        self.roles.authorize(caller, CONSUMER_ADMIN_ROLES, "SetHouseholdMembership").await?;
        let mut tx = self.store.db().begin().await?;
        let household = self.store.household_for_update(&mut tx, household_id).await?;
        let household = household.ok_or_else(|| CsmError::not_found("household", household_id))?;
        let consumer = self.store.consumer_in(&mut tx, consumer_id).await?;
        let consumer = consumer.ok_or_else(|| CsmError::not_found("consumer", consumer_id))?;
        let current = self.store.household_member_in(&mut tx, household.id, consumer.id, household.head).await?;
        let transition =
            membership_transition(&household, consumer.id, current.as_ref().map(|member| member.status), status)
                .map_err(|refusal| match refusal {
                    MembershipRefusal::HeadOfHousehold => CsmError::failed_precondition(
                        "HEAD_OF_HOUSEHOLD",
                        "the head of household cannot leave it; change the head first",
                    ),
                    MembershipRefusal::NotAMember => CsmError::not_found(
                        "household_member",
                        crate::domain::consumers::household_member_entity_id(household.id, consumer.id),
                    ),
                    MembershipRefusal::HouseholdInactive => CsmError::failed_precondition(
                        "HOUSEHOLD_INACTIVE",
                        format!("household {household_id} is inactive"),
                    ),
                })?;
        if status == HouseholdMemberStatus::Current && !consumer.active && transition != MembershipTransition::Unchanged
        {
            return Err(consumer_inactive(consumer.id));
        }
        let now = csm_db::now();
        let member = match (transition, current) {
            (MembershipTransition::Unchanged, Some(member)) => {
                drop(tx);
                let head = self.feed.head().await?;
                return Ok(self.written(member, head));
            }
            (MembershipTransition::Leave, Some(member)) => {
                HouseholdMember { status: HouseholdMemberStatus::Former, left_at: Some(now), ..member }
            }
            _ => HouseholdMember {
                household: household.id,
                consumer: consumer.id,
                status: HouseholdMemberStatus::Current,
                head: household.head == consumer.id,
                joined_at: now,
                left_at: None,
            },
        };
        let previous_status = match transition {
            MembershipTransition::Join => None,
            MembershipTransition::Rejoin => Some(HouseholdMemberStatus::Former),
            _ => Some(HouseholdMemberStatus::Current),
        };
        let revision = self.store.save_household_member(&mut tx, &member, previous_status).await?;
        tx.commit().await?;
        Ok(self.committed(member, revision))
    }

    /// One page of a household's members ordered by consumer id.
    pub async fn list_household_members(
        &self,
        caller: &Caller,
        page: PageRequest,
        household: HouseholdId,
        include_former: bool,
    ) -> CsmResult<(Vec<HouseholdMember>, String)> {
        self.authorize_household_read(caller, household, "ListHouseholdMembers").await?;
        let household =
            self.store.get_household(household).await?.ok_or_else(|| CsmError::not_found("household", household))?;
        let rows = self.store.list_household_members(&page, &household, include_former).await?;
        Ok(page.finish(rows, |member| member.consumer.to_string()))
    }
}
