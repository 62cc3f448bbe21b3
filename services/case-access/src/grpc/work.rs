//! UpdateCase, DeleteCase, ListMyConsumerCases, comments, attachments, case
//! tasks and email intake: proto ⇄ domain, then the app.

use std::collections::BTreeSet;

use csm_auth::Caller;
use csm_db::PageRequest;
use csm_errors::{CsmError, FieldErrors, validated};
use csm_proto::case_access as pb;
use csm_types::{AccountId, CaseId, ConsumerId, GroupId, HouseholdId, ProfileId};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::*;
use crate::CaseAccessApp;
use crate::app::work::{AttachmentDraft, InboundEmail, IntakeOutcome, TaskDraft, UpdatedCase};
use crate::domain::record::STATES;
use crate::domain::work::{
    self as rules, AttachmentRecord, CaseValues, CommentKind, CommentRecord, FieldClass, TASK_FIXED_FIELDS,
    TASK_STATES, TASK_WRITABLE_FIELDS, TaskRecord,
};

fn page_key(page: &PageRequest) -> Result<Option<Uuid>, Status> {
    Ok(page.after_key(|after| Uuid::parse_str(after).ok())?)
}

fn case_state(errors: &mut FieldErrors, field: &str, value: i32) -> String {
    match pb::CaseState::try_from(value) {
        Ok(state) if state != pb::CaseState::Unspecified => {
            let code = enum_code(state.as_str_name(), "CASE_STATE_");
            debug_assert!(STATES.contains(&code.as_str()));
            code
        }
        _ => {
            errors.add(field, format!("unknown state {value}"));
            String::new()
        }
    }
}

fn task_state(errors: &mut FieldErrors, field: &str, value: i32) -> Option<String> {
    match pb::CaseTaskState::try_from(value) {
        Ok(state) if state != pb::CaseTaskState::Unspecified => {
            let code = enum_code(state.as_str_name(), "CASE_TASK_STATE_");
            debug_assert!(TASK_STATES.contains(&code.as_str()));
            Some(code)
        }
        _ => {
            errors.add(field, format!("unknown state {value}"));
            None
        }
    }
}

fn task_state_to_proto(code: &str) -> i32 {
    pb::CaseTaskState::from_str_name(&format!("CASE_TASK_STATE_{code}")).map(|state| state as i32).unwrap_or_default()
}

fn id_set<T: Ord>(errors: &mut FieldErrors, field: &str, values: &[String], wrap: impl Fn(Uuid) -> T) -> BTreeSet<T> {
    values.iter().filter_map(|value| errors.required_id(field, value, any_uuid).map(&wrap)).collect()
}

/// The update mask's paths: known, not [OUTPUT], at least one.
fn case_paths(errors: &mut FieldErrors, mask: &Option<prost_types::FieldMask>) -> BTreeSet<String> {
    let paths: BTreeSet<String> =
        mask.as_ref().map(|mask| mask.paths.iter().map(|path| path.trim().to_owned()).collect()).unwrap_or_default();
    if paths.is_empty() {
        errors.add("update_mask", "is required");
    }
    for path in &paths {
        match rules::case_field_class(path) {
            None => errors.add("update_mask", format!("unknown Case field {path:?}")),
            Some(FieldClass::Output) => errors.add("update_mask", format!("{path} is set by the server ([OUTPUT])")),
            Some(_) => {}
        }
    }
    paths
}

