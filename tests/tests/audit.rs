//! The audit trail (DESIGN.md §6, proto `csm.audit.v1`): every mutation and
//! every refusal — refused calls and denied checks — recorded with who, as
//! which profile, what, the decision, the rule and the trace id; read back by
//! time range and principal through ListAuditEvents, paginated. Over real gRPC,
//! on SQLite and PostgreSQL.

use csm_types::roles;
use std::time::Duration;

use csm_proto::audit as pb;
use csm_proto::case_access as ca_pb;
use csm_proto::identity as id_pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test, reason_of, violated_fields};
use csm_types::ServiceName;
use tonic::Code;

const CUSTOMER: &str = roles::CUSTOMER;
const AGENT: &str = roles::AGENT;

/// A request carrying a W3C `traceparent` of trace `trace_id`.
fn traced<T>(message: T, trace_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let header = format!("00-{trace_id}-00f067aa0ba902b7-01");
    request.metadata_mut().insert("traceparent", header.parse().expect("ascii header"));
    request
}

/// Every event `query` selects, following next_page_token.
async fn all_events(suite: &Suite, service: ServiceName, query: pb::ListAuditEventsRequest) -> Vec<pb::AuditEvent> {
    let admin = suite.admin_token();
    let mut events = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .audit(service, Some(&admin))
            .list_audit_events(pb::ListAuditEventsRequest { page_token, ..query.clone() })
            .await
            .expect("list audit events")
            .into_inner();
        events.extend(page.events);
        if page.next_page_token.is_empty() {
            return events;
        }
        page_token = page.next_page_token;
    }
}

