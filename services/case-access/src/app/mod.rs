//! case-access's use cases: resolve the evaluated principal, build its
//! context, decide with the decision table, create and list cases.
//!
//! Contexts come from the Watch-invalidated principal cache ([`cache`]),
//! built on a miss from identity, role and account-team (DESIGN §3).

pub mod admin;
pub mod cache;
pub mod cache_metrics;
pub mod case_cache;
pub mod compiled;
pub mod context;
pub mod decisions;
pub mod memo;
pub mod own_feed;
pub mod parties;
pub mod review;
pub mod work;

use std::collections::BTreeSet;
use std::sync::Arc;

use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_changefeed::{ChangeFeed, ConsistencyToken, NewChange, Operation, append};
use csm_db::Db;
use csm_errors::{CsmError, CsmResult};
use csm_peers::{AccountTeamPeer, IdentityPeer, LicensingPeer};
use csm_server::PeerChannel;
use csm_types::{AccountId, CaseId, ProfileId, ServiceName};

use crate::domain::case::CaseFacts;
use crate::domain::principal::PrincipalContext;
use crate::domain::record::{CaseRecord, Draft, PlanError, draft_facts, plan_create};
use crate::domain::table::{self, Action, Outcome, Rules, TableSettings};
use crate::store::cases::{self, CaseFilter};
use admin::SettingsInForce;
use cache::{ContextCache, Freshness};
use case_cache::{CaseCache, CaseRead};
use compiled::CompiledRules;
use context::ContextSource;
use decisions::Subject;
use own_feed::OwnFeedFollower;
use parties::PartnerContactCase;

/// Whether the evaluated profile may differ from the caller (contract: Principal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Mutation,
}

/// A decision with the context it was made in.
#[derive(Clone, Debug)]
pub struct Decided {
    pub action: Action,
    pub outcome: Outcome,
    pub requires_license: bool,
    /// A licence seat was escalated onto the request's session (or already held).
    pub license_escalated: bool,
    pub consistency_token: String,
}

pub struct CaseAccessApp {
    pub db: Db,
    pub feed: ChangeFeed,
    pub contexts: Arc<ContextCache>,
    /// Case facts by case id, kept right by the own change feed.
    pub cases: Arc<CaseCache>,
    identity: IdentityPeer,
    licensing: LicensingPeer,
    settings: Arc<SettingsInForce>,
    /// account-team, for related-party types (R5.4) and partner-contact
    /// eligibility (R5.13); set by [`CaseAccessApp::with_account_team`].
    account_team: Option<AccountTeamPeer>,
    /// Each cached context's rules, compiled once per action.
    compiled: CompiledRules,
}

/// The freshness a request asks for; a malformed token is INVALID_ARGUMENT.
pub fn freshness(at_least_as_fresh: Option<&str>, fully_consistent: bool) -> CsmResult<Freshness> {
    match at_least_as_fresh {
        Some(token) => token.parse::<ConsistencyToken>().map(Freshness::AtLeastAsFresh).map_err(|why| {
            CsmError::invalid_argument("INVALID_CONSISTENCY_TOKEN", format!("consistency token: {why}"))
                .with_metadata("field", "consistency.at_least_as_fresh")
        }),
        None if fully_consistent => Ok(Freshness::FullyConsistent),
        None => Ok(Freshness::MinimizeLatency),
    }
}

/// A decision as every RPC answers it: the outcome with its licence need
/// derived from it ([`requires_license`]) and the snapshot's token.
fn decision(ctx: &PrincipalContext, facts: &CaseFacts, action: Action, outcome: Outcome, token: String) -> Decided {
    Decided {
        action,
        requires_license: requires_license(ctx, facts, action, outcome.allowed()),
        outcome,
        license_escalated: false,
        consistency_token: token,
    }
}

