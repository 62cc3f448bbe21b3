//! `csm dev`: the whole suite in one process on embedded SQLite (or, with
//! `--postgres`, on one PostgreSQL database, a schema per service).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use csm_auth::SuiteKeys;
use csm_server::{BootstrapAdmin, MetricsEndpoint, PeerUrls, ServiceConfig, default_port};
use csm_types::{LoginId, ProfileId, ServiceName};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Options of `csm dev`.
#[derive(Debug, Clone, clap::Args)]
pub struct DevArgs {
    /// Where the SQLite files, keys and the administrator's ids live.
    #[arg(long, default_value = "data", env = "CSM_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port of identity; the others follow (role +1, account-team +2,
    /// case-access +3, licensing +4). 0 picks free ports.
    #[arg(long, default_value_t = default_port(ServiceName::Identity))]
    pub base_port: u16,
    /// Do not load the demo data set.
    #[arg(long)]
    pub no_demo: bool,
    /// Run on this PostgreSQL database instead of SQLite files: each service
    /// in its own schema (`csm_identity`, `csm_case_access`, …), created if missing.
    #[arg(long, env = "CSM_DEV_POSTGRES_URL", value_name = "URL")]
    pub postgres: Option<String>,
}

impl DevArgs {
    /// The database URL of `service`.
    pub fn database_url(&self, service: ServiceName) -> String {
        match &self.postgres {
            Some(url) => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}csm_schema=csm_{}", service.as_str().replace('-', "_"))
            }
            None => format!("sqlite://{}", self.data_dir.join(format!("{service}.db")).display()),
        }
    }
}

/// What `csm dev` keeps between runs, so tokens and logins stay valid across restarts.
pub struct DevState {
    /// identity's signing key and each service's key (development only).
    pub keys: SuiteKeys,
    pub admin_login: LoginId,
    pub admin_profile: ProfileId,
    /// The administrator's login name and password (printed by `csm dev`).
    pub admin_login_name: String,
    pub admin_password: String,
}

/// The login name of the development administrator.
pub const DEV_ADMIN_LOGIN_NAME: &str = "admin";

impl DevState {
    /// Reads `<data_dir>/dev.env`, creating it (or adding what an older
    /// version did not write) with fresh keys, ids and password.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        let path = data_dir.join("dev.env");
        if !path.exists() {
            let content = format!(
                "# Development secrets of `csm dev` (not for production).\n\
                 CSM_DEV_ADMIN_LOGIN={}\nCSM_DEV_ADMIN_PROFILE={}\n",
                LoginId::new(),
                ProfileId::new(),
            );
            std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))?;
        }
        let mut content = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut added = String::new();
        if !content.contains("CSM_DEV_IDENTITY_KEY=") {
            added.push_str(&SuiteKeys::generate().to_env_lines());
        }
        if !content.contains("CSM_DEV_ADMIN_PASSWORD=") {
            added.push_str(&format!("CSM_DEV_ADMIN_PASSWORD=dev-{}\n", uuid::Uuid::new_v4().simple()));
        }
        if !added.is_empty() {
            if !content.ends_with('\n') {
                content.push('\n');
            }
            content.push_str(&added);
            std::fs::write(&path, &content).with_context(|| format!("cannot write {}", path.display()))?;
        }
        let values: BTreeMap<&str, &str> = content
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.trim(), value.trim()))
            .collect();
        let get = |key: &str| values.get(key).copied().with_context(|| format!("{} lacks {key}", path.display()));
        Ok(Self {
            keys: SuiteKeys::from_env(|key| get(key).map(str::to_owned))?,
            admin_login: get("CSM_DEV_ADMIN_LOGIN")?.parse().map_err(|error| anyhow::anyhow!("{error}"))?,
            admin_profile: get("CSM_DEV_ADMIN_PROFILE")?.parse().map_err(|error| anyhow::anyhow!("{error}"))?,
            admin_login_name: DEV_ADMIN_LOGIN_NAME.to_owned(),
            admin_password: get("CSM_DEV_ADMIN_PASSWORD")?.to_owned(),
        })
    }

    /// The configuration of `service` in this development suite.
    pub fn config_for(&self, service: ServiceName, database_url: String, peers: &PeerUrls) -> ServiceConfig {
        let mut config = ServiceConfig::new(service, database_url, self.keys.config_for(service), peers.clone());
        config.bootstrap_admin_profiles = vec![self.admin_profile];
        if service == ServiceName::Identity {
            config.bootstrap_admin = Some(BootstrapAdmin {
                login_id: self.admin_login,
                login_name: self.admin_login_name.clone(),
                password: Some(self.admin_password.clone()),
                profile_id: self.admin_profile,
            });
        }
        config
    }

    /// A development token of the administrator (what `csm token` prints by default).
    pub fn admin_token(&self, ttl: Duration) -> String {
        self.keys.mint_person(self.admin_login, None, self.admin_profile, ttl)
    }
}

