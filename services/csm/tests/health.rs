//! `csm health` as a container health check runs it: the real binary against a
//! gRPC health server, exit 0 only while the server says SERVING.

use std::process::Command;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

/// Runs `csm health` with `args` on a blocking thread; its exit code and stdout.
async fn csm_health(args: Vec<String>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_csm")).arg("health").args(args).output().expect("csm runs");
        (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).trim().to_owned())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn health_exits_zero_only_while_serving() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", ServingStatus::NotServing).await;
    reporter.set_service_status("csm.role.v1.RoleService", ServingStatus::Serving).await;
    let server = tokio::spawn(Server::builder().add_service(service).serve_with_incoming(TcpIncoming::from(listener)));

    let addr = vec!["--addr".to_owned(), format!("http://{address}")];
    let (code, stdout) = csm_health(addr.clone()).await;
    assert_eq!((code, stdout.as_str()), (1, "NOT_SERVING"), "NOT_SERVING must fail the check");

    reporter.set_service_status("", ServingStatus::Serving).await;
    let (code, stdout) = csm_health(addr.clone()).await;
    assert_eq!((code, stdout.as_str()), (0, "SERVING"));

    // host:port without a scheme, and a named service.
    let named = vec![address.to_string(), "--service".to_owned(), "csm.role.v1.RoleService".to_owned()];
    let (code, _) = csm_health([vec!["--addr".to_owned()], named].concat()).await;
    assert_eq!(code, 0);
    let (code, _) =
        csm_health([addr.clone(), vec!["--service".to_owned(), "csm.unknown.v1.X".to_owned()]].concat()).await;
    assert_eq!(code, 1, "an unknown service is not serving");

    server.abort();
    let _ = server.await;
    let (code, stdout) = csm_health([addr, vec!["--timeout-ms".to_owned(), "500".to_owned()]].concat()).await;
    assert_eq!((code, stdout.as_str()), (1, ""), "a closed port fails the check");
}
