//! The caller directory every service keeps: what identity says about the
//! logins, sessions and profiles credentials name, and what role says about
//! the profiles' effective roles — cached, and evicted by identity's and
//! role's change feeds, so the warm path makes no call.
//!
//! - A miss asks identity once (`GetCredentialState`: login, session and
//!   acting profile together) and role once for roles, when the matrix row
//!   needs them.
//! - Evictions are precise: a "login", "session" or "profile" change evicts
//!   that entry; a role assignment or group membership evicts that profile's
//!   roles, any other role change all roles.
//! - While a feed's stream is down its caches are not trusted: every call
//!   reads through (and fails UNAVAILABLE when the peer is down too).
//! - A value loaded while an eviction ran is used but not kept (epochs).

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use csm_auth::admission::{self, BoxFuture};
use csm_auth::{
    AdmittedPerson, CallerDirectory, CallerKind, CallerKinds, LoginFacts, LoginRef, PersonClaim, ProfileFacts,
    SessionFacts,
};
use csm_errors::{CsmError, CsmResult};
use csm_proto::common::Change;
use csm_proto::identity as identity_pb;
use csm_proto::identity::identity_service_client::IdentityServiceClient;
use csm_proto::role::role_service_client::RoleServiceClient;
use csm_types::{LoginId, ProfileId, ServiceName, SessionId};
use tokio_stream::StreamExt as _;

use crate::peer::PeerChannel;

/// Entries per cache.
const CAPACITY: usize = 100_000;

/// A bounded cache that keeps a loaded value only if no eviction ran while it loaded.
struct FeedCache<K, V> {
    entries: quick_cache::sync::Cache<K, Arc<V>>,
    epoch: AtomicU64,
}

impl<K: Eq + Hash + Clone, V> FeedCache<K, V> {
    fn new() -> Self {
        Self { entries: quick_cache::sync::Cache::new(CAPACITY), epoch: AtomicU64::new(0) }
    }

    fn get(&self, key: &K) -> Option<Arc<V>> {
        self.entries.get(key)
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn keep(&self, key: K, value: Arc<V>, loaded_at_epoch: u64) {
        if self.epoch() == loaded_at_epoch {
            self.entries.insert(key.clone(), value);
            // An eviction that raced the insert wins.
            if self.epoch() != loaded_at_epoch {
                self.entries.remove(&key);
            }
        }
    }

    fn evict(&self, key: &K) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(key);
    }

    fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}

#[derive(Default)]
struct Feed {
    connected: AtomicBool,
    applied: AtomicU64,
}

/// The caller directory of one service (see the module docs).
pub struct PeerDirectory {
    identity: IdentityServiceClient<PeerChannel>,
    role: RoleServiceClient<PeerChannel>,
    logins: FeedCache<LoginId, LoginFacts>,
    login_names: FeedCache<String, LoginId>,
    sessions: FeedCache<SessionId, SessionFacts>,
    profiles: FeedCache<ProfileId, ProfileFacts>,
    roles: FeedCache<ProfileId, Vec<String>>,
    identity_feed: Feed,
    role_feed: Feed,
    stopping: tokio::sync::watch::Sender<bool>,
}

/// The caller kind a profile's kind gives.
fn base_kind(kind: i32) -> CallerKind {
    match identity_pb::ProfileKind::try_from(kind) {
        Ok(identity_pb::ProfileKind::Internal) => CallerKind::Agent,
        Ok(identity_pb::ProfileKind::Contact) => CallerKind::Customer,
        Ok(identity_pb::ProfileKind::PartnerContact) => CallerKind::Partner,
        Ok(identity_pb::ProfileKind::Consumer | identity_pb::ProfileKind::ConsumerSubProfile) => CallerKind::Consumer,
        // Not a person kind the matrix knows: a kind no row allows.
        Ok(identity_pb::ProfileKind::Unspecified) | Err(_) => CallerKind::Anonymous,
    }
}

