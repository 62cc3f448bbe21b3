//! licensing's use cases: authorize the caller, validate, call the store in
//! one transaction with its change-feed entry, record denials. One module per
//! area, as `impl LicensingApp` blocks.

pub mod agent_seats;
pub mod people;
pub mod pools;
pub mod rights;
pub mod sessions;
pub mod usage;

pub use sessions::{release_expired, release_expired_in};

use std::future::Future;

use chrono::FixedOffset;
use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_changefeed::{ChangeFeed, NewChange, Operation};
use csm_db::{PageRequest, Tx};
use csm_errors::{CsmError, CsmResult, ErrorCode};
use csm_peers::{IdentityPeer, RolePeer};
use csm_types::roles;
use uuid::Uuid;

use crate::domain::sessions::PrincipalKind;
use crate::domain::usage::Denial;
use crate::metrics::LicensingMetrics;
use crate::store::{EditableRecord, LicensingStore, TableRecord};

const ADMIN: &[&str] = &[roles::ADMIN];

/// What licensing knows about a profile (from identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub profile_id: Uuid,
    pub login_id: Option<Uuid>,
    pub kind: PrincipalKind,
    pub security_group_id: Option<Uuid>,
}

/// licensing's state: its tables, its change feed, its peers and metrics.
pub struct LicensingApp {
    store: LicensingStore,
    feed: ChangeFeed,
    identity: IdentityPeer,
    role: RolePeer,
    /// The zone of license_expiration_date when a pool names none (R7.8).
    default_zone: FixedOffset,
    metrics: LicensingMetrics,
    /// Profiles as identity knows them, fed by its change feed.
    people: people::People,
}

impl LicensingApp {
    pub fn new(
        store: LicensingStore,
        feed: ChangeFeed,
        identity: IdentityPeer,
        role: RolePeer,
        default_zone: FixedOffset,
    ) -> Self {
        let metrics = LicensingMetrics::register(&store);
        Self { store, feed, identity, role, default_zone, metrics, people: people::People::default() }
    }

    pub fn store(&self) -> &LicensingStore {
        &self.store
    }

    async fn head_token(&self) -> CsmResult<String> {
        Ok(self.feed.token(self.feed.head().await?))
    }

    /// Appends `change`, commits and wakes watchers; returns the revision.
    async fn commit(&self, mut tx: Tx, change: &NewChange) -> CsmResult<u64> {
        let revision = csm_changefeed::append(&mut tx, change).await?;
        tx.commit().await?;
        self.feed.committed(revision);
        Ok(revision)
    }

    // ------------------------------------------------------------ callers

    async fn require_admin(&self, caller: &Caller, action: &str) -> CsmResult<()> {
        self.role.authorize(caller, ADMIN, action).await
    }

    /// The person acting on their own login, or an administrator (services
    /// were authorized by the static policy).
    async fn require_self_or_admin(
        &self,
        caller: &Caller,
        login_id: Option<Uuid>,
        profile_id: Option<Uuid>,
        action: &str,
    ) -> CsmResult<()> {
        if let Caller::Human(human) = caller {
            let own_login = login_id.is_some_and(|login| *human.login_id.as_uuid() == login);
            let own_profile =
                profile_id.is_some_and(|profile| human.profile_id.is_some_and(|own| *own.as_uuid() == profile));
            if own_login || own_profile {
                return Ok(());
            }
        }
        self.require_admin(caller, action).await
    }

    /// Counts and records a refusal (in its own transaction: the refused write
    /// rolled back) and returns its error.
    async fn deny(&self, denial: Denial, error: CsmError) -> CsmError {
        self.metrics.denied(denial.reason);
        if let Err(record_error) = self.store.insert_denial(&denial).await {
            tracing::warn!(error = %record_error, "could not record a licence denial");
        }
        error
    }

    // ------------------------------------------- records, once per request

    /// The record `T` with this id; NOT_FOUND naming its kind.
    async fn find<T: TableRecord>(&self, id: Uuid) -> CsmResult<T> {
        self.store.record::<T>(id).await?.ok_or_else(|| CsmError::not_found(T::KIND, id))
    }

    /// The record (read by `load`) and token of an earlier request with the
    /// request id of `key`, if there was one.
    async fn replayed<T, Loaded>(
        &self,
        key: &RequestKey<'_>,
        load: impl FnOnce(Uuid) -> Loaded,
    ) -> CsmResult<Option<(T, String)>>
    where
        Loaded: Future<Output = CsmResult<T>>,
    {
        let Some(replay) = key.replayed(self.store.db()).await? else { return Ok(None) };
        let (id, revision) = (replay.id()?, replay.revision);
        Ok(Some((load(id).await?, self.feed.token(revision))))
    }

