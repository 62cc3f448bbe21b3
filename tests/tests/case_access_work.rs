//! case-access work over real gRPC: updates and deletes (R4.2, R4.4, R4.18,
//! R4.21), comments and attachments, case tasks (R4.15, R4.17, R4.19, R4.20),
//! email intake (R4.21), ListMyConsumerCases (R1.12) and the R1.16 limits of
//! external unified consumers. Each test runs on SQLite and on PostgreSQL.

use csm_types::roles;
use std::collections::BTreeSet;

use csm_proto::case_access as pb;
use csm_proto::identity as id_pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test, reason_of, violated_fields};
use csm_types::{ProfileId, ServiceName};
use tonic::Code;

const CUSTOMER: &str = roles::CUSTOMER;
const AGENT: &str = roles::AGENT;
const CASE_VIEWER: &str = roles::CASE_VIEWER;
const CASE_TASK_VIEWER: &str = roles::CASE_TASK_VIEWER;
const CONTRIBUTOR_VIEWER: &str = roles::CASE_CONTRIBUTOR_VIEWER;
const CONTRIBUTOR_EDITOR: &str = roles::CASE_CONTRIBUTOR_EDITOR;
const TASK_AGENT: &str = roles::CASE_TASK_AGENT;
const PROXY_CONTACT: &str = roles::PROXY_CONTACT;
const UNIFIED_CONSUMER: &str = roles::UNIFIED_CONSUMER;
const CONSUMER: &str = roles::CONSUMER;

// ------------------------------------------------------------------ helpers

async fn new_case(suite: &Suite, token: &str, account: &str) -> pb::Case {
    create_case(suite, token, draft(pb::CreateFor::Account, account, "")).await.unwrap().support_case.unwrap()
}

async fn agent_case_for(suite: &Suite, agent: &str, account: &str, contact: ProfileId) -> pb::Case {
    let mut draft = draft(pb::CreateFor::Account, account, "");
    draft.contact_id = contact.to_string();
    create_case(suite, agent, draft).await.unwrap().support_case.unwrap()
}