fn peer_error(peer: ServiceName, status: tonic::Status) -> CsmError {
    use tonic::Code;
    // A peer that says why it is unavailable (e.g. SERVICE_STARTING) keeps its reason.
    if status.code() == Code::Unavailable
        && let Some(reason) = csm_errors::reason_of_status(&status)
    {
        return CsmError::new(
            csm_errors::ErrorCode::Unavailable,
            reason,
            format!("the {peer} service is unavailable: callers cannot be checked"),
        )
        .with_metadata("dependency", peer.as_str());
    }
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted | Code::Unknown => {
            CsmError::unavailable(
                "DEPENDENCY_UNAVAILABLE",
                format!("the {peer} service did not answer ({:?}): callers cannot be checked", status.code()),
            )
            .with_metadata("dependency", peer.as_str())
        }
        _ => CsmError::unavailable(
            "DEPENDENCY_UNAVAILABLE",
            format!("the {peer} service refused the caller check ({:?})", status.code()),
        )
        .with_metadata("dependency", peer.as_str()),
    }
}

fn parse_or<T, E>(value: &str, parse: impl Fn(&str) -> Result<T, E>) -> Option<T> {
    (!value.is_empty()).then(|| parse(value).ok()).flatten()
}

impl PeerDirectory {
    /// A directory asking identity and role over `identity` and `role`; call
    /// [`PeerDirectory::spawn_watchers`] to follow their feeds.
    pub fn new(identity: PeerChannel, role: PeerChannel) -> Arc<Self> {
        Arc::new(Self {
            identity: IdentityServiceClient::new(identity),
            role: RoleServiceClient::new(role),
            logins: FeedCache::new(),
            login_names: FeedCache::new(),
            sessions: FeedCache::new(),
            profiles: FeedCache::new(),
            roles: FeedCache::new(),
            identity_feed: Feed::default(),
            role_feed: Feed::default(),
            stopping: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Ends the feed followers.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    fn identity_trusted(&self) -> bool {
        self.identity_feed.connected.load(Ordering::Acquire)
    }

    fn role_trusted(&self) -> bool {
        self.role_feed.connected.load(Ordering::Acquire)
    }

    /// The facts of a claim from the caches, when all of them are there.
    fn cached(&self, claim: &PersonClaim, requested: Option<ProfileId>) -> Option<Result<AdmittedPerson, CsmError>> {
        if !self.identity_trusted() {
            return None;
        }
        let login_id = match &claim.login {
            LoginRef::Id(id) => *id,
            LoginRef::Name(name) => *self.login_names.get(name)?,
        };
        let login = self.logins.get(&login_id)?;
        let session = match claim.session {
            Some(id) => Some(self.sessions.get(&id)?),
            None => None,
        };
        let profile_id = admission::acting_profile(claim, requested, session.as_deref(), &login)?;
        let profile = self.profiles.get(&profile_id)?;
        Some(admission::admit(
            claim,
            Some(&login),
            claim.session.map(|_| session.as_deref()),
            Some(profile_id),
            Some(&profile),
        ))
    }

    async fn load(&self, claim: &PersonClaim, requested: Option<ProfileId>) -> Result<AdmittedPerson, CsmError> {
        let epochs = (self.logins.epoch(), self.sessions.epoch(), self.profiles.epoch(), self.login_names.epoch());
        let trusted = self.identity_trusted();
        let (login_id, login_name) = match &claim.login {
            LoginRef::Id(id) => (id.to_string(), String::new()),
            LoginRef::Name(name) => (String::new(), name.clone()),
        };
        let request = identity_pb::GetCredentialStateRequest {
            login_id,
            login_name,
            session_id: claim.session.map(|id| id.to_string()).unwrap_or_default(),
            profile_id: claim.profile.or(requested).map(|id| id.to_string()).unwrap_or_default(),
        };
        let state = self
            .identity
            .clone()
            .get_credential_state(request)
            .await
            .map_err(|status| peer_error(ServiceName::Identity, status))?
            .into_inner();
        let login = state.login.and_then(|login| {
            Some(Arc::new(LoginFacts {
                id: LoginId::parse(&login.login_id).ok()?,
                enabled: login.enabled,
                default_profile: parse_or(&login.default_profile_id, ProfileId::parse),
            }))
        });
        let session = state.session.and_then(|session| {
            Some(Arc::new(SessionFacts {
                id: SessionId::parse(&session.session_id).ok()?,
                login: LoginId::parse(&session.login_id).ok()?,
                active_profile: ProfileId::parse(&session.active_profile_id).ok()?,
                ended: session.state != identity_pb::SessionState::Active as i32,
            }))
        });
        let profile = state.profile.and_then(|profile| {
            Some(Arc::new(ProfileFacts {
                id: ProfileId::parse(&profile.profile_id).ok()?,
                login: parse_or(&profile.login_id, LoginId::parse),
                base: base_kind(profile.kind),
                active: profile.active,
            }))
        });
        if trusted {
            if let Some(login) = &login {
                self.logins.keep(login.id, login.clone(), epochs.0);
                if let LoginRef::Name(name) = &claim.login {
                    self.login_names.keep(name.clone(), Arc::new(login.id), epochs.3);
                }
            }
            if let Some(session) = &session {
                self.sessions.keep(session.id, session.clone(), epochs.1);
            }
            if let Some(profile) = &profile {
                self.profiles.keep(profile.id, profile.clone(), epochs.2);
            }
        }
        let Some(login) = login else {
            return admission::admit(claim, None, None, None, None);
        };
        let profile_id = admission::acting_profile(claim, requested, session.as_deref(), &login);
        admission::admit(
            claim,
            Some(&login),
            claim.session.map(|_| session.as_deref()),
            profile_id,
            profile.as_deref().filter(|profile| Some(profile.id) == profile_id),
        )
    }

    async fn roles_of(&self, profile: ProfileId, fresh: bool) -> CsmResult<Arc<Vec<String>>> {
        let trusted = self.role_trusted();
        if !fresh
            && trusted
            && let Some(roles) = self.roles.get(&profile)
        {
            return Ok(roles);
        }
        let epoch = self.roles.epoch();
        let response = self
            .role
            .clone()
            .get_effective_roles(csm_proto::role::GetEffectiveRolesRequest {
                profile_id: profile.to_string(),
                consistency: None,
            })
            .await
            .map_err(|status| peer_error(ServiceName::Role, status))?
            .into_inner();
        let roles = Arc::new(response.effective_roles.map(|roles| roles.roles).unwrap_or_default());
        if trusted {
            self.roles.keep(profile, roles.clone(), epoch);
        }
        Ok(roles)
    }

    /// Applies one change of identity's feed.
    pub fn apply_identity(&self, change: &Change) {
        let id = |key: &str| change.attributes.get(key).map(String::as_str).unwrap_or(change.entity_id.as_str());
        match change.entity_type.as_str() {
            "login" => {
                if let Ok(login) = LoginId::parse(id("login_id")) {
                    self.logins.evict(&login);
                }
                self.login_names.clear();
            }
            "session" => {
                if let Ok(session) = SessionId::parse(id("session_id")) {
                    self.sessions.evict(&session);
                }
            }
            "profile" => {
                if let Ok(profile) = ProfileId::parse(id("profile_id")) {
                    self.profiles.evict(&profile);
                }
            }
            _ => {}
        }
        self.identity_feed.applied.fetch_max(change.revision, Ordering::AcqRel);
    }

    /// Applies one change of role's feed.
    pub fn apply_role(&self, change: &Change) {
        let profile = change.attributes.get("profile_id").and_then(|id| ProfileId::parse(id).ok());
        match (change.entity_type.as_str(), profile) {
            ("role_assignment" | "group_member", Some(profile)) => self.roles.evict(&profile),
            ("group_member", None) => match ProfileId::parse(&change.entity_id) {
                Ok(profile) => self.roles.evict(&profile),
                Err(_) => self.roles.clear(),
            },
            ("settings" | "role_settings", _) => {}
            _ => self.roles.clear(),
        }
        self.role_feed.applied.fetch_max(change.revision, Ordering::AcqRel);
    }

    /// Follows identity's and role's feeds until [`PeerDirectory::stop`],
    /// reconnecting from the last applied revision.
    pub fn spawn_watchers(self: &Arc<Self>) {
        let directory = Arc::clone(self);
        tokio::spawn(async move { directory.follow(ServiceName::Identity).await });
        let directory = Arc::clone(self);
        tokio::spawn(async move { directory.follow(ServiceName::Role).await });
    }

    async fn follow(self: Arc<Self>, feed: ServiceName) {
        let mut stopping = self.stopping.subscribe();
        tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => {}
            _ = self.clone().follow_until_stopped(feed) => {}
        }
        self.feed(feed).connected.store(false, Ordering::Release);
    }

    fn feed(&self, feed: ServiceName) -> &Feed {
        if feed == ServiceName::Identity { &self.identity_feed } else { &self.role_feed }
    }

    /// Forgets everything a feed feeds (its stream went down: changes may be missed).
    fn forget(&self, feed: ServiceName) {
        if feed == ServiceName::Identity {
            self.logins.clear();
            self.login_names.clear();
            self.sessions.clear();
            self.profiles.clear();
        } else {
            self.roles.clear();
        }
    }

    async fn follow_until_stopped(self: Arc<Self>, feed: ServiceName) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let from = self.feed(feed).applied.load(Ordering::Acquire);
            let stream: Result<ChangeStream, tonic::Status> = match feed {
                ServiceName::Identity => self
                    .identity
                    .clone()
                    .watch(identity_pb::WatchRequest {
                        from_revision: from,
                        entity_types: vec!["login".to_owned(), "session".to_owned(), "profile".to_owned()],
                    })
                    .await
                    .map(|response| map_stream(response.into_inner(), |item| item.change)),
                _ => self
                    .role
                    .clone()
                    .watch(csm_proto::role::WatchRequest { from_revision: from })
                    .await
                    .map(|response| map_stream(response.into_inner(), |item| item.change)),
            };
            match stream {
                Ok(mut stream) => {
                    // Changes may have been missed while the stream was down.
                    self.forget(feed);
                    self.feed(feed).connected.store(true, Ordering::Release);
                    backoff = Duration::from_millis(100);
                    while let Some(item) = stream.next().await {
                        match item {
                            Ok(change) if feed == ServiceName::Identity => self.apply_identity(&change),
                            Ok(change) => self.apply_role(&change),
                            Err(status) => {
                                tracing::debug!(%feed, code = ?status.code(), "caller directory: watch ended");
                                break;
                            }
                        }
                    }
                    self.feed(feed).connected.store(false, Ordering::Release);
                }
                Err(status) => {
                    tracing::debug!(%feed, code = ?status.code(), "caller directory: watch not available yet");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

type ChangeStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<Change, tonic::Status>> + Send>>;

/// A Watch stream as a stream of changes.
fn map_stream<T: Send + 'static>(
    stream: tonic::Streaming<T>,
    change: impl Fn(T) -> Option<Change> + Send + 'static,
) -> ChangeStream {
    Box::pin(stream.map(move |item| item.map(|item| change(item).unwrap_or_default())))
}

impl CallerDirectory for PeerDirectory {
    fn admit<'a>(
        &'a self,
        claim: &'a PersonClaim,
        requested: Option<ProfileId>,
    ) -> BoxFuture<'a, Result<AdmittedPerson, CsmError>> {
        Box::pin(async move {
            match self.cached(claim, requested) {
                Some(decided) => decided,
                None => self.load(claim, requested).await,
            }
        })
    }

    fn kinds<'a>(&'a self, person: &'a AdmittedPerson, fresh: bool) -> BoxFuture<'a, Result<CallerKinds, CsmError>> {
        Box::pin(async move {
            let Some(profile) = person.human.profile_id else {
                return Ok(CallerKinds::of(person.base));
            };
            let roles = self.roles_of(profile, fresh).await?;
            Ok(admission::role_kinds(person.base, roles.iter().map(String::as_str)))
        })
    }
}
