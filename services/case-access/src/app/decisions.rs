//! The answers of the decision table: a decision (Check, BatchCheck), a
//! decision with its licence escalated, and the full trace (Explain). The
//! reverse questions are in [`super::review`]. Every answer comes from
//! [`table::rules`] — one table, one place.

use std::collections::HashMap;
use std::sync::Arc;

use csm_errors::{CsmError, CsmResult};
use csm_proto::licensing::{EscalateSessionRequest, RecordAccess};
use csm_types::{CaseId, ServiceName};
use tonic::Code;
use uuid::Uuid;

use super::case_cache::CaseRead;
use super::{CaseAccessApp, Decided};
use crate::domain::case::CaseFacts;
use crate::domain::parties::{self, AssetKind};
use crate::domain::principal::PrincipalContext;
use crate::domain::record::Draft;
use crate::domain::table::{self, Action, Cond, Considered, Outcome, Rules};
use crate::domain::work::{self, TaskGrant};

/// What a decision is about (contract: Target).
#[derive(Clone, Debug)]
pub enum Subject {
    Case(CaseId),
    Task(Uuid),
    SoldProduct(Uuid),
    InstallBaseItem(Uuid),
    NewCase(Box<Draft>),
}

impl Subject {
    /// The record type named to licensing (and in audit).
    fn record_type(&self) -> &'static str {
        match self {
            Subject::Case(_) | Subject::NewCase(_) => "case",
            Subject::Task(_) => "case_task",
            Subject::SoldProduct(_) => "sold_product",
            Subject::InstallBaseItem(_) => "install_base_item",
        }
    }

    fn record_id(&self) -> String {
        match self {
            Subject::Case(id) => id.to_string(),
            Subject::Task(id) | Subject::SoldProduct(id) | Subject::InstallBaseItem(id) => id.to_string(),
            Subject::NewCase(_) => String::new(),
        }
    }

    /// Whether `action` applies to this subject (creates only to new cases).
    pub fn accepts(&self, action: Option<Action>) -> bool {
        match (self, action) {
            (Subject::NewCase(_), action) => action.is_none_or(Action::is_create),
            (_, Some(action)) => !action.is_create(),
            (_, None) => false,
        }
    }
}

/// One rule as Explain reports it: what it grants or denies, whether it
/// matched, and each condition with the case values it looked at.
#[derive(Clone, Debug)]
pub struct RuleTrace {
    pub considered: Considered,
    pub action: Action,
    pub conditions: Vec<ConditionTrace>,
}

#[derive(Clone, Debug)]
pub struct ConditionTrace {
    pub description: String,
    pub satisfied: bool,
    pub detail: String,
}

/// Explain's answer.
#[derive(Clone, Debug)]
pub struct Explained {
    pub decided: Decided,
    pub rules: Vec<RuleTrace>,
    /// For a denial with no grant: the grant that came closest.
    pub closest: Option<RuleTrace>,
}

fn traces(rules: &Rules, action: Action, case: &CaseFacts) -> Vec<RuleTrace> {
    let conds = rules.denials.iter().map(|denial| &denial.cond).chain(rules.grants.iter().map(|grant| &grant.cond));
    table::consider(rules, case)
        .into_iter()
        .zip(conds)
        .map(|(considered, cond)| RuleTrace { considered, action, conditions: condition_traces(cond, case) })
        .collect()
}

fn condition_traces(cond: &Cond, case: &CaseFacts) -> Vec<ConditionTrace> {
    cond.conjuncts()
        .into_iter()
        .map(|part| ConditionTrace {
            description: part.describe(),
            satisfied: part.matches(case),
            detail: part.detail(case),
        })
        .collect()
}

/// The stored cases a batch of subjects names, loaded at once (BatchCheck):
/// its decisions read their cases here, as Check reads them from the cache.
#[derive(Debug, Default)]
pub struct CaseBatch {
    /// Each case asked for: its facts, or `None` when there is no such case.
    cases: HashMap<CaseId, Option<Arc<CaseFacts>>>,
    /// The batch's snapshot token, which every item carries.
    token: Option<String>,
}

