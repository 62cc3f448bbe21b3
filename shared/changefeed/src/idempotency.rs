//! Idempotent creates, one rule for every service: a client-chosen
//! `request_id` maps to what its first successful execution created, stored
//! in the same transaction as the write, together with a fingerprint of what
//! that request asked for.
//!
//! - The same id with the same request (a retry) answers the first result.
//! - The same id with another request is FAILED_PRECONDITION
//!   `REQUEST_ID_CONFLICT`: the client's second request is never silently
//!   answered with the first one's record.
//! - Request ids belong to their caller ([`RequestKey::new`]'s `scope`): one
//!   caller's id never answers with, or conflicts with, another's record.

use std::fmt;

use csm_db::{Db, Tx, db_error, is_unique_violation, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use sha2::{Digest as _, Sha256};
use sqlx::Row;

/// The stored response of (`rpc`, `request_id`), if that request already succeeded.
pub async fn stored_response(db: &Db, rpc: &str, request_id: &str) -> CsmResult<Option<Vec<u8>>> {
    with_db!(db, |pool| {
        let row = sqlx::query("SELECT response FROM idempotency_keys WHERE rpc = $1 AND request_id = $2")
            .bind(rpc)
            .bind(request_id)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
        row.map(|row| row.try_get::<Vec<u8>, _>("response")).transpose().map_err(db_error)
    })
}

/// Records the response of (`rpc`, `request_id`) in `tx`. Returns `false` when
/// a concurrent retry recorded it first (the caller then rolls back and
/// answers with [`stored_response`]).
pub async fn record_response(tx: &mut Tx, rpc: &str, request_id: &str, response: &[u8]) -> CsmResult<bool> {
    let result = with_tx!(tx, |tx| {
        sqlx::query("INSERT INTO idempotency_keys (rpc, request_id, response, created_at) VALUES ($1, $2, $3, $4)")
            .bind(rpc)
            .bind(request_id)
            .bind(response)
            .bind(csm_db::now())
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
    });
    match result {
        Ok(_) => Ok(true),
        Err(error) if is_unique_violation(&error) => Ok(false),
        Err(error) => Err(db_error(error)),
    }
}

/// What an earlier request with the same key created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// The entity it created (a UUID, or a natural key such as a role name).
    pub entity: String,
    /// The revision of its change.
    pub revision: u64,
    /// Whatever else the RPC recorded to answer a retry alike (may be empty).
    pub extra: String,
}

impl Replay {
    /// The entity as a UUID.
    pub fn id(&self) -> CsmResult<uuid::Uuid> {
        uuid::Uuid::parse_str(&self.entity).map_err(|_| CsmError::internal("malformed idempotency record"))
    }
}

/// One create request as its idempotency record knows it.
#[derive(Debug, Clone)]
pub struct RequestKey<'a> {
    rpc: &'a str,
    /// `<scope>|<request id>`; `None`: the request carries no request id.
    key: Option<String>,
    request_id: Option<&'a str>,
    fingerprint: String,
}

/// The fingerprint of a validated request: a hash of its debug form
/// (secrets print redacted, so they are not part of it).
pub fn fingerprint(payload: &impl fmt::Debug) -> String {
    let digest = Sha256::digest(format!("{payload:?}").as_bytes());
    digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect()
}

impl<'a> RequestKey<'a> {
    /// `rpc` asked by `scope` (the caller: a profile, a service) with
    /// `request_id` for `payload` (the validated request, request id excluded).
    pub fn new(rpc: &'a str, scope: impl fmt::Display, request_id: Option<&'a str>, payload: &impl fmt::Debug) -> Self {
        Self {
            rpc,
            key: request_id.map(|request_id| format!("{scope}|{request_id}")),
            request_id,
            fingerprint: fingerprint(payload),
        }
    }

    pub fn rpc(&self) -> &str {
        self.rpc
    }

    /// The request id the client gave, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id
    }

    /// What an earlier request with this key created; FAILED_PRECONDITION
    /// `REQUEST_ID_CONFLICT` when it asked for something else.
    pub async fn replayed(&self, db: &Db) -> CsmResult<Option<Replay>> {
        let Some(key) = &self.key else { return Ok(None) };
        let Some(stored) = stored_response(db, self.rpc, key).await? else { return Ok(None) };
        let malformed = || CsmError::internal(format!("malformed idempotency record of {}", self.rpc));
        let text = String::from_utf8(stored).map_err(|_| malformed())?;
        let mut parts = text.splitn(4, '|');
        let (Some(entity), Some(revision), Some(fingerprint)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(malformed());
        };
        if fingerprint != self.fingerprint {
            return Err(CsmError::failed_precondition(
                "REQUEST_ID_CONFLICT",
                format!(
                    "request_id {} was used with a different {} request",
                    csm_errors::quote(self.request_id.unwrap_or_default()),
                    self.rpc
                ),
            )
            .with_field("request_id", "was used with a different request"));
        }
        Ok(Some(Replay {
            entity: entity.to_owned(),
            revision: revision.parse().map_err(|_| malformed())?,
            extra: parts.next().unwrap_or_default().to_owned(),
        }))
    }

    /// Records, in the creating transaction, that this request created
    /// `entity` (no `|` in it) at `revision`. `false`: a concurrent retry
    /// recorded first (roll back, then answer with [`RequestKey::replayed`]).
    pub async fn record(&self, tx: &mut Tx, entity: impl fmt::Display, revision: u64, extra: &str) -> CsmResult<bool> {
        let Some(key) = &self.key else { return Ok(true) };
        let record = format!("{entity}|{revision}|{}|{extra}", self.fingerprint);
        record_response(tx, self.rpc, key, record.as_bytes()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_requests_apart() {
        assert_eq!(fingerprint(&("a", 1)), fingerprint(&("a", 1)));
        assert_ne!(fingerprint(&("a", 1)), fingerprint(&("a", 2)));
        let key = RequestKey::new("CreateAccount", "profile-1", Some("retry-1"), &"payload");
        assert_eq!(key.key.as_deref(), Some("profile-1|retry-1"));
        let none = RequestKey::new("CreateAccount", "profile-1", None, &"payload");
        assert!(none.key.is_none());
    }
}
