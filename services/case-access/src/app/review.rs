//! Access review (issue 13), the reverse questions of Check, answered by the
//! same table: who may act on a case, and why (ListCaseAccessors); which
//! cases one profile would gain or lose under a change that is not written
//! (PreviewAccessChange); and who may read which case, streamed for an
//! account or the whole suite (ExportAccessReview). Every row is a decision
//! of [`CaseAccessApp::decide_on_facts`], the path Check takes.

use std::collections::BTreeMap;
use std::sync::Arc;

use csm_auth::Caller;
use csm_errors::{CsmError, CsmResult, ErrorCode};
use csm_proto::identity::ListProfilesRequest;
use csm_types::{AccountId, CaseId, ProfileId};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::cache::Freshness;
use super::case_cache::CaseRead;
use super::context::SourceChange;
use super::{CaseAccessApp, Decided};
use crate::domain::case::{CaseFacts, PartyKind, RelatedParty};
use crate::domain::parties::PartySubject;
use crate::domain::principal::PrincipalContext;
use crate::domain::table::Action;
use crate::store::cases::{self, CaseFilter};
use crate::store::parties as party_store;

/// How far an access review has got: identity's page token and how many
/// profiles of that page were already decided. (A profile created inside an
/// already-read page between two calls may shift the position by one; the
/// review is a snapshot per page, as every paged list is.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewCursor {
    pub identity_page: String,
    pub skip: usize,
}

impl ReviewCursor {
    /// The key sealed into the page token.
    pub fn key(&self) -> String {
        format!("{}|{}", self.skip, self.identity_page)
    }

    /// The cursor of a key [`ReviewCursor::key`] made; `None` for any other text.
    pub fn from_key(key: &str) -> Option<Self> {
        let (skip, identity_page) = key.split_once('|')?;
        Some(Self { identity_page: identity_page.to_owned(), skip: skip.parse().ok()? })
    }
}

/// One profile allowed the action, with the context and decision that allowed it.
#[derive(Clone, Debug)]
pub struct Accessor {
    pub principal: Arc<PrincipalContext>,
    pub decided: Decided,
}

/// One page of an access review.
#[derive(Clone, Debug)]
pub struct Accessors {
    pub accessors: Vec<Accessor>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<ReviewCursor>,
    /// Profiles decided for this page, allowed or not.
    pub examined: usize,
    pub consistency_token: String,
}

/// Profiles fetched from identity per call.
const REVIEW_PROFILE_PAGE: i32 = 250;
/// A page of an access review ends after deciding this many profiles.
pub const REVIEW_MAX_EXAMINED: usize = 2000;
/// Visible cases read per query while exporting one profile's rows.
const EXPORT_CASE_BATCH: i64 = 1000;

/// A related party proposed for a case (as AddRelatedParty would add it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposedParty {
    pub case: CaseId,
    pub kind: PartyKind,
    pub party: Uuid,
    pub configuration: Uuid,
}

/// A change PreviewAccessChange previews: what the profile holds
/// ([`SourceChange`]), and related parties of cases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessChange {
    pub sources: SourceChange,
    pub add_parties: Vec<ProposedParty>,
    pub remove_parties: Vec<Uuid>,
}

/// A case whose READ the change would flip, with the decision before and after.
#[derive(Clone, Debug)]
pub struct VisibilityChange {
    pub case: CaseId,
    pub before: Decided,
    pub after: Decided,
}

impl VisibilityChange {
    pub fn gained(&self) -> bool {
        self.after.outcome.allowed()
    }
}

/// One page of PreviewAccessChange.
#[derive(Clone, Debug)]
pub struct Preview {
    pub changes: Vec<VisibilityChange>,
    /// The last case of this page when more may follow.
    pub next: Option<CaseId>,
    pub roles_gained: Vec<String>,
    pub roles_lost: Vec<String>,
    pub consistency_token: String,
}

/// One message of an export.
#[derive(Clone, Debug)]
pub enum ReviewItem {
    Row { case: CaseId, principal: Arc<PrincipalContext>, decided: Decided },
    Progress { profiles: u64, rows: u64 },
}

