//! Configuration shared by every service, read through a lookup function
//! (environment variables in the binaries, a map in tests). Invalid settings
//! fail at start-up with a message naming the setting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use csm_auth::{AuthConfig, ServiceTokenSource};
use csm_db::PoolSettings;
use csm_types::{LoginId, ProfileId, ServiceName};

use crate::ServerSettings;

/// Default listen ports, one per service.
pub const fn default_port(service: ServiceName) -> u16 {
    match service {
        ServiceName::Identity => 50051,
        ServiceName::Role => 50052,
        ServiceName::AccountTeam => 50053,
        ServiceName::CaseAccess => 50054,
        ServiceName::Licensing => 50055,
    }
}

/// Default port of a service's metrics endpoint: its gRPC port + 1000 (identity 51051 … licensing 51055).
pub const fn default_metrics_port(service: ServiceName) -> u16 {
    default_port(service) + 1000
}

/// Where a service serves its Prometheus scrape endpoint (`GET /metrics`).
#[derive(Debug, Clone, Default)]
pub enum MetricsEndpoint {
    /// No endpoint (the default of [`ServiceConfig::new`]: tests and `csm dev` opt in).
    #[default]
    Disabled,
    /// Bind this address at start-up; port 0 picks a free one (the bound address is logged).
    Bind(SocketAddr),
    /// Serve on this pre-bound listener, so that the caller knows the address
    /// before the service starts (the test harness, `csm dev`).
    Listener(Arc<std::net::TcpListener>),
}

impl MetricsEndpoint {
    /// A listener pre-bound on `address` (port 0: any free port), and its bound address.
    pub fn bind_now(address: SocketAddr) -> std::io::Result<(Self, SocketAddr)> {
        let listener = std::net::TcpListener::bind(address)?;
        let bound = listener.local_addr()?;
        Ok((Self::Listener(Arc::new(listener)), bound))
    }

    /// The tokio listener to serve on (`None` when disabled).
    pub(crate) async fn listen(&self) -> anyhow::Result<Option<tokio::net::TcpListener>> {
        match self {
            Self::Disabled => Ok(None),
            Self::Bind(address) => Ok(Some(
                tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot listen on {address} (CSM_METRICS_ADDR)"))?,
            )),
            Self::Listener(listener) => {
                let listener = listener.try_clone().context("cannot share the metrics listener")?;
                listener.set_nonblocking(true)?;
                Ok(Some(tokio::net::TcpListener::from_std(listener)?))
            }
        }
    }
}

/// The environment-variable prefix of a peer URL: `CSM_<SERVICE>_URL`.
pub fn peer_url_variable(service: ServiceName) -> String {
    format!("CSM_{}_URL", service.as_str().replace('-', "_").to_uppercase())
}

/// Where the peer services listen.
#[derive(Debug, Clone)]
pub struct PeerUrls {
    urls: Vec<(ServiceName, String)>,
}

impl PeerUrls {
    /// Every peer on 127.0.0.1 at its default port.
    pub fn local_defaults() -> Self {
        Self {
            urls: ServiceName::ALL
                .into_iter()
                .map(|service| (service, format!("http://127.0.0.1:{}", default_port(service))))
                .collect(),
        }
    }

    pub fn set(&mut self, service: ServiceName, url: String) {
        self.urls.retain(|(existing, _)| *existing != service);
        self.urls.push((service, url));
    }

    pub fn url(&self, service: ServiceName) -> &str {
        self.urls.iter().find(|(existing, _)| *existing == service).map(|(_, url)| url.as_str()).unwrap_or_default()
    }
}

/// Everything a service needs to start.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub service: ServiceName,
    pub listen_addr: SocketAddr,
    /// The Prometheus scrape endpoint (`CSM_METRICS_ADDR`).
    pub metrics: MetricsEndpoint,
    pub database_url: String,
    pub pool: PoolSettings,
    /// Keys and token rules (csm_auth::AuthConfig::from_lookup documents the variables).
    pub auth: AuthConfig,
    pub server: ServerSettings,
    pub peers: PeerUrls,
    /// Deadline of calls to peers.
    pub peer_timeout: Duration,
    /// Profiles given `admin` by the role service at start-up (the first
    /// administrators of a new installation; `CSM_BOOTSTRAP_ADMIN_PROFILES`).
    pub bootstrap_admin_profiles: Vec<ProfileId>,
    /// PBKDF2 rounds of new password hashes (identity; `CSM_PASSWORD_HASH_ITERATIONS`).
    pub password_hash_iterations: u32,
    /// identity only: how its sessions and tokens behave.
    pub sessions: SessionSettings,
    /// identity only: the first administrator's login (`CSM_BOOTSTRAP_ADMIN_LOGIN`).
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// Days the audit trail is kept (`CSM_AUDIT_RETENTION_DAYS`; `None`: forever).
    pub audit_retention_days: Option<u32>,
}

