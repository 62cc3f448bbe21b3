//! Check, BatchCheck, Explain and ListCaseAccessors: one decision table, four answers.

use csm_errors::{CsmError, ErrorCode, FieldErrors, validated};
use csm_proto::case_access as pb;
use csm_types::{CaseId, ProfileId};
use tonic::{Request, Response, Status};

use super::convert::*;
use crate::CaseAccessApp;
use crate::app::decisions::{ConditionTrace, Explained, RuleTrace, Subject};
use crate::domain::principal::{PrincipalContext, PrincipalKind};
use crate::domain::table::Action;

/// At most this many items in one BatchCheck (contract).
const MAX_BATCH: usize = 1000;

/// The subject of `target`, with its field errors under the path `prefix`
/// gives (e.g. "target"; built only when a field is wrong).
fn subject_from_proto(
    target: Option<&pb::Target>,
    prefix: &dyn Fn() -> String,
    errors: &mut FieldErrors,
) -> Option<Subject> {
    let field = |name: &str| format!("{}.{name}", prefix());
    match target.and_then(|target| target.resource.as_ref()) {
        Some(pb::target::Resource::CaseId(id)) => {
            id_at(errors, || field("case_id"), id, CaseId::parse).map(Subject::Case)
        }
        Some(pb::target::Resource::CaseTaskId(id)) => {
            id_at(errors, || field("case_task_id"), id, any_uuid).map(Subject::Task)
        }
        Some(pb::target::Resource::SoldProductId(id)) => {
            id_at(errors, || field("sold_product_id"), id, any_uuid).map(Subject::SoldProduct)
        }
        Some(pb::target::Resource::InstallBaseItemId(id)) => {
            id_at(errors, || field("install_base_item_id"), id, any_uuid).map(Subject::InstallBaseItem)
        }
        Some(pb::target::Resource::NewCase(draft)) => {
            Some(Subject::NewCase(Box::new(draft_from_proto(draft, &field("new_case"), errors))))
        }
        None => {
            errors.add(prefix(), "is required");
            None
        }
    }
}

/// [`FieldErrors::required_id`] with the field's path built only for a violation.
fn id_at<T>(
    errors: &mut FieldErrors,
    field: impl FnOnce() -> String,
    value: &str,
    parse: impl Fn(&str) -> Result<T, csm_types::InvalidId> + Copy,
) -> Option<T> {
    match parse(value) {
        Ok(id) if !value.trim().is_empty() => Some(id),
        _ => errors.required_id(&field(), value, parse),
    }
}

/// INVALID_ACTION_FOR_TARGET: creates go with new cases, everything else with stored records.
pub(super) fn action_mismatch(subject: &Subject) -> CsmError {
    let message = match subject {
        Subject::NewCase(_) => "a new_case target takes CREATE_SELF, CREATE_OBO or an unspecified action",
        _ => "a stored record takes READ, WRITE_* or DELETE",
    };
    CsmError::invalid_argument("INVALID_ACTION_FOR_TARGET", message).with_metadata("field", "action")
}

pub(super) async fn check(
    app: &CaseAccessApp,
    request: Request<pb::CheckRequest>,
) -> Result<Response<pb::CheckResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let action = action_from_proto(request.action);
    if action.is_none() && request.action != pb::Action::Unspecified as i32 {
        errors.add("action", "unknown value");
    }
    let subject = subject_from_proto(request.target.as_ref(), &|| "target".to_owned(), &mut errors);
    let session = license_session(&mut errors, &request.license_session_id);
    errors.finish()?;
    let subject = validated(subject)?;
    if !subject.accepts(action) {
        return Err(action_mismatch(&subject).into());
    }
    let (ctx, cases) = read_context_and_cases(app, &caller, profile, &request.consistency).await?;
    let mut decided = app.decide_subject(&ctx, &subject, action, cases).await?;
    if let Some(session) = session {
        // Boxed: the licensing call inline would make every Check's future larger.
        Box::pin(app.escalate(&mut decided, &subject, session)).await?;
    }
    record_decision(&ctx, &decided);
    Ok(Response::new(pb::CheckResponse { decision: Some(decision_to_proto(&decided)) }))
}

