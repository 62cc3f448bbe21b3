//! account-team's use cases: authorize the caller, validate, call the store,
//! emit the change. One module per area, as `impl AccountTeamApp` blocks.

pub mod access;
pub mod contacts;
pub mod definitions;
pub mod principal;
pub mod relationships;
pub mod settings;
pub mod teams;

use csm_changefeed::idempotency;
use csm_db::Tx;
use csm_errors::{CsmError, CsmResult};

use crate::AccountTeamApp;

/// A mutation's result with the consistency token of its change.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub value: T,
    pub consistency_token: String,
}

impl AccountTeamApp {
    /// The (entity id, revision) an earlier call with this request id created;
    /// FAILED_PRECONDITION reason REQUEST_ID_REUSED when it came with another payload.
    pub(crate) async fn replayed(
        &self,
        rpc: &str,
        request_id: Option<&str>,
        fingerprint: &str,
    ) -> CsmResult<Option<(uuid::Uuid, u64)>> {
        let Some(request_id) = request_id else { return Ok(None) };
        let Some(stored) = idempotency::stored_response(self.store.db(), rpc, request_id).await? else {
            return Ok(None);
        };
        let malformed = || CsmError::internal("malformed idempotency record");
        let text = String::from_utf8(stored).map_err(|_| malformed())?;
        let mut parts = text.splitn(3, '|');
        let (Some(id), Some(revision), Some(stored_fingerprint)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(malformed());
        };
        if stored_fingerprint != fingerprint {
            return Err(CsmError::failed_precondition(
                "REQUEST_ID_REUSED",
                format!("request_id {request_id:?} was used for a different {rpc} request"),
            ));
        }
        let id = uuid::Uuid::parse_str(id).map_err(|_| malformed())?;
        let revision = revision.parse().map_err(|_| malformed())?;
        Ok(Some((id, revision)))
    }

    /// Records what this request id created, in the creating transaction.
    /// `false`: a concurrent retry recorded first.
    pub(crate) async fn record_created(
        &self,
        tx: &mut Tx,
        rpc: &str,
        request_id: Option<&str>,
        fingerprint: &str,
        id: uuid::Uuid,
        revision: u64,
    ) -> CsmResult<bool> {
        match request_id {
            Some(request_id) => {
                let record = format!("{id}|{revision}|{fingerprint}");
                idempotency::record_response(tx, rpc, request_id, record.as_bytes()).await
            }
            None => Ok(true),
        }
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
