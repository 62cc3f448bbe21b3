//! account-team's use cases: authorize the caller, validate, call the store,
//! emit the change. One module per area, as `impl AccountTeamApp` blocks.

pub mod access;
pub mod contacts;
pub mod definitions;
pub mod principal;
pub mod relationships;
pub mod settings;
pub mod teams;

use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_db::Tx;
use csm_errors::CsmResult;

use crate::AccountTeamApp;

/// A mutation's result with the consistency token of its change.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub value: T,
    pub consistency_token: String,
}

impl AccountTeamApp {
    /// The (entity id, revision) an earlier request with this request id
    /// created; FAILED_PRECONDITION REQUEST_ID_CONFLICT when it asked for
    /// something else (the one idempotency rule).
    pub(crate) async fn replayed(
        &self,
        rpc: &str,
        caller: &Caller,
        request_id: Option<&str>,
        fingerprint: &str,
    ) -> CsmResult<Option<(uuid::Uuid, u64)>> {
        let request = RequestKey::new(rpc, caller.request_scope(), request_id, &fingerprint);
        match request.replayed(self.store.db()).await? {
            Some(replay) => Ok(Some((replay.id()?, replay.revision))),
            None => Ok(None),
        }
    }

    /// Records what this request id created, in the creating transaction.
    /// `false`: a concurrent retry recorded first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record_created(
        &self,
        tx: &mut Tx,
        rpc: &str,
        caller: &Caller,
        request_id: Option<&str>,
        fingerprint: &str,
        id: uuid::Uuid,
        revision: u64,
    ) -> CsmResult<bool> {
        RequestKey::new(rpc, caller.request_scope(), request_id, &fingerprint).record(tx, id, revision, "").await
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

/// The active profile of a human caller (None for services).
pub(crate) fn caller_profile(caller: &csm_auth::Caller) -> Option<csm_types::ProfileId> {
    match caller {
        csm_auth::Caller::Human(human) => human.profile_id,
        csm_auth::Caller::Service(_) => None,
    }
}

/// The audit trail is read by administrators (`csm.audit.v1`).
impl csm_server::AuditReaders for AccountTeamApp {
    async fn authorize_audit_read(&self, caller: &csm_auth::Caller) -> CsmResult<()> {
        self.roles.authorize(caller, csm_server::AUDIT_READER_ROLES, "ListAuditEvents").await
    }
}