/// The masked values of `case`; field errors are named `support_case.<field>`.
fn case_values(errors: &mut FieldErrors, case: &pb::Case, paths: &BTreeSet<String>) -> CaseValues {
    let masked = |path: &str| paths.contains(path);
    let field = |name: &str| format!("support_case.{name}");
    let id = |errors: &mut FieldErrors, name: &str, value: &str| {
        if masked(name) { errors.optional_id(&field(name), value, any_uuid) } else { None }
    };
    let mut values = CaseValues {
        account: id(errors, "account_id", &case.account_id).map(AccountId::from_uuid),
        contact: id(errors, "contact_id", &case.contact_id).map(ProfileId::from_uuid),
        consumer: id(errors, "consumer_id", &case.consumer_id).map(ConsumerId::from_uuid),
        household: id(errors, "household_id", &case.household_id).map(HouseholdId::from_uuid),
        consumer_profile: id(errors, "consumer_profile_id", &case.consumer_profile_id).map(ProfileId::from_uuid),
        partner_account: id(errors, "partner_account_id", &case.partner_account_id).map(AccountId::from_uuid),
        partner_contact: id(errors, "partner_contact_id", &case.partner_contact_id).map(ProfileId::from_uuid),
        internal_contact: id(errors, "internal_contact_profile_id", &case.internal_contact_profile_id)
            .map(ProfileId::from_uuid),
        requestor_organization: id(errors, "requestor_organization_id", &case.requestor_organization_id),
        requested_by: id(errors, "requested_by_profile_id", &case.requested_by_profile_id).map(ProfileId::from_uuid),
        service_organization: id(errors, "service_organization_id", &case.service_organization_id),
        sold_product: id(errors, "sold_product_id", &case.sold_product_id),
        install_base_item: id(errors, "install_base_item_id", &case.install_base_item_id),
        assignment_group: id(errors, "assignment_group_id", &case.assignment_group_id).map(GroupId::from_uuid),
        assigned_to: id(errors, "assigned_to_profile_id", &case.assigned_to_profile_id).map(ProfileId::from_uuid),
        owner: id(errors, "owner_profile_id", &case.owner_profile_id).map(ProfileId::from_uuid),
        owner_group: id(errors, "owner_group_id", &case.owner_group_id).map(GroupId::from_uuid),
        ..CaseValues::default()
    };
    if masked("short_description") {
        values.short_description =
            errors.required_text(&field("short_description"), &case.short_description, 160).unwrap_or_default();
    }
    if masked("description") {
        if case.description.chars().count() > 10_000 {
            errors.add(field("description"), "at most 10000 characters");
        }
        values.description = case.description.clone();
    }
    if masked("close_notes") {
        if case.close_notes.chars().count() > 10_000 {
            errors.add(field("close_notes"), "at most 10000 characters");
        }
        values.close_notes = case.close_notes.clone();
    }
    if masked("state") {
        values.state = case_state(errors, &field("state"), case.state);
    }
    if masked("priority") {
        values.priority = match pb::Priority::try_from(case.priority) {
            Ok(priority) if priority != pb::Priority::Unspecified => enum_code(priority.as_str_name(), "PRIORITY_"),
            _ => {
                errors.add(field("priority"), "unknown value");
                String::new()
            }
        };
    }
    if masked("escalation") {
        values.escalation = match pb::Escalation::try_from(case.escalation) {
            Ok(escalation) => enum_code(escalation.as_str_name(), "ESCALATION_"),
            Err(_) => {
                errors.add(field("escalation"), "unknown value");
                String::new()
            }
        };
    }
    if masked("affected_install_base_item_ids") {
        values.affected_install_base_items =
            id_set(errors, &field("affected_install_base_item_ids"), &case.affected_install_base_item_ids, |id| id);
    }
    if masked("contributor_profile_ids") {
        values.contributor_users =
            id_set(errors, &field("contributor_profile_ids"), &case.contributor_profile_ids, ProfileId::from_uuid);
    }
    if masked("contributor_group_ids") {
        values.contributor_groups =
            id_set(errors, &field("contributor_group_ids"), &case.contributor_group_ids, GroupId::from_uuid);
    }
    if masked("watch_list_profile_ids") {
        values.watch_list =
            id_set(errors, &field("watch_list_profile_ids"), &case.watch_list_profile_ids, ProfileId::from_uuid);
    }
    if masked("work_notes_list_profile_ids") {
        values.work_notes_list = id_set(
            errors,
            &field("work_notes_list_profile_ids"),
            &case.work_notes_list_profile_ids,
            ProfileId::from_uuid,
        );
    }
    values
}

fn updated_case_to_proto(updated: &UpdatedCase, external: bool) -> pb::Case {
    let mut case = case_to_proto(&updated.case);
    case.watch_list_profile_ids = updated.watch_list.iter().map(ToString::to_string).collect();
    case.work_notes_list_profile_ids = updated.work_notes_list.iter().map(ToString::to_string).collect();
    case.affected_install_base_item_ids = updated.affected_install_base_items.iter().map(ToString::to_string).collect();
    redact(case, external)
}

