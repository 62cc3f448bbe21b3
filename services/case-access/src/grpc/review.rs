//! gRPC handlers of the access review (ListCaseAccessors,
//! PreviewAccessChange, ExportAccessReview). Proto ⇄ domain only.

use csm_db::paging::PageRequest;
use csm_errors::{FieldErrors, validated};
use csm_proto::case_access as pb;
use csm_types::{AccountId, CaseId, GroupId, ProfileId};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::*;
use super::decisions::{action_mismatch, principal_summary};
use super::parties::party_kind_from_proto;
use crate::CaseAccessApp;
use crate::app::context::SourceChange;
use crate::app::decisions::Subject;
use crate::app::review::{AccessChange, ProposedParty, ReviewCursor, ReviewItem};

/// Entries per list of a proposed change.
const MAX_PROPOSED: usize = 100;
/// Longest role name a proposal may carry (as role's catalog allows).
const ROLE_NAME_MAX: usize = 100;

pub(super) async fn list_case_accessors(
    app: &CaseAccessApp,
    request: Request<pb::ListCaseAccessorsRequest>,
) -> Result<Response<pb::ListCaseAccessorsResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let case = errors.required_id("case_id", &request.case_id, CaseId::parse);
    let action = action_from_proto(request.action);
    if action.is_none() && request.action != pb::Action::Unspecified as i32 {
        errors.add("action", "unknown value");
    }
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let (case, page) = (validated(case)?, validated(page)?);
    let freshness = freshness_of(&request.consistency)?;
    let subject = Subject::Case(case);
    let action = match action {
        Some(action) if subject.accepts(Some(action)) => action,
        _ => return Err(action_mismatch(&subject).into()),
    };
    let cursor = page.after_key(ReviewCursor::from_key)?.unwrap_or_default();
    let found = app.case_accessors(&caller, case, action, cursor, page.size as usize, &freshness).await?;
    Ok(Response::new(pb::ListCaseAccessorsResponse {
        accessors: found
            .accessors
            .iter()
            .map(|accessor| pb::CaseAccessor {
                principal: Some(principal_summary(&accessor.principal)),
                decision: Some(decision_to_proto(&accessor.decided)),
            })
            .collect(),
        next_page_token: found.next.map(|cursor| csm_db::paging::token_for(&cursor.key())).unwrap_or_default(),
        profiles_examined: i32::try_from(found.examined).unwrap_or(i32::MAX),
        consistency_token: found.consistency_token,
    }))
}

/// Each entry of the proposed list `field`, checked by
/// `check(errors, "change.<field>[<index>]", entry)`; at most [`MAX_PROPOSED`].
fn proposed<V, T>(
    errors: &mut FieldErrors,
    field: &str,
    values: &[V],
    mut check: impl FnMut(&mut FieldErrors, &str, &V) -> Option<T>,
) -> Vec<T> {
    if values.len() > MAX_PROPOSED {
        errors.add(format!("change.{field}"), format!("at most {MAX_PROPOSED} entries, got {}", values.len()));
        return Vec::new();
    }
    values
        .iter()
        .enumerate()
        .filter_map(|(index, value)| check(errors, &format!("change.{field}[{index}]"), value))
        .collect()
}