/// identity's session settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// Lifetime of an access token (`CSM_IDENTITY_ACCESS_TOKEN_TTL_SECS`, default 900).
    pub access_token_ttl: Duration,
    /// A session without StartSession / SwitchProfile / RefreshSession for this
    /// long is ended (`CSM_IDENTITY_SESSION_IDLE_TIMEOUT_SECS`, default 1800).
    pub idle_timeout: Duration,
    /// Failed password attempts for one login within `attempt_window` before refusing (default 5).
    pub max_failures_per_login: u32,
    /// Failed password attempts from one client address within `attempt_window` (default 20).
    pub max_failures_per_address: u32,
    /// The window of the attempt limits (default 15 minutes).
    pub attempt_window: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(900),
            idle_timeout: Duration::from_secs(1800),
            max_failures_per_login: 5,
            max_failures_per_address: 20,
            attempt_window: Duration::from_secs(900),
        }
    }
}

/// The first administrator of a new installation: identity creates this
/// login and an INTERNAL profile (the first of `CSM_BOOTSTRAP_ADMIN_PROFILES`,
/// to which role gives `admin`) when they do not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapAdmin {
    pub login_id: LoginId,
    pub login_name: String,
    /// `None`: the login has no password (a gateway must pre-authenticate it).
    pub password: Option<String>,
    pub profile_id: ProfileId,
}

/// OWASP's recommendation for PBKDF2-HMAC-SHA256.
pub const DEFAULT_PASSWORD_HASH_ITERATIONS: u32 = 600_000;

impl ServiceConfig {
    /// A configuration for tests and `csm dev`: every value explicit, nothing read.
    pub fn new(service: ServiceName, database_url: String, auth: AuthConfig, peers: PeerUrls) -> Self {
        Self {
            service,
            listen_addr: SocketAddr::from(([127, 0, 0, 1], default_port(service))),
            metrics: MetricsEndpoint::Disabled,
            database_url,
            pool: PoolSettings::default(),
            auth,
            server: ServerSettings::default(),
            peers,
            peer_timeout: Duration::from_secs(5),
            bootstrap_admin_profiles: Vec::new(),
            password_hash_iterations: DEFAULT_PASSWORD_HASH_ITERATIONS,
            sessions: SessionSettings::default(),
            bootstrap_admin: None,
            audit_retention_days: Some(csm_audit::DEFAULT_RETENTION_DAYS),
        }
    }

    /// The token source of this service's calls to its peers.
    pub fn service_tokens(&self) -> anyhow::Result<ServiceTokenSource> {
        Ok(ServiceTokenSource::new(self.auth.service_signer(self.service)?))
    }

