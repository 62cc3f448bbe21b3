//! CreateCase, GetCase and ListVisibleCases.

use csm_db::PageRequest;
use csm_errors::{FieldErrors, validated};
use csm_proto::case_access as pb;
use csm_types::{AccountId, CaseId, ProfileId};
use tonic::{Request, Response, Status};

use super::convert::*;
use crate::CaseAccessApp;
use crate::domain::case::Segment;
use crate::domain::record::STATES;
use crate::store::cases::CaseFilter;

pub(super) async fn create_case(
    app: &CaseAccessApp,
    request: Request<pb::CreateCaseRequest>,
) -> Result<Response<pb::CreateCaseResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let session = license_session(&mut errors, &request.license_session_id);
    let draft = match &request.draft {
        Some(draft) => Some(draft_from_proto(draft, "draft", &mut errors)),
        None => {
            errors.add("draft", "is required");
            None
        }
    };
    errors.finish()?;
    let draft = validated(draft)?;
    let ctx = mutation_context(app, &caller, profile, &request.consistency).await?;
    let (case, decided, consistency_token) =
        app.create_case(&ctx, draft, request_id.as_deref().map(|id| ("CreateCase", id)), session).await?;
    Ok(Response::new(pb::CreateCaseResponse {
        support_case: Some(redact(case_to_proto(&case), ctx.kind.is_external())),
        decision: Some(decision_to_proto(&decided)),
        consistency_token,
    }))
}

pub(super) async fn get_case(
    app: &CaseAccessApp,
    request: Request<pb::GetCaseRequest>,
) -> Result<Response<pb::GetCaseResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let case = errors.required_id("case_id", &request.case_id, CaseId::parse);
    let session = license_session(&mut errors, &request.license_session_id);
    errors.finish()?;
    let (ctx, cases) = read_context_and_cases(app, &caller, profile, &request.consistency).await?;
    let (case, decided, permitted) = app.get_case(&ctx, validated(case)?, cases, session).await?;
    Ok(Response::new(pb::GetCaseResponse {
        support_case: Some(redact(case_to_proto(&case), ctx.kind.is_external())),
        permitted_actions: permitted.into_iter().map(|action| action_to_proto(action) as i32).collect(),
        consistency_token: decided.consistency_token.clone(),
        decision: Some(decision_to_proto(&decided)),
    }))
}

pub(super) async fn list_visible_cases(
    app: &CaseAccessApp,
    request: Request<pb::ListVisibleCasesRequest>,
) -> Result<Response<pb::ListVisibleCasesResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let account = errors.optional_id("account_id", &request.account_id, AccountId::parse);
    let sold_product = errors.optional_id("sold_product_id", &request.sold_product_id, any_uuid);
    let mut filter = CaseFilter { account, sold_product, ..CaseFilter::default() };
    for state in &request.states {
        match pb::CaseState::try_from(*state) {
            Ok(state) if state != pb::CaseState::Unspecified => {
                let code = enum_code(state.as_str_name(), "CASE_STATE_");
                debug_assert!(STATES.contains(&code.as_str()));
                filter.states.push(code);
            }
            _ => errors.add("states", format!("unknown state {state}")),
        }
    }
    for segment in &request.segments {
        match pb::Segment::try_from(*segment) {
            Ok(pb::Segment::B2b) => filter.segments.push(Segment::B2b),
            Ok(pb::Segment::B2c) => filter.segments.push(Segment::B2c),
            Ok(pb::Segment::ServiceOrg) => filter.segments.push(Segment::ServiceOrg),
            Ok(pb::Segment::Employee) => filter.segments.push(Segment::Employee),
            _ => errors.add("segments", format!("unknown segment {segment}")),
        }
    }
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let page = validated(page)?;
    let before = page.after_key(|after| CaseId::parse(after).ok())?;
    let ctx = read_context(app, &caller, profile, &request.consistency).await?;
    let (rows, consistency_token) = app.list_visible(&ctx, &filter, before, page.fetch_limit()).await?;
    let (rows, next_page_token) = page.finish(rows, |(case, _)| case.id.to_string());
    let external = ctx.kind.is_external();
    Ok(Response::new(pb::ListVisibleCasesResponse {
        cases: rows
            .into_iter()
            .map(|(case, requires_license)| pb::VisibleCase {
                support_case: Some(redact(case_to_proto(&case), external)),
                requires_license,
            })
            .collect(),
        next_page_token,
        consistency_token,
    }))
}
