//! The test harness: the five services started in-process, each on its own
//! pre-bound ephemeral port, talking to each other over real gRPC, on a fresh
//! database per service (a SQLite file, or a PostgreSQL schema when
//! `CSM_TEST_POSTGRES_URL` is set).
//!
//! [`backend_test!`] declares a test once and runs it as two tests,
//! `<name>::sqlite` and `<name>::postgres`; the PostgreSQL one says SKIPPED on
//! stderr when the variable is not set.

use std::collections::BTreeMap;
use std::time::Duration;

use csm_auth::SuiteKeys;
use csm_db::testing::{TestBackend, TestDatabase};
use csm_proto::account_team::account_team_service_client::AccountTeamServiceClient;
use csm_proto::audit::audit_service_client::AuditServiceClient;
use csm_proto::case_access::case_access_service_client::CaseAccessServiceClient;
use csm_proto::identity::identity_service_client::IdentityServiceClient;
use csm_proto::licensing::licensing_service_client::LicensingServiceClient;
use csm_proto::role::role_service_client::RoleServiceClient;
use csm_server::{BootstrapAdmin, PeerUrls, ServiceConfig, SessionSettings};
use csm_telemetry::{ClientTrace, ClientTraceLayer};
use csm_types::{LoginId, ProfileId, ServiceName};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt as _;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::Layer as _;

pub mod raw;
pub mod world;

pub use csm_db::testing::TestBackend as Backend;

/// The channel of a test client: traced (so `traceparent` is sent) and, when a
/// token is given, authenticated.
pub type TestChannel = ClientTrace<Channel>;

/// Declares a test that runs once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! backend_test {
    ($(#[$meta:meta])* $name:ident, |$suite:ident| $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($suite: &$crate::Suite) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let suite = $crate::Suite::start($crate::Backend::Sqlite).await;
                body(&suite).await;
                suite.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(backend) = $crate::Backend::postgres_from_env(concat!(module_path!(), "::postgres")) else {
                    return;
                };
                let suite = $crate::Suite::start(backend).await;
                body(&suite).await;
                suite.stop().await;
            }
        }
    };
}