    /// Reads the configuration of `service`:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `CSM_LISTEN_ADDR` | address to listen on | `0.0.0.0:<service port>` |
    /// | `CSM_METRICS_ADDR` | address of the Prometheus scrape endpoint (`GET /metrics`); `off` disables it | `0.0.0.0:<service port + 1000>` |
    /// | `CSM_DATABASE_URL` | `sqlite://…` or `postgres://…` | `sqlite://data/<service>.db` |
    /// | `CSM_DATABASE_MAX_CONNECTIONS` | pool size | 10 |
    /// | `CSM_AUTH_*`, `CSM_IDENTITY_SIGNING_KEY_FILES` | keys and token rules ([`AuthConfig::from_lookup`]) | |
    /// | `CSM_<PEER>_URL` | peer endpoints, e.g. `CSM_ROLE_URL` | `http://127.0.0.1:<peer port>` |
    /// | `CSM_REQUEST_TIMEOUT_MS` | server-side RPC deadline | 30000 |
    /// | `CSM_CONCURRENCY_LIMIT` | RPCs in flight before shedding | 1024 |
    /// | `CSM_PEER_TIMEOUT_MS` | deadline of calls to peers | 5000 |
    /// | `CSM_BOOTSTRAP_ADMIN_PROFILES` | profile ids given `admin` at start-up (role) | none |
    /// | `CSM_PASSWORD_HASH_ITERATIONS` | PBKDF2 rounds of new password hashes (identity) | 600000 |
    /// | `CSM_IDENTITY_ACCESS_TOKEN_TTL_SECS` | lifetime of access tokens (identity) | 900 |
    /// | `CSM_IDENTITY_SESSION_IDLE_TIMEOUT_SECS` | idle sessions end after (identity) | 1800 |
    /// | `CSM_IDENTITY_MAX_FAILED_LOGINS` | failed passwords per login per window (identity) | 5 |
    /// | `CSM_IDENTITY_MAX_FAILED_LOGINS_PER_ADDRESS` | failed passwords per client address per window (identity) | 20 |
    /// | `CSM_IDENTITY_LOGIN_ATTEMPT_WINDOW_SECS` | the window of both limits (identity) | 900 |
    /// | `CSM_BOOTSTRAP_ADMIN_LOGIN` | login name identity creates for the first bootstrap profile | none |
    /// | `CSM_BOOTSTRAP_ADMIN_PASSWORD` | its password (none: only a gateway can log it in) | none |
    /// | `CSM_AUDIT_RETENTION_DAYS` | days the audit trail is kept; 0 keeps it forever | 90 |
    pub fn from_lookup(service: ServiceName, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |key: &str| lookup(key).filter(|value| !value.trim().is_empty());
        let listen_addr = match get("CSM_LISTEN_ADDR") {
            Some(value) => value.parse().with_context(|| format!("CSM_LISTEN_ADDR is not an address: {value:?}"))?,
            None => SocketAddr::from(([0, 0, 0, 0], default_port(service))),
        };
        let metrics = match get("CSM_METRICS_ADDR").as_deref().map(str::trim) {
            Some("off" | "disabled" | "none") => MetricsEndpoint::Disabled,
            Some(value) => MetricsEndpoint::Bind(
                value.parse().with_context(|| format!("CSM_METRICS_ADDR is not an address (or off): {value:?}"))?,
            ),
            None => MetricsEndpoint::Bind(SocketAddr::from(([0, 0, 0, 0], default_metrics_port(service)))),
        };
        let database_url = get("CSM_DATABASE_URL").unwrap_or_else(|| format!("sqlite://data/{service}.db"));
        let auth = AuthConfig::from_lookup(service, &lookup)?;
        let mut peers = PeerUrls::local_defaults();
        for peer in ServiceName::ALL {
            if let Some(url) = get(&peer_url_variable(peer)) {
                peers.set(peer, url);
            }
        }
        let number = |key: &str, default: u64| -> anyhow::Result<u64> {
            match get(key) {
                Some(value) => {
                    value.trim().parse().with_context(|| format!("{key} must be a whole number, got {value:?}"))
                }
                None => Ok(default),
            }
        };
        let mut config = Self::new(service, database_url, auth, peers);
        config.listen_addr = listen_addr;
        config.metrics = metrics;
        config.pool.max_connections = u32::try_from(number("CSM_DATABASE_MAX_CONNECTIONS", 10)?)
            .context("CSM_DATABASE_MAX_CONNECTIONS is too large")?;
        config.server.request_timeout = Duration::from_millis(number("CSM_REQUEST_TIMEOUT_MS", 30_000)?);
        config.server.concurrency_limit = usize::try_from(number("CSM_CONCURRENCY_LIMIT", 1024)?)?;
        config.peer_timeout = Duration::from_millis(number("CSM_PEER_TIMEOUT_MS", 5_000)?);
        config.password_hash_iterations =
            u32::try_from(number("CSM_PASSWORD_HASH_ITERATIONS", u64::from(DEFAULT_PASSWORD_HASH_ITERATIONS))?)
                .context("CSM_PASSWORD_HASH_ITERATIONS is too large")?;
        anyhow::ensure!(config.password_hash_iterations >= 1_000, "CSM_PASSWORD_HASH_ITERATIONS must be at least 1000");
        if let Some(list) = get("CSM_BOOTSTRAP_ADMIN_PROFILES") {
            config.bootstrap_admin_profiles = list
                .split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(|entry| {
                    ProfileId::parse(entry)
                        .with_context(|| format!("CSM_BOOTSTRAP_ADMIN_PROFILES: {entry:?} is not a profile id"))
                })
                .collect::<anyhow::Result<_>>()?;
        }
        let seconds = |key: &str, default: Duration| -> anyhow::Result<Duration> {
            let value = number(key, default.as_secs())?;
            anyhow::ensure!(value > 0, "{key} must be positive");
            Ok(Duration::from_secs(value))
        };
        let defaults = SessionSettings::default();
        config.sessions = SessionSettings {
            access_token_ttl: seconds("CSM_IDENTITY_ACCESS_TOKEN_TTL_SECS", defaults.access_token_ttl)?,
            idle_timeout: seconds("CSM_IDENTITY_SESSION_IDLE_TIMEOUT_SECS", defaults.idle_timeout)?,
            max_failures_per_login: u32::try_from(number(
                "CSM_IDENTITY_MAX_FAILED_LOGINS",
                u64::from(defaults.max_failures_per_login),
            )?)?,
            max_failures_per_address: u32::try_from(number(
                "CSM_IDENTITY_MAX_FAILED_LOGINS_PER_ADDRESS",
                u64::from(defaults.max_failures_per_address),
            )?)?,
            attempt_window: seconds("CSM_IDENTITY_LOGIN_ATTEMPT_WINDOW_SECS", defaults.attempt_window)?,
        };
        anyhow::ensure!(
            config.sessions.access_token_ttl <= config.auth.rules.max_lifetime,
            "CSM_IDENTITY_ACCESS_TOKEN_TTL_SECS must not exceed CSM_AUTH_MAX_TOKEN_LIFETIME_SECS"
        );
        if let (Some(login_name), Some(profile_id)) =
            (get("CSM_BOOTSTRAP_ADMIN_LOGIN"), config.bootstrap_admin_profiles.first().copied())
        {
            config.bootstrap_admin = Some(BootstrapAdmin {
                login_id: LoginId::new(),
                login_name: login_name.trim().to_owned(),
                password: get("CSM_BOOTSTRAP_ADMIN_PASSWORD"),
                profile_id,
            });
        }
        config.audit_retention_days = csm_audit::retention_days(get)?;
        anyhow::ensure!(config.server.concurrency_limit > 0, "CSM_CONCURRENCY_LIMIT must be at least 1");
        anyhow::ensure!(config.pool.max_connections > 0, "CSM_DATABASE_MAX_CONNECTIONS must be at least 1");
        Ok(config)
    }