impl CaseAccessApp {
    /// ListCaseAccessors: which active profiles may take `action` on case
    /// `case`, each decided exactly as Check decides it
    /// ([`CaseAccessApp::decide_on_facts`] on the same case facts), from
    /// `cursor`, at most `size` of them. Admins and service identities only.
    pub async fn case_accessors(
        &self,
        caller: &Caller,
        case: CaseId,
        action: Action,
        cursor: ReviewCursor,
        size: usize,
        freshness: &Freshness,
    ) -> CsmResult<Accessors> {
        self.authorize_admin(caller, "ListCaseAccessors").await?;
        let (contexts, read) = self.reads(freshness).await;
        let facts = self.case_facts(case, read).await?;
        let mut accessors = Vec::new();
        let mut examined = 0;
        let mut cursor = cursor;
        loop {
            let page = self
                .identity
                .profiles_page(ListProfilesRequest {
                    page_size: REVIEW_PROFILE_PAGE,
                    page_token: cursor.identity_page.clone(),
                    ..Default::default()
                })
                .await?;
            let mut index = cursor.skip;
            while let Some(profile) = page.profiles.get(index) {
                index += 1;
                examined += 1;
                if let Ok(id) = ProfileId::parse(&profile.profile_id)
                    && let Some(principal) = self.contexts.get(id, &contexts).await?
                {
                    let decided = self.decide_on_facts(&principal, &facts, action).await?;
                    if decided.outcome.allowed() {
                        accessors.push(Accessor { principal, decided });
                    }
                }
                if accessors.len() >= size || examined >= REVIEW_MAX_EXAMINED {
                    let next = if index < page.profiles.len() {
                        Some(ReviewCursor { identity_page: cursor.identity_page, skip: index })
                    } else {
                        (!page.next_page_token.is_empty())
                            .then(|| ReviewCursor { identity_page: page.next_page_token.clone(), skip: 0 })
                    };
                    return Ok(Accessors { accessors, next, examined, consistency_token: self.token().await? });
                }
            }
            if page.next_page_token.is_empty() {
                return Ok(Accessors { accessors, next: None, examined, consistency_token: self.token().await? });
            }
            cursor = ReviewCursor { identity_page: page.next_page_token, skip: 0 };
        }
    }

    /// PreviewAccessChange: the cases `profile` would gain or lose READ on
    /// under `change`, newest first, older than `older_than`, at most `size`.
    /// Both contexts are built from the peers (never from the cache, so the
    /// change is the only difference between them) and decided by the table
    /// Check uses; the SQL of ListVisibleCases, compiled for both, finds the
    /// candidates, and cases whose related parties the change touches are
    /// decided on their changed facts. Case facts come from the case cache
    /// (kept right by case-access's own feed), not one query per candidate.
    /// Admins and service identities only.
    pub async fn preview_access_change(
        &self,
        caller: &Caller,
        profile: ProfileId,
        change: &AccessChange,
        older_than: Option<CaseId>,
        size: usize,
    ) -> CsmResult<Preview> {
        self.authorize_admin(caller, "PreviewAccessChange").await?;
        let consistency_token = self.token().await?;
        let source = self.contexts.source();
        let (now, then) = tokio::join!(source.build(profile), source.build_with(profile, &change.sources));
        let missing = || CsmError::not_found("profile", profile).with_metadata("field", "profile_id");
        let now = now?.ok_or_else(missing)?;
        let then = then?.ok_or_else(missing)?;
        let changed = self.changed_facts(change).await?;
        let touched: Vec<CaseId> = changed.keys().copied().collect();
        let limit = i64::try_from(size).unwrap_or(i64::MAX).saturating_add(1);
        let (before_rules, after_rules) = (self.read_rules(&now), self.read_rules(&then));
        let mut candidates =
            cases::visibility_differs(&self.db, &before_rules, &after_rules, &touched, older_than, limit).await?;
        candidates.extend(touched.into_iter().filter(|case| older_than.is_none_or(|older| *case < older)));
        candidates.sort_unstable_by(|left, right| right.cmp(left));
        let more = candidates.len() > size;
        candidates.truncate(size);
        let mut changes = Vec::new();
        for case in &candidates {
            let (facts_before, facts_after) = match changed.get(case) {
                Some((before, after)) => (before.clone(), Arc::new(after.clone())),
                None => {
                    let facts = self.case_facts(*case, CaseRead::Cached).await?;
                    (facts.clone(), facts)
                }
            };
            let before = self.decide_on_facts(&now, &facts_before, Action::Read).await?;
            let after = self.decide_on_facts(&then, &facts_after, Action::Read).await?;
            if before.outcome.allowed() != after.outcome.allowed() {
                changes.push(VisibilityChange { case: *case, before, after });
            }
        }
        let first_page = older_than.is_none();
        let roles_gained = if first_page { then.roles.difference(&now.roles).cloned().collect() } else { Vec::new() };
        let roles_lost = if first_page { now.roles.difference(&then.roles).cloned().collect() } else { Vec::new() };
        Ok(Preview {
            changes,
            next: if more { candidates.last().copied() } else { None },
            roles_gained,
            roles_lost,
            consistency_token,
        })
    }