/// SPEC §7 — the one place the licence need of a decision is computed, for
/// Check, BatchCheck, Explain, GetCase, ListVisibleCases and every write
/// alike: an allowed action of a customer on a record that is not its own
/// (R7.4: owner, requester, contact, consumer, or associated as a related
/// party). The need is stated as ACCESS mode states it; licensing applies the
/// pool's `portal_license_on` (R7.5) when the seat is escalated, so a READ
/// takes no seat in EDIT mode.
pub(crate) fn requires_license(ctx: &PrincipalContext, facts: &CaseFacts, action: Action, allowed: bool) -> bool {
    allowed && table::needs_license(ctx, facts, action, table::LicenseMode::Access)
}

pub fn access_denied(action: Action, outcome: &Outcome) -> CsmError {
    CsmError::permission_denied("ACCESS_DENIED", format!("{action:?} is not allowed ({})", outcome.rule()))
        .with_metadata("rule", outcome.rule())
        .with_metadata("action", action_name(action))
}

pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::Read => "READ",
        Action::WriteFull => "WRITE_FULL",
        Action::WriteCustomer => "WRITE_CUSTOMER",
        Action::WriteLimited => "WRITE_LIMITED",
        Action::CreateSelf => "CREATE_SELF",
        Action::CreateObo => "CREATE_OBO",
        Action::Delete => "DELETE",
    }
}

impl Drop for CaseAccessApp {
    /// The service is going away: stop following the peers' feeds, so their
    /// servers can drain (a Watch stream never ends by itself).
    fn drop(&mut self) {
        self.contexts.stop();
        self.cases.stop();
    }
}

impl CaseAccessApp {
    /// The app, with its caches (each of at most `cache_entries`) following the feeds.
    pub fn new(
        db: Db,
        feed: ChangeFeed,
        source: ContextSource,
        identity: PeerChannel,
        licensing: PeerChannel,
        cache_entries: usize,
    ) -> Self {
        let contexts = ContextCache::new(source.with_db(db.clone()), cache_entries);
        contexts.spawn_watchers();
        let cases = CaseCache::new(cache_entries);
        cache_metrics::register_metrics(&contexts, &cases);
        Self {
            db,
            feed,
            contexts,
            cases,
            identity: IdentityPeer::new(identity),
            licensing: LicensingPeer::new(licensing),
            settings: Default::default(),
            account_team: None,
            compiled: CompiledRules::new(cache_entries.saturating_mul(2)),
        }
    }

    /// Follows case-access's own change feed from `head` (its head at start):
    /// other replicas' writes evict cases, reload settings and rights.
    pub fn follow_own_feed(&self, head: u64) {
        let follower = OwnFeedFollower {
            db: self.db.clone(),
            feed: self.feed.clone(),
            cases: self.cases.clone(),
            contexts: self.contexts.clone(),
            settings: self.settings.clone(),
        };
        follower.spawn(head);
    }

    /// The app calling account-team over `channel` for related-party types.
    pub fn with_account_team(mut self, channel: PeerChannel) -> Self {
        self.account_team = Some(AccountTeamPeer::new(channel));
        self
    }

    /// The settings in force (a snapshot: decisions made with it stay consistent).
    pub fn settings(&self) -> TableSettings {
        self.settings.get()
    }

    /// The profile a request is evaluated as (contract: Principal): the
    /// caller's active profile, or `requested` for service identities (and,
    /// for reads, callers holding `admin`).
    pub async fn principal(
        &self,
        caller: &Caller,
        requested: Option<ProfileId>,
        access: Access,
    ) -> CsmResult<ProfileId> {
        match (caller, requested) {
            (Caller::Service(_), Some(profile)) => Ok(profile),
            (Caller::Service(service), None) => {
                Err(CsmError::invalid_field("profile_id", format!("required when the caller is the {service} service")))
            }
            (Caller::Human(human), None) => human.profile_id.ok_or_else(|| {
                CsmError::permission_denied("ACTIVE_PROFILE_REQUIRED", "the session has no active profile")
            }),
            (Caller::Human(human), Some(profile)) if human.profile_id == Some(profile) => Ok(profile),
            (Caller::Human(human), Some(profile)) => {
                let admin = match (access, human.profile_id) {
                    (Access::Read, Some(own)) => {
                        self.context(own, &Freshness::MinimizeLatency).await?.has(table::ADMIN)
                    }
                    _ => false,
                };
                if admin {
                    Ok(profile)
                } else {
                    Err(CsmError::permission_denied(
                        "PROFILE_OVERRIDE_FORBIDDEN",
                        "only service identities (and admins, for reads) may evaluate another profile",
                    ))
                }
            }
        }
    }

