//! SQL of seat plans and named agent seats (R7.10–R7.13): a plan's
//! `seats_used` moves only through guarded updates, one seat per profile and plan.

use csm_db::{DbRow, Tx, db_error, on_unique_violation, unique_as, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use uuid::Uuid;

use super::{EditableRecord, LicensingStore, SeatCounter, TableRecord, decode, instant, opt_instant};
use crate::domain::agent_seats::{AgentSeat, LicensedProduct, SeatKind, SeatPlan};
use crate::domain::micros;

fn plan_from_row(row: &(impl DbRow + ?Sized)) -> CsmResult<SeatPlan> {
    let product = row.int("product").map_err(decode)?;
    Ok(SeatPlan {
        id: row.uuid("id").map_err(decode)?,
        product: LicensedProduct::from_i64(product)
            .ok_or_else(|| CsmError::internal(format!("unknown product {product}")))?,
        seat_limit: row.int("seat_limit").map_err(decode)?,
        seats_used: row.int("seats_used").map_err(decode)?,
        license_valid_until: opt_instant(row, "license_valid_until")?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
    })
}

fn agent_seat_from_row(row: &(impl DbRow + ?Sized)) -> CsmResult<AgentSeat> {
    let product = row.int("product").map_err(decode)?;
    let kind = row.int("kind").map_err(decode)?;
    Ok(AgentSeat {
        id: row.uuid("id").map_err(decode)?,
        seat_plan_id: row.uuid("seat_plan_id").map_err(decode)?,
        product: LicensedProduct::from_i64(product)
            .ok_or_else(|| CsmError::internal(format!("unknown product {product}")))?,
        profile_id: row.uuid("profile_id").map_err(decode)?,
        kind: SeatKind::from_i64(kind).ok_or_else(|| CsmError::internal(format!("unknown seat kind {kind}")))?,
        granted_at: instant(row, "granted_at")?,
    })
}

/// A plan's named seats granted, against its seat_limit.
const PLAN_SEATS: SeatCounter = SeatCounter { table: "seat_plans", limit_column: "seat_limit" };

impl TableRecord for SeatPlan {
    const TABLE: &'static str = "seat_plans";
    const KIND: &'static str = "seat plan";
    const CHANGE_ENTITY: &'static str = "seat_plan";

    fn id(&self) -> Uuid {
        self.id
    }

    fn from_row(row: &dyn DbRow) -> CsmResult<Self> {
        plan_from_row(row)
    }

    async fn insert(store: &LicensingStore, tx: &mut Tx, record: &Self) -> CsmResult<()> {
        store.insert_plan(tx, record).await
    }
}

impl EditableRecord for SeatPlan {
    async fn update(store: &LicensingStore, tx: &mut Tx, record: &Self) -> CsmResult<bool> {
        store.update_plan(tx, record).await
    }
}

impl LicensingStore {
    /// Inserts a plan; a product with a plan is ALREADY_EXISTS SEAT_PLAN_EXISTS.
    pub async fn insert_plan(&self, tx: &mut Tx, plan: &SeatPlan) -> CsmResult<()> {
        let result = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO seat_plans (id, product, seat_limit, seats_used, license_valid_until, created_at, updated_at) \
                 VALUES ($1, $2, $3, 0, $4, $5, $6)",
            )
            .bind(plan.id)
            .bind(plan.product as i64)
            .bind(plan.seat_limit)
            .bind(plan.license_valid_until.map(micros))
            .bind(micros(plan.created_at))
            .bind(micros(plan.updated_at))
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        result.map(|_| ()).map_err(|error| unique_as(error, "SEAT_PLAN_EXISTS", "the product already has a seat plan"))
    }

    /// Writes seat_limit and license_valid_until; false when the plan does not exist.
    pub async fn update_plan(&self, tx: &mut Tx, plan: &SeatPlan) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let done = sqlx::query(
                "UPDATE seat_plans SET seat_limit = $2, license_valid_until = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(plan.id)
            .bind(plan.seat_limit)
            .bind(plan.license_valid_until.map(micros))
            .bind(micros(plan.updated_at))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            Ok(done.rows_affected() > 0)
        })
    }

    pub async fn plan_for_product(&self, product: LicensedProduct) -> CsmResult<Option<SeatPlan>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query("SELECT * FROM seat_plans WHERE product = $1")
                .bind(product as i64)
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(plan_from_row).transpose()
        })
    }

    pub async fn list_plans(&self, after_product: Option<i64>, limit: i64) -> CsmResult<Vec<SeatPlan>> {
        with_db!(self.db(), |pool| {
            let rows =
                sqlx::query("SELECT * FROM seat_plans WHERE ($1 IS NULL OR product > $1) ORDER BY product LIMIT $2")
                    .bind(after_product)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                    .map_err(db_error)?;
            rows.iter().map(plan_from_row).collect()
        })
    }

    /// Takes one seat of the plan if it is below its limit (guarded update,
    /// R7.11). False when the plan is full (or missing).
    pub async fn take_plan_seat(&self, tx: &mut Tx, plan_id: Uuid) -> CsmResult<bool> {
        Ok(PLAN_SEATS.take(tx, plan_id).await?.is_some())
    }

    /// Inserts a named seat; a profile that has one in the plan is
    /// ALREADY_EXISTS AGENT_SEAT_EXISTS.
    pub async fn insert_agent_seat(&self, tx: &mut Tx, seat: &AgentSeat) -> CsmResult<()> {
        let result = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO agent_seats (id, seat_plan_id, profile_id, kind, granted_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(seat.id)
            .bind(seat.seat_plan_id)
            .bind(seat.profile_id)
            .bind(seat.kind as i64)
            .bind(micros(seat.granted_at))
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        result.map(|_| ()).map_err(|error| on_unique_violation(error, agent_seat_exists))
    }

    /// The profile's seat in a plan, if any (inside `tx`).
    pub async fn agent_seat_of(&self, tx: &mut Tx, plan_id: Uuid, profile_id: Uuid) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM agent_seats WHERE seat_plan_id = $1 AND profile_id = $2")
                    .bind(plan_id)
                    .bind(profile_id)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(db_error)?;
            Ok(count > 0)
        })
    }

    /// Deletes a named seat and frees it in its plan; None when it does not exist.
    pub async fn delete_agent_seat(&self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<Uuid>> {
        let plan_id: Option<Uuid> = with_tx!(tx, |tx| {
            sqlx::query_scalar("DELETE FROM agent_seats WHERE id = $1 RETURNING seat_plan_id")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?
        });
        if let Some(plan_id) = plan_id {
            PLAN_SEATS.free(tx, plan_id).await?;
        }
        Ok(plan_id)
    }

    pub async fn agent_seat(&self, id: Uuid) -> CsmResult<Option<AgentSeat>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(
                "SELECT a.*, p.product FROM agent_seats a JOIN seat_plans p ON p.id = a.seat_plan_id WHERE a.id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
            row.as_ref().map(agent_seat_from_row).transpose()
        })
    }

    /// The profile's seat in the plan of `plan_id`.
    pub async fn agent_seat_for(&self, plan_id: Uuid, profile_id: Uuid) -> CsmResult<Option<AgentSeat>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(
                "SELECT a.*, p.product FROM agent_seats a JOIN seat_plans p ON p.id = a.seat_plan_id \
                 WHERE a.seat_plan_id = $1 AND a.profile_id = $2",
            )
            .bind(plan_id)
            .bind(profile_id)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
            row.as_ref().map(agent_seat_from_row).transpose()
        })
    }

    /// Named seats, oldest grant first (id order), after `after`.
    pub async fn list_agent_seats(
        &self,
        plan_id: Option<Uuid>,
        profile_id: Option<Uuid>,
        kind: Option<SeatKind>,
        after: Option<Uuid>,
        limit: i64,
    ) -> CsmResult<Vec<AgentSeat>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT a.*, p.product FROM agent_seats a JOIN seat_plans p ON p.id = a.seat_plan_id \
                 WHERE ($1 IS NULL OR a.seat_plan_id = $1) AND ($2 IS NULL OR a.profile_id = $2) \
                 AND ($3 IS NULL OR a.kind = $3) AND ($4 IS NULL OR a.id > $4) ORDER BY a.id LIMIT $5",
            )
            .bind(plan_id)
            .bind(profile_id)
            .bind(kind.map(|kind| kind as i64))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(agent_seat_from_row).collect()
        })
    }
}

pub fn agent_seat_exists() -> CsmError {
    CsmError::already_exists("AGENT_SEAT_EXISTS", "the profile already has a seat in this plan")
}
