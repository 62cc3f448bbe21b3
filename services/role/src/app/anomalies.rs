//! Role anomalies (R2.16 over contacts and consumers; R2.15 / R1.15 WARN
//! flags) and their batch fixes. Role administrators only.
//!
//! Which profiles are contacts or consumers is identity's knowledge: the scan
//! takes the candidates from role's own tables (profiles holding, directly or
//! through a group chain, a role reaching snc_internal, plus flagged
//! profiles; keyset over indexed columns) and asks identity for their kinds in
//! batches (BatchGetProfiles). Employees (INTERNAL) are never R2.16 anomalies.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult};
use csm_proto::identity::ProfileKind;
use csm_types::ProfileId;

use super::RoleApp;
use super::profiles::RoleGrant;
use crate::domain::anomalies::{AnomalyCategory, classify_external_profile};
use crate::domain::catalog::{SN_ESM_AGENT, SN_ESM_USER, SNC_EXTERNAL, SNC_INTERNAL};
use crate::domain::collisions::{UNIFIED_CONSUMER, check_additions};

/// At most this many profiles are fixed per FixRoleAnomalies call (R2.16).
pub const MAX_FIX_BATCH: usize = 3000;
/// Candidates read per scan step (and per identity BatchGetProfiles call).
const SCAN_BATCH: i64 = 500;

/// One anomaly of one profile, with its proposed fix.
#[derive(Debug, Clone)]
pub struct RoleAnomaly {
    pub profile: ProfileId,
    pub category: AnomalyCategory,
    pub evidence: Vec<RoleGrant>,
    pub remove: Vec<String>,
    pub add: Vec<String>,
    pub detected_at: Option<DateTime<Utc>>,
}

impl RoleAnomaly {
    /// Keyset position: profile, then category.
    fn key(&self) -> String {
        format!("{}/{}", self.profile, self.category as u8)
    }
}

/// What a FixRoleAnomalies call asks for.
#[derive(Debug, Clone, Default)]
pub struct FixRequest {
    /// Fixable categories; empty = both.
    pub categories: Vec<AnomalyCategory>,
    /// Only these profiles; empty = any.
    pub profiles: Vec<ProfileId>,
    /// Profiles to fix in this call (1..=3000).
    pub batch_size: usize,
}

/// The fix applied to one profile.
#[derive(Debug, Clone)]
pub struct AnomalyFixed {
    pub profile: ProfileId,
    pub category: AnomalyCategory,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AnomaliesFixed {
    pub fixes: Vec<AnomalyFixed>,
    pub remaining: i64,
    pub consistency_token: String,
}

fn is_external_kind(kind: i32) -> bool {
    matches!(
        ProfileKind::try_from(kind),
        Ok(ProfileKind::Contact
            | ProfileKind::PartnerContact
            | ProfileKind::Consumer
            | ProfileKind::ConsumerSubProfile)
    )
}

impl RoleApp {
    /// Every role whose closure reaches snc_internal.
    fn roles_reaching_internal(&self) -> Vec<String> {
        self.graph.roles().filter(|role| self.graph.closure(role).contains(SNC_INTERNAL)).map(str::to_owned).collect()
    }

    /// The anomalies of the given profiles (identity tells which are external).
    async fn anomalies_of(
        &self,
        profiles: &[ProfileId],
        categories: &[AnomalyCategory],
    ) -> CsmResult<Vec<RoleAnomaly>> {
        let kinds: BTreeMap<String, i32> = self
            .identity
            .profiles(profiles)
            .await?
            .into_iter()
            .map(|profile| (profile.profile_id, profile.kind))
            .collect();
        let mut found = Vec::new();
        for profile in profiles {
            let effective = self.compute(*profile).await?;
            let external = kinds.get(&profile.to_string()).is_some_and(|kind| is_external_kind(*kind));
            let mut mine = Vec::new();
            if external {
                let direct_assignments = self.store.direct_assignments(*profile).await?;
                let direct: BTreeSet<String> =
                    direct_assignments.iter().map(|assignment| assignment.role.clone()).collect();
                if let Some(anomaly) = classify_external_profile(&self.graph, &direct, &effective.roles) {
                    let detected_at = direct_assignments
                        .iter()
                        .find(|assignment| assignment.role == SNC_INTERNAL)
                        .map(|assignment| assignment.created_at);
                    mine.push(RoleAnomaly {
                        profile: *profile,
                        category: anomaly.category,
                        evidence: effective.grants.iter().filter(|grant| grant.role == SNC_INTERNAL).cloned().collect(),
                        remove: anomaly.remove,
                        add: anomaly.add,
                        detected_at,
                    });
                }
            }
            if let Some(flag) = self.store.review_flag(*profile).await?
                && let Some(category) = AnomalyCategory::of_review_flag(&flag.reason)
            {
                let evidence_roles: &[&str] = match category {
                    AnomalyCategory::UnsupportedPersona => &[UNIFIED_CONSUMER],
                    _ => &[SNC_INTERNAL, SNC_EXTERNAL, SN_ESM_AGENT, SN_ESM_USER],
                };
                mine.push(RoleAnomaly {
                    profile: *profile,
                    category,
                    evidence: effective
                        .grants
                        .iter()
                        .filter(|grant| evidence_roles.contains(&grant.role.as_str()))
                        .cloned()
                        .collect(),
                    remove: Vec::new(),
                    add: Vec::new(),
                    detected_at: Some(flag.flagged_at),
                });
            }
            mine.sort_by_key(|anomaly| anomaly.category);
            found.extend(
                mine.into_iter().filter(|anomaly| categories.is_empty() || categories.contains(&anomaly.category)),
            );
        }
        Ok(found)
    }