/// What the audit trail records of `decided` on `subject` when it is a denial.
pub(crate) fn denied_item(subject: &Subject, decided: &Decided) -> Option<csm_audit::DeniedItem<'static>> {
    (!decided.outcome.allowed()).then(|| csm_audit::DeniedItem {
        entity_type: subject.record_type(),
        entity_id: subject.record_id(),
        action: super::action_name(decided.action),
        rule: decided.outcome.audit_rule(),
    })
}

impl CaseBatch {
    /// The batch's snapshot token (empty for the empty batch of a single Check).
    pub fn token(&self) -> &str {
        self.token.as_deref().unwrap_or_default()
    }

    /// `None`: not asked for (decide it alone); `Some(None)`: no such case.
    fn get(&self, id: CaseId) -> Option<Option<Arc<CaseFacts>>> {
        self.cases.get(&id).cloned()
    }
}

impl CaseAccessApp {
    /// The cases `subjects` name, with the cache's misses loaded in one round
    /// of queries rather than one case at a time.
    pub async fn load_batch<'a>(
        &self,
        subjects: impl IntoIterator<Item = &'a Subject>,
        read: CaseRead,
    ) -> CsmResult<CaseBatch> {
        let ids: Vec<CaseId> = subjects
            .into_iter()
            .filter_map(|subject| match subject {
                Subject::Case(id) => Some(*id),
                _ => None,
            })
            .collect();
        let token = self.token().await?;
        let found = self.cases.get_many(&self.db, &ids, read).await?;
        Ok(CaseBatch { cases: ids.into_iter().map(|id| (id, found.get(&id).cloned())).collect(), token: Some(token) })
    }

    /// Decides `action` on `subject` for `ctx` (Check). A new case's action
    /// may be left out (it is derived from the draft); an explicit one is
    /// decided as asked. A denial goes to the audit trail.
    pub async fn decide_subject(
        &self,
        ctx: &PrincipalContext,
        subject: &Subject,
        action: Option<Action>,
        read: CaseRead,
    ) -> CsmResult<Decided> {
        let decided = self.decide_in_batch(ctx, subject, action, read, &CaseBatch::default()).await?;
        if let Some(denied) = denied_item(subject, &decided) {
            csm_audit::denied_checks(&ctx.profile.to_string(), [denied]).await;
        }
        Ok(decided)
    }

    /// [`CaseAccessApp::decide_subject`] for an item of a BatchCheck, its case
    /// taken from `batch` when the batch loaded it (with the batch's token).
    /// Not audited here: the batch records its denials at once
    /// ([`csm_audit::denied_checks`]).
    pub async fn decide_in_batch(
        &self,
        ctx: &PrincipalContext,
        subject: &Subject,
        action: Option<Action>,
        read: CaseRead,
        batch: &CaseBatch,
    ) -> CsmResult<Decided> {
        let required = || action.ok_or_else(|| CsmError::invalid_field("action", "is required for this target"));
        let decided = match subject {
            Subject::Case(id) => match batch.get(*id) {
                Some(Some(facts)) => match &batch.token {
                    Some(token) => Ok(self.decided_at(ctx, &facts, required()?, token.clone())),
                    None => self.decide_on_facts(ctx, &facts, required()?).await,
                },
                Some(None) => Err(CsmError::not_found("case", id)),
                None => self.decide_on_case(ctx, *id, required()?, read).await,
            },
            // The other subjects' futures are boxed: inline, they would make
            // every case Check's future kilobytes larger (issue 15).
            Subject::Task(id) => Box::pin(self.decide_on_task(ctx, *id, required()?, read)).await,
            Subject::SoldProduct(id) => Box::pin(self.decide_on_sold_product(ctx, *id, required()?)).await,
            Subject::InstallBaseItem(id) => Box::pin(self.decide_on_install_base_item(ctx, *id, required()?)).await,
            Subject::NewCase(draft) => {
                let (mut decided, facts, _) = Box::pin(self.decide_create(ctx, draft)).await?;
                if let Some(asked) = action
                    && asked != decided.action
                {
                    decided.action = asked;
                    decided.outcome = table::decide(&table::rules(ctx, &self.settings(), asked), &facts);
                    decided.requires_license = super::requires_license(ctx, &facts, asked, decided.outcome.allowed());
                }
                Ok(decided)
            }
        }?;
        Ok(decided)
    }

    /// Escalates licence session `session` for an allowed decision that needs
    /// a licence (SPEC §7, DESIGN §3 "License-aware access"). Licensing decides
    /// whether its pool's mode needs a seat; a full pool or a missing right
    /// is the caller's error, with licensing's reason.
    pub async fn escalate(&self, decided: &mut Decided, subject: &Subject, session: Uuid) -> CsmResult<()> {
        if !(decided.outcome.allowed() && decided.requires_license) {
            return Ok(());
        }
        let access = if decided.action == Action::Read { RecordAccess::Read } else { RecordAccess::Edit };
        let request = EscalateSessionRequest {
            session_id: session.to_string(),
            access: access as i32,
            record_type: subject.record_type().to_owned(),
            record_id: subject.record_id(),
        };
        match self.licensing.escalate_session(request).await {
            Ok(response) => {
                decided.license_escalated = response.seat_held;
                Ok(())
            }
            Err(status) => Err(license_error(status, session)),
        }
    }

    /// Explain: the decision Check would give (without escalation), every rule
    /// considered with its conditions, and the closest grant for a denial.
    pub async fn explain(
        &self,
        ctx: &PrincipalContext,
        subject: &Subject,
        action: Option<Action>,
        read: CaseRead,
    ) -> CsmResult<Explained> {
        let settings = self.settings();
        let (facts, action) = match subject {
            Subject::Case(id) => {
                let facts = CaseFacts::clone(&*self.case_facts(*id, read).await?);
                (facts, action.ok_or_else(|| CsmError::invalid_field("action", "is required for this target"))?)
            }
            Subject::NewCase(draft) => {
                let (decided, facts, _) = self.decide_create(ctx, draft).await?;
                (facts, action.unwrap_or(decided.action))
            }
            Subject::SoldProduct(id) => return self.explain_asset(ctx, AssetKind::SoldProduct, *id, action).await,
            Subject::InstallBaseItem(id) => {
                return self.explain_asset(ctx, AssetKind::InstallBaseItem, *id, action).await;
            }
            Subject::Task(id) => return self.explain_task(ctx, *id, action, read).await,
        };
        // A write is first a READ (table::decide_action): its rules come first.
        let mut rules = Vec::new();
        if action.is_write() {
            rules.extend(traces(&table::rules(ctx, &settings, Action::Read), Action::Read, &facts));
        }
        rules.extend(traces(&table::rules(ctx, &settings, action), action, &facts));
        let outcome = if action.is_create() {
            table::decide(&table::rules(ctx, &settings, action), &facts)
        } else {
            table::decide_action(ctx, &settings, action, &facts)
        };
        let closest = match &outcome {
            Outcome::NoGrant { closest: Some((rule, path)) } => rules
                .iter()
                .find(|trace| {
                    !trace.considered.denial && trace.considered.rule == *rule && &trace.considered.path == path
                })
                .cloned(),
            _ => None,
        };
        let decided = self.decided(ctx, &facts, action, outcome).await?;
        Ok(Explained { decided, rules, closest })
    }
}