/// `request` with its update mask set to `paths`.
#[macro_export]
macro_rules! masked {
    ($request:expr, [$($path:expr),* $(,)?]) => {{
        let mut request = $request;
        let mut mask = request.update_mask.take().unwrap_or_default();
        mask.paths = vec![$($path.to_string()),*];
        request.update_mask = Some(mask);
        request
    }};
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// The five services, running.
pub struct Suite {
    pub backend: TestBackend,
    /// identity's signing key and each service's key: the harness mints as identity would.
    pub keys: SuiteKeys,
    /// `http://127.0.0.1:<port>` per service.
    pub endpoints: BTreeMap<ServiceName, String>,
    /// The Prometheus scrape endpoint per service: `127.0.0.1:<port>` (serving `GET /metrics`).
    pub metrics_endpoints: BTreeMap<ServiceName, std::net::SocketAddr>,
    /// The bootstrap administrator: identity created its login (name
    /// `admin_login_name`, password `admin_password`) and INTERNAL profile,
    /// role made the profile `admin` at start-up.
    pub admin_profile: ProfileId,
    pub admin_login: LoginId,
    pub admin_login_name: String,
    pub admin_password: String,
    /// The database URL each service runs on (replicas share it).
    database_urls: BTreeMap<ServiceName, String>,
    running: Vec<(ServiceName, Running)>,
    /// The configuration each service started with (a restart reuses it, port included).
    configs: BTreeMap<ServiceName, ServiceConfig>,
    databases: Vec<TestDatabase>,
}

/// A second instance of a service on the same database as the suite's
/// (another replica), talking to the suite's peers; stop it before the suite.
pub struct Replica {
    pub service: ServiceName,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    running: Running,
}

impl Replica {
    /// A traced channel to the replica, carrying `token` when given.
    pub fn channel(&self, token: Option<&str>) -> TestChannel {
        let channel = Endpoint::from_shared(self.endpoint.clone())
            .expect("valid endpoint")
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        let layer = match token {
            Some(token) => ClientTraceLayer::with_bearer_token(token),
            None => ClientTraceLayer::new(),
        };
        layer.layer(channel)
    }

    pub fn case_access(&self, token: Option<&str>) -> CaseAccessServiceClient<TestChannel> {
        CaseAccessServiceClient::new(self.channel(token))
    }

    /// Stops the replica (graceful shutdown).
    pub async fn stop(self) {
        let _ = self.running.stop.send(());
        match tokio::time::timeout(Duration::from_secs(30), self.running.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => panic!("replica of {} failed: {error:#}", self.service),
            Ok(Err(join_error)) => panic!("replica of {} panicked: {join_error}", self.service),
            Err(_) => panic!("replica of {} did not shut down within 30 s", self.service),
        }
    }
}

/// Options for [`Suite::start_with`].
#[derive(Debug, Clone, Default)]
pub struct SuiteOptions {
    /// Database URL per service, overriding the fresh test database.
    pub database_overrides: BTreeMap<ServiceName, String>,
    /// Do not wait for these services to report SERVING.
    pub skip_readiness: Vec<ServiceName>,
    /// identity's session settings (token lifetime, idle timeout, guessing limits).
    pub sessions: Option<SessionSettings>,
    /// An OIDC provider every service accepts tokens of.
    pub oidc: Option<csm_auth::OidcProvider>,
    /// RPCs a service handles at once (`CSM_CONCURRENCY_LIMIT`), per service.
    pub concurrency_limits: BTreeMap<ServiceName, usize>,
}

impl Suite {
    /// Starts the suite on `backend` and waits until every service is SERVING.
    pub async fn start(backend: TestBackend) -> Suite {
        Self::start_with(backend, SuiteOptions::default()).await
    }

    pub async fn start_with(backend: TestBackend, options: SuiteOptions) -> Suite {
        let keys = SuiteKeys::generate();
        let admin_profile = ProfileId::new();
        let admin_login = LoginId::new();
        let admin_password = format!("admin-{}", uuid::Uuid::new_v4().simple());
        // Unique per start: suites restarted on one database each get their own administrator.
        let admin_login_name = format!("admin-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);

        // Bind every listener first: peers know each other's addresses before
        // anything starts, and no port can be taken in between.
        let mut listeners = Vec::new();
        let mut peers = PeerUrls::local_defaults();
        let mut endpoints = BTreeMap::new();
        let mut metrics = BTreeMap::new();
        let mut metrics_endpoints = BTreeMap::new();
        for service in ServiceName::ALL {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind an ephemeral port");
            let url = format!("http://{}", listener.local_addr().expect("bound address"));
            peers.set(service, url.clone());
            endpoints.insert(service, url);
            listeners.push((service, listener));
            let (endpoint, address) = csm_server::MetricsEndpoint::bind_now(([127, 0, 0, 1], 0).into())
                .expect("bind an ephemeral metrics port");
            metrics.insert(service, endpoint);
            metrics_endpoints.insert(service, address);
        }

        let mut databases = Vec::new();
        let mut database_urls = BTreeMap::new();
        let mut running = Vec::new();
        let mut configs = BTreeMap::new();
        for (service, listener) in listeners {
            let database_url = match options.database_overrides.get(&service) {
                Some(url) => url.clone(),
                None => {
                    let database = backend.fresh_database(service.as_str());
                    let url = database.url.clone();
                    databases.push(database);
                    url
                }
            };
            database_urls.insert(service, database_url.clone());
            let mut config = test_config(service, database_url, &keys, &peers, listener.local_addr().expect("bound"));
            config.metrics = metrics.remove(&service).expect("a metrics listener per service");
            config.bootstrap_admin_profiles = vec![admin_profile];
            config.auth.oidc = options.oidc.clone();
            if let Some(limit) = options.concurrency_limits.get(&service) {
                config.server.concurrency_limit = *limit;
            }
            if service == ServiceName::Identity {
                config.bootstrap_admin = Some(BootstrapAdmin {
                    login_id: admin_login,
                    login_name: admin_login_name.clone(),
                    password: Some(admin_password.clone()),
                    profile_id: admin_profile,
                });
                if let Some(sessions) = &options.sessions {
                    config.sessions = sessions.clone();
                }
            }
            let mut kept = config.clone();
            // A restart serves no metrics endpoint (its listener belongs to the first start).
            kept.metrics = csm_server::MetricsEndpoint::Disabled;
            configs.insert(service, kept);
            running.push((service, Running::start(service, config, listener)));
        }

        let suite = Suite {
            backend,
            keys,
            endpoints,
            metrics_endpoints,
            admin_profile,
            admin_login,
            admin_login_name,
            admin_password,
            database_urls,
            running,
            configs,
            databases,
        };
        for service in ServiceName::ALL {
            if !options.skip_readiness.contains(&service) {
                suite.wait_until_serving(service, Duration::from_secs(60)).await;
            }
        }
        suite
    }

    /// Kills `service` (its task aborted: connections drop at once, nothing
    /// drains), keeping its database: its peers see an outage.
    pub async fn kill_service(&mut self, service: ServiceName) {
        let index = self.running.iter().position(|(name, _)| *name == service).expect("the service runs");
        let (_, running) = self.running.remove(index);
        running.task.abort();
        let _ = running.task.await;
    }

    /// Starts `service` again on the same address and database, and waits until it is SERVING.
    pub async fn restart_service(&mut self, service: ServiceName) {
        let config = self.configs[&service].clone();
        let listener = TcpListener::bind(config.listen_addr).await.expect("the service's address is free again");
        self.running.push((service, Running::start(service, config, listener)));
        self.wait_until_serving(service, Duration::from_secs(60)).await;
    }

    /// Starts another replica of `service` on the suite's database for it,
    /// with the suite's peers, and waits until it is SERVING.
    pub async fn start_replica(&self, service: ServiceName) -> Replica {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind an ephemeral port");
        let address = listener.local_addr().expect("bound address");
        let mut peers = PeerUrls::local_defaults();
        for (peer, url) in &self.endpoints {
            peers.set(*peer, url.clone());
        }
        let config = test_config(service, self.database_urls[&service].clone(), &self.keys, &peers, address);
        let replica = Replica {
            service,
            endpoint: format!("http://{address}"),
            running: Running::start(service, config, listener),
        };
        let endpoint = replica.endpoint.clone();
        wait_until_serving_at(service, move || plain_channel_to(&endpoint), Duration::from_secs(60)).await;
        replica
    }

    /// Waits for `service` to report SERVING on its health endpoint (a health
    /// Watch stream, not a sleep).
    pub async fn wait_until_serving(&self, service: ServiceName, limit: Duration) {
        let endpoint = self.endpoints[&service].clone();
        wait_until_serving_at(service, move || plain_channel_to(&endpoint), limit).await;
    }

    /// A channel to `service` without credentials.
    pub fn plain_channel(&self, service: ServiceName) -> Channel {
        plain_channel_to(&self.endpoints[&service])
    }
}

/// Waits for the service behind `channel` to report SERVING (a health Watch stream, not a sleep).
async fn wait_until_serving_at(service: ServiceName, channel: impl Fn() -> Channel, limit: Duration) {
    let wait = async {
        loop {
            let mut health = HealthClient::new(channel());
            let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
            if let Ok(response) = health.watch(request).await {
                let mut stream = response.into_inner();
                while let Some(Ok(status)) = stream.next().await {
                    if status.status == ServingStatus::Serving as i32 {
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(limit, wait)
        .await
        .unwrap_or_else(|_| panic!("{service} did not report SERVING within {limit:?}"));
}

/// A lazily connected channel to `endpoint` without credentials.
fn plain_channel_to(endpoint: &str) -> Channel {
    Endpoint::from_shared(endpoint.to_owned()).expect("valid endpoint").timeout(Duration::from_secs(30)).connect_lazy()
}

/// The configuration every test service (and replica) runs with.
fn test_config(
    service: ServiceName,
    database_url: String,
    keys: &SuiteKeys,
    peers: &PeerUrls,
    listen_addr: std::net::SocketAddr,
) -> ServiceConfig {
    let mut config = ServiceConfig::new(service, database_url, keys.config_for(service), peers.clone());
    config.listen_addr = listen_addr;
    // Several suites run at once against one PostgreSQL: keep pools small.
    config.pool.max_connections = 4;
    // Tests only: cheap password hashes (production keeps OWASP's 600,000 rounds).
    config.password_hash_iterations = 1_000;
    config
}

impl Running {
    fn start(service: ServiceName, config: ServiceConfig, listener: TcpListener) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(csm_cli::run_service(service, config, listener, shutdown));
        Running { stop, task }
    }
}

impl Suite {
    /// A traced channel to `service`, carrying `token` when given.
    pub fn channel(&self, service: ServiceName, token: Option<&str>) -> TestChannel {
        let layer = match token {
            Some(token) => ClientTraceLayer::with_bearer_token(token),
            None => ClientTraceLayer::new(),
        };
        layer.layer(self.plain_channel(service))
    }

    /// A token of the bootstrap administrator.
    pub fn admin_token(&self) -> String {
        self.token_for(self.admin_login, Some(self.admin_profile))
    }

    /// A token for `login` acting as `profile` (signed as identity signs;
    /// the profile must belong to the login, or every service refuses it).
    pub fn token_for(&self, login: LoginId, profile: Option<ProfileId>) -> String {
        self.keys.mint_person(login, None, profile, Duration::from_secs(600))
    }

    /// A token acting as `profile` for the profile's own login; a profile
    /// without a login is given one first (CreateLogin attaching it).
    pub async fn token_as(&self, profile: ProfileId) -> String {
        let admin = self.admin_token();
        let found = self
            .identity(Some(&admin))
            .get_profile(csm_proto::identity::GetProfileRequest { profile_id: profile.to_string() })
            .await
            .unwrap_or_else(|status| panic!("profile {profile} for a token: {status:?}"))
            .into_inner()
            .profile
            .expect("a profile");
        let login = match LoginId::parse(&found.login_id) {
            Ok(login) => login,
            Err(_) => {
                let created = self
                    .identity(Some(&admin))
                    .create_login(csm_proto::identity::CreateLoginRequest {
                        request_id: String::new(),
                        login_name: format!("person-{}", uuid::Uuid::new_v4().simple()),
                        password: String::new(),
                        profile_ids: vec![profile.to_string()],
                        default_profile_id: profile.to_string(),
                    })
                    .await
                    .unwrap_or_else(|status| panic!("a login for {profile}: {status:?}"))
                    .into_inner()
                    .login
                    .expect("a login");
                LoginId::parse(&created.login_id).expect("a login id")
            }
        };
        self.token_for(login, Some(profile))
    }

    /// A service token, as `service` presents it to its peers.
    pub fn service_token(&self, service: ServiceName) -> String {
        self.keys.mint_service(service, Duration::from_secs(600))
    }

    pub fn identity(&self, token: Option<&str>) -> IdentityServiceClient<TestChannel> {
        IdentityServiceClient::new(self.channel(ServiceName::Identity, token))
    }

    pub fn role(&self, token: Option<&str>) -> RoleServiceClient<TestChannel> {
        RoleServiceClient::new(self.channel(ServiceName::Role, token))
    }

    pub fn account_team(&self, token: Option<&str>) -> AccountTeamServiceClient<TestChannel> {
        AccountTeamServiceClient::new(self.channel(ServiceName::AccountTeam, token))
    }

    pub fn case_access(&self, token: Option<&str>) -> CaseAccessServiceClient<TestChannel> {
        CaseAccessServiceClient::new(self.channel(ServiceName::CaseAccess, token))
    }

    /// The audit trail of `service` (every service serves `csm.audit.v1.AuditService`).
    pub fn audit(&self, service: ServiceName, token: Option<&str>) -> AuditServiceClient<TestChannel> {
        AuditServiceClient::new(self.channel(service, token))
    }

    pub fn licensing(&self, token: Option<&str>) -> LicensingServiceClient<TestChannel> {
        LicensingServiceClient::new(self.channel(ServiceName::Licensing, token))
    }

    /// Gives `role` to `profile` as the administrator (RoleService.AssignRole);
    /// the profile must exist in identity. Returns the consistency token.
    pub async fn assign_role(&self, profile: ProfileId, role: &str) -> Result<String, tonic::Status> {
        let token = self.admin_token();
        let response = self
            .role(Some(&token))
            .assign_role(csm_proto::role::AssignRoleRequest {
                request_id: String::new(),
                profile_id: profile.to_string(),
                role: role.to_owned(),
            })
            .await?;
        Ok(response.into_inner().consistency_token)
    }

    /// Gives `role` to `profile` with identity's service identity (as identity
    /// does for new contacts): no identity record is needed.
    pub async fn assign_role_as_service(&self, profile: ProfileId, role: &str) -> Result<String, tonic::Status> {
        let token = self.service_token(ServiceName::Identity);
        let response = self
            .role(Some(&token))
            .assign_role(csm_proto::role::AssignRoleRequest {
                request_id: String::new(),
                profile_id: profile.to_string(),
                role: role.to_owned(),
            })
            .await?;
        Ok(response.into_inner().consistency_token)
    }

    /// The effective roles of `profile`, read by the administrator.
    pub async fn effective_roles(&self, profile: ProfileId) -> Vec<String> {
        let token = self.admin_token();
        self.role(Some(&token))
            .get_effective_roles(csm_proto::role::GetEffectiveRolesRequest {
                profile_id: profile.to_string(),
                consistency: None,
            })
            .await
            .expect("effective roles")
            .into_inner()
            .effective_roles
            .map(|roles| roles.roles)
            .unwrap_or_default()
    }

    /// The change an identity mutation wrote, read back from Watch by the
    /// consistency token the mutation returned.
    pub async fn identity_change(&self, consistency_token: &str) -> csm_proto::common::Change {
        let revision: u64 = consistency_token
            .strip_prefix("identity:")
            .and_then(|revision| revision.parse().ok())
            .unwrap_or_else(|| panic!("not an identity token: {consistency_token:?}"));
        let token = self.admin_token();
        let mut stream = self
            .identity(Some(&token))
            .watch(csm_proto::identity::WatchRequest { from_revision: revision - 1, entity_types: Vec::new() })
            .await
            .expect("watch opens")
            .into_inner();
        let change = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the change arrives")
            .expect("stream open")
            .expect("no error")
            .change
            .expect("a change");
        assert_eq!(change.revision, revision);
        change
    }

    /// Stops every service (graceful shutdown) and deletes the test databases.
    pub async fn stop(self) {
        // Signal every service first: a service draining waits for the Watch
        // streams its peers hold open, which end when those peers stop too.
        let mut tasks = Vec::new();
        for (service, running) in self.running {
            let _ = running.stop.send(());
            tasks.push((service, running.task));
        }
        for (service, task) in tasks {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => panic!("{service} failed: {error:#}"),
                Ok(Err(join_error)) => panic!("{service} panicked: {join_error}"),
                Err(_) => panic!("{service} did not shut down within 30 s"),
            }
        }
        for database in self.databases {
            database.remove().await;
        }
    }
}

/// The `ErrorInfo.reason` of a status (empty when it has none).
pub fn reason_of(status: &tonic::Status) -> String {
    use tonic_types::StatusExt as _;
    status.get_error_details().error_info().map(|info| info.reason.clone()).unwrap_or_default()
}

/// The fields named by a status's `BadRequest` violations.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_error_details()
        .bad_request()
        .map(|bad_request| bad_request.field_violations.iter().map(|violation| violation.field.clone()).collect())
        .unwrap_or_default()
}

/// Polls `probe` until it gives a value or `limit` passes (for effects that
/// travel a change feed: bounded, never a fixed sleep).
pub async fn eventually<T, F, Fut>(limit: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Suite {
    /// The last revision `service` committed to its change feed (its metrics
    /// endpoint's `csm_changefeed_head_revision`): a write moves it.
    pub async fn feed_head(&self, service: ServiceName) -> u64 {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let address = self.metrics_endpoints[&service];
        let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect to the metrics endpoint");
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send the scrape");
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response))
            .await
            .expect("the scrape answers in time")
            .expect("a UTF-8 response");
        response
            .lines()
            .find_map(|line| line.strip_prefix("csm_changefeed_head_revision{"))
            .and_then(|rest| rest.split_once("} "))
            .and_then(|(_, value)| value.split(' ').next())
            .and_then(|value| value.parse::<f64>().ok())
            .map_or(0, |value| value as u64)
    }
}