/// The RPC's span carries the principal's kind, the decision and its rule (no personal data).
/// The three fields go to the subscriber in one `record_all` (each `record`
/// is a full pass through every layer).
fn record_decision(ctx: &PrincipalContext, decided: &crate::app::Decided) {
    let span = tracing::Span::current();
    if let Some(metadata) = span.metadata() {
        let fields = metadata.fields();
        if let (Some(kind), Some(decision), Some(rule)) =
            (fields.field("csm.principal_kind"), fields.field("csm.decision"), fields.field("csm.rule"))
        {
            let kind_value = principal_kind_name(ctx.kind);
            let decision_value = if decided.outcome.allowed() { "ALLOW" } else { "DENY" };
            let rule_value = decided.outcome.rule();
            span.record_all(&fields.value_set(&[
                (&kind, Some(&kind_value as &dyn tracing::Value)),
                (&decision, Some(&decision_value as &dyn tracing::Value)),
                (&rule, Some(&rule_value as &dyn tracing::Value)),
            ]));
        }
    }
    // The audit trail records every denial; the log only when asked (DEBUG):
    // a denial must cost no more than a grant (issue 15).
    if !decided.outcome.allowed() {
        tracing::debug!(
            rule = decided.outcome.rule(),
            action = crate::app::action_name(decided.action),
            principal_kind = principal_kind_name(ctx.kind),
            "check denied"
        );
    }
}

/// The profile kind as identity names it.
fn principal_kind_name(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::Employee => "INTERNAL",
        PrincipalKind::Contact => "CONTACT",
        PrincipalKind::PartnerContact => "PARTNER_CONTACT",
        PrincipalKind::Consumer => "CONSUMER",
    }
}

/// A refused item of a BatchCheck: its status and a denial carrying the snapshot token.
fn refused(status: pb::BatchCheckItemStatus, action: Option<Action>, token: &str) -> pb::BatchCheckResult {
    pb::BatchCheckResult {
        status: status as i32,
        decision: Some(pb::Decision {
            allowed: false,
            action: action.map_or(pb::Action::Unspecified, action_to_proto) as i32,
            consistency_token: token.to_owned(),
            ..Default::default()
        }),
    }
}

pub(super) async fn batch_check(
    app: &CaseAccessApp,
    request: Request<pb::BatchCheckRequest>,
) -> Result<Response<pb::BatchCheckResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let session = license_session(&mut errors, &request.license_session_id);
    if request.items.is_empty() {
        errors.add("items", "at least one item is required");
    }
    if request.items.len() > MAX_BATCH {
        errors.add("items", format!("at most {MAX_BATCH} items"));
    }
    // Malformed ids and drafts are request errors; a target that does not
    // exist or an action that does not fit it is a per-item status.
    let items: Vec<(Option<Subject>, Option<Action>, bool)> = request
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let action = action_from_proto(item.action);
            let known_action = action.is_some() || item.action == pb::Action::Unspecified as i32;
            if !known_action {
                errors.add(format!("items[{index}].action"), "unknown value");
            }
            (
                subject_from_proto(item.target.as_ref(), &|| format!("items[{index}].target"), &mut errors),
                action,
                known_action,
            )
        })
        .collect();
    errors.finish()?;
    let (ctx, cases) = read_context_and_cases(app, &caller, profile, &request.consistency).await?;
    let batch = app.load_batch(items.iter().filter_map(|(subject, ..)| subject.as_ref()), cases).await?;
    let consistency_token = batch.token().to_owned();
    let mut denied: Vec<csm_audit::DeniedItem<'static>> = Vec::new();
    let answered = answer_items(app, &ctx, items, cases, &batch, session, &consistency_token, &mut denied).await;
    // The denials decided are recorded even when a later item failed the batch.
    if !denied.is_empty() {
        csm_audit::denied_checks(&ctx.profile.to_string(), denied).await;
    }
    Ok(Response::new(pb::BatchCheckResponse { results: answered?, consistency_token }))
}