impl CaseAccessApp {
    /// Explain on a case task: each row of the task table for the action, and
    /// for rows that defer to the parent case, the case rules considered.
    async fn explain_task(
        &self,
        ctx: &PrincipalContext,
        id: Uuid,
        action: Option<Action>,
        read: CaseRead,
    ) -> CsmResult<Explained> {
        let action = action.ok_or_else(|| CsmError::invalid_field("action", "is required for this target"))?;
        let decided = self.decide_on_task(ctx, id, action, read).await?;
        let (task, case) = self.task_and_case(id, read).await?;
        let settings = self.settings();
        let mut rules = Vec::new();
        for row in work::TASK_TABLE.iter().filter(|row| row.action == action) {
            let (description, satisfied, detail) = match row.grant {
                TaskGrant::Role(role) => (format!("holds {role}"), ctx.has(role), String::new()),
                TaskGrant::WorksTask => (
                    "holds case_task_agent and the task is assigned to me / my group, or created by me".to_owned(),
                    ctx.has(table::CASE_TASK_AGENT) && work::works_task(ctx, &task.facts),
                    String::new(),
                ),
                TaskGrant::ParentCase(case_action) | TaskGrant::VisibleTaskOfParentCase(case_action) => {
                    let visible_only = matches!(row.grant, TaskGrant::VisibleTaskOfParentCase(_));
                    let parent = table::decide_action(ctx, &settings, case_action, &case);
                    rules.extend(traces(&table::rules(ctx, &settings, case_action), case_action, &case));
                    let name = super::action_name(case_action);
                    let description = if visible_only {
                        format!("the task is customer visible and the parent case allows {name}")
                    } else {
                        format!("the parent case allows {name}")
                    };
                    let satisfied = parent.allowed() && (!visible_only || task.customer_visible);
                    (description, satisfied, format!("parent case: {}", parent.rule()))
                }
            };
            rules.push(RuleTrace {
                considered: Considered { rule: row.rule, path: Vec::new(), matched: satisfied, denial: false },
                action,
                conditions: vec![ConditionTrace { description, satisfied, detail }],
            });
        }
        let closest =
            if decided.outcome.allowed() { None } else { rules.iter().find(|rule| !rule.considered.matched).cloned() };
        Ok(Explained { decided, rules, closest })
    }