    /// The context of `profile` and how the request reads cases, at
    /// `freshness`. A case-access token (a case, settings or rights write,
    /// maybe on another replica) waits until the own feed applied it; not in
    /// time, both read through.
    pub async fn read_context(
        &self,
        profile: ProfileId,
        freshness: &Freshness,
    ) -> CsmResult<(Arc<PrincipalContext>, CaseRead)> {
        let (contexts, cases) = self.reads(freshness).await;
        Ok((self.context(profile, &contexts).await?, cases))
    }

    /// How a request at `freshness` reads principal contexts and case facts:
    /// a case-access token waits for the own feed, then both come from the
    /// caches (or, not reached in time, both read through).
    pub async fn reads(&self, freshness: &Freshness) -> (Freshness, CaseRead) {
        match freshness {
            Freshness::FullyConsistent => (Freshness::FullyConsistent, CaseRead::Through),
            Freshness::AtLeastAsFresh(token) if token.service == ServiceName::CaseAccess => {
                if self.cases.wait_for(token.revision).await {
                    (Freshness::MinimizeLatency, CaseRead::Cached)
                } else {
                    (Freshness::FullyConsistent, CaseRead::Through)
                }
            }
            other => (other.clone(), CaseRead::Cached),
        }
    }

    /// The context a mutation decides with, at the request's `freshness`
    /// (contract: Consistency). `at_least_as_fresh` is honoured through the
    /// same machinery as Check ([`CaseAccessApp::read_context`]: a peer's
    /// token waits for that feed, a case-access token for the own feed, i.e.
    /// settings, rights and cases written by other replicas); without a token
    /// a mutation reads through — a write never decides on a cache it presents
    /// no token for. Mutations read case rows through in any case.
    pub async fn mutation_context(
        &self,
        profile: ProfileId,
        freshness: &Freshness,
    ) -> CsmResult<Arc<PrincipalContext>> {
        let freshness = match freshness {
            Freshness::AtLeastAsFresh(token) => Freshness::AtLeastAsFresh(*token),
            Freshness::MinimizeLatency | Freshness::FullyConsistent => Freshness::FullyConsistent,
        };
        Ok(self.read_context(profile, &freshness).await?.0)
    }

    /// The context of `profile` at `freshness`; an unknown profile is NOT_FOUND.
    pub async fn context(&self, profile: ProfileId, freshness: &Freshness) -> CsmResult<Arc<PrincipalContext>> {
        self.contexts.get(profile, freshness).await?.ok_or_else(|| CsmError::not_found("profile", profile))
    }

    /// A replayed create: the entity and revision an earlier request with
    /// `key`'s request id produced; REQUEST_ID_CONFLICT when it asked for
    /// something else (the one idempotency rule).
    async fn replayed(&self, key: &RequestKey<'_>) -> CsmResult<Option<(uuid::Uuid, u64)>> {
        match key.replayed(&self.db).await? {
            Some(replay) => Ok(Some((replay.id()?, replay.revision))),
            None => Ok(None),
        }
    }

    /// The token of what a read was answered at: the feed head this process
    /// knows (a lower bound of the database's, so the token never promises
    /// more than the answer saw); the database is asked only before anything is known.
    pub async fn token(&self) -> CsmResult<String> {
        let known = self.feed.last_known();
        let revision = if known > 0 { known } else { self.feed.head().await? };
        Ok(self.feed.token(revision))
    }