fn task_to_proto(task: &TaskRecord) -> pb::CaseTask {
    pb::CaseTask {
        case_task_id: task.id.to_string(),
        case_id: task.case_id.to_string(),
        number: task.number.clone(),
        short_description: task.short_description.clone(),
        description: task.description.clone(),
        state: task_state_to_proto(&task.state),
        assigned_to_profile_id: opt(task.assigned_to),
        assignment_group_id: opt(task.assignment_group),
        customer_visible: task.customer_visible,
        consumer_profile_id: opt(task.consumer_profile),
        opened_by_profile_id: task.opened_by.to_string(),
        created_at: Some(csm_proto::timestamp(task.created_at)),
        updated_at: Some(csm_proto::timestamp(task.updated_at)),
        closed_at: task.closed_at.map(csm_proto::timestamp),
    }
}

fn comment_to_proto(comment: &CommentRecord) -> pb::Comment {
    pb::Comment {
        comment_id: comment.id.to_string(),
        case_id: comment.case_id.to_string(),
        case_task_id: opt(comment.case_task_id),
        kind: match comment.kind {
            CommentKind::Comment => pb::CommentKind::AdditionalComment,
            CommentKind::WorkNote => pb::CommentKind::WorkNote,
        } as i32,
        body: comment.body.clone(),
        author_profile_id: comment.author.to_string(),
        created_at: Some(csm_proto::timestamp(comment.created_at)),
    }
}

fn attachment_to_proto(attachment: &AttachmentRecord) -> pb::Attachment {
    pb::Attachment {
        attachment_id: attachment.id.to_string(),
        case_id: attachment.case_id.to_string(),
        case_task_id: opt(attachment.case_task_id),
        file_name: attachment.file_name.clone(),
        content_type: attachment.content_type.clone(),
        size_bytes: attachment.size_bytes,
        content_uri: attachment.content_uri.clone(),
        sha256: attachment.sha256.clone(),
        uploaded_by_profile_id: attachment.uploaded_by.to_string(),
        created_at: Some(csm_proto::timestamp(attachment.created_at)),
    }
}

pub(super) async fn create_case_from_email(
    app: &CaseAccessApp,
    request: Request<pb::CreateCaseFromEmailRequest>,
) -> Result<Response<pb::CreateCaseFromEmailResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    if !matches!(caller, Caller::Service(_)) {
        return Err(CsmError::permission_denied(
            "SERVICE_CALLER_REQUIRED",
            "CreateCaseFromEmail is called by the mail gateway's service identity only",
        )
        .into());
    }
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let message_id = errors.optional_request_id(&request.request_id);
    if request.sender_address.trim().is_empty() {
        errors.add("sender_address", "is required");
    }
    if request.body.chars().count() > 100_000 {
        errors.add("body", "at most 100000 characters");
    }
    errors.finish()?;
    let email = InboundEmail {
        message_id,
        sender: request.sender_address.trim().to_owned(),
        recipients: request.to_addresses.iter().chain(&request.cc_addresses).map(|a| a.trim().to_owned()).collect(),
        subject: request.subject.clone(),
        body: request.body.clone(),
    };
    let intake = app.create_case_from_email(&caller.request_scope(), email).await?;
    let outcome = match intake.outcome {
        IntakeOutcome::CaseCreated => pb::EmailIntakeOutcome::CaseCreated,
        IntakeOutcome::SenderUnknown => pb::EmailIntakeOutcome::SenderUnknown,
        IntakeOutcome::SenderNotAuthorized => pb::EmailIntakeOutcome::SenderNotAuthorized,
        IntakeOutcome::ContactUnresolved => pb::EmailIntakeOutcome::ContactUnresolved,
        IntakeOutcome::RateLimited => pb::EmailIntakeOutcome::RateLimited,
    };
    Ok(Response::new(pb::CreateCaseFromEmailResponse {
        outcome: outcome as i32,
        support_case: intake.case.as_ref().map(case_to_proto),
        sender_profile_id: opt(intake.sender),
        consistency_token: intake.consistency_token,
    }))
}

