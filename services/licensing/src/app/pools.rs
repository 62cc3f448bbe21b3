//! Use cases of concurrent licence pools (R7.1, R7.3, R7.7, R7.8): created and
//! edited by administrators.

use chrono::{DateTime, Utc};
use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_db::PageRequest;
use csm_errors::{CsmResult, FieldErrors};
use uuid::Uuid;

use super::LicensingApp;
use crate::domain::pools::{self, ClientChannel, LicensePool, PoolPatch, PoolSettings};

impl LicensingApp {
    /// Validates settings; returns the licence-key expiry instant (R7.8).
    fn check_pool(&self, settings: &PoolSettings, errors: &mut FieldErrors) -> Option<DateTime<Utc>> {
        if settings.name.trim().is_empty() {
            errors.add("pool.name", "is required");
        } else if settings.name.chars().count() > 200 {
            errors.add("pool.name", "must be at most 200 characters");
        }
        for (field, description) in settings.violations() {
            errors.add(field, description);
        }
        let zone = if settings.time_zone.trim().is_empty() {
            Some(self.default_zone)
        } else {
            errors.check("pool.time_zone", pools::parse_time_zone(&settings.time_zone))
        };
        if settings.license_expiration_date.trim().is_empty() {
            return None;
        }
        let zone = zone?;
        errors.check("pool.license_expiration_date", pools::license_expires_at(&settings.license_expiration_date, zone))
    }

    pub async fn create_pool(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        settings: PoolSettings,
        errors: FieldErrors,
    ) -> CsmResult<(LicensePool, String)> {
        let key = RequestKey::new("CreatePool", caller.request_scope(), request_id.as_deref(), &settings);
        let outcome = self.create_pool_once(caller, &key, settings, errors).await;
        self.settled(&key, outcome, |id| self.get_pool(id)).await
    }

    async fn create_pool_once(
        &self,
        caller: &Caller,
        key: &RequestKey<'_>,
        mut settings: PoolSettings,
        mut errors: FieldErrors,
    ) -> CsmResult<(LicensePool, String)> {
        self.require_admin(caller, "CreatePool").await?;
        settings.name = settings.name.trim().to_owned();
        if settings.consuming_channels.is_empty() {
            settings.consuming_channels = ClientChannel::DEFAULT_CONSUMING.to_vec();
        }
        let expires_at = self.check_pool(&settings, &mut errors);
        errors.finish()?;
        let build = || {
            let now = csm_db::now();
            LicensePool {
                id: Uuid::now_v7(),
                settings,
                seats_used: 0,
                license_expires_at: expires_at,
                created_at: now,
                updated_at: now,
            }
        };
        self.create_record(key, build, |change| change).await
    }

    pub async fn get_pool(&self, pool_id: Uuid) -> CsmResult<LicensePool> {
        self.find(pool_id).await
    }

    pub async fn update_pool(
        &self,
        caller: &Caller,
        pool_id: Uuid,
        patch: PoolPatch,
    ) -> CsmResult<(LicensePool, String)> {
        self.require_admin(caller, "UpdatePool").await?;
        let mut pool = self.get_pool(pool_id).await?;
        patch.apply_to(&mut pool.settings);
        let mut errors = FieldErrors::new();
        pool.license_expires_at = self.check_pool(&pool.settings, &mut errors);
        errors.finish()?;
        pool.updated_at = csm_db::now();
        self.save_edited(&pool).await
    }

    pub async fn list_pools(&self, page: &PageRequest) -> CsmResult<(Vec<LicensePool>, String)> {
        let rows = self.store.list_pools(page.after.as_deref(), page.fetch_limit()).await?;
        Ok(page.finish(rows, |pool| pool.settings.name.clone()))
    }
}
