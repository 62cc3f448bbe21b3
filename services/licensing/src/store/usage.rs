//! SQL of usage history and refusals: the seats-in-use changes recorded with
//! every seat taken or freed, current seat holders, and the denials.

use chrono::{DateTime, Utc};
use csm_db::{DbRow, db_error, with_db};
use csm_errors::{CsmError, CsmResult};
use uuid::Uuid;

use super::{LicensingStore, decode, instant};
use crate::domain::sessions::SeatSource;
use crate::domain::usage::{Denial, DenialFilter, DenialReason, SeatHolder, UsageEvent};
use crate::domain::{from_micros, micros};

fn denial_from_row(row: &(impl DbRow + ?Sized)) -> CsmResult<Denial> {
    let reason = row.int("reason").map_err(decode)?;
    Ok(Denial {
        id: row.uuid("id").map_err(decode)?,
        reason: DenialReason::from_i64(reason)
            .ok_or_else(|| CsmError::internal(format!("unknown denial reason {reason}")))?,
        pool_id: row.opt_uuid("pool_id").map_err(decode)?,
        seat_plan_id: row.opt_uuid("seat_plan_id").map_err(decode)?,
        session_id: row.opt_uuid("session_id").map_err(decode)?,
        login_id: row.opt_uuid("login_id").map_err(decode)?,
        profile_id: row.opt_uuid("profile_id").map_err(decode)?,
        channel: row.int("channel").map_err(decode)?,
        access: row.int("access").map_err(decode)?,
        record_type: row.text("record_type").map_err(decode)?,
        record_id: row.text("record_id").map_err(decode)?,
        occurred_at: instant(row, "occurred_at")?,
    })
}

impl LicensingStore {
    /// The seats in use before `before` (the last recorded change), 0 if none.
    pub async fn usage_before(&self, pool_id: Uuid, before: DateTime<Utc>) -> CsmResult<i64> {
        with_db!(self.db(), |pool| {
            let value: Option<i64> = sqlx::query_scalar(
                "SELECT seats_in_use FROM license_usage_events WHERE pool_id = $1 AND at < $2 \
                 ORDER BY at DESC, id DESC LIMIT 1",
            )
            .bind(pool_id)
            .bind(micros(before))
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
            Ok(value.unwrap_or(0))
        })
    }

    /// The usage changes of a pool in [start, end), in time order.
    pub async fn usage_events(
        &self,
        pool_id: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> CsmResult<Vec<UsageEvent>> {
        with_db!(self.db(), |pool| {
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT at, seats_in_use FROM license_usage_events WHERE pool_id = $1 AND at >= $2 AND at < $3 \
                 ORDER BY at, id",
            )
            .bind(pool_id)
            .bind(micros(start))
            .bind(micros(end))
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            Ok(rows.into_iter().map(|(at, seats_in_use)| UsageEvent { at: from_micros(at), seats_in_use }).collect())
        })
    }