    /// Explain on a sold product or install base item: the asset rules of
    /// `domain::parties` (READ first for writes and deletes), as for cases.
    async fn explain_asset(
        &self,
        ctx: &PrincipalContext,
        kind: AssetKind,
        id: Uuid,
        action: Option<Action>,
    ) -> CsmResult<Explained> {
        let action = action.ok_or_else(|| CsmError::invalid_field("action", "is required for this target"))?;
        let (decided, facts) = self.decide_on_asset(ctx, kind, id, action).await?;
        let (settings, facts) = (&self.settings(), &facts);
        let trace = |action: Action| {
            parties::asset_rules(ctx, settings, kind, action).grants.into_iter().map(move |grant| {
                let matched = grant.cond.matches(facts);
                RuleTrace {
                    considered: Considered { rule: grant.rule, path: grant.path, matched, denial: false },
                    action,
                    conditions: vec![ConditionTrace {
                        description: grant.cond.describe(),
                        satisfied: matched,
                        detail: grant.cond.detail(facts),
                    }],
                }
            })
        };
        let mut rules: Vec<RuleTrace> = Vec::new();
        if action != Action::Read {
            rules.extend(trace(Action::Read));
        }
        rules.extend(trace(action));
        // One condition per asset rule: every unmatched rule is as close as any other; the first in order.
        let closest =
            if decided.outcome.allowed() { None } else { rules.iter().find(|rule| !rule.considered.matched).cloned() };
        Ok(Explained { decided, rules, closest })
    }
}

/// Licensing's refusal of an escalation, as case-access answers it.
fn license_error(status: tonic::Status, session: Uuid) -> CsmError {
    let reason = csm_errors::reason_of_status(&status);
    match status.code() {
        Code::ResourceExhausted => CsmError::resource_exhausted("LICENSE_POOL_EXHAUSTED", status.message().to_owned()),
        Code::PermissionDenied => CsmError::permission_denied("LICENSE_RIGHT_MISSING", status.message().to_owned()),
        Code::NotFound => CsmError::not_found("license session", session).with_metadata("field", "license_session_id"),
        Code::FailedPrecondition if reason.as_deref() == Some("LICENSE_KEY_EXPIRED") => {
            CsmError::failed_precondition("LICENSE_KEY_EXPIRED", status.message().to_owned())
        }
        Code::FailedPrecondition => CsmError::failed_precondition("LICENSE_SESSION_ENDED", status.message().to_owned()),
        _ => csm_peers::peer_error(ServiceName::Licensing, status),
    }
}