    /// The facts of each case whose related parties `change` touches, as they
    /// are and as they would be. A proposed party is checked as AddRelatedParty
    /// checks it; a removed one must be a related party of a case.
    async fn changed_facts(&self, change: &AccessChange) -> CsmResult<BTreeMap<CaseId, (Arc<CaseFacts>, CaseFacts)>> {
        let mut changed: BTreeMap<CaseId, (Arc<CaseFacts>, CaseFacts)> = BTreeMap::new();
        for (index, proposed) in change.add_parties.iter().enumerate() {
            let prefix = format!("change.add_related_parties[{index}].");
            let facts = self
                .case_facts(proposed.case, CaseRead::Through)
                .await
                .map_err(|error| error.with_metadata("field", format!("{prefix}case_id")))?;
            let subject = PartySubject::Case(*proposed.case.as_uuid());
            let party_type = self
                .checked_party_type(subject, proposed.kind, proposed.party, proposed.configuration, &prefix)
                .await?;
            let (_, after) = changed.entry(proposed.case).or_insert_with(|| (facts.clone(), CaseFacts::clone(&facts)));
            after.related_parties.push(RelatedParty {
                id: Uuid::nil(),
                kind: proposed.kind,
                party_id: proposed.party,
                responsibility: party_type.default_responsibility.map(|(_, name)| name),
            });
        }
        for (index, id) in change.remove_parties.iter().enumerate() {
            let field = format!("change.remove_related_party_ids[{index}]");
            let unknown = || CsmError::not_found("related party", id).with_metadata("field", field.clone());
            let record = party_store::get_related_party(&self.db, *id).await?.ok_or_else(unknown)?;
            let PartySubject::Case(case) = record.subject else { return Err(unknown()) };
            let case = CaseId::from_uuid(case);
            let facts = self.case_facts(case, CaseRead::Through).await?;
            let (_, after) = changed.entry(case).or_insert_with(|| (facts.clone(), CaseFacts::clone(&facts)));
            after.related_parties.retain(|party| party.id != *id);
        }
        Ok(changed)
    }

    /// ExportAccessReview: after the admin check, a task streams every
    /// active profile's READ-visible cases (of `account`, or all), each row
    /// with the decision Check gives, and a progress item after each profile.
    /// The task stops when the receiver is dropped (the client went away);
    /// an error ends the stream with that error.
    pub async fn export_access_review(
        self: &Arc<Self>,
        caller: &Caller,
        account: Option<AccountId>,
    ) -> CsmResult<mpsc::Receiver<CsmResult<ReviewItem>>> {
        self.authorize_admin(caller, "ExportAccessReview").await?;
        let (sender, receiver) = mpsc::channel(256);
        let app = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(error) = app.export_rows(account, &sender).await {
                let _ = sender.send(Err(error)).await;
            }
        });
        Ok(receiver)
    }

    async fn export_rows(
        &self,
        account: Option<AccountId>,
        out: &mpsc::Sender<CsmResult<ReviewItem>>,
    ) -> CsmResult<()> {
        let filter = CaseFilter { account, ..CaseFilter::default() };
        let (mut profiles, mut rows) = (0_u64, 0_u64);
        let mut page_token = String::new();
        loop {
            let page = self
                .identity
                .profiles_page(ListProfilesRequest { page_size: REVIEW_PROFILE_PAGE, page_token, ..Default::default() })
                .await?;
            for profile in &page.profiles {
                // Each known profile's rows; stop when the receiver went away.
                if let Ok(id) = ProfileId::parse(&profile.profile_id)
                    && let Some(principal) = self.contexts.get(id, &Freshness::MinimizeLatency).await?
                    && !self.export_profile(&principal, &filter, out, &mut rows).await?
                {
                    return Ok(());
                }
                profiles += 1;
                if out.send(Ok(ReviewItem::Progress { profiles, rows })).await.is_err() {
                    return Ok(());
                }
            }
            if page.next_page_token.is_empty() {
                return Ok(());
            }
            page_token = page.next_page_token;
        }
    }

    /// Streams the rows of one principal: the cases its READ rules select
    /// (the compiled table, in batches), each with the decision Check gives.
    /// False when the receiver went away.
    async fn export_profile(
        &self,
        principal: &Arc<PrincipalContext>,
        filter: &CaseFilter,
        out: &mpsc::Sender<CsmResult<ReviewItem>>,
        rows: &mut u64,
    ) -> CsmResult<bool> {
        let rules = self.read_rules(principal);
        let mut older_than = None;
        loop {
            let batch = cases::list_visible(&self.db, &rules, filter, older_than, EXPORT_CASE_BATCH).await?;
            for case in &batch {
                let facts = match self.case_facts(case.id, CaseRead::Cached).await {
                    Ok(facts) => facts,
                    // A case deleted since the query is simply not reviewed.
                    Err(error) if error.code() == ErrorCode::NotFound => continue,
                    Err(error) => return Err(error),
                };
                let decided = self.decide_on_facts(principal, &facts, Action::Read).await?;
                if decided.outcome.allowed() {
                    *rows += 1;
                    let row = ReviewItem::Row { case: case.id, principal: principal.clone(), decided };
                    if out.send(Ok(row)).await.is_err() {
                        return Ok(false);
                    }
                }
            }
            if (batch.len() as i64) < EXPORT_CASE_BATCH {
                return Ok(true);
            }
            older_than = batch.last().map(|case| case.id);
        }
    }
}