/// Refusals are written by a background writer: waits (bounded) until an
/// event that `wanted` accepts is listed.
async fn eventually(
    suite: &Suite,
    service: ServiceName,
    query: pb::ListAuditEventsRequest,
    wanted: impl Fn(&pb::AuditEvent) -> bool,
) -> pb::AuditEvent {
    for _ in 0..100 {
        if let Some(event) = all_events(suite, service, query.clone()).await.into_iter().find(&wanted) {
            return event;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no matching audit event in {service} within 5 s");
}

fn of(principal: &str, kind: pb::AuditEventKind) -> pb::ListAuditEventsRequest {
    pb::ListAuditEventsRequest { principal: principal.to_owned(), kind: kind as i32, ..Default::default() }
}

backend_test!(audit_records_each_mutation_with_its_actor_profile_and_trace, |suite| {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let request = id_pb::CreateAccountRequest {
        name: "Audited".to_owned(),
        kind: id_pb::AccountKind::Customer as i32,
        ..Default::default()
    };
    let created = suite
        .identity(Some(&suite.admin_token()))
        .create_account(traced(request, trace))
        .await
        .expect("create account")
        .into_inner();
    let account = created.account.unwrap().account_id;

    // The event is written in the mutation's transaction: listed at once.
    let events =
        all_events(suite, ServiceName::Identity, of(&suite.admin_login.to_string(), pb::AuditEventKind::Mutation))
            .await;
    let event = events.iter().find(|event| event.entity_id == account).expect("the account's creation is audited");
    assert_eq!(event.kind, pb::AuditEventKind::Mutation as i32);
    assert_eq!(event.actor_kind, pb::ActorKind::Human as i32);
    assert_eq!(event.actor_id, suite.admin_login.to_string());
    assert_eq!(event.principal_id, suite.admin_profile.to_string(), "the acting profile is recorded");
    assert_eq!(
        (event.entity_type.as_str(), event.operation.as_str(), event.decision.as_str()),
        ("account", "created", "ALLOW")
    );
    assert_eq!(event.rpc, "/csm.identity.v1.IdentityService/CreateAccount");
    assert_eq!(event.trace_id, trace, "the caller's trace");
    assert!(
        created.consistency_token.ends_with(&format!(":{}", event.revision)),
        "the event names the change's revision: {} vs {}",
        created.consistency_token,
        event.revision
    );
    assert!(event.occurred_at.is_some());

    // The acting profile finds it too; someone else does not.
    let by_profile =
        all_events(suite, ServiceName::Identity, of(&suite.admin_profile.to_string(), pb::AuditEventKind::Mutation))
            .await;
    assert!(by_profile.iter().any(|event| event.entity_id == account));
    let other = all_events(
        suite,
        ServiceName::Identity,
        of(&uuid::Uuid::now_v7().to_string(), pb::AuditEventKind::Unspecified),
    )
    .await;
    assert!(other.is_empty(), "{other:?}");
});

backend_test!(audit_records_service_identities_and_the_calls_they_make_for_people, |suite| {
    // Creating a contact makes identity give it snc_external through role (R2.14),
    // with identity's service identity: role's trail names that actor.
    let acme = account(suite, "Acme", None).await;
    let (profile, _) = contact(suite, &acme, "Kim", &[]).await;
    let events = all_events(suite, ServiceName::Role, of("service:identity", pb::AuditEventKind::Mutation)).await;
    assert!(
        events.iter().any(|event| {
            event.actor_kind == pb::ActorKind::Service as i32
                && event.rpc == "/csm.role.v1.RoleService/AssignRole"
                && event.principal_id.is_empty()
        }),
        "{events:?}"
    );
    // The person who created the contact is on identity's trail.
    let events =
        all_events(suite, ServiceName::Identity, of(&suite.admin_login.to_string(), pb::AuditEventKind::Mutation))
            .await;
    assert!(
        events.iter().any(|event| event.entity_id == profile.to_string() && event.rpc.ends_with("/CreateContact")),
        "{events:?}"
    );
});

backend_test!(audit_records_refused_calls_with_their_reason, |suite| {
    let acme = account(suite, "Acme", None).await;
    let (kim, kim_token) = contact(suite, &acme, "Kim", &[CUSTOMER]).await;
    let status = suite
        .identity(Some(&kim_token))
        .create_account(id_pb::CreateAccountRequest {
            name: "Mine".to_owned(),
            kind: id_pb::AccountKind::Customer as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let refused =
        eventually(suite, ServiceName::Identity, of(&kim.to_string(), pb::AuditEventKind::DeniedCall), |event| {
            event.operation == "CreateAccount"
        })
        .await;
    assert_eq!((refused.decision.as_str(), refused.rule.as_str()), ("DENY", reason_of(&status).as_str()));
    assert_eq!(refused.actor_kind, pb::ActorKind::Human as i32);
    assert_eq!(refused.principal_id, kim.to_string());
    assert_eq!(refused.rpc, "/csm.identity.v1.IdentityService/CreateAccount");
    // Nothing of the refused call was written.
    let written = all_events(suite, ServiceName::Identity, of(&kim.to_string(), pb::AuditEventKind::Mutation)).await;
    assert!(written.is_empty(), "{written:?}");

    // A call without credentials is refused and recorded as anonymous.
    let status =
        suite.identity(None).get_account(id_pb::GetAccountRequest { account_id: acme.clone() }).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let anonymous = eventually(suite, ServiceName::Identity, of("", pb::AuditEventKind::DeniedCall), |event| {
        event.actor_kind == pb::ActorKind::Anonymous as i32 && event.operation == "GetAccount"
    })
    .await;
    assert_eq!(anonymous.rule, "MISSING_CREDENTIALS");
});

backend_test!(audit_records_denied_checks_with_the_principal_and_rule, |suite| {
    let acme = account(suite, "Acme", None).await;
    let globex = account(suite, "Globex", None).await;
    let (lou, lou_token) = contact(suite, &globex, "Lou", &[CUSTOMER]).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let case = create_case(suite, &agent, draft(ca_pb::CreateFor::Account, &acme, "")).await.unwrap();
    let case_id = case.support_case.unwrap().case_id;

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let request = ca_pb::CheckRequest {
        target: Some(ca_pb::Target { resource: Some(ca_pb::target::Resource::CaseId(case_id.clone())) }),
        action: ca_pb::Action::Read as i32,
        ..Default::default()
    };
    let decision =
        suite.case_access(Some(&lou_token)).check(traced(request, trace)).await.unwrap().into_inner().decision.unwrap();
    assert!(!decision.allowed);
    let denied =
        eventually(suite, ServiceName::CaseAccess, of(&lou.to_string(), pb::AuditEventKind::DeniedCheck), |event| {
            event.entity_id == case_id
        })
        .await;
    assert_eq!(
        (denied.entity_type.as_str(), denied.operation.as_str(), denied.decision.as_str()),
        ("case", "READ", "DENY")
    );
    assert!(!denied.rule.is_empty(), "the closest rule is named");
    assert_eq!(denied.trace_id, trace);
    assert_eq!(denied.rpc, "/csm.case_access.v1.CaseAccessService/Check");

    // An allowed check is not a refusal: nothing recorded for it.
    assert!(check(suite, &agent, &case_id, ca_pb::Action::Read).await.allowed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all_denied = all_events(suite, ServiceName::CaseAccess, of("", pb::AuditEventKind::DeniedCheck)).await;
    assert_eq!(all_denied.len(), 1, "{all_denied:?}");
});

backend_test!(audit_records_the_denials_of_a_batch_check_once_each_with_identical_items_folded, |suite| {
    let acme = account(suite, "Acme", None).await;
    let globex = account(suite, "Globex", None).await;
    let (lou, lou_token) = contact(suite, &globex, "Lou", &[CUSTOMER]).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let foreign = create_case(suite, &agent, draft(ca_pb::CreateFor::Account, &acme, "")).await.unwrap();
    let foreign = foreign.support_case.unwrap().case_id;
    let own = ca_pb::CaseDraft { contact_id: lou.to_string(), ..draft(ca_pb::CreateFor::Account, &globex, "") };
    let own = create_case(suite, &agent, own).await.unwrap();
    let own = own.support_case.unwrap().case_id;
    let item = |case: &str, action: ca_pb::Action| ca_pb::BatchCheckItem {
        target: Some(ca_pb::Target { resource: Some(ca_pb::target::Resource::CaseId(case.to_owned())) }),
        action: action as i32,
    };
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let request = ca_pb::BatchCheckRequest {
        items: vec![
            item(&foreign, ca_pb::Action::Read),
            item(&own, ca_pb::Action::Read),
            item(&foreign, ca_pb::Action::Read),
            item(&foreign, ca_pb::Action::WriteCustomer),
        ],
        ..Default::default()
    };
    let answer = suite.case_access(Some(&lou_token)).batch_check(traced(request, trace)).await.unwrap().into_inner();
    let allowed: Vec<bool> = answer.results.iter().map(|result| result.decision.as_ref().unwrap().allowed).collect();
    assert_eq!(allowed, vec![false, true, false, false]);

    // Two events: the two identical READ denials folded into one, the WRITE its own.
    eventually(suite, ServiceName::CaseAccess, of(&lou.to_string(), pb::AuditEventKind::DeniedCheck), |event| {
        event.operation == "WRITE_CUSTOMER"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut denied =
        all_events(suite, ServiceName::CaseAccess, of(&lou.to_string(), pb::AuditEventKind::DeniedCheck)).await;
    denied.sort_by(|a, b| a.operation.cmp(&b.operation));
    let seen: Vec<(&str, &str, u64)> =
        denied.iter().map(|event| (event.entity_id.as_str(), event.operation.as_str(), event.occurrences)).collect();
    assert_eq!(seen, vec![(foreign.as_str(), "READ", 2), (foreign.as_str(), "WRITE_CUSTOMER", 1)]);
    for event in &denied {
        assert_eq!(event.rpc, "/csm.case_access.v1.CaseAccessService/BatchCheck");
        assert_eq!(event.trace_id, trace);
        assert!(!event.rule.is_empty(), "the closest rule is named");
    }
});

backend_test!(audit_events_are_for_admins_with_validated_queries_and_pages, |suite| {
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let status = suite
        .audit(ServiceName::Identity, Some(&agent))
        .list_audit_events(pb::ListAuditEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status).as_str()), (Code::PermissionDenied, "CALLER_KIND_NOT_ALLOWED"));
    let status = suite
        .audit(ServiceName::Identity, None)
        .list_audit_events(pb::ListAuditEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let admin = suite.admin_token();
    let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    // An undeclared enum value is refused at the request edge, naming the field.
    let status = suite
        .audit(ServiceName::Identity, Some(&admin))
        .list_audit_events(pb::ListAuditEventsRequest { kind: 42, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((status.code(), violated_fields(&status)), (Code::InvalidArgument, vec!["kind".to_owned()]));
    let bad = pb::ListAuditEventsRequest {
        start_time: at(2_000_000_000),
        end_time: at(1_000_000_000),
        page_token: "not-a-token".to_owned(),
        ..Default::default()
    };
    let status = suite.audit(ServiceName::Identity, Some(&admin)).list_audit_events(bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields = violated_fields(&status);
    assert!(fields.contains(&"end_time".to_owned()), "{fields:?}");
    let status = suite
        .audit(ServiceName::Identity, Some(&admin))
        .list_audit_events(pb::ListAuditEventsRequest { page_token: "not-a-token".to_owned(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["page_token".to_owned()]);

    // Pages of one event follow each other in time order, nothing twice, nothing left out.
    let mut accounts = Vec::new();
    for name in ["One", "Two", "Three"] {
        accounts.push(account(suite, name, None).await);
    }
    let query =
        pb::ListAuditEventsRequest { page_size: 1, ..of(&suite.admin_login.to_string(), pb::AuditEventKind::Mutation) };
    let paged = all_events(suite, ServiceName::Identity, query.clone()).await;
    let whole = all_events(suite, ServiceName::Identity, pb::ListAuditEventsRequest { page_size: 1000, ..query }).await;
    assert_eq!(paged, whole);
    for account in &accounts {
        assert!(paged.iter().any(|event| &event.entity_id == account), "{account} missing");
    }
    let keys: Vec<_> = paged
        .iter()
        .map(|event| {
            let at = event.occurred_at.unwrap();
            (at.seconds, at.nanos, event.event_id.clone())
        })
        .collect();
    assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "oldest first, no duplicates");

    // A time range after everything selects nothing; one around everything selects all.
    let later = pb::ListAuditEventsRequest { start_time: at(4_000_000_000), ..Default::default() };
    assert!(all_events(suite, ServiceName::Identity, later).await.is_empty());
    let around = pb::ListAuditEventsRequest { start_time: at(0), end_time: at(4_000_000_000), ..Default::default() };
    assert!(all_events(suite, ServiceName::Identity, around).await.len() >= accounts.len());
});