    /// Decides `action` on stored case `id` for `ctx`.
    pub async fn decide_on_case(
        &self,
        ctx: &PrincipalContext,
        id: CaseId,
        action: Action,
        read: CaseRead,
    ) -> CsmResult<Decided> {
        let facts = self.case_facts(id, read).await?;
        self.decide_on_facts(ctx, &facts, action).await
    }

    async fn decide_on_facts(&self, ctx: &PrincipalContext, facts: &CaseFacts, action: Action) -> CsmResult<Decided> {
        let token = self.token().await?;
        Ok(self.decided_at(ctx, facts, action, token))
    }

    /// [`CaseAccessApp::decide_on_facts`] at a snapshot whose token the caller holds (a batch's).
    pub(crate) fn decided_at(
        &self,
        ctx: &PrincipalContext,
        facts: &CaseFacts,
        action: Action,
        token: String,
    ) -> Decided {
        let settings = self.settings();
        let outcome = table::decide_compiled(|action| self.compiled.get(ctx, &settings, action), action, facts);
        decision(ctx, facts, action, outcome, token)
    }

    /// A decision on a case (or task, or draft) as every RPC answers it: the
    /// outcome with its licence need derived from it ([`requires_license`]).
    pub(crate) async fn decided(
        &self,
        ctx: &PrincipalContext,
        facts: &CaseFacts,
        action: Action,
        outcome: Outcome,
    ) -> CsmResult<Decided> {
        Ok(decision(ctx, facts, action, outcome, self.token().await?))
    }

    /// An allowed mutation that needs a licence escalates the request's
    /// session exactly as Check does ([`CaseAccessApp::escalate`]); without a
    /// session it is LICENSE_REQUIRED. One that needs none goes ahead with or
    /// without a session.
    pub(crate) async fn licensed(
        &self,
        decided: &mut Decided,
        subject: &Subject,
        session: Option<uuid::Uuid>,
    ) -> CsmResult<()> {
        if !decided.outcome.allowed() {
            return Err(access_denied(decided.action, &decided.outcome));
        }
        match session {
            Some(session) => self.escalate(decided, subject, session).await,
            None if decided.requires_license => Err(CsmError::failed_precondition(
                "LICENSE_REQUIRED",
                "the action touches a record that is not the customer's own; pass license_session_id",
            )),
            None => Ok(()),
        }
    }

    /// The account of contact `profile`, for T4.1 CREATE_OBO ("contact of the case account").
    async fn contact_account(&self, profile: ProfileId) -> CsmResult<Option<AccountId>> {
        match self.identity.profile(profile).await? {
            Some(found) => Ok(uuid::Uuid::parse_str(&found.account_id).ok().map(AccountId::from_uuid)),
            None => Err(CsmError::not_found("profile", profile).with_metadata("field", "draft.contact_id")),
        }
    }

    /// CR(`contact`): the accounts its contact relationships add it to (R3.7),
    /// read from account-team (always current, so as fresh as any token).
    async fn contact_relationship_accounts(&self, contact: ProfileId) -> CsmResult<BTreeSet<AccountId>> {
        match &self.account_team {
            Some(account_team) => {
                Ok(account_team.principal_accounts(contact).await?.contact_relationships.into_iter().collect())
            }
            None => Ok(BTreeSet::new()),
        }
    }