/// Runs `csm dev` until Ctrl-C or SIGTERM.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let mut telemetry_config = csm_telemetry::TelemetryConfig::from_env("csm-dev")?;
    if std::env::var_os("CSM_LOG_FORMAT").is_none() {
        telemetry_config.log_format = csm_telemetry::LogFormat::Pretty;
    }
    let telemetry = csm_telemetry::init(&telemetry_config)?;
    let state = DevState::load_or_create(&args.data_dir)?;

    let mut listeners = Vec::new();
    let mut peers = PeerUrls::local_defaults();
    let mut metrics_urls = Vec::new();
    for (offset, service) in ServiceName::ALL.into_iter().enumerate() {
        let port = if args.base_port == 0 { 0 } else { args.base_port + offset as u16 };
        let address = SocketAddr::new(args.host, port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} for {service} (try --base-port)"))?;
        peers.set(service, format!("http://{}", listener.local_addr()?));
        // The scrape endpoint: the gRPC port + 1000 (as in production), or any free port.
        let metrics_port = if args.base_port == 0 { 0 } else { port.saturating_add(1000) };
        let (metrics, metrics_address) = MetricsEndpoint::bind_now(SocketAddr::new(args.host, metrics_port))
            .with_context(|| {
                format!("cannot listen on port {metrics_port} for {service}'s metrics (try --base-port)")
            })?;
        metrics_urls.push((service, format!("http://{metrics_address}/metrics")));
        listeners.push((service, listener, metrics));
    }

    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    for (service, listener, metrics) in listeners {
        let mut config = state.config_for(service, args.database_url(service), &peers);
        config.listen_addr = listener.local_addr()?;
        config.metrics = metrics;
        let mut stopped = stopped.clone();
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        tasks.push((service, tokio::spawn(crate::run_service(service, config, listener, shutdown))));
    }

    let endpoints: Vec<(ServiceName, String)> =
        ServiceName::ALL.into_iter().map(|service| (service, peers.url(service).to_owned())).collect();
    crate::demo::wait_until_serving(&endpoints, Duration::from_secs(60)).await?;
    let admin_token = state.admin_token(Duration::from_secs(12 * 3600));
    let demo = if args.no_demo { None } else { Some(crate::demo::load(&peers, &state.keys, &admin_token).await?) };
    // The signal handlers are registered on the first poll: poll once before
    // announcing readiness, so a SIGTERM sent right after "ready" drains
    // instead of killing the process.
    let mut shutdown = Box::pin(csm_server::shutdown_signal());
    std::future::poll_fn(|cx| {
        let _ = shutdown.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
    print_banner(&args, &state, &endpoints, &metrics_urls, &admin_token, demo.as_ref());

    tokio::select! {
        _ = &mut shutdown => {}
        failed = wait_for_first_exit(&mut tasks) => {
            if let Some((service, error)) = failed {
                tracing::error!(%service, error = %error, "a service stopped");
            }
        }
    }
    let _ = stop.send(true);
    for (_, task) in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    }
    telemetry.shutdown().await;
    Ok(())
}

async fn wait_for_first_exit(
    tasks: &mut [(ServiceName, tokio::task::JoinHandle<anyhow::Result<()>>)],
) -> Option<(ServiceName, String)> {
    let futures = tasks.iter_mut().map(|(service, task)| {
        let service = *service;
        Box::pin(async move {
            match task.await {
                Ok(Ok(())) => (service, "stopped".to_owned()),
                Ok(Err(error)) => (service, format!("{error:#}")),
                Err(error) => (service, error.to_string()),
            }
        })
    });
    let (first, _, _) = futures::future::select_all(futures).await;
    Some(first)
}