fn change_from_proto(errors: &mut FieldErrors, change: Option<&pb::ProposedAccessChange>) -> AccessChange {
    let Some(change) = change else {
        errors.add("change", "is required: at least one proposed change");
        return AccessChange::default();
    };
    let role = |errors: &mut FieldErrors, field: &str, role: &String| errors.required_text(field, role, ROLE_NAME_MAX);
    let group = |errors: &mut FieldErrors, field: &str, id: &String| errors.required_id(field, id, GroupId::parse);
    let account = |errors: &mut FieldErrors, field: &str, id: &String| errors.required_id(field, id, AccountId::parse);
    let sources = SourceChange {
        assign_roles: proposed(errors, "assign_roles", &change.assign_roles, role),
        revoke_roles: proposed(errors, "revoke_roles", &change.revoke_roles, role),
        join_groups: proposed(errors, "join_group_ids", &change.join_group_ids, group),
        leave_groups: proposed(errors, "leave_group_ids", &change.leave_group_ids, group),
        add_contact_relationships: proposed(
            errors,
            "add_contact_relationship_account_ids",
            &change.add_contact_relationship_account_ids,
            account,
        ),
        remove_contact_relationships: proposed(
            errors,
            "remove_contact_relationship_account_ids",
            &change.remove_contact_relationship_account_ids,
            account,
        ),
    };
    let add_parties = proposed(errors, "add_related_parties", &change.add_related_parties, |errors, at, party| {
        let field = |name: &str| format!("{at}.{name}");
        let case = errors.required_id(&field("case_id"), &party.case_id, CaseId::parse);
        let kind = party_kind_from_proto(party.party_kind);
        if kind.is_none() {
            errors.add(field("party_kind"), "is required: a known party kind");
        }
        let party_id = errors.required_uuid(&field("party_id"), &party.party_id);
        let configuration =
            errors.required_uuid(&field("related_party_configuration_id"), &party.related_party_configuration_id);
        Some(ProposedParty { case: case?, kind: kind?, party: party_id?, configuration: configuration? })
    });
    let remove_parties =
        proposed(errors, "remove_related_party_ids", &change.remove_related_party_ids, |errors, at, id| {
            errors.required_uuid(at, id)
        });
    let change = AccessChange { sources, add_parties, remove_parties };
    if errors.is_empty() && change == AccessChange::default() {
        errors.add("change", "is required: at least one proposed change");
    }
    change
}

pub(super) async fn preview_access_change(
    app: &CaseAccessApp,
    request: Request<pb::PreviewAccessChangeRequest>,
) -> Result<Response<pb::PreviewAccessChangeResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.profile_id, ProfileId::parse);
    let change = change_from_proto(&mut errors, request.change.as_ref());
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let (profile, page) = (validated(profile)?, validated(page)?);
    let older_than = page.after_key(|key| CaseId::parse(key).ok())?;
    let preview = app.preview_access_change(&caller, profile, &change, older_than, page.size as usize).await?;
    Ok(Response::new(pb::PreviewAccessChangeResponse {
        changes: preview
            .changes
            .iter()
            .map(|change| pb::CaseAccessChange {
                case_id: change.case.to_string(),
                gained: change.gained(),
                before: Some(decision_to_proto(&change.before)),
                after: Some(decision_to_proto(&change.after)),
            })
            .collect(),
        next_page_token: preview.next.map(|case| csm_db::paging::token_for(&case.to_string())).unwrap_or_default(),
        roles_gained: preview.roles_gained,
        roles_lost: preview.roles_lost,
        consistency_token: preview.consistency_token,
    }))
}

pub(super) type ExportStream = tonic::codegen::BoxStream<pb::ExportAccessReviewResponse>;

pub(super) async fn export_access_review(
    app: &std::sync::Arc<CaseAccessApp>,
    request: Request<pb::ExportAccessReviewRequest>,
) -> Result<Response<ExportStream>, Status> {
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let account = errors.optional_id("account_id", &request.get_ref().account_id, AccountId::parse);
    errors.finish()?;
    let receiver = app.export_access_review(&caller, account).await?;
    let stream = ReceiverStream::new(receiver).map(|item| {
        let item = match item? {
            ReviewItem::Row { case, principal, decided } => {
                pb::export_access_review_response::Item::Row(pb::AccessReviewRow {
                    case_id: case.to_string(),
                    principal: Some(principal_summary(&principal)),
                    decision: Some(decision_to_proto(&decided)),
                })
            }
            ReviewItem::Progress { profiles, rows } => {
                pb::export_access_review_response::Item::Progress(pb::AccessReviewProgress {
                    profiles_done: i64::try_from(profiles).unwrap_or(i64::MAX),
                    rows: i64::try_from(rows).unwrap_or(i64::MAX),
                })
            }
        };
        Ok(pb::ExportAccessReviewResponse { item: Some(item) })
    });
    Ok(Response::new(Box::pin(stream)))
}
