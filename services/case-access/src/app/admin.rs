//! Settings and Cherwell security-group rights (contract: Settings,
//! SecurityGroupRights; R4.3 note, X14, R4.10, R1.16, R6.3–R6.6).
//!
//! Every RPC here needs `admin` or a service identity. Settings are one row,
//! loaded at start-up into the settings in force ([`SettingsInForce`]) and
//! reloaded after each committed update, here and — through the own-feed
//! follower (`case_cache`) — on every other replica (decisions read them per
//! request, so nothing is evicted). Rights are read by the context build: a
//! rights change evicts every cached context after it commits (here at once,
//! elsewhere when the follower applies it), so the next check sees it.
//!
//! Out-of-the-box rights (R6.5, R6.6): identity creates the seeded security
//! groups with ids of its own, so case-access seeds their rights by group
//! name once identity answers (a start-up task, retried until it does). Each
//! group is seeded at most once: a later delete is not undone by a restart.

use std::time::Duration;

use chrono::{DateTime, Utc};
use csm_auth::Caller;
use csm_changefeed::{NewChange, Operation, append};
use csm_db::{Db, PageRequest};
use csm_errors::{CsmError, CsmResult};
use csm_peers::IdentityPeer;
use csm_proto::identity::SecurityGroupKind;
use csm_types::SecurityGroupId;

use super::CaseAccessApp;
use super::cache::ContextCache;
use crate::domain::principal::SecurityGroupRights;
use crate::domain::table::{self, TableSettings};
use crate::store::admin as store;
pub use crate::store::admin::{SettingsChanges, StoredRights};

/// Settings with their last change.
pub type SettingsAt = (TableSettings, DateTime<Utc>);

/// The settings decisions read, replaced as a whole.
///
/// A reload reads and replaces under one lock, and a local update commits
/// and replaces under the same lock: a follower reading the row before an
/// update committed can never put older settings over the update's.
#[derive(Default)]
pub struct SettingsInForce {
    current: std::sync::RwLock<TableSettings>,
    writing: tokio::sync::Mutex<()>,
}

impl SettingsInForce {
    /// A snapshot: decisions made with it stay consistent.
    pub fn get(&self) -> TableSettings {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn set(&self, settings: TableSettings) {
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = settings;
    }

    /// Puts the stored settings in force (start-up; a change seen on the own feed).
    pub async fn reload(&self, db: &Db) -> CsmResult<()> {
        let _writing = self.writing.lock().await;
        let (settings, _) = store::settings(db).await?;
        self.set(settings);
        Ok(())
    }
}

/// A write's result and its consistency token.
pub struct Written<T> {
    pub value: T,
    pub consistency_token: String,
}

impl CaseAccessApp {
    /// Admin RPCs: `admin` (effective role) or a service identity.
    pub(crate) async fn authorize_admin(&self, caller: &Caller, rpc: &str) -> CsmResult<()> {
        self.contexts.source().roles().authorize(caller, &[table::ADMIN], rpc).await
    }

    /// Loads the stored settings into the settings in force and starts
    /// seeding the out-of-the-box rights (start-up).
    pub async fn start_admin(&self) -> CsmResult<()> {
        self.settings.reload(&self.db).await?;
        let seeder = RightsSeeder {
            db: self.db.clone(),
            feed: self.feed.clone(),
            identity: self.identity.clone(),
            contexts: self.contexts.clone(),
        };
        tokio::spawn(seeder.run());
        Ok(())
    }

    pub async fn get_settings(&self, caller: &Caller) -> CsmResult<SettingsAt> {
        self.authorize_admin(caller, "GetSettings").await?;
        store::settings(&self.db).await
    }

    /// Writes the changed settings with their change row, then puts them in force.
    pub async fn update_settings(&self, caller: &Caller, changes: SettingsChanges) -> CsmResult<Written<SettingsAt>> {
        self.authorize_admin(caller, "UpdateSettings").await?;
        let _writing = self.settings.writing.lock().await;
        let mut tx = self.db.begin().await?;
        let saved = store::save_settings(&mut tx, &changes).await?;
        let change = NewChange::new("settings", "case_access", Operation::Updated)
            .attribute("fields", changes.fields().join(","));
        let revision = append(&mut tx, &change).await?;
        tx.commit().await?;
        self.settings.set(saved.0.clone());
        self.committed(revision, &change);
        Ok(Written { value: saved, consistency_token: self.feed.token(revision) })
    }