fn print_banner(
    args: &DevArgs,
    state: &DevState,
    endpoints: &[(ServiceName, String)],
    metrics_urls: &[(ServiceName, String)],
    admin_token: &str,
    demo: Option<&crate::demo::DemoData>,
) {
    let identity = endpoints[0].1.trim_start_matches("http://");
    let mut out = String::new();
    match &args.postgres {
        Some(_) => {
            out.push_str("\nCSM Access Suite is running (PostgreSQL, a csm_<service> schema per service; keys under ")
        }
        None => out.push_str("\nCSM Access Suite is running (embedded SQLite under "),
    }
    out.push_str(&args.data_dir.display().to_string());
    out.push_str(")\n\n");
    for (service, url) in endpoints {
        out.push_str(&format!("  {:<13} {url}\n", service.as_str()));
    }
    out.push_str("\nPrometheus scrape endpoints (docs/metrics.md):\n\n");
    for (service, url) in metrics_urls {
        out.push_str(&format!("  {:<13} metrics {url}\n", service.as_str()));
    }
    out.push_str(&format!(
        "\nAdministrator: login {:?}, password {:?} (kept in {}/dev.env)\n",
        state.admin_login_name,
        state.admin_password,
        args.data_dir.display()
    ));
    out.push_str("\nLog in (identity issues the access token every service accepts):\n\n");
    out.push_str(&format!(
        "  export CSM_TOKEN=$(grpcurl -plaintext -d '{{\"login_name\":\"{}\",\"password\":\"{}\",\"channel\":\"CHANNEL_BROWSER\"}}' {identity} csm.identity.v1.IdentityService/StartSession | jq -r .accessToken.token)\n",
        state.admin_login_name, state.admin_password
    ));
    out.push_str("\nOr the development shortcut (an administrator token for 12 h; `csm token` mints more):\n\n  export CSM_TOKEN=");
    out.push_str(admin_token);
    out.push_str("\n\nTry (grpcurl, through server reflection):\n\n");
    out.push_str(&format!("  grpcurl -plaintext {identity} list\n"));
    out.push_str(&format!("  grpcurl -plaintext {identity} grpc.health.v1.Health/Check\n"));
    if let Some(demo) = demo {
        out.push_str(&format!(
            "  grpcurl -plaintext -H \"authorization: Bearer $CSM_TOKEN\" -d '{{\"account_id\":\"{}\"}}' {identity} csm.identity.v1.IdentityService/GetAccount\n",
            demo.accounts[0].1
        ));
    }
    out.push_str(&format!(
        "  grpcurl -plaintext -H \"authorization: Bearer $CSM_TOKEN\" -d '{{\"name\":\"New Co\",\"kind\":\"ACCOUNT_KIND_CUSTOMER\"}}' {identity} csm.identity.v1.IdentityService/CreateAccount\n"
    ));
    if let Some(demo) = demo {
        out.push_str("\nDemo accounts:\n");
        for (name, id) in &demo.accounts {
            out.push_str(&format!("  {name:<20} {id}\n"));
        }
        out.push_str(&format!("\nDemo people (password {:?}):\n", crate::demo::DEMO_PASSWORD));
        for (name, profile, role, login) in &demo.people {
            out.push_str(&format!("  {name:<20} {profile}  login {login:<13} role {role}\n"));
        }
        out.push_str("\nDemo cases (created by Ada Agent):\n");
        for (label, id) in &demo.cases {
            out.push_str(&format!("  {label:<30} {id}\n"));
        }
        if let (Some((_, carl, _, _)), [acme, globex, ..]) = (demo.people.get(1), demo.cases.as_slice()) {
            out.push_str("\nAsk case-access and read the audit trail (the operator client, `csm`):\n\n");
            out.push_str(&format!("  csm check --case {} --as {carl}\n", acme.1));
            out.push_str(&format!("  csm check --case {} --as {carl} --explain\n", globex.1));
            out.push_str(&format!("  csm access-review --case {} --action READ --action WRITE_CUSTOMER\n", acme.1));
            out.push_str("  csm access-review --format ndjson > access-review.ndjson\n");
            if let Some((_, globex_account)) = demo.accounts.iter().find(|(name, _)| name == "Globex") {
                out.push_str(&format!(
                    "  csm access-preview --profile {carl} --add-contact-relationship {globex_account}\n"
                ));
            }
            out.push_str("  csm audit --service case-access --kind denied-check\n");
        }
        if let Some((_, profile, _, _)) = demo.people.first() {
            out.push_str(&format!(
                "\n  grpcurl -plaintext -H \"authorization: Bearer $CSM_TOKEN\" -d '{{\"profile_id\":\"{profile}\"}}' {role} csm.role.v1.RoleService/GetEffectiveRoles\n",
                role = endpoints[1].1.trim_start_matches("http://")
            ));
        }
    }
    out.push_str("\nPress Ctrl-C to stop.\nready\n");
    println!("{out}");
}
