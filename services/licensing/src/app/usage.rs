//! Use cases of usage history and refusals (R7.1, R7.7): who holds a pool's
//! seats now, peak usage over a period, and the denials recorded.

use chrono::{DateTime, Duration, Utc};
use csm_auth::Caller;
use csm_db::PageRequest;
use csm_errors::CsmResult;
use uuid::Uuid;

use super::{LicensingApp, parse_id_token};
use crate::domain::micros;
use crate::domain::pools::LicensePool;
use crate::domain::usage::{Denial, DenialFilter, DenialReason, PeakBucket, SeatHolder, peak_profile};

pub struct PoolUsage {
    pub pool: LicensePool,
    pub seats_in_use: i64,
    pub escalated_seats_in_use: i64,
    pub holders: Vec<SeatHolder>,
    pub next_page_token: String,
    pub as_of: DateTime<Utc>,
}

pub struct PeakUsage {
    pub pool: LicensePool,
    pub peak: i64,
    pub peak_at: DateTime<Utc>,
    pub buckets: Vec<PeakBucket>,
}

impl LicensingApp {
    pub async fn pool_usage(&self, caller: &Caller, pool_id: Uuid, page: &PageRequest) -> CsmResult<PoolUsage> {
        self.require_admin(caller, "GetPoolUsage").await?;
        self.get_pool(pool_id).await?;
        let now = csm_db::now();
        // Settle first: holders past their deadlines are not counted (R7.7).
        let mut tx = self.store.begin().await?;
        self.store.take_write_lock(&mut tx).await?;
        let (_, head) = self.end_due_sessions(&mut tx, Some(pool_id), now).await?;
        tx.commit().await?;
        if let Some(head) = head {
            self.feed.committed(head);
        }
        let pool = self.get_pool(pool_id).await?;
        let after = page.after_key(|token| {
            let (at, login) = token.split_once('|')?;
            Some((at.parse::<i64>().ok()?, Uuid::parse_str(login).ok()?))
        })?;
        let holders = self.store.seat_holders(pool_id, after, page.fetch_limit()).await?;
        let (holders, next_page_token) =
            page.finish(holders, |holder| format!("{}|{}", micros(holder.acquired_at), holder.login_id));
        Ok(PoolUsage {
            seats_in_use: pool.seats_used,
            escalated_seats_in_use: self.store.escalated_seats(pool_id).await?,
            pool,
            holders,
            next_page_token,
            as_of: now,
        })
    }

    pub async fn peak_usage(
        &self,
        caller: &Caller,
        pool_id: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        width: Duration,
    ) -> CsmResult<PeakUsage> {
        self.require_admin(caller, "GetPeakUsage").await?;
        let pool = self.get_pool(pool_id).await?;
        let level = self.store.usage_before(pool_id, start).await?;
        let events = self.store.usage_events(pool_id, start, end).await?;
        let denials = self.store.denial_times(pool_id, start, end).await?;
        let profile = peak_profile(level, events, &denials, start, end, width);
        Ok(PeakUsage { pool, peak: profile.peak, peak_at: profile.peak_at, buckets: profile.buckets })
    }

    pub async fn list_denials(
        &self,
        caller: &Caller,
        filter: &DenialFilter,
        page: &PageRequest,
    ) -> CsmResult<(Vec<Denial>, String)> {
        self.require_admin(caller, "ListDenials").await?;
        let after = parse_id_token(page)?;
        let rows = self.store.list_denials(filter, after, page.fetch_limit()).await?;
        Ok(page.finish(rows, |denial| denial.id.to_string()))
    }

    pub async fn count_denials(&self, caller: &Caller, filter: &DenialFilter) -> CsmResult<Vec<(DenialReason, i64)>> {
        self.require_admin(caller, "CountDenials").await?;
        self.store.count_denials(filter).await
    }
}