async fn update(
    suite: &Suite,
    token: &str,
    case: pb::Case,
    paths: &[&str],
) -> Result<pb::UpdateCaseResponse, tonic::Status> {
    suite
        .case_access(Some(token))
        .update_case(pb::UpdateCaseRequest {
            support_case: Some(case),
            update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() }),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

fn with_state(case_id: &str, state: pb::CaseState) -> pb::Case {
    pb::Case { case_id: case_id.to_owned(), state: state as i32, ..Default::default() }
}

async fn comment(
    suite: &Suite,
    token: &str,
    case_id: &str,
    task_id: &str,
    kind: pb::CommentKind,
) -> Result<pb::AddCommentResponse, tonic::Status> {
    suite
        .case_access(Some(token))
        .add_comment(pb::AddCommentRequest {
            case_id: case_id.to_owned(),
            case_task_id: task_id.to_owned(),
            kind: kind as i32,
            body: "A note".to_owned(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn attach(suite: &Suite, token: &str, case_id: &str) -> Result<pb::AddAttachmentResponse, tonic::Status> {
    suite
        .case_access(Some(token))
        .add_attachment(pb::AddAttachmentRequest {
            case_id: case_id.to_owned(),
            file_name: "screenshot.png".to_owned(),
            content_type: "image/png".to_owned(),
            size_bytes: 1024,
            content_uri: "blob://attachments/screenshot.png".to_owned(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn comments(suite: &Suite, token: &str, case_id: &str) -> Result<Vec<pb::Comment>, tonic::Status> {
    suite
        .case_access(Some(token))
        .list_comments(pb::ListCommentsRequest { case_id: case_id.to_owned(), ..Default::default() })
        .await
        .map(|response| response.into_inner().comments)
}

async fn get(suite: &Suite, token: &str, case_id: &str) -> Result<pb::Case, tonic::Status> {
    suite
        .case_access(Some(token))
        .get_case(pb::GetCaseRequest { case_id: case_id.to_owned(), ..Default::default() })
        .await
        .map(|response| response.into_inner().support_case.unwrap())
}

async fn new_task(
    suite: &Suite,
    token: &str,
    case_id: &str,
    assignee: Option<ProfileId>,
    group: &str,
) -> Result<pb::CaseTask, tonic::Status> {
    suite
        .case_access(Some(token))
        .create_case_task(pb::CreateCaseTaskRequest {
            case_task: Some(pb::CaseTask {
                case_id: case_id.to_owned(),
                short_description: "Replace the toner".to_owned(),
                assigned_to_profile_id: assignee.map(|p| p.to_string()).unwrap_or_default(),
                assignment_group_id: group.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(|response| response.into_inner().case_task.unwrap())
}

async fn update_task(
    suite: &Suite,
    token: &str,
    task: pb::CaseTask,
    paths: &[&str],
) -> Result<pb::CaseTask, tonic::Status> {
    suite
        .case_access(Some(token))
        .update_case_task(pb::UpdateCaseTaskRequest {
            case_task: Some(task),
            update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() }),
            ..Default::default()
        })
        .await
        .map(|response| response.into_inner().case_task.unwrap())
}

async fn get_task(suite: &Suite, token: &str, task_id: &str) -> Result<pb::CaseTask, tonic::Status> {
    suite
        .case_access(Some(token))
        .get_case_task(pb::GetCaseTaskRequest { case_task_id: task_id.to_owned(), ..Default::default() })
        .await
        .map(|response| response.into_inner().case_task.unwrap())
}

async fn list_tasks(suite: &Suite, token: &str, case_id: &str, my_work_only: bool) -> Vec<String> {
    suite
        .case_access(Some(token))
        .list_case_tasks(pb::ListCaseTasksRequest {
            case_id: case_id.to_owned(),
            my_work_only,
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("list case tasks")
        .into_inner()
        .case_tasks
        .into_iter()
        .map(|task| task.case_task_id)
        .collect()
}

async fn all_tasks(suite: &Suite, token: &str, case_id: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .case_access(Some(token))
            .list_case_tasks(pb::ListCaseTasksRequest {
                case_id: case_id.to_owned(),
                page_size: 1,
                page_token,
                ..Default::default()
            })
            .await
            .expect("list case tasks")
            .into_inner();
        ids.extend(page.case_tasks.into_iter().map(|task| task.case_task_id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        page_token = page.next_page_token;
    }
}

async fn email_of(suite: &Suite, profile: ProfileId) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .get_profile(id_pb::GetProfileRequest { profile_id: profile.to_string() })
        .await
        .expect("get profile")
        .into_inner()
        .profile
        .unwrap()
        .details
        .unwrap()
        .email
}

async fn email(
    suite: &Suite,
    token: &str,
    message_id: &str,
    sender: &str,
    to: &[&str],
) -> Result<pb::CreateCaseFromEmailResponse, tonic::Status> {
    suite
        .case_access(Some(token))
        .create_case_from_email(pb::CreateCaseFromEmailRequest {
            request_id: message_id.to_owned(),
            sender_address: sender.to_owned(),
            to_addresses: to.iter().map(|address| (*address).to_owned()).collect(),
            subject: "Printer on fire".to_owned(),
            body: "Please help".to_owned(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

// ------------------------------------------------------------------ R4.2 / R4.4

backend_test!(r4_2_customers_take_the_customer_action_set, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, customer) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let (_, colleague) = contact(suite, &a, "Lou", &[CUSTOMER]).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let case = new_case(suite, &customer, &a).await;
    let id = case.case_id.clone();
    // Comment and attachment: WRITE_CUSTOMER on the own case.
    comment(suite, &customer, &id, "", pb::CommentKind::AdditionalComment).await.unwrap();
    attach(suite, &customer, &id).await.unwrap();
    let denied = comment(suite, &colleague, &id, "", pb::CommentKind::AdditionalComment).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&denied), "ACCESS_DENIED");
    assert_eq!(attach(suite, &colleague, &id).await.unwrap_err().code(), Code::PermissionDenied);
    // An agent field needs WRITE_FULL.
    let priority = pb::Case { case_id: id.clone(), priority: pb::Priority::High as i32, ..Default::default() };
    let status = update(suite, &customer, priority.clone(), &["priority"]).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(update(suite, &agent, priority, &["priority"]).await.unwrap().support_case.unwrap().priority, 2);
    // The agent proposes a solution; the customer rejects it (RESOLVED → OPEN) with WRITE_CUSTOMER.
    update(suite, &agent, with_state(&id, pb::CaseState::Resolved), &["state"]).await.unwrap();
    let rejected = update(suite, &customer, with_state(&id, pb::CaseState::Open), &["state"]).await.unwrap();
    assert_eq!(rejected.decision.unwrap().action, pb::Action::WriteCustomer as i32);
    // The customer cannot propose a solution itself (WRITE_LIMITED).
    let status = update(suite, &customer, with_state(&id, pb::CaseState::Resolved), &["state"]).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Closing with close notes is the customer's.
    let mut close = with_state(&id, pb::CaseState::Closed);
    close.close_notes = "Fixed, thanks".to_owned();
    let closed = update(suite, &customer, close, &["state", "close_notes"]).await.unwrap();
    let closed_case = closed.support_case.unwrap();
    assert_eq!(closed_case.state, pb::CaseState::Closed as i32);
    assert_eq!(closed_case.close_notes, "Fixed, thanks");
    assert!(closed_case.closed_at.is_some());
    assert!(!closed.consistency_token.is_empty());
    // A closed case stays closed.
    let status = update(suite, &agent, with_state(&id, pb::CaseState::Open), &["state"]).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "INVALID_STATE_TRANSITION");
});

backend_test!(r4_4_work_notes_and_escalation_never_reach_external_users, |suite| {
    let a = account(suite, "Acme", None).await;
    let (k, customer) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let case = agent_case_for(suite, &agent, &a, k).await;
    let id = case.case_id.clone();
    comment(suite, &agent, &id, "", pb::CommentKind::WorkNote).await.unwrap();
    comment(suite, &customer, &id, "", pb::CommentKind::AdditionalComment).await.unwrap();
    let status = comment(suite, &customer, &id, "", pb::CommentKind::WorkNote).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "WORK_NOTE_FORBIDDEN");
    assert_eq!(comments(suite, &agent, &id).await.unwrap().len(), 2);
    let seen = comments(suite, &customer, &id).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].kind, pb::CommentKind::AdditionalComment as i32);
    // Asking for work notes explicitly shows none either.
    let only_notes = suite
        .case_access(Some(&customer))
        .list_comments(pb::ListCommentsRequest {
            case_id: id.clone(),
            kind: pb::CommentKind::WorkNote as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(only_notes.comments.is_empty());
    // Escalation is internal.
    let escalate = pb::Case { case_id: id.clone(), escalation: pb::Escalation::High as i32, ..Default::default() };
    update(suite, &agent, escalate, &["escalation"]).await.unwrap();
    assert_eq!(get(suite, &agent, &id).await.unwrap().escalation, pb::Escalation::High as i32);
    assert_eq!(get(suite, &customer, &id).await.unwrap().escalation, pb::Escalation::Unspecified as i32);
});

backend_test!(r4_2_bad_updates_are_refused_precisely, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let case = new_case(suite, &agent, &a).await;
    let id = case.case_id.clone();
    // [OUTPUT] and unknown fields, and an empty mask, are INVALID_ARGUMENT on update_mask.
    for paths in [&["segment"][..], &["opened_by_profile_id"], &["no_such_field"], &[]] {
        let status = update(suite, &agent, with_state(&id, pb::CaseState::Open), paths).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{paths:?}");
        assert_eq!(violated_fields(&status), vec!["update_mask".to_owned()], "{paths:?}");
    }
    // A masked state must be a state.
    let status = update(suite, &agent, with_state(&id, pb::CaseState::Unspecified), &["state"]).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["support_case.state".to_owned()]);
    // Unknown case.
    let missing = uuid::Uuid::now_v7().to_string();
    let status = update(suite, &agent, with_state(&missing, pb::CaseState::Open), &["state"]).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason_of(&status), "CASE_NOT_FOUND");
    // NEW → OPEN is fine; OPEN → NEW is not.
    update(suite, &agent, with_state(&id, pb::CaseState::Open), &["state"]).await.unwrap();
    let status = update(suite, &agent, with_state(&id, pb::CaseState::New), &["state"]).await.unwrap_err();
    assert_eq!(reason_of(&status), "INVALID_STATE_TRANSITION");
    // Clearing the account of a B2B case leaves no segment (R4.1).
    let cleared = pb::Case { case_id: id.clone(), ..Default::default() };
    let status = update(suite, &agent, cleared, &["account_id"]).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "SEGMENT_CHANGE_FORBIDDEN");
    // Comments: a body is required, the case must exist, a named task must be the case's.
    let status = suite
        .case_access(Some(&agent))
        .add_comment(pb::AddCommentRequest {
            case_id: id.clone(),
            kind: pb::CommentKind::AdditionalComment as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["body".to_owned()]);
    let status = comment(suite, &agent, &missing, "", pb::CommentKind::WorkNote).await.unwrap_err();
    assert_eq!(reason_of(&status), "CASE_NOT_FOUND");
    let status = comment(suite, &agent, &id, &missing, pb::CommentKind::WorkNote).await.unwrap_err();
    assert_eq!(reason_of(&status), "CASE_TASK_NOT_FOUND");
    let status = get_task(suite, &agent, &missing).await.unwrap_err();
    assert_eq!(reason_of(&status), "CASE_TASK_NOT_FOUND");
    // Idempotent comments: the same request id answers the first comment.
    let request = pb::AddCommentRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        case_id: id.clone(),
        kind: pb::CommentKind::WorkNote as i32,
        body: "Once".to_owned(),
        ..Default::default()
    };
    let first = suite.case_access(Some(&agent)).add_comment(request.clone()).await.unwrap().into_inner();
    let again = suite.case_access(Some(&agent)).add_comment(request).await.unwrap().into_inner();
    assert_eq!(first.comment.unwrap().comment_id, again.comment.unwrap().comment_id);
    assert_eq!(first.consistency_token, again.consistency_token);
    assert_eq!(comments(suite, &agent, &id).await.unwrap().len(), 1);
});

backend_test!(r6_4_delete_needs_the_delete_right_or_admin, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let case = new_case(suite, &agent, &a).await;
    new_task(suite, &agent, &case.case_id, None, "").await.unwrap();
    comment(suite, &agent, &case.case_id, "", pb::CommentKind::WorkNote).await.unwrap();
    let request = pb::DeleteCaseRequest { case_id: case.case_id.clone(), ..Default::default() };
    let status = suite.case_access(Some(&agent)).delete_case(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "ACCESS_DENIED");
    let (_, admin) = employee(suite, "Ada", &["admin"]).await;
    let deleted = suite.case_access(Some(&admin)).delete_case(request.clone()).await.unwrap().into_inner();
    assert!(!deleted.consistency_token.is_empty());
    assert_eq!(get(suite, &admin, &case.case_id).await.unwrap_err().code(), Code::NotFound);
    let status = suite.case_access(Some(&admin)).delete_case(request).await.unwrap_err();
    assert_eq!(reason_of(&status), "CASE_NOT_FOUND");
});

// ------------------------------------------------------------------ §4.5 viewers, editors, task agents

backend_test!(r4_15_case_task_viewer_reads_every_task_and_nothing_else, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (_, task_viewer) = employee(suite, "Tia", &[CASE_TASK_VIEWER]).await;
    let (_, both) = employee(suite, "Vic", &[CASE_VIEWER, CASE_TASK_VIEWER]).await;
    let (_, nobody) = employee(suite, "Ned", &[]).await;
    let case = new_case(suite, &agent, &a).await;
    let task = new_task(suite, &agent, &case.case_id, None, "").await.unwrap();
    let read = get_task(suite, &task_viewer, &task.case_task_id).await.unwrap();
    assert_eq!(read.case_id, case.case_id);
    assert_eq!(all_tasks(suite, &task_viewer, "").await, BTreeSet::from([task.case_task_id.clone()]));
    // READ only: no case, no task edit.
    assert_eq!(get(suite, &task_viewer, &case.case_id).await.unwrap_err().code(), Code::PermissionDenied);
    let mut edit = task.clone();
    edit.short_description = "Changed".to_owned();
    let status = update_task(suite, &task_viewer, edit, &["short_description"]).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Combined with case_viewer: the case and its tasks.
    get(suite, &both, &case.case_id).await.unwrap();
    get_task(suite, &both, &task.case_task_id).await.unwrap();
    // Without either role: nothing.
    assert_eq!(get_task(suite, &nobody, &task.case_task_id).await.unwrap_err().code(), Code::PermissionDenied);
    assert!(all_tasks(suite, &nobody, "").await.is_empty());
    // Check on a case_task target answers from the same task table.
    let decision = suite
        .case_access(Some(&task_viewer))
        .check(pb::CheckRequest {
            target: Some(pb::Target { resource: Some(pb::target::Resource::CaseTaskId(task.case_task_id.clone())) }),
            action: pb::Action::Read as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .decision
        .unwrap();
    assert!(decision.allowed);
    assert_eq!(decision.rule, "R4.15");
});

backend_test!(r4_17_contributor_viewer_reads_related_lists_of_its_cases, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (viewer, viewer_token) = employee(suite, "Val", &[CONTRIBUTOR_VIEWER]).await;
    let case = new_case(suite, &agent, &a).await;
    comment(suite, &agent, &case.case_id, "", pb::CommentKind::WorkNote).await.unwrap();
    attach(suite, &agent, &case.case_id).await.unwrap();
    assert_eq!(comments(suite, &viewer_token, &case.case_id).await.unwrap_err().code(), Code::PermissionDenied);
    // The agent adds the viewer as a contributor user ([LIMITED] field).
    let contributors = pb::Case {
        case_id: case.case_id.clone(),
        contributor_profile_ids: vec![viewer.to_string()],
        ..Default::default()
    };
    let updated = update(suite, &agent, contributors, &["contributor_profile_ids"]).await.unwrap();
    assert_eq!(updated.decision.unwrap().action, pb::Action::WriteLimited as i32);
    assert_eq!(comments(suite, &viewer_token, &case.case_id).await.unwrap().len(), 1);
    let attachments = suite
        .case_access(Some(&viewer_token))
        .list_attachments(pb::ListAttachmentsRequest { case_id: case.case_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .attachments;
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].file_name, "screenshot.png");
});

backend_test!(r4_18_contributor_editor_writes_the_limited_set_on_readable_cases, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (watcher, _) = employee(suite, "Wes", &[]).await;
    let (_, editor) = employee(suite, "Eve", &[CASE_VIEWER, CONTRIBUTOR_EDITOR]).await;
    let (_, editor_only) = employee(suite, "Eli", &[CONTRIBUTOR_EDITOR]).await;
    let case = new_case(suite, &agent, &a).await;
    let id = case.case_id.clone();
    // Given case_viewer + case_contributor_editor: priority → PERMISSION_DENIED; work note → OK.
    let priority = pb::Case { case_id: id.clone(), priority: pb::Priority::High as i32, ..Default::default() };
    let status = update(suite, &editor, priority, &["priority"]).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "ACCESS_DENIED");
    comment(suite, &editor, &id, "", pb::CommentKind::WorkNote).await.unwrap();
    // The rest of the limited set: watch list and state.
    let watch =
        pb::Case { case_id: id.clone(), watch_list_profile_ids: vec![watcher.to_string()], ..Default::default() };
    let updated = update(suite, &editor, watch, &["watch_list_profile_ids"]).await.unwrap();
    assert_eq!(updated.decision.as_ref().unwrap().rule, "R4.18");
    assert_eq!(updated.support_case.unwrap().watch_list_profile_ids, vec![watcher.to_string()]);
    update(suite, &editor, with_state(&id, pb::CaseState::Open), &["state"]).await.unwrap();
    // Only case_contributor_editor (no READ): the work note is refused.
    let status = comment(suite, &editor_only, &id, "", pb::CommentKind::WorkNote).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
});

backend_test!(r4_19_task_agent_works_its_tasks_and_reads_the_parent_case, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (worker, worker_token) = employee(suite, "Tom", &[TASK_AGENT]).await;
    let (_, other_token) = employee(suite, "Ola", &[TASK_AGENT]).await;
    let case = new_case(suite, &agent, &a).await;
    let mine = new_task(suite, &agent, &case.case_id, Some(worker), "").await.unwrap();
    let theirs = new_task(suite, &agent, &case.case_id, None, "").await.unwrap();
    // View / update its task, add work notes on it, read the parent case.
    get_task(suite, &worker_token, &mine.case_task_id).await.unwrap();
    let mut progress = mine.clone();
    progress.state = pb::CaseTaskState::WorkInProgress as i32;
    let updated = update_task(suite, &worker_token, progress, &["state"]).await.unwrap();
    assert_eq!(updated.state, pb::CaseTaskState::WorkInProgress as i32);
    comment(suite, &worker_token, &case.case_id, &mine.case_task_id, pb::CommentKind::WorkNote).await.unwrap();
    get(suite, &worker_token, &case.case_id).await.unwrap();
    // Create and assign tasks on the case it works.
    let created = new_task(suite, &worker_token, &case.case_id, None, "").await.unwrap();
    // Not an agent edit of the case, not another's task.
    let priority =
        pb::Case { case_id: case.case_id.clone(), priority: pb::Priority::High as i32, ..Default::default() };
    assert_eq!(update(suite, &worker_token, priority, &["priority"]).await.unwrap_err().code(), Code::PermissionDenied);
    let mut edit = theirs.clone();
    edit.short_description = "Mine now".to_owned();
    assert_eq!(
        update_task(suite, &worker_token, edit, &["short_description"]).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // My work: assigned to or created by me.
    let my_work: BTreeSet<String> = list_tasks(suite, &worker_token, "", true).await.into_iter().collect();
    assert!(my_work.contains(&mine.case_task_id) || my_work.contains(&created.case_task_id));
    // A task agent working nothing here sees nothing.
    assert_eq!(get_task(suite, &other_token, &mine.case_task_id).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(get(suite, &other_token, &case.case_id).await.unwrap_err().code(), Code::PermissionDenied);
    assert!(all_tasks(suite, &other_token, "").await.is_empty());
});

backend_test!(r4_20_task_assignment_maintains_the_contributor_fields, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (worker, _) = employee(suite, "Tom", &[TASK_AGENT]).await;
    let (plain, _) = employee(suite, "Pat", &[]).await;
    let group = uuid::Uuid::now_v7().to_string();
    let case = new_case(suite, &agent, &a).await;
    let id = case.case_id.clone();
    let contributors = |case: pb::Case| (case.contributor_profile_ids, case.contributor_group_ids);
    let first = new_task(suite, &agent, &id, Some(worker), &group).await.unwrap();
    assert_eq!(contributors(get(suite, &agent, &id).await.unwrap()), (vec![worker.to_string()], vec![group.clone()]));
    // A user without case_task_agent is not added.
    new_task(suite, &agent, &id, Some(plain), "").await.unwrap();
    assert_eq!(get(suite, &agent, &id).await.unwrap().contributor_profile_ids, vec![worker.to_string()]);
    // The worker holds a second task: reassigning the first keeps it.
    let second = new_task(suite, &agent, &id, Some(worker), "").await.unwrap();
    let mut reassign = first.clone();
    reassign.assigned_to_profile_id = plain.to_string();
    update_task(suite, &agent, reassign, &["assigned_to_profile_id"]).await.unwrap();
    assert_eq!(get(suite, &agent, &id).await.unwrap().contributor_profile_ids, vec![worker.to_string()]);
    // Its last task deleted: the worker leaves; the group stays (still on the first task).
    suite
        .case_access(Some(&agent))
        .delete_case_task(pb::DeleteCaseTaskRequest { case_task_id: second.case_task_id.clone(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(contributors(get(suite, &agent, &id).await.unwrap()), (vec![], vec![group.clone()]));
    // The group removed from its only task: it leaves too.
    let mut ungroup = first.clone();
    ungroup.assignment_group_id = String::new();
    update_task(suite, &agent, ungroup, &["assignment_group_id"]).await.unwrap();
    assert_eq!(contributors(get(suite, &agent, &id).await.unwrap()), (vec![], vec![]));
});

// ------------------------------------------------------------------ R4.21 proxy contact

backend_test!(r4_21_email_creates_a_proxy_case_only_for_proxy_contacts, |suite| {
    let a = account(suite, "Acme", None).await;
    let (k, _) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let (e, employee_token) = employee(suite, "Emil", &[]).await;
    let (sender, contact_address) = (email_of(suite, e).await, email_of(suite, k).await);
    let gateway = suite.service_token(ServiceName::CaseAccess);
    // Given an employee without the role emails the case inbox → no case.
    let answer = email(suite, &gateway, "<m1@mail>", &sender, &[&contact_address]).await.unwrap();
    assert_eq!(answer.outcome, pb::EmailIntakeOutcome::SenderNotAuthorized as i32);
    assert!(answer.support_case.is_none());
    assert_eq!(answer.sender_profile_id, e.to_string());
    // With the role → a case with internal_contact = sender.
    suite.assign_role(e, PROXY_CONTACT).await.unwrap();
    let answer = email(suite, &gateway, "<m2@mail>", &sender, &[&contact_address]).await.unwrap();
    assert_eq!(answer.outcome, pb::EmailIntakeOutcome::CaseCreated as i32);
    let case = answer.support_case.unwrap();
    assert_eq!(case.internal_contact_profile_id, e.to_string());
    assert_eq!(case.contact_id, k.to_string());
    assert_eq!(case.account_id, a);
    assert_eq!(case.channel, pb::Channel::Email as i32);
    assert!(!answer.consistency_token.is_empty());
    // The Message-ID is the idempotency key.
    let replay = email(suite, &gateway, "<m2@mail>", &sender, &[&contact_address]).await.unwrap();
    assert_eq!(replay.support_case.unwrap().case_id, case.case_id);
    // No customer contact named; unknown sender.
    let answer = email(suite, &gateway, "<m3@mail>", &sender, &["nobody@example.com"]).await.unwrap();
    assert_eq!(answer.outcome, pb::EmailIntakeOutcome::ContactUnresolved as i32);
    let answer = email(suite, &gateway, "<m4@mail>", "stranger@example.com", &[&contact_address]).await.unwrap();
    assert_eq!(answer.outcome, pb::EmailIntakeOutcome::SenderUnknown as i32);
    // Service identities only.
    let status = email(suite, &employee_token, "<m5@mail>", &sender, &[&contact_address]).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // The proxy contact comments on and updates the watch list of its case, not of others.
    comment(suite, &employee_token, &case.case_id, "", pb::CommentKind::WorkNote).await.unwrap();
    let watch =
        pb::Case { case_id: case.case_id.clone(), watch_list_profile_ids: vec![k.to_string()], ..Default::default() };
    let updated = update(suite, &employee_token, watch.clone(), &["watch_list_profile_ids"]).await.unwrap();
    assert_eq!(updated.decision.unwrap().rule, "R4.21");
    let watch_and_priority = pb::Case { priority: pb::Priority::High as i32, ..watch };
    let status =
        update(suite, &employee_token, watch_and_priority, &["watch_list_profile_ids", "priority"]).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let other = new_case(suite, &agent, &a).await;
    let watch_other =
        pb::Case { case_id: other.case_id.clone(), watch_list_profile_ids: vec![k.to_string()], ..Default::default() };
    let status = update(suite, &employee_token, watch_other, &["watch_list_profile_ids"]).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
});

// ------------------------------------------------------------------ R1.12, R1.16

backend_test!(r1_12_my_consumer_cases_need_the_role_and_a_consumer_record, |suite| {
    let (_, c, consumer_token) = consumer_user(suite, "Cleo", &[UNIFIED_CONSUMER]).await;
    let (_, _, roleless_token) = consumer_user(suite, "Rae", &[]).await;
    let (_, employee_token) = employee(suite, "Emil", &[UNIFIED_CONSUMER]).await;
    let own = create_case(suite, &consumer_token, draft(pb::CreateFor::Consumer, "", &c)).await.unwrap();
    let list = |token: String| async move {
        suite
            .case_access(Some(&token))
            .list_my_consumer_cases(pb::ListMyConsumerCasesRequest::default())
            .await
            .map(tonic::Response::into_inner)
    };
    let mine = list(consumer_token.clone()).await.unwrap();
    assert_eq!(mine.cases.len(), 1);
    assert_eq!(mine.cases[0].case_id, own.support_case.unwrap().case_id);
    let status = list(employee_token).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "NO_CONSUMER_RECORD");
    let status = list(roleless_token).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "CONSUMER_ROLE_MISSING");
});

backend_test!(r1_16_external_unified_consumers_are_rate_limited, |suite| {
    let (_, c, consumer_token) = consumer_user(suite, "Cleo", &[UNIFIED_CONSUMER]).await;
    // A concurrent burst of 15 creates: exactly the daily limit (10) gets through.
    let creates = (0..15).map(|_| {
        let token = consumer_token.clone();
        let c = c.clone();
        async move { create_case(suite, &token, draft(pb::CreateFor::Consumer, "", &c)).await }
    });
    let results = futures::future::join_all(creates).await;
    let created: Vec<&pb::CreateCaseResponse> = results.iter().filter_map(|result| result.as_ref().ok()).collect();
    assert_eq!(created.len(), 10);
    for status in results.iter().filter_map(|result| result.as_ref().err()) {
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(reason_of(status), "CASE_CREATION_RATE_LIMITED");
    }
    let case = created[0].support_case.clone().unwrap().case_id;
    // 25 comments per case per day.
    for _ in 0..25 {
        comment(suite, &consumer_token, &case, "", pb::CommentKind::AdditionalComment).await.unwrap();
    }
    let status = comment(suite, &consumer_token, &case, "", pb::CommentKind::AdditionalComment).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(reason_of(&status), "COMMENT_RATE_LIMITED");
    // Another case has its own comment allowance.
    let other = created[1].support_case.clone().unwrap().case_id;
    comment(suite, &consumer_token, &other, "", pb::CommentKind::AdditionalComment).await.unwrap();
    // 5 attachments per record, also under a concurrent burst.
    let attaches = (0..8).map(|_| {
        let token = consumer_token.clone();
        let other = other.clone();
        async move { attach(suite, &token, &other).await }
    });
    let results = futures::future::join_all(attaches).await;
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 5);
    for status in results.iter().filter_map(|result| result.as_ref().err()) {
        assert_eq!(reason_of(status), "ATTACHMENT_LIMIT_REACHED");
    }
    // A consumer that is not a unified consumer is not limited.
    let (_, d, plain_token) = consumer_user(suite, "Dora", &[CONSUMER]).await;
    for _ in 0..11 {
        create_case(suite, &plain_token, draft(pb::CreateFor::Consumer, "", &d)).await.unwrap();
    }
});

backend_test!(r4_2_customers_update_the_state_of_customer_visible_tasks_only, |suite| {
    let a = account(suite, "Acme", None).await;
    let (k, customer) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let case = agent_case_for(suite, &agent, &a, k).await;
    let hidden = new_task(suite, &agent, &case.case_id, None, "").await.unwrap();
    let mut visible = new_task(suite, &agent, &case.case_id, None, "").await.unwrap();
    visible.customer_visible = true;
    let visible = update_task(suite, &agent, visible, &["customer_visible"]).await.unwrap();
    assert!(visible.customer_visible);
    let done = |mut task: pb::CaseTask| {
        task.state = pb::CaseTaskState::ClosedComplete as i32;
        task
    };
    let closed = update_task(suite, &customer, done(visible.clone()), &["state"]).await.unwrap();
    assert_eq!(closed.state, pb::CaseTaskState::ClosedComplete as i32);
    assert!(closed.closed_at.is_some());
    // Not on an internal task, and no other field.
    let status = update_task(suite, &customer, done(hidden.clone()), &["state"]).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let mut renamed = visible.clone();
    renamed.short_description = "Renamed".to_owned();
    let status = update_task(suite, &customer, renamed, &["short_description"]).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // A closed task stays closed; case_id and [OUTPUT] fields are not updatable.
    let mut reopened = visible.clone();
    reopened.state = pb::CaseTaskState::Open as i32;
    let status = update_task(suite, &agent, reopened, &["state"]).await.unwrap_err();
    assert_eq!(reason_of(&status), "INVALID_STATE_TRANSITION");
    let status = update_task(suite, &agent, hidden.clone(), &["case_id"]).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["update_mask".to_owned()]);
    // The customer reads the case's tasks through its READ on the case.
    assert_eq!(all_tasks(suite, &customer, &case.case_id).await.len(), 2);
});

backend_test!(explain_on_a_case_task_names_the_task_row_and_the_parent_case_rules, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (worker, worker_token) = employee(suite, "Tom", &[TASK_AGENT]).await;
    let (_, other_token) = employee(suite, "Ola", &[TASK_AGENT]).await;
    let case = new_case(suite, &agent, &a).await;
    let task = new_task(suite, &agent, &case.case_id, Some(worker), "").await.unwrap();
    let explain = |token: String| {
        let task = task.case_task_id.clone();
        async move {
            suite
                .case_access(Some(&token))
                .explain(pb::ExplainRequest {
                    target: Some(pb::Target { resource: Some(pb::target::Resource::CaseTaskId(task)) }),
                    action: pb::Action::WriteFull as i32,
                    ..Default::default()
                })
                .await
                .expect("explain")
                .into_inner()
        }
    };
    let allowed = explain(worker_token).await;
    assert_eq!(allowed.decision.as_ref().unwrap().rule, "R4.19");
    assert!(allowed.rules.iter().any(|rule| rule.rule == "R4.19" && rule.outcome == pb::RuleOutcome::Matched as i32));
    let denied = explain(other_token).await;
    assert!(!denied.decision.unwrap().allowed);
    let closest = denied.closest_rule.expect("a denial names the closest rule");
    assert_eq!(closest.outcome, pb::RuleOutcome::NotMatched as i32);
    // The parent case's rules are part of the trace.
    assert!(denied.rules.iter().any(|rule| rule.rule.starts_with("T4.") || rule.rule == "R4.19"));
    assert!(denied.rules.iter().any(|rule| rule.rule == "parent_case"));
});