    /// When a create failed because a concurrent retry of the same request_id
    /// won (its unique key or its idempotency record), that retry's result.
    async fn raced_retry(&self, error: Option<&CsmError>, key: &RequestKey<'_>) -> CsmResult<Option<(Uuid, String)>> {
        let Some(error) = error else { return Ok(None) };
        if key.request_id().is_none()
            || (error.code() != ErrorCode::AlreadyExists && error.reason() != "REQUEST_IN_FLIGHT")
        {
            return Ok(None);
        }
        match key.replayed(self.store.db()).await? {
            Some(replay) => Ok(Some((replay.id()?, self.feed.token(replay.revision)))),
            None => Ok(None),
        }
    }

    /// The answer of a create: its `outcome`, or the record (read by `load`)
    /// of the concurrent retry that won the race (see [`Self::raced_retry`]).
    async fn settled<T, Loaded>(
        &self,
        key: &RequestKey<'_>,
        outcome: CsmResult<(T, String)>,
        load: impl FnOnce(Uuid) -> Loaded,
    ) -> CsmResult<(T, String)>
    where
        Loaded: Future<Output = CsmResult<T>>,
    {
        match self.raced_retry(outcome.as_ref().err(), key).await? {
            Some((id, token)) => Ok((load(id).await?, token)),
            None => outcome,
        }
    }

    /// Finishes a create in `tx`: appends its change, records what the request
    /// id created and commits; returns the consistency token. ABORTED
    /// REQUEST_IN_FLIGHT when a concurrent retry recorded first.
    async fn commit_created(
        &self,
        mut tx: Tx,
        key: &RequestKey<'_>,
        id: Uuid,
        change: &NewChange,
    ) -> CsmResult<String> {
        let revision = csm_changefeed::append(&mut tx, change).await?;
        if !key.record(&mut tx, id, revision, "").await? {
            drop(tx);
            return Err(CsmError::aborted("REQUEST_IN_FLIGHT", "a retry of this request is being processed"));
        }
        tx.commit().await?;
        self.feed.committed(revision);
        Ok(self.feed.token(revision))
    }

    /// Creates the record `build` makes, once per request id: an earlier
    /// request's record is answered again; else it is inserted with its
    /// Created change (given its `attributes`).
    async fn create_record<T: TableRecord>(
        &self,
        key: &RequestKey<'_>,
        build: impl FnOnce() -> T,
        attributes: impl FnOnce(NewChange) -> NewChange,
    ) -> CsmResult<(T, String)> {
        if let Some(replayed) = self.replayed(key, |id| self.find::<T>(id)).await? {
            return Ok(replayed);
        }
        let record = build();
        let mut tx = self.store.begin().await?;
        T::insert(&self.store, &mut tx, &record).await?;
        let change = attributes(NewChange::new(T::CHANGE_ENTITY, record.id(), Operation::Created));
        let token = self.commit_created(tx, key, record.id(), &change).await?;
        Ok((record, token))
    }

    /// Saves an edited record (its `updated_at` set) with its Updated change
    /// and returns it as stored; NOT_FOUND when it no longer exists.
    async fn save_edited<T: EditableRecord>(&self, record: &T) -> CsmResult<(T, String)> {
        let id = record.id();
        let mut tx = self.store.begin().await?;
        if !T::update(&self.store, &mut tx, record).await? {
            return Err(CsmError::not_found(T::KIND, id));
        }
        let stored = self.store.record_in::<T>(&mut tx, id).await?.ok_or_else(|| CsmError::not_found(T::KIND, id))?;
        let revision = self.commit(tx, &NewChange::new(T::CHANGE_ENTITY, id, Operation::Updated)).await?;
        Ok((stored, self.feed.token(revision)))
    }
}

/// The id after which a page keyed on an id starts.
fn parse_id_token(page: &PageRequest) -> CsmResult<Option<Uuid>> {
    page.after
        .as_deref()
        .map(Uuid::parse_str)
        .transpose()
        .map_err(|_| CsmError::invalid_field("page_token", "is not a token returned by this service"))
}

/// The audit trail is read by administrators (`csm.audit.v1`).
impl csm_server::AuditReaders for LicensingApp {
    async fn authorize_audit_read(&self, caller: &Caller) -> CsmResult<()> {
        self.role.authorize(caller, csm_server::AUDIT_READER_ROLES, "ListAuditEvents").await
    }
}
