//! account-team's use cases: authorize the caller, validate, call the store,
//! emit the change. One module per area, on one [`AccountTeamApp`].

pub mod access;
pub mod contacts;
pub mod settings;

use csm_auth::Caller;
use csm_changefeed::{ChangeFeed, idempotency};
use csm_db::Tx;
use csm_errors::{CsmError, CsmResult};
use csm_peers::{IdentityPeer, RolePeer};
use csm_types::ProfileId;
use uuid::Uuid;

use crate::store::AccountTeamStore;

/// A mutation's result with the consistency token of its change.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub value: T,
    pub consistency_token: String,
}

/// account-team's state.
pub struct AccountTeamApp {
    pub(crate) store: AccountTeamStore,
    pub feed: ChangeFeed,
    pub(crate) identity: IdentityPeer,
    pub(crate) roles: RolePeer,
}

impl AccountTeamApp {
    pub fn new(store: AccountTeamStore, feed: ChangeFeed, identity: IdentityPeer, roles: RolePeer) -> Self {
        Self { store, feed, identity, roles }
    }

    /// After a commit: wakes the feed's watchers and returns the value with its token.
    pub(crate) fn committed<T>(&self, value: T, revision: u64) -> Written<T> {
        self.feed.committed(revision);
        self.written(value, revision)
    }

    pub(crate) fn written<T>(&self, value: T, revision: u64) -> Written<T> {
        Written { value, consistency_token: self.feed.token(revision) }
    }

    /// The (entity id, revision) an earlier create with `request_id` made;
    /// FAILED_PRECONDITION REQUEST_ID_REUSED when that call asked for something else.
    pub(crate) async fn replayed(
        &self,
        rpc: &str,
        request_id: Option<&str>,
        fingerprint: &str,
    ) -> CsmResult<Option<(Uuid, u64)>> {
        let Some(request_id) = request_id else {
            return Ok(None);
        };
        let Some(stored) = idempotency::stored_response(self.store.db(), rpc, request_id).await? else {
            return Ok(None);
        };
        let stored = String::from_utf8(stored).map_err(CsmError::internal)?;
        let mut parts = stored.splitn(3, '|');
        let (Some(id), Some(revision), Some(stored_fingerprint)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CsmError::internal("malformed idempotency record"));
        };
        if stored_fingerprint != fingerprint {
            return Err(CsmError::failed_precondition(
                "REQUEST_ID_REUSED",
                format!("request_id {request_id:?} was used with a different {rpc} request"),
            ));
        }
        Ok(Some((Uuid::parse_str(id).map_err(CsmError::internal)?, revision.parse().map_err(CsmError::internal)?)))
    }

    /// Records what (`rpc`, `request_id`) created, in the creating transaction.
    /// `false`: a concurrent retry recorded first (roll back and replay).
    pub(crate) async fn record_created(
        &self,
        tx: &mut Tx,
        rpc: &str,
        request_id: Option<&str>,
        id: Uuid,
        revision: u64,
        fingerprint: &str,
    ) -> CsmResult<bool> {
        match request_id {
            Some(request_id) => {
                let response = format!("{id}|{revision}|{fingerprint}");
                idempotency::record_response(tx, rpc, request_id, response.as_bytes()).await
            }
            None => Ok(true),
        }
    }
}

/// The active profile of a human caller (None for services).
pub(crate) fn caller_profile(caller: &Caller) -> Option<ProfileId> {
    match caller {
        Caller::Human(human) => human.profile_id,
        Caller::Service(_) => None,
    }
}