    /// Plans and decides a create for `ctx` without writing (Check on a new_case, and CreateCase).
    pub async fn decide_create(
        &self,
        ctx: &PrincipalContext,
        draft: &Draft,
    ) -> CsmResult<(Decided, CaseFacts, crate::domain::record::Stamps)> {
        let (action, stamps) = plan_create(ctx, draft)
            .map_err(|PlanError::Inconsistent { field, why }| CsmError::invalid_field(format!("draft.{field}"), why))?;
        let contact = draft.contact.or(stamps.contact);
        let contact_account = match contact {
            Some(contact) if Some(contact) != Some(ctx.profile) || ctx.account.is_none() => {
                self.contact_account(contact).await?
            }
            Some(_) => ctx.account,
            None => None,
        };
        // R3.7: a contact relationship adds a contact to an additional account, so
        // a contact related to the case account is one of its contacts. Only the
        // T4.1 customer_case_manager / customer_admin CREATE_OBO rows ask
        // (Cond::ContactOfCaseAccount); no other creator is restricted.
        let contact_related_accounts = match (contact, draft.account) {
            (Some(contact), _) if contact == ctx.profile => ctx.contact_relationships.keys().copied().collect(),
            (Some(contact), Some(account)) if contact_account != Some(account) => {
                self.contact_relationship_accounts(contact).await?
            }
            _ => BTreeSet::new(),
        };
        self.validate_case_assets(ctx, draft, &stamps, contact_account).await?;
        // R5.13: a partner contact chosen by the creator (not the partner creator itself, stamped).
        if let Some(partner_contact) = draft.partner_contact
            && Some(partner_contact) != stamps.partner_contact
        {
            let case = PartnerContactCase {
                account: draft.account,
                partner_account: stamps.partner_account,
                install_base_item: draft.install_base_item,
            };
            self.require_eligible_partner_contact(&case, partner_contact, "draft.partner_contact_id").await?;
        }
        let facts = draft_facts(draft, &stamps, contact_account, contact_related_accounts);
        let decided = self.decide_on_facts(ctx, &facts, action).await?;
        Ok((decided, facts, stamps))
    }

    /// CreateCase: decide, then insert with the change in one transaction.
    ///
    /// `request` = (RPC, request id) makes retries idempotent per acting
    /// profile: a retry returns the case the first call created (recorded in
    /// the creating transaction, so concurrent retries create one case).
    pub async fn create_case(
        &self,
        ctx: &PrincipalContext,
        draft: Draft,
        request: Option<(&str, &str)>,
        session: Option<uuid::Uuid>,
    ) -> CsmResult<(CaseRecord, Decided, String)> {
        let key = request.map(|(rpc, id)| RequestKey::new(rpc, ctx.profile, Some(id), &draft));
        let replay = || async {
            let Some(key) = &key else { return Ok(None) };
            let Some((case, revision)) = self.replayed(key).await? else { return Ok(None) };
            let record = cases::get_case(&self.db, CaseId::from_uuid(case))
                .await?
                .ok_or_else(|| CsmError::not_found("case", case))?;
            CsmResult::Ok(Some((record, revision)))
        };
        let (mut decided, facts, stamps) = self.decide_create(ctx, &draft).await?;
        if let Some((record, revision)) = replay().await? {
            return Ok((record, decided, self.feed.token(revision)));
        }
        // T4.1: the creator's CREATE_OBO row would allow it but for the contact.
        if !decided.outcome.allowed()
            && table::refused_only_for_the_contact(&table::rules(ctx, &self.settings(), decided.action), &facts)
        {
            return Err(CsmError::failed_precondition(
                "CONTACT_NOT_OF_ACCOUNT",
                "the case contact is not a contact of the case account (T4.1 CREATE_OBO)",
            )
            .with_metadata("field", "draft.contact_id"));
        }
        // A create is the creator's own record (R7.4): the session is escalated
        // as Check escalates it, which takes no seat.
        self.licensed(&mut decided, &Subject::NewCase(Box::new(draft.clone())), session).await?;
        let now = csm_db::now();
        let mut tx = self.db.begin().await?;
        // R1.16: new cases per day of external unified consumers, counted in this transaction.
        self.take_case_creation_unit(&mut tx, ctx).await?;
        let number = cases::next_number(&mut tx, "case").await?;
        let segment = facts.segment();
        let record = CaseRecord {
            id: CaseId::new(),
            number: format!("CS{number:07}"),
            short_description: draft.short_description,
            description: draft.description,
            state: "NEW".to_owned(),
            priority: draft.priority,
            channel: draft.channel,
            segment,
            account: facts.account,
            contact: facts.contact,
            consumer: facts.consumer,
            household: facts.household,
            consumer_profile: draft.consumer_profile,
            partner_account: facts.partner_account,
            partner_contact: facts.partner_contact,
            internal_contact: facts.internal_contact,
            requestor_organization: facts.requestor_organization,
            requested_by: stamps.requested_by,
            opened_by: stamps.opened_by,
            service_organization: draft.service_organization,
            sold_product: draft.sold_product,
            install_base_item: draft.install_base_item,
            contributor_users: Default::default(),
            contributor_groups: Default::default(),
            assignment_group: draft.assignment_group,
            assigned_to: draft.assigned_to,
            owner: draft.owner,
            owner_group: draft.owner_group,
            escalation: "UNSPECIFIED".to_owned(),
            close_notes: String::new(),
            created_at: now,
            updated_at: now,
            closed_at: None,
        };
        cases::insert_case(&mut tx, &record).await?;
        let mut change = NewChange::new("case", record.id, Operation::Created).attribute("segment", segment.as_str());
        if let Some(account) = record.account {
            change = change.attribute("account_id", account);
        }
        let revision = append(&mut tx, &change).await?;
        if let Some(key) = &key
            && !key.record(&mut tx, record.id, revision, "").await?
        {
            // A concurrent retry recorded the request first: answer with its case.
            drop(tx);
            let (record, revision) = replay().await?.ok_or_else(|| CsmError::internal("request id recorded twice"))?;
            return Ok((record, decided, self.feed.token(revision)));
        }
        tx.commit().await?;
        self.committed(revision, &change);
        Ok((record, decided, self.feed.token(revision)))
    }

