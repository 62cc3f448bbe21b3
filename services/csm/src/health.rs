//! `csm health`: one `grpc.health.v1.Health/Check` call, for container health
//! checks (compose) and operators. Exit code 0 when the server answers
//! SERVING, 1 otherwise (NOT_SERVING, unreachable, timeout), like
//! `grpc_health_probe`, so an image needs no second binary to be probed.

use std::time::Duration;

use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Options of `csm health`.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    /// The server to ask, e.g. `http://127.0.0.1:50051` (`host:port` is accepted too).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// The service to ask about; empty (the default) asks about the whole server.
    #[arg(long, default_value = "")]
    pub service: String,
    /// Deadline of the whole check (connect and call), in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

/// The health status of the server at `args.addr`, or why it could not be read.
pub async fn check(args: &HealthArgs) -> anyhow::Result<ServingStatus> {
    let url = if args.addr.contains("://") { args.addr.clone() } else { format!("http://{}", args.addr) };
    let limit = Duration::from_millis(args.timeout_ms);
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|error| anyhow::anyhow!("--addr {url:?} is not a URL: {error}"))?
        .connect_timeout(limit)
        .timeout(limit);
    let ask = async {
        let channel = endpoint.connect().await.map_err(|error| anyhow::anyhow!("cannot connect to {url}: {error}"))?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest { service: args.service.clone() })
            .await
            .map_err(|status| anyhow::anyhow!("{url}: health check failed: {status}"))?;
        let status = response.into_inner().status;
        ServingStatus::try_from(status).map_err(|_| anyhow::anyhow!("{url}: unknown serving status {status}"))
    };
    tokio::time::timeout(limit, ask).await.map_err(|_| anyhow::anyhow!("{url}: no answer within {limit:?}"))?
}

/// Runs `csm health`: prints the status and returns whether it is SERVING.
pub async fn run(args: HealthArgs) -> bool {
    match check(&args).await {
        Ok(status) => {
            println!("{}", status.as_str_name());
            status == ServingStatus::Serving
        }
        Err(error) => {
            eprintln!("csm health: {error:#}");
            false
        }
    }
}
