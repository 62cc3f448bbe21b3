//! Idempotent creates: a client-chosen `request_id` maps to the response of
//! its first successful execution, stored in the same transaction as the write.

use csm_db::{Db, Tx, db_error, is_unique_violation, with_db, with_tx};
use csm_errors::CsmResult;
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

/// The entity id and change revision a (`rpc`, `request_id`) created, if it succeeded before.
pub async fn stored_entity(db: &Db, rpc: &str, request_id: &str) -> CsmResult<Option<(uuid::Uuid, u64)>> {
    let Some(stored) = stored_response(db, rpc, request_id).await? else {
        return Ok(None);
    };
    let parse = || -> Option<(uuid::Uuid, u64)> {
        let text = std::str::from_utf8(&stored).ok()?;
        let (id, revision) = text.split_once('|')?;
        Some((uuid::Uuid::parse_str(id).ok()?, revision.parse().ok()?))
    };
    parse().map(Some).ok_or_else(|| csm_errors::CsmError::internal("malformed idempotency record"))
}

/// Records that (`rpc`, `request_id`) created entity `id` at `revision`, in `tx`.
/// `false`: a concurrent retry recorded first (roll back and answer with [`stored_entity`]).
pub async fn record_entity(tx: &mut Tx, rpc: &str, request_id: &str, id: uuid::Uuid, revision: u64) -> CsmResult<bool> {
    record_response(tx, rpc, request_id, format!("{id}|{revision}").as_bytes()).await
}