    /// Current holders of a pool by (acquired_at, login_id), after `after`.
    pub async fn seat_holders(
        &self,
        pool_id: Uuid,
        after: Option<(i64, Uuid)>,
        limit: i64,
    ) -> CsmResult<Vec<SeatHolder>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT login_id, source, acquired_at, session_count FROM license_seats WHERE pool_id = $1 \
                 AND ($2 IS NULL OR acquired_at > $2 OR (acquired_at = $2 AND login_id > $3)) \
                 ORDER BY acquired_at, login_id LIMIT $4",
            )
            .bind(pool_id)
            .bind(after.map(|(at, _)| at))
            .bind(after.map(|(_, login)| login))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            let mut holders = Vec::with_capacity(rows.len());
            for row in &rows {
                let login_id = row.uuid("login_id").map_err(decode)?;
                let profile_ids: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT DISTINCT profile_id FROM license_sessions \
                     WHERE pool_id = $1 AND login_id = $2 AND state = 1 AND seat_held ORDER BY profile_id",
                )
                .bind(pool_id)
                .bind(login_id)
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
                holders.push(SeatHolder {
                    login_id,
                    source: SeatSource::from_i64(row.int("source").map_err(decode)?).unwrap_or(SeatSource::Login),
                    acquired_at: instant(row, "acquired_at")?,
                    session_count: row.int("session_count").map_err(decode)?,
                    profile_ids,
                });
            }
            Ok(holders)
        })
    }

    /// Seats held only through customer escalations (R7.5).
    pub async fn escalated_seats(&self, pool_id: Uuid) -> CsmResult<i64> {
        with_db!(self.db(), |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM license_seats st WHERE st.pool_id = $1 AND NOT EXISTS (\
                 SELECT 1 FROM license_sessions s WHERE s.pool_id = st.pool_id AND s.login_id = st.login_id \
                 AND s.state = 1 AND s.seat_held AND s.seat_source = 1)",
            )
            .bind(pool_id)
            .fetch_one(pool)
            .await
            .map_err(db_error)
        })
    }

    /// Records a refusal in its own transaction (the refused write rolled back).
    pub async fn insert_denial(&self, denial: &Denial) -> CsmResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query(
                "INSERT INTO license_denials (id, reason, pool_id, seat_plan_id, session_id, login_id, profile_id, \
                 channel, access, record_type, record_id, occurred_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(denial.id)
            .bind(denial.reason as i64)
            .bind(denial.pool_id)
            .bind(denial.seat_plan_id)
            .bind(denial.session_id)
            .bind(denial.login_id)
            .bind(denial.profile_id)
            .bind(denial.channel)
            .bind(denial.access)
            .bind(&denial.record_type)
            .bind(&denial.record_id)
            .bind(micros(denial.occurred_at))
            .execute(pool)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }

    /// Denials newest first after `after` (an id).
    pub async fn list_denials(&self, filter: &DenialFilter, after: Option<Uuid>, limit: i64) -> CsmResult<Vec<Denial>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT * FROM license_denials WHERE ($1 IS NULL OR pool_id = $1) AND ($2 IS NULL OR seat_plan_id = $2) \
                 AND ($3 IS NULL OR reason = $3) AND ($4 IS NULL OR login_id = $4) \
                 AND ($5 IS NULL OR occurred_at >= $5) AND ($6 IS NULL OR occurred_at < $6) \
                 AND ($7 IS NULL OR id < $7) ORDER BY id DESC LIMIT $8",
            )
            .bind(filter.pool_id)
            .bind(filter.seat_plan_id)
            .bind(filter.reason.map(|reason| reason as i64))
            .bind(filter.login_id)
            .bind(filter.start.map(micros))
            .bind(filter.end.map(micros))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(denial_from_row).collect()
        })
    }

    /// Denial counts by reason.
    pub async fn count_denials(&self, filter: &DenialFilter) -> CsmResult<Vec<(DenialReason, i64)>> {
        with_db!(self.db(), |pool| {
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT reason, COUNT(*) FROM license_denials WHERE ($1 IS NULL OR pool_id = $1) \
                 AND ($2 IS NULL OR seat_plan_id = $2) AND ($3 IS NULL OR occurred_at >= $3) \
                 AND ($4 IS NULL OR occurred_at < $4) GROUP BY reason ORDER BY reason",
            )
            .bind(filter.pool_id)
            .bind(filter.seat_plan_id)
            .bind(filter.start.map(micros))
            .bind(filter.end.map(micros))
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            Ok(rows
                .into_iter()
                .filter_map(|(reason, count)| DenialReason::from_i64(reason).map(|reason| (reason, count)))
                .collect())
        })
    }

    /// Denial instants of a pool in [start, end).
    pub async fn denial_times(
        &self,
        pool_id: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> CsmResult<Vec<DateTime<Utc>>> {
        with_db!(self.db(), |pool| {
            let rows: Vec<i64> = sqlx::query_scalar(
                "SELECT occurred_at FROM license_denials WHERE pool_id = $1 AND occurred_at >= $2 AND occurred_at < $3",
            )
            .bind(pool_id)
            .bind(micros(start))
            .bind(micros(end))
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            Ok(rows.into_iter().map(from_micros).collect())
        })
    }
}
