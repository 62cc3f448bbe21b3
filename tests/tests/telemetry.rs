//! One request is one trace across services: an in-test OTLP collector
//! receives the spans of a call that crosses identity → role, and of a
//! case-access check that misses its cache (→ identity, role, account-team),
//! and the test checks the span trees (names, kinds, parent links, one trace
//! id, the decision's attributes).
//!
//! This file holds a single test: it installs the process-wide telemetry.

use csm_types::roles;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use csm_proto::case_access as case_pb;
use csm_proto::identity as identity_pb;
use csm_tests::world::*;
use csm_tests::{Backend, Suite};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn find<'a>(spans: &'a [Span], name: &str, kind: SpanKind) -> Option<&'a Span> {
    spans.iter().find(|span| span.name == name && span.kind == kind as i32)
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    span.attributes.iter().find(|attribute| attribute.key == key).and_then(|attribute| {
        match attribute.value.as_ref()?.value.as_ref()? {
            Value::StringValue(value) => Some(value.clone()),
            Value::IntValue(value) => Some(value.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_across_two_services_is_one_trace() {
    let collector = Collector::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let telemetry = csm_telemetry::init(&csm_telemetry::TelemetryConfig {
        service_name: "csm-test".to_owned(),
        otlp_endpoint: Some(collector_url),
        log_filter: Some("warn".to_owned()),
        log_format: csm_telemetry::LogFormat::Off,
    })
    .expect("telemetry installs");

    let suite = Suite::start(Backend::Sqlite).await;
    // Start-up (migrations, seeding, case-access's watchers) exports many spans;
    // drain them first so the batch queue has room for the call under test.
    telemetry.flush().await;
    let token = suite.admin_token();
    // identity authorizes the administrator by asking role for its effective roles.
    suite
        .identity(Some(&token))
        .create_account(identity_pb::CreateAccountRequest {
            request_id: String::new(),
            name: "Traced Ltd".to_owned(),
            kind: identity_pb::AccountKind::Customer as i32,
            parent_account_id: String::new(),
        })
        .await
        .expect("account created");

    let wanted = [
        ("csm.identity.v1.IdentityService/CreateAccount", SpanKind::Client),
        ("csm.identity.v1.IdentityService/CreateAccount", SpanKind::Server),
        ("csm.role.v1.RoleService/GetEffectiveRoles", SpanKind::Client),
        ("csm.role.v1.RoleService/GetEffectiveRoles", SpanKind::Server),
    ];
    let spans = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            telemetry.flush().await;
            let spans = collector.spans.lock().unwrap().clone();
            if wanted.iter().all(|(name, kind)| find(&spans, name, *kind).is_some()) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the four spans are exported");

    let [test_client, identity_server, role_client, role_server] =
        wanted.map(|(name, kind)| find(&spans, name, kind).unwrap().clone());
    // One trace id across the test client, identity and role.
    for span in [&identity_server, &role_client, &role_server] {
        assert_eq!(span.trace_id, test_client.trace_id, "{} is in the same trace", span.name);
    }
    // The tree: test client → identity server → role client → role server.
    assert_eq!(identity_server.parent_span_id, test_client.span_id);
    assert_eq!(role_client.parent_span_id, identity_server.span_id);
    assert_eq!(role_server.parent_span_id, role_client.span_id);
    // Attributes name the RPC and its outcome, nothing personal.
    assert_eq!(attribute(&role_server, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(attribute(&role_server, "rpc.service").as_deref(), Some("csm.role.v1.RoleService"));
    assert_eq!(attribute(&role_server, "rpc.method").as_deref(), Some("GetEffectiveRoles"));
    assert_eq!(attribute(&identity_server, "rpc.grpc.status_code").as_deref(), Some("0"));
    let by_id: HashMap<Vec<u8>, &Span> = spans.iter().map(|span| (span.span_id.clone(), span)).collect();
    assert!(by_id.contains_key(&identity_server.span_id));

    // A check that misses case-access's principal cache: its calls to identity,
    // role and account-team are children of the Check span, in the same trace.
    let acme = account(&suite, "Acme", None).await;
    let (_, agent) = employee(&suite, "Bea", &[roles::AGENT]).await;
    let case = create_case(&suite, &agent, draft(case_pb::CreateFor::Account, &acme, "")).await.unwrap();
    let case = case.support_case.unwrap().case_id;
    let (_, customer) = contact(&suite, &acme, "Kim", &[roles::CUSTOMER]).await;
    telemetry.flush().await;
    let decision = check(&suite, &customer, &case, case_pb::Action::Read).await;
    assert!(!decision.allowed);
    let check_name = "csm.case_access.v1.CaseAccessService/Check";
    let peers = [
        "csm.identity.v1.IdentityService/ResolvePrincipal",
        "csm.role.v1.RoleService/GetEffectiveRoles",
        "csm.account_team.v1.AccountTeamService/GetPrincipalRelationships",
    ];
    let (check_server, children) = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            telemetry.flush().await;
            let spans = collector.spans.lock().unwrap().clone();
            if let Some(server) = find(&spans, check_name, SpanKind::Server) {
                let children: Vec<Span> =
                    spans.iter().filter(|span| span.parent_span_id == server.span_id).cloned().collect();
                if peers.iter().all(|name| children.iter().any(|child| child.name == *name)) {
                    return (server.clone(), children);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        let spans = collector.spans.lock().unwrap().clone();
        let server = find(&spans, check_name, SpanKind::Server);
        let children: Vec<(String, i32)> = server
            .map(|server| {
                spans
                    .iter()
                    .filter(|span| span.parent_span_id == server.span_id)
                    .map(|span| (span.name.clone(), span.kind))
                    .collect()
            })
            .unwrap_or_default();
        let names: std::collections::BTreeSet<&str> = spans.iter().map(|span| span.name.as_str()).collect();
        panic!(
            "the check's span tree was not exported: server {:?}, children {children:?}, names {names:?}",
            server.is_some()
        )
    });
    for child in &children {
        assert_eq!(child.trace_id, check_server.trace_id);
        if peers.contains(&child.name.as_str()) {
            assert_eq!(child.kind, SpanKind::Client as i32, "{} is a client span", child.name);
        }
    }
    assert_eq!(attribute(&check_server, "csm.principal_kind").as_deref(), Some("CONTACT"));
    assert_eq!(attribute(&check_server, "csm.decision").as_deref(), Some("DENY"));
    assert_eq!(attribute(&check_server, "csm.rule").as_deref(), Some("R2.20"));
    assert_eq!(attribute(&check_server, "csm.caller_kind").as_deref(), Some("human"));

    // Watch streams have spans of their own: case-access applying identity's
    // change of the account created above, and its connections to the feeds.
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            telemetry.flush().await;
            let spans = collector.spans.lock().unwrap().clone();
            let applied = spans.iter().any(|span| {
                span.name == "csm.watch/apply"
                    && attribute(span, "csm.feed").as_deref() == Some("identity")
                    && attribute(span, "csm.entity_type").as_deref() == Some("account")
            });
            if applied && find(&spans, "csm.watch/connect", SpanKind::Internal).is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("watch spans were exported");

    suite.stop().await;
    telemetry.shutdown().await;
    server.abort();
}