pub(super) async fn update_case(
    app: &CaseAccessApp,
    request: Request<pb::UpdateCaseRequest>,
) -> Result<Response<pb::UpdateCaseResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let session = license_session(&mut errors, &request.license_session_id);
    let paths = case_paths(&mut errors, &request.update_mask);
    let (case, values) = match &request.support_case {
        Some(case) => (
            errors.required_id("support_case.case_id", &case.case_id, CaseId::parse),
            Some(case_values(&mut errors, case, &paths)),
        ),
        None => {
            errors.add("support_case", "is required");
            (None, None)
        }
    };
    errors.finish()?;
    let (case, values) = (validated(case)?, validated(values)?);
    let ctx = mutation_context(app, &caller, profile, &request.consistency).await?;
    let updated = app.update_case(&ctx, case, &paths, &values, session).await?;
    Ok(Response::new(pb::UpdateCaseResponse {
        support_case: Some(updated_case_to_proto(&updated, ctx.kind.is_external())),
        decision: Some(decision_to_proto(&updated.decided)),
        consistency_token: updated.consistency_token,
    }))
}

pub(super) async fn delete_case(
    app: &CaseAccessApp,
    request: Request<pb::DeleteCaseRequest>,
) -> Result<Response<pb::DeleteCaseResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let case = errors.required_id("case_id", &request.case_id, CaseId::parse);
    errors.finish()?;
    let ctx = mutation_context(app, &caller, profile, &request.consistency).await?;
    let consistency_token = app.delete_case(&ctx, validated(case)?).await?;
    Ok(Response::new(pb::DeleteCaseResponse { consistency_token }))
}

pub(super) async fn list_my_consumer_cases(
    app: &CaseAccessApp,
    request: Request<pb::ListMyConsumerCasesRequest>,
) -> Result<Response<pb::ListMyConsumerCasesResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let states: Vec<String> = request.states.iter().map(|state| case_state(&mut errors, "states", *state)).collect();
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let page = validated(page)?;
    let before = page_key(&page)?.map(CaseId::from_uuid);
    let ctx = read_context(app, &caller, profile, &request.consistency).await?;
    let (rows, consistency_token) = app.list_my_consumer_cases(&ctx, &states, before, page.fetch_limit()).await?;
    let (rows, next_page_token) = page.finish(rows, |case| case.id.to_string());
    let external = ctx.kind.is_external();
    Ok(Response::new(pb::ListMyConsumerCasesResponse {
        cases: rows.iter().map(|case| redact(case_to_proto(case), external)).collect(),
        next_page_token,
        consistency_token,
    }))
}

pub(super) async fn add_comment(
    app: &CaseAccessApp,
    request: Request<pb::AddCommentRequest>,
) -> Result<Response<pb::AddCommentResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let case = errors.required_id("case_id", &request.case_id, CaseId::parse);
    let task = errors.optional_id("case_task_id", &request.case_task_id, any_uuid);
    let session = license_session(&mut errors, &request.license_session_id);
    let kind = match pb::CommentKind::try_from(request.kind) {
        Ok(pb::CommentKind::AdditionalComment) => Some(CommentKind::Comment),
        Ok(pb::CommentKind::WorkNote) => Some(CommentKind::WorkNote),
        _ => {
            errors.add("kind", "must be ADDITIONAL_COMMENT or WORK_NOTE");
            None
        }
    };
    let body = errors.required_text("body", &request.body, 100_000);
    errors.finish()?;
    let ctx = mutation_context(app, &caller, profile, &request.consistency).await?;
    let (comment, consistency_token) = app
        .add_comment(&ctx, request_id.as_deref(), validated(case)?, task, validated(kind)?, validated(body)?, session)
        .await?;
    Ok(Response::new(pb::AddCommentResponse { comment: Some(comment_to_proto(&comment)), consistency_token }))
}

pub(super) async fn list_comments(
    app: &CaseAccessApp,
    request: Request<pb::ListCommentsRequest>,
) -> Result<Response<pb::ListCommentsResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let case = errors.required_id("case_id", &request.case_id, CaseId::parse);
    let task = errors.optional_id("case_task_id", &request.case_task_id, any_uuid);
    let kind = match pb::CommentKind::try_from(request.kind) {
        Ok(pb::CommentKind::Unspecified) => None,
        Ok(pb::CommentKind::AdditionalComment) => Some(CommentKind::Comment),
        Ok(pb::CommentKind::WorkNote) => Some(CommentKind::WorkNote),
        Err(_) => {
            errors.add("kind", "unknown value");
            None
        }
    };
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let page = validated(page)?;
    let after = page_key(&page)?;
    let ctx = read_context(app, &caller, profile, &request.consistency).await?;
    let (rows, consistency_token) =
        app.list_comments(&ctx, validated(case)?, task, kind, after, page.fetch_limit()).await?;
    let (rows, next_page_token) = page.finish(rows, |comment| comment.id.to_string());
    Ok(Response::new(pb::ListCommentsResponse {
        comments: rows.iter().map(comment_to_proto).collect(),
        next_page_token,
        consistency_token,
    }))
}