    /// Creates or replaces a group's rights; the group must be a User or
    /// Customer security group of identity.
    pub async fn set_security_group_rights(
        &self,
        caller: &Caller,
        rights: SecurityGroupRights,
    ) -> CsmResult<Written<StoredRights>> {
        self.authorize_admin(caller, "SetSecurityGroupRights").await?;
        self.require_rights_group(rights.security_group).await?;
        let mut tx = self.db.begin().await?;
        let stored = store::upsert_security_group_rights(&mut tx, &rights).await?;
        let change = rights_change(rights.security_group, Operation::Updated);
        let revision = append(&mut tx, &change).await?;
        tx.commit().await?;
        self.rights_committed(revision, &change);
        Ok(Written { value: stored, consistency_token: self.feed.token(revision) })
    }

    pub async fn get_security_group_rights(&self, caller: &Caller, group: SecurityGroupId) -> CsmResult<StoredRights> {
        self.authorize_admin(caller, "GetSecurityGroupRights").await?;
        store::security_group_rights(&self.db, group)
            .await?
            .ok_or_else(|| CsmError::not_found("security_group_rights", group))
    }

    pub async fn list_security_group_rights(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> CsmResult<(Vec<StoredRights>, String)> {
        self.authorize_admin(caller, "ListSecurityGroupRights").await?;
        let after = page.after_key(|after| uuid::Uuid::parse_str(after).ok())?;
        let rows = store::list_security_group_rights(&self.db, after, page.fetch_limit()).await?;
        Ok(page.finish(rows, |row| row.rights.security_group.to_string()))
    }

    pub async fn delete_security_group_rights(&self, caller: &Caller, group: SecurityGroupId) -> CsmResult<String> {
        self.authorize_admin(caller, "DeleteSecurityGroupRights").await?;
        let mut tx = self.db.begin().await?;
        if !store::delete_security_group_rights(&mut tx, group).await? {
            return Err(CsmError::not_found("security_group_rights", group));
        }
        let change = rights_change(group, Operation::Deleted);
        let revision = append(&mut tx, &change).await?;
        tx.commit().await?;
        self.rights_committed(revision, &change);
        Ok(self.feed.token(revision))
    }

    /// Rights feed every context: forget them all once the change committed.
    fn rights_committed(&self, revision: u64, change: &NewChange) {
        self.committed(revision, change);
        self.contexts.evict_all();
    }

    /// NOT_FOUND when identity does not know the group; FAILED_PRECONDITION
    /// SECURITY_GROUP_KIND_MISMATCH for a group that is neither User nor Customer.
    async fn require_rights_group(&self, group: SecurityGroupId) -> CsmResult<()> {
        let field = "rights.security_group_id";
        let found = self
            .identity
            .security_group(group)
            .await?
            .ok_or_else(|| CsmError::not_found("security_group", group).with_metadata("field", field))?;
        match SecurityGroupKind::try_from(found.kind) {
            Ok(SecurityGroupKind::User | SecurityGroupKind::Customer) => Ok(()),
            _ => Err(CsmError::failed_precondition(
                "SECURITY_GROUP_KIND_MISMATCH",
                format!("security group {group} is neither a User nor a Customer security group"),
            )
            .with_metadata("field", field)),
        }
    }
}

fn rights_change(group: SecurityGroupId, operation: Operation) -> NewChange {
    NewChange::new("security_group_rights", group, operation).attribute("security_group_id", group)
}

/// Seeds the out-of-the-box rights of identity's seeded groups (R6.5, R6.6).
struct RightsSeeder {
    db: Db,
    feed: csm_changefeed::ChangeFeed,
    identity: IdentityPeer,
    contexts: std::sync::Arc<ContextCache>,
}

impl RightsSeeder {
    /// Retries until identity answers and the seeding committed.
    async fn run(self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.seed().await {
                Ok(()) => return,
                Err(error) => tracing::debug!(reason = error.reason(), "out-of-the-box rights not seeded yet"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn seed(&self) -> CsmResult<()> {
        let mut seeded = false;
        for group in &self.identity.security_groups(SecurityGroupKind::Customer).await? {
            let Ok(id) = SecurityGroupId::parse(&group.security_group_id) else { continue };
            let Some(rights) = SecurityGroupRights::out_of_the_box(id, &group.name) else { continue };
            let mut tx = self.db.begin().await?;
            // Seed once, and never over rights an administrator already set.
            if !store::mark_seeded(&mut tx, id).await? || !store::insert_security_group_rights(&mut tx, &rights).await?
            {
                tx.commit().await?;
                continue;
            }
            let revision = append(&mut tx, &rights_change(id, Operation::Created)).await?;
            tx.commit().await?;
            self.feed.committed(revision);
            seeded = true;
        }
        if seeded {
            self.contexts.evict_all();
        }
        Ok(())
    }
}

/// The audit trail is read by administrators (`csm.audit.v1`).
impl csm_server::AuditReaders for CaseAccessApp {
    async fn authorize_audit_read(&self, caller: &Caller) -> CsmResult<()> {
        self.contexts.source().roles().authorize(caller, csm_server::AUDIT_READER_ROLES, "ListAuditEvents").await
    }
}