/// The results of a BatchCheck's items, in order; each denial is added to `denied`.
#[allow(clippy::too_many_arguments)]
async fn answer_items(
    app: &CaseAccessApp,
    ctx: &PrincipalContext,
    items: Vec<(Option<Subject>, Option<Action>, bool)>,
    cases: crate::app::case_cache::CaseRead,
    batch: &crate::app::decisions::CaseBatch,
    session: Option<uuid::Uuid>,
    consistency_token: &str,
    denied: &mut Vec<csm_audit::DeniedItem<'static>>,
) -> Result<Vec<pb::BatchCheckResult>, Status> {
    let mut results = Vec::with_capacity(items.len());
    for (subject, action, _) in items {
        let subject = validated(subject)?;
        if !subject.accepts(action) {
            results.push(refused(pb::BatchCheckItemStatus::Invalid, action, consistency_token));
            continue;
        }
        let mut decided = match app.decide_in_batch(ctx, &subject, action, cases, batch).await {
            Ok(decided) => decided,
            Err(error) if error.code() == ErrorCode::NotFound => {
                results.push(refused(pb::BatchCheckItemStatus::NotFound, action, consistency_token));
                continue;
            }
            Err(error) if matches!(error.code(), ErrorCode::InvalidArgument | ErrorCode::FailedPrecondition) => {
                results.push(refused(pb::BatchCheckItemStatus::Invalid, action, consistency_token));
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        denied.extend(crate::app::decisions::denied_item(&subject, &decided));
        // Every item is answered at the batch's snapshot.
        if decided.consistency_token != consistency_token {
            decided.consistency_token = consistency_token.to_owned();
        }
        let status = match session {
            Some(session) => match Box::pin(app.escalate(&mut decided, &subject, session)).await {
                Ok(()) => pb::BatchCheckItemStatus::Ok,
                Err(error) if error.reason() == "LICENSE_POOL_EXHAUSTED" => {
                    pb::BatchCheckItemStatus::LicensePoolExhausted
                }
                Err(error) if error.reason() == "LICENSE_RIGHT_MISSING" => {
                    pb::BatchCheckItemStatus::LicenseRightMissing
                }
                Err(error) => return Err(error.into()),
            },
            None => pb::BatchCheckItemStatus::Ok,
        };
        let mut decision = decision_to_proto(&decided);
        if status != pb::BatchCheckItemStatus::Ok {
            decision.allowed = false;
        }
        results.push(pb::BatchCheckResult { status: status as i32, decision: Some(decision) });
    }
    Ok(results)
}

fn condition_to_proto(condition: &ConditionTrace) -> pb::ConditionTrace {
    pb::ConditionTrace {
        description: condition.description.clone(),
        satisfied: condition.satisfied,
        detail: condition.detail.clone(),
    }
}

fn rule_trace_to_proto(trace: &RuleTrace) -> pb::RuleTrace {
    let considered = &trace.considered;
    let outcome = match (considered.denial, considered.matched) {
        (true, true) => pb::RuleOutcome::Denied,
        (_, true) => pb::RuleOutcome::Matched,
        (_, false) => pb::RuleOutcome::NotMatched,
    };
    let verb = if considered.denial { "denies" } else { "grants" };
    let via = considered.path.iter().map(|step| step.label.as_str()).collect::<Vec<_>>().join(" → ");
    pb::RuleTrace {
        rule: considered.rule.to_owned(),
        summary: format!("{verb} {} via {via}", crate::app::action_name(trace.action)),
        outcome: outcome as i32,
        conditions: trace.conditions.iter().map(condition_to_proto).collect(),
        path: if considered.matched { path_to_proto(&considered.path) } else { Vec::new() },
    }
}

pub(super) fn principal_summary(ctx: &PrincipalContext) -> pb::PrincipalSummary {
    let kind = principal_kind_name(ctx.kind);
    let contact = matches!(ctx.kind, PrincipalKind::Contact | PrincipalKind::PartnerContact);
    pb::PrincipalSummary {
        profile_id: ctx.profile.to_string(),
        profile_kind: kind.to_owned(),
        account_id: opt(ctx.account),
        contact_id: if contact { ctx.profile.to_string() } else { String::new() },
        consumer_id: opt(ctx.consumer),
        effective_roles: ctx.roles.iter().cloned().collect(),
        security_group_id: opt(ctx.ownership.security_group),
    }
}

pub(super) async fn explain(
    app: &CaseAccessApp,
    request: Request<pb::ExplainRequest>,
) -> Result<Response<pb::ExplainResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let action = action_from_proto(request.action);
    if action.is_none() && request.action != pb::Action::Unspecified as i32 {
        errors.add("action", "unknown value");
    }
    let subject = subject_from_proto(request.target.as_ref(), &|| "target".to_owned(), &mut errors);
    errors.finish()?;
    let subject = validated(subject)?;
    if !subject.accepts(action) {
        return Err(action_mismatch(&subject).into());
    }
    let (ctx, cases) = read_context_and_cases(app, &caller, profile, &request.consistency).await?;
    let Explained { decided, rules, closest } = app.explain(&ctx, &subject, action, cases).await?;
    record_decision(&ctx, &decided);
    Ok(Response::new(pb::ExplainResponse {
        decision: Some(decision_to_proto(&decided)),
        principal: Some(principal_summary(&ctx)),
        rules: rules.iter().map(rule_trace_to_proto).collect(),
        closest_rule: closest.as_ref().map(rule_trace_to_proto),
    }))
}