    /// GetCase: the case if `ctx` may READ it. With a licence `session`,
    /// reading a record that is not the customer's own escalates the seat
    /// exactly as Check does (R7.5 ACCESS mode).
    pub async fn get_case(
        &self,
        ctx: &PrincipalContext,
        id: CaseId,
        read: CaseRead,
        session: Option<uuid::Uuid>,
    ) -> CsmResult<(CaseRecord, Decided, Vec<Action>)> {
        let facts = self.case_facts(id, read).await?;
        let mut decided = self.decide_on_facts(ctx, &facts, Action::Read).await?;
        if !decided.outcome.allowed() {
            return Err(access_denied(Action::Read, &decided.outcome));
        }
        if let Some(session) = session {
            self.escalate(&mut decided, &Subject::Case(id), session).await?;
        }
        let record = cases::get_case(&self.db, id).await?.ok_or_else(|| CsmError::not_found("case", id))?;
        let settings = self.settings();
        let permitted = [Action::Read, Action::WriteFull, Action::WriteLimited, Action::WriteCustomer, Action::Delete]
            .into_iter()
            .filter(|action| table::decide_action(ctx, &settings, *action, &facts).allowed())
            .collect();
        Ok((record, decided, permitted))
    }

    /// The READ rules of `ctx` (ListVisibleCases compiles them to SQL).
    pub fn read_rules(&self, ctx: &PrincipalContext) -> Arc<Rules> {
        self.compiled.get(ctx, &self.settings(), Action::Read)
    }

    /// One page of the cases `ctx` may READ, newest first.
    pub async fn list_visible(
        &self,
        ctx: &PrincipalContext,
        filter: &CaseFilter,
        before: Option<CaseId>,
        limit: i64,
    ) -> CsmResult<(Vec<(CaseRecord, bool)>, String)> {
        let token = self.token().await?;
        let rules = self.read_rules(ctx);
        let page = cases::list_visible(&self.db, &rules, filter, before, limit).await?;
        // Every row is READ-allowed; its licence need reads its related parties
        // (R7.4), which only customers' needs depend on.
        let mut parties = if ctx.kind.is_external() {
            let ids: Vec<CaseId> = page.iter().map(|case| case.id).collect();
            crate::store::facts::case_related_parties(&self.db, &ids).await?
        } else {
            Default::default()
        };
        let rows = page
            .into_iter()
            .map(|case| {
                let mut facts = case.facts();
                facts.related_parties = parties.remove(&case.id).unwrap_or_default();
                let requires = requires_license(ctx, &facts, Action::Read, true);
                (case, requires)
            })
            .collect();
        Ok((rows, token))
    }
}
