//! `csm dev` as a newcomer runs it: the real binary, all five services, health
//! SERVING and reflection listing each service (asked from a client), demo
//! data that loads again unchanged after a restart, and a clean SIGTERM.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio_stream::StreamExt as _;
use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

struct Started {
    child: Child,
    endpoints: Vec<(String, String)>,
    acme_id: String,
    /// The administrator's (login name, password) from the banner.
    admin: (String, String),
    /// The first demo case's id.
    case_id: String,
}

/// Starts `csm dev` on free ports and reads its banner up to `ready`.
fn start(data_dir: &std::path::Path) -> Started {
    let mut child = Command::new(env!("CARGO_BIN_EXE_csm"))
        .args(["dev", "--base-port", "0", "--data-dir"])
        .arg(data_dir)
        .env("CSM_LOG_FORMAT", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("csm starts");
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut endpoints = Vec::new();
        let mut acme_id = String::new();
        let mut admin = (String::new(), String::new());
        let mut case_id = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() == 2 && words[1].starts_with("http://") {
                endpoints.push((words[0].to_owned(), words[1].to_owned()));
            }
            if line.trim_start().starts_with("Acme Corp ") {
                acme_id = words.last().unwrap().to_string();
            }
            // Administrator: login "admin", password "…" (kept in …)
            if line.starts_with("Administrator: login ") {
                let quoted: Vec<&str> = line.split('"').collect();
                admin = (quoted[1].to_owned(), quoted[3].to_owned());
            }
            if case_id.is_empty() && line.trim_start().starts_with("Acme France: ") {
                case_id = words.last().unwrap().to_string();
            }
            if line == "ready" {
                let _ = sender.send((endpoints.clone(), acme_id.clone(), admin.clone(), case_id.clone()));
            }
        }
    });
    let (endpoints, acme_id, admin, case_id) =
        receiver.recv_timeout(Duration::from_secs(120)).expect("csm dev prints ready");
    Started { child, endpoints, acme_id, admin, case_id }
}

fn stop(mut started: Started) {
    let status = Command::new("kill").args(["-TERM", &started.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = started.child.try_wait().unwrap() {
            assert!(status.success(), "csm dev exits cleanly on SIGTERM: {status}");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "csm dev did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csm_dev_serves_all_five_services_with_demo_data() {
    let data_dir = std::env::temp_dir().join(format!("csm-dev-test-{}", uuid::Uuid::new_v4().simple()));
    let started = start(&data_dir);
    let names: Vec<&str> = started.endpoints.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["identity", "role", "account-team", "case-access", "licensing"]);
    for (name, url) in &started.endpoints {
        let channel = Endpoint::from_shared(url.clone()).unwrap().connect_lazy();
        let status = HealthClient::new(channel.clone())
            .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{name}");
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let response = ServerReflectionClient::new(channel)
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner()
            .next()
            .await
            .unwrap()
            .unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else { panic!("{name}") };
        let expected = format!("csm.{}.v1.", name.replace('-', "_"));
        assert!(list.service.iter().any(|service| service.name.starts_with(&expected)), "{name}: {:?}", list.service);
    }
    assert!(!started.acme_id.is_empty(), "the demo data was loaded");
    logging_in_and_the_dev_token_work_everywhere(&started, &data_dir).await;
    let first_acme = started.acme_id.clone();
    stop(started);

    // A restart on the same data directory finds the same data (idempotent load).
    let again = start(&data_dir);
    assert_eq!(again.acme_id, first_acme);
    stop(again);
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// The banner's administrator logs in with its password (no token), and the
/// default `csm token` is accepted by every service (its profile is known to
/// identity): both ask case-access about a demo case.
async fn logging_in_and_the_dev_token_work_everywhere(started: &Started, data_dir: &std::path::Path) {
    use csm_proto::case_access as ca_pb;
    use csm_proto::identity as id_pb;
    let url = |name: &str| started.endpoints.iter().find(|(service, _)| service == name).unwrap().1.clone();
    let channel = |name: &str| Endpoint::from_shared(url(name)).unwrap().connect_lazy();
    let (login_name, password) = &started.admin;
    assert!(!password.is_empty(), "the banner prints the administrator's password");
    let logged_in = id_pb::identity_service_client::IdentityServiceClient::new(channel("identity"))
        .start_session(id_pb::StartSessionRequest {
            login_name: login_name.clone(),
            proof: Some(id_pb::start_session_request::Proof::Password(password.clone())),
            channel: id_pb::Channel::Browser as i32,
            ..Default::default()
        })
        .await
        .expect("the printed administrator logs in")
        .into_inner();
    let session_token = logged_in.access_token.unwrap().token;
    let output = Command::new(env!("CARGO_BIN_EXE_csm"))
        .args(["token", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("csm token runs");
    assert!(output.status.success());
    let dev_token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    for token in [&session_token, &dev_token] {
        let check = |token: &str| {
            let mut request = tonic::Request::new(ca_pb::CheckRequest {
                target: Some(ca_pb::Target {
                    resource: Some(ca_pb::target::Resource::CaseId(started.case_id.clone())),
                }),
                action: ca_pb::Action::Read as i32,
                ..Default::default()
            });
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
            request
        };
        let decision = ca_pb::case_access_service_client::CaseAccessServiceClient::new(channel("case-access"))
            .check(check(token))
            .await
            .expect("case-access accepts the token")
            .into_inner()
            .decision
            .unwrap();
        assert!(decision.allowed, "the administrator reads the demo case");
        let mut request = tonic::Request::new(id_pb::ListAccountsRequest::default());
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        id_pb::identity_service_client::IdentityServiceClient::new(channel("identity"))
            .list_accounts(request)
            .await
            .expect("identity accepts the token");
    }
}