    /// Every anomaly matching `categories`, in (profile, category) order.
    /// A full scan of the candidates (admin RPC; see the module comment).
    async fn scan_anomalies(&self, categories: &[AnomalyCategory]) -> CsmResult<Vec<RoleAnomaly>> {
        let internal_roles = self.roles_reaching_internal();
        let mut after = None;
        let mut found = Vec::new();
        loop {
            let candidates = self.store.anomaly_candidates(&internal_roles, after, SCAN_BATCH).await?;
            let Some(last) = candidates.last().copied() else { break };
            found.extend(self.anomalies_of(&candidates, categories).await?);
            if (candidates.len() as i64) < SCAN_BATCH {
                break;
            }
            after = Some(last);
        }
        Ok(found)
    }

    /// ListRoleAnomalies: a page of anomalies and the total matching the filter.
    pub async fn list_role_anomalies(
        &self,
        caller: &Caller,
        categories: &[AnomalyCategory],
        page: &PageRequest,
    ) -> CsmResult<(Vec<RoleAnomaly>, String, i64)> {
        self.authorize_role_administration(caller, "ListRoleAnomalies").await?;
        let all = self.scan_anomalies(categories).await?;
        let total = all.len() as i64;
        let rows: Vec<RoleAnomaly> = all
            .into_iter()
            .filter(|anomaly| page.after.as_ref().is_none_or(|after| anomaly.key() > *after))
            .take(page.fetch_limit() as usize)
            .collect();
        let (rows, token) = page.finish(rows, RoleAnomaly::key);
        Ok((rows, token, total))
    }

    /// FixRoleAnomalies: applies the R2.16 fix to at most `batch_size`
    /// profiles, each in its own transaction under its profile lock, after
    /// classifying it again there (a profile changed since the scan is
    /// skipped). Reports what remains.
    ///
    /// The one idempotency rule: a retry with the same `request_id` answers
    /// what the first call fixed (recorded once the batch is done); the same
    /// id with another request is REQUEST_ID_CONFLICT.
    pub async fn fix_role_anomalies(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        request: &FixRequest,
    ) -> CsmResult<AnomaliesFixed> {
        const RPC: &str = "FixRoleAnomalies";
        self.authorize_role_administration(caller, RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, request);
        if let Some(replay) = key.replayed(self.store.db()).await? {
            return decode_fixed(&replay.extra);
        }
        let fixed = self.fix_anomalies(request).await?;
        if key.request_id().is_some() {
            let mut tx = self.store.db().begin().await?;
            if key.record(&mut tx, RPC, 0, &encode_fixed(&fixed)).await? {
                tx.commit().await?;
            } else if let Some(replay) = key.replayed(self.store.db()).await? {
                // A concurrent retry recorded first: answer as it did.
                return decode_fixed(&replay.extra);
            }
        }
        Ok(fixed)
    }

