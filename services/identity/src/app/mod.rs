//! identity's use cases: authorize the caller, validate, call the store, emit
//! the change. One module per area, on one [`IdentityApp`].

pub mod accounts;
pub mod consumers;
pub mod directory;
pub mod people;
pub mod sessions;

use csm_auth::TokenIssuer;
use csm_changefeed::ChangeFeed;
use csm_changefeed::idempotency::RequestKey;
use csm_db::Tx;
use csm_errors::CsmResult;
use csm_peers::{AccountTeamPeer, RolePeer};
use csm_server::SessionSettings;

use crate::store::IdentityStore;

/// A mutation's result with the consistency token of its change.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub value: T,
    pub consistency_token: String,
}

pub struct IdentityApp {
    pub(crate) store: IdentityStore,
    pub(crate) feed: ChangeFeed,
    pub(crate) roles: RolePeer,
    /// CR(me) and PCUST(acct(me)) for R4.8/R4.9 scopes.
    pub(crate) account_team: AccountTeamPeer,
    /// PBKDF2 rounds of new password hashes (`CSM_PASSWORD_HASH_ITERATIONS`).
    pub(crate) password_hash_iterations: u32,
    /// Signs the access tokens of sessions.
    pub(crate) issuer: TokenIssuer,
    pub(crate) sessions: SessionSettings,
}

impl IdentityApp {
    pub fn new(
        store: IdentityStore,
        feed: ChangeFeed,
        roles: RolePeer,
        account_team: AccountTeamPeer,
        password_hash_iterations: u32,
        issuer: TokenIssuer,
        sessions: SessionSettings,
    ) -> Self {
        Self { store, feed, roles, account_team, password_hash_iterations, issuer, sessions }
    }

    pub fn feed(&self) -> &ChangeFeed {
        &self.feed
    }

    /// The (entity id, revision) an earlier request with `key`'s request id
    /// created; REQUEST_ID_CONFLICT when it asked for something else.
    pub(crate) async fn replayed(&self, key: &RequestKey<'_>) -> CsmResult<Option<(uuid::Uuid, u64)>> {
        match key.replayed(self.store.db()).await? {
            Some(replay) => Ok(Some((replay.id()?, replay.revision))),
            None => Ok(None),
        }
    }

    /// Records what this request created, in the creating transaction.
    /// `false`: a concurrent retry recorded first.
    pub(crate) async fn record_created(
        &self,
        tx: &mut Tx,
        key: &RequestKey<'_>,
        id: uuid::Uuid,
        revision: u64,
    ) -> CsmResult<bool> {
        key.record(tx, id, revision, "").await
    }

    /// After a commit: wakes the feed's watchers and returns the value with its token.
    pub(crate) fn committed<T>(&self, value: T, revision: u64) -> Written<T> {
        self.feed.committed(revision);
        self.written(value, revision)
    }

    pub(crate) fn written<T>(&self, value: T, revision: u64) -> Written<T> {
        Written { value, consistency_token: self.feed.token(revision) }
    }
}

/// The audit trail is read by administrators (`csm.audit.v1`).
impl csm_server::AuditReaders for IdentityApp {
    async fn authorize_audit_read(&self, caller: &csm_auth::Caller) -> CsmResult<()> {
        self.roles.authorize(caller, csm_server::AUDIT_READER_ROLES, "ListAuditEvents").await
    }
}