pub(super) async fn add_attachment(
    app: &CaseAccessApp,
    request: Request<pb::AddAttachmentRequest>,
) -> Result<Response<pb::AddAttachmentResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let case = errors.required_id("case_id", &request.case_id, CaseId::parse);
    let task = errors.optional_id("case_task_id", &request.case_task_id, any_uuid);
    let session = license_session(&mut errors, &request.license_session_id);
    let file_name = errors.required_text("file_name", &request.file_name, 255);
    let content_uri = errors.required_text("content_uri", &request.content_uri, 2048);
    if request.size_bytes < 0 {
        errors.add("size_bytes", "must not be negative");
    }
    if request.content_type.chars().count() > 255 {
        errors.add("content_type", "at most 255 characters");
    }
    let sha256 = request.sha256.trim().to_lowercase();
    if !sha256.is_empty() && (sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit())) {
        errors.add("sha256", "must be 64 hex digits");
    }
    errors.finish()?;
    let draft = AttachmentDraft {
        file_name: validated(file_name)?,
        content_type: request.content_type.trim().to_owned(),
        size_bytes: request.size_bytes,
        content_uri: validated(content_uri)?,
        sha256,
    };
    let ctx = mutation_context(app, &caller, profile, &request.consistency).await?;
    let (attachment, consistency_token) =
        app.add_attachment(&ctx, request_id.as_deref(), validated(case)?, task, draft, session).await?;
    Ok(Response::new(pb::AddAttachmentResponse {
        attachment: Some(attachment_to_proto(&attachment)),
        consistency_token,
    }))
}

pub(super) async fn list_attachments(
    app: &CaseAccessApp,
    request: Request<pb::ListAttachmentsRequest>,
) -> Result<Response<pb::ListAttachmentsResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let case = errors.required_id("case_id", &request.case_id, CaseId::parse);
    let task = errors.optional_id("case_task_id", &request.case_task_id, any_uuid);
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let page = validated(page)?;
    let after = page_key(&page)?;
    let ctx = read_context(app, &caller, profile, &request.consistency).await?;
    let (rows, consistency_token) =
        app.list_attachments(&ctx, validated(case)?, task, after, page.fetch_limit()).await?;
    let (rows, next_page_token) = page.finish(rows, |attachment| attachment.id.to_string());
    Ok(Response::new(pb::ListAttachmentsResponse {
        attachments: rows.iter().map(attachment_to_proto).collect(),
        next_page_token,
        consistency_token,
    }))
}

/// The writable fields of a task message (CreateCaseTask, UpdateCaseTask).
fn task_values(errors: &mut FieldErrors, task: &pb::CaseTask, paths: Option<&BTreeSet<String>>) -> TaskDraft {
    let masked = |path: &str| paths.is_none_or(|paths| paths.contains(path));
    let field = |name: &str| format!("case_task.{name}");
    let mut draft = TaskDraft { customer_visible: task.customer_visible, ..TaskDraft::default() };
    if masked("short_description") {
        draft.short_description =
            errors.required_text(&field("short_description"), &task.short_description, 160).unwrap_or_default();
    }
    if masked("description") {
        if task.description.chars().count() > 10_000 {
            errors.add(field("description"), "at most 10000 characters");
        }
        draft.description = task.description.clone();
    }
    if masked("state") {
        // Creation defaults an unset state to OPEN.
        draft.state =
            if paths.is_none() && task.state == 0 { None } else { task_state(errors, &field("state"), task.state) };
    }
    if masked("assigned_to_profile_id") {
        draft.assigned_to = errors
            .optional_id(&field("assigned_to_profile_id"), &task.assigned_to_profile_id, any_uuid)
            .map(ProfileId::from_uuid);
    }
    if masked("assignment_group_id") {
        draft.assignment_group = errors
            .optional_id(&field("assignment_group_id"), &task.assignment_group_id, any_uuid)
            .map(GroupId::from_uuid);
    }
    draft
}