    async fn fix_anomalies(&self, request: &FixRequest) -> CsmResult<AnomaliesFixed> {
        let categories: Vec<AnomalyCategory> = if request.categories.is_empty() {
            vec![AnomalyCategory::NonIntentional, AnomalyCategory::PossiblyIntentional]
        } else {
            request.categories.clone()
        };
        let pending = self.fixable_anomalies(&categories, &request.profiles).await?;
        let policies = self.policies().await?;
        let mut fixes = Vec::new();
        let mut last_revision = None;
        for anomaly in pending.into_iter().take(request.batch_size) {
            let profile = anomaly.profile;
            let mut tx = self.store.db().begin().await?;
            self.store.lock_profile(&mut tx, profile).await?;
            self.store.lock_role_graph_shared(&mut tx).await?;
            let direct: BTreeSet<String> = self
                .store
                .direct_assignments_in(&mut tx, profile)
                .await?
                .into_iter()
                .map(|assignment| assignment.role)
                .collect();
            let inherited: BTreeSet<String> = self
                .store
                .profile_inheritance_in(&mut tx, profile)
                .await?
                .into_iter()
                .filter_map(|row| row.role)
                .collect();
            let effective: BTreeSet<String> = direct
                .iter()
                .chain(inherited.iter())
                .flat_map(|role| self.graph.closure(role))
                .map(str::to_owned)
                .collect();
            let Some(current) = classify_external_profile(&self.graph, &direct, &effective) else { continue };
            if current.category != anomaly.category {
                continue;
            }
            let kept: BTreeSet<String> =
                direct.iter().filter(|role| !current.remove.contains(role)).chain(inherited.iter()).cloned().collect();
            if check_additions(&self.graph, &kept, &current.add, policies).is_err() {
                tracing::info!(%profile, "anomaly fix would collide; left for manual review");
                continue;
            }
            for role in &current.remove {
                last_revision = self.store.delete_assignment(&mut tx, profile, role).await?.or(last_revision);
            }
            for role in &current.add {
                last_revision = Some(self.store.insert_assignment(&mut tx, profile, role).await?.1);
            }
            tx.commit().await?;
            fixes.push(AnomalyFixed {
                profile,
                category: current.category,
                removed: current.remove,
                added: current.add,
            });
        }
        let consistency_token = match last_revision {
            Some(revision) => {
                self.feed.committed(revision);
                self.feed.token(revision)
            }
            None => String::new(),
        };
        let remaining = self.fixable_anomalies(&categories, &request.profiles).await?.len() as i64;
        Ok(AnomaliesFixed { fixes, remaining, consistency_token })
    }

    async fn fixable_anomalies(
        &self,
        categories: &[AnomalyCategory],
        profiles: &[ProfileId],
    ) -> CsmResult<Vec<RoleAnomaly>> {
        let found = if profiles.is_empty() {
            self.scan_anomalies(categories).await?
        } else {
            let mut distinct: Vec<ProfileId> = profiles.to_vec();
            distinct.sort();
            distinct.dedup();
            let mut found = Vec::new();
            for chunk in distinct.chunks(SCAN_BATCH as usize) {
                found.extend(self.anomalies_of(chunk, categories).await?);
            }
            found
        };
        Ok(found.into_iter().filter(|anomaly| anomaly.category.fixable()).collect())
    }
}

/// A FixRoleAnomalies answer as its idempotency record keeps it:
/// `<remaining>;<consistency token>` then `;<profile>,<category>,<removed>,<added>`
/// per fix (role names never hold `,`, `;` or spaces).
fn encode_fixed(fixed: &AnomaliesFixed) -> String {
    let mut out = format!("{};{}", fixed.remaining, fixed.consistency_token);
    for fix in &fixed.fixes {
        out.push_str(&format!(
            ";{},{},{},{}",
            fix.profile,
            fix.category.code(),
            fix.removed.join(" "),
            fix.added.join(" ")
        ));
    }
    out
}

fn decode_fixed(record: &str) -> CsmResult<AnomaliesFixed> {
    let malformed = || CsmError::internal("malformed idempotency record of FixRoleAnomalies");
    let roles = |list: &str| list.split(' ').filter(|role| !role.is_empty()).map(str::to_owned).collect();
    let mut parts = record.split(';');
    let remaining = parts.next().and_then(|remaining| remaining.parse().ok()).ok_or_else(malformed)?;
    let consistency_token = parts.next().ok_or_else(malformed)?.to_owned();
    let fixes = parts
        .map(|fix| {
            let fields: Vec<&str> = fix.split(',').collect();
            let [profile, category, removed, added] = fields[..] else { return Err(malformed()) };
            Ok(AnomalyFixed {
                profile: ProfileId::parse(profile).map_err(|_| malformed())?,
                category: AnomalyCategory::from_code(category).ok_or_else(malformed)?,
                removed: roles(removed),
                added: roles(added),
            })
        })
        .collect::<CsmResult<Vec<_>>>()?;
    Ok(AnomaliesFixed { fixes, remaining, consistency_token })
}

/// INVALID_ARGUMENT for a FixRoleAnomalies request naming a manual category.
pub fn not_fixable(category: AnomalyCategory) -> CsmError {
    CsmError::invalid_argument("ANOMALY_NOT_FIXABLE", format!("{category:?} anomalies are fixed manually (R2.16)"))
}