    pub fn from_env(service: ServiceName) -> anyhow::Result<Self> {
        Self::from_lookup(service, |key| std::env::var(key).ok())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |key| map.get(key).cloned()
    }

    /// Key settings of `service` written to a temporary folder (PEM file + JWKS).
    fn key_settings(service: ServiceName) -> Vec<(String, String)> {
        let keys = csm_auth::SuiteKeys::generate();
        let dir = std::env::temp_dir().join(format!("csm-config-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem = dir.join("service.pem");
        std::fs::write(&pem, keys.services[&service].to_pem()).unwrap();
        vec![
            ("CSM_AUTH_SERVICE_KEY_FILE".to_owned(), pem.display().to_string()),
            ("CSM_AUTH_SERVICE_JWKS".to_owned(), csm_auth::Jwks::of(keys.services.values()).to_json()),
        ]
    }

    fn uuid_like() -> String {
        format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        )
    }

    fn lookup_with(service: ServiceName, pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut map: HashMap<String, String> = key_settings(service).into_iter().collect();
        map.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        move |key| map.get(key).cloned()
    }

    #[test]
    fn missing_keys_name_the_setting() {
        let error = ServiceConfig::from_lookup(ServiceName::Role, lookup(&[])).unwrap_err();
        assert!(error.to_string().contains("CSM_AUTH_SERVICE_KEY_FILE"));
    }

    #[test]
    fn peers_and_numbers_are_read() {
        let config = ServiceConfig::from_lookup(
            ServiceName::CaseAccess,
            lookup_with(
                ServiceName::CaseAccess,
                &[("CSM_ROLE_URL", "http://role:50052"), ("CSM_CONCURRENCY_LIMIT", "64")],
            ),
        )
        .unwrap();
        assert_eq!(config.peers.url(ServiceName::Role), "http://role:50052");
        assert_eq!(config.peers.url(ServiceName::Identity), "http://127.0.0.1:50051");
        assert_eq!(config.server.concurrency_limit, 64);
        assert_eq!(config.database_url, "sqlite://data/case-access.db");
        assert!(matches!(config.metrics, MetricsEndpoint::Bind(address) if address.port() == 51054));
    }

    #[test]
    fn the_metrics_endpoint_can_be_moved_or_disabled() {
        let with = |value: &str| {
            ServiceConfig::from_lookup(
                ServiceName::Role,
                lookup_with(ServiceName::Role, &[("CSM_METRICS_ADDR", value)]),
            )
        };
        assert!(matches!(with("off").unwrap().metrics, MetricsEndpoint::Disabled));
        let moved = with("127.0.0.1:0").unwrap();
        assert!(matches!(moved.metrics, MetricsEndpoint::Bind(address) if address.port() == 0));
        assert!(with("nine").unwrap_err().to_string().contains("CSM_METRICS_ADDR"));
        assert!(matches!(
            ServiceConfig::new(
                ServiceName::Role,
                String::new(),
                csm_auth::SuiteKeys::generate().config_for(ServiceName::Role),
                PeerUrls::local_defaults()
            )
            .metrics,
            MetricsEndpoint::Disabled
        ));
    }

    #[test]
    fn bad_numbers_name_the_setting() {
        let error = ServiceConfig::from_lookup(
            ServiceName::Role,
            lookup_with(ServiceName::Role, &[("CSM_REQUEST_TIMEOUT_MS", "soon")]),
        )
        .unwrap_err();
        assert!(error.to_string().contains("CSM_REQUEST_TIMEOUT_MS"));
    }
}