pub(super) async fn create_case_task(
    app: &CaseAccessApp,
    request: Request<pb::CreateCaseTaskRequest>,
) -> Result<Response<pb::CreateCaseTaskResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let draft = match &request.case_task {
        Some(task) => {
            let mut draft = task_values(&mut errors, task, None);
            draft.case = errors.required_id("case_task.case_id", &task.case_id, CaseId::parse);
            Some(draft)
        }
        None => {
            errors.add("case_task", "is required");
            None
        }
    };
    errors.finish()?;
    let ctx = mutation_context(app, &caller, profile, &request.consistency).await?;
    let (task, consistency_token) = app.create_case_task(&ctx, request_id.as_deref(), validated(draft)?).await?;
    Ok(Response::new(pb::CreateCaseTaskResponse { case_task: Some(task_to_proto(&task)), consistency_token }))
}

pub(super) async fn get_case_task(
    app: &CaseAccessApp,
    request: Request<pb::GetCaseTaskRequest>,
) -> Result<Response<pb::GetCaseTaskResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let task = errors.required_id("case_task_id", &request.case_task_id, any_uuid);
    errors.finish()?;
    let (ctx, cases) = read_context_and_cases(app, &caller, profile, &request.consistency).await?;
    let (task, consistency_token) = app.get_case_task(&ctx, validated(task)?, cases).await?;
    Ok(Response::new(pb::GetCaseTaskResponse { case_task: Some(task_to_proto(&task)), consistency_token }))
}

pub(super) async fn update_case_task(
    app: &CaseAccessApp,
    request: Request<pb::UpdateCaseTaskRequest>,
) -> Result<Response<pb::UpdateCaseTaskResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let session = license_session(&mut errors, &request.license_session_id);
    let paths: BTreeSet<String> = request
        .update_mask
        .as_ref()
        .map(|mask| mask.paths.iter().map(|path| path.trim().to_owned()).collect())
        .unwrap_or_default();
    if paths.is_empty() {
        errors.add("update_mask", "is required");
    }
    for path in &paths {
        if TASK_FIXED_FIELDS.contains(&path.as_str()) {
            errors.add("update_mask", format!("{path} cannot be updated"));
        } else if !TASK_WRITABLE_FIELDS.contains(&path.as_str()) {
            errors.add("update_mask", format!("unknown CaseTask field {path:?}"));
        }
    }
    let (task, values) = match &request.case_task {
        Some(task) => (
            errors.required_id("case_task.case_task_id", &task.case_task_id, any_uuid),
            Some(task_values(&mut errors, task, Some(&paths))),
        ),
        None => {
            errors.add("case_task", "is required");
            (None, None)
        }
    };
    errors.finish()?;
    let ctx = mutation_context(app, &caller, profile, &request.consistency).await?;
    let (task, consistency_token) =
        app.update_case_task(&ctx, validated(task)?, &paths, &validated(values)?, session).await?;
    Ok(Response::new(pb::UpdateCaseTaskResponse { case_task: Some(task_to_proto(&task)), consistency_token }))
}

pub(super) async fn delete_case_task(
    app: &CaseAccessApp,
    request: Request<pb::DeleteCaseTaskRequest>,
) -> Result<Response<pb::DeleteCaseTaskResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let task = errors.required_id("case_task_id", &request.case_task_id, any_uuid);
    errors.finish()?;
    let ctx = mutation_context(app, &caller, profile, &request.consistency).await?;
    let consistency_token = app.delete_case_task(&ctx, validated(task)?).await?;
    Ok(Response::new(pb::DeleteCaseTaskResponse { consistency_token }))
}

pub(super) async fn list_case_tasks(
    app: &CaseAccessApp,
    request: Request<pb::ListCaseTasksRequest>,
) -> Result<Response<pb::ListCaseTasksResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let case = errors.optional_id("case_id", &request.case_id, CaseId::parse);
    let states: Vec<String> =
        request.states.iter().filter_map(|state| task_state(&mut errors, "states", *state)).collect();
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let page = validated(page)?;
    let after = page_key(&page)?;
    let ctx = read_context(app, &caller, profile, &request.consistency).await?;
    let (rows, consistency_token) =
        app.list_case_tasks(&ctx, case, request.my_work_only, states, after, page.fetch_limit()).await?;
    let (rows, next_page_token) = page.finish(rows, |task| task.id.to_string());
    Ok(Response::new(pb::ListCaseTasksResponse {
        case_tasks: rows.iter().map(task_to_proto).collect(),
        next_page_token,
        consistency_token,
    }))
}
