//! Configuration shared by every service, read through a lookup function
//! (environment variables in the binaries, a map in tests). Invalid settings
//! fail at start-up with a message naming the setting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use csm_auth::AuthKeys;
use csm_db::PoolSettings;
use csm_types::{ProfileId, ServiceName};

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
    pub auth_keys: AuthKeys,
    pub server: ServerSettings,
    pub peers: PeerUrls,
    /// Deadline of calls to peers.
    pub peer_timeout: Duration,
    /// Profiles given `admin` by the role service at start-up (the first
    /// administrators of a new installation; `CSM_BOOTSTRAP_ADMIN_PROFILES`).
    pub bootstrap_admin_profiles: Vec<ProfileId>,
    /// PBKDF2 rounds of new password hashes (identity; `CSM_PASSWORD_HASH_ITERATIONS`).
    pub password_hash_iterations: u32,
}

/// OWASP's recommendation for PBKDF2-HMAC-SHA256.
pub const DEFAULT_PASSWORD_HASH_ITERATIONS: u32 = 600_000;

impl ServiceConfig {
    /// A configuration for tests and `csm dev`: every value explicit, nothing read.
    pub fn new(service: ServiceName, database_url: String, auth_keys: AuthKeys, peers: PeerUrls) -> Self {
        Self {
            service,
            listen_addr: SocketAddr::from(([127, 0, 0, 1], default_port(service))),
            metrics: MetricsEndpoint::Disabled,
            database_url,
            pool: PoolSettings::default(),
            auth_keys,
            server: ServerSettings::default(),
            peers,
            peer_timeout: Duration::from_secs(5),
            bootstrap_admin_profiles: Vec::new(),
            password_hash_iterations: DEFAULT_PASSWORD_HASH_ITERATIONS,
        }
    }

    /// Reads the configuration of `service`:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `CSM_LISTEN_ADDR` | address to listen on | `0.0.0.0:<service port>` |
    /// | `CSM_METRICS_ADDR` | address of the Prometheus scrape endpoint (`GET /metrics`); `off` disables it | `0.0.0.0:<service port + 1000>` |
    /// | `CSM_DATABASE_URL` | `sqlite://…` or `postgres://…` | `sqlite://data/<service>.db` |
    /// | `CSM_DATABASE_MAX_CONNECTIONS` | pool size | 10 |
    /// | `CSM_AUTH_USER_KEYS` | `secret` or `kid=secret`, comma-separated | required |
    /// | `CSM_AUTH_SERVICE_KEY` | service-token secret | required |
    /// | `CSM_<PEER>_URL` | peer endpoints, e.g. `CSM_ROLE_URL` | `http://127.0.0.1:<peer port>` |
    /// | `CSM_REQUEST_TIMEOUT_MS` | server-side RPC deadline | 30000 |
    /// | `CSM_CONCURRENCY_LIMIT` | RPCs in flight before shedding | 1024 |
    /// | `CSM_PEER_TIMEOUT_MS` | deadline of calls to peers | 5000 |
    /// | `CSM_BOOTSTRAP_ADMIN_PROFILES` | profile ids given `admin` at start-up (role) | none |
    /// | `CSM_PASSWORD_HASH_ITERATIONS` | PBKDF2 rounds of new password hashes (identity) | 600000 |
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
        let user_keys =
            get("CSM_AUTH_USER_KEYS").context("CSM_AUTH_USER_KEYS is required (the JWT keys of callers)")?;
        let service_key =
            get("CSM_AUTH_SERVICE_KEY").context("CSM_AUTH_SERVICE_KEY is required (the service-token key)")?;
        let auth_keys = AuthKeys::parse(&user_keys, &service_key)?;
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
        let mut config = Self::new(service, database_url, auth_keys, peers);
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

    #[test]
    fn missing_keys_name_the_setting() {
        let error = ServiceConfig::from_lookup(ServiceName::Role, lookup(&[])).unwrap_err();
        assert!(error.to_string().contains("CSM_AUTH_USER_KEYS"));
    }

    #[test]
    fn peers_and_numbers_are_read() {
        let config = ServiceConfig::from_lookup(
            ServiceName::CaseAccess,
            lookup(&[
                ("CSM_AUTH_USER_KEYS", "0123456789abcdef"),
                ("CSM_AUTH_SERVICE_KEY", "fedcba9876543210"),
                ("CSM_ROLE_URL", "http://role:50052"),
                ("CSM_CONCURRENCY_LIMIT", "64"),
            ]),
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
        let keys = [("CSM_AUTH_USER_KEYS", "0123456789abcdef"), ("CSM_AUTH_SERVICE_KEY", "fedcba9876543210")];
        let with = |value: &str| {
            let mut pairs = keys.to_vec();
            pairs.push(("CSM_METRICS_ADDR", value));
            ServiceConfig::from_lookup(ServiceName::Role, lookup(&pairs))
        };
        assert!(matches!(with("off").unwrap().metrics, MetricsEndpoint::Disabled));
        let moved = with("127.0.0.1:0").unwrap();
        assert!(matches!(moved.metrics, MetricsEndpoint::Bind(address) if address.port() == 0));
        assert!(with("nine").unwrap_err().to_string().contains("CSM_METRICS_ADDR"));
        assert!(matches!(
            ServiceConfig::new(ServiceName::Role, String::new(), AuthKeys::generate(), PeerUrls::local_defaults())
                .metrics,
            MetricsEndpoint::Disabled
        ));
    }

    #[test]
    fn bad_numbers_name_the_setting() {
        let error = ServiceConfig::from_lookup(
            ServiceName::Role,
            lookup(&[
                ("CSM_AUTH_USER_KEYS", "0123456789abcdef"),
                ("CSM_AUTH_SERVICE_KEY", "fedcba9876543210"),
                ("CSM_REQUEST_TIMEOUT_MS", "soon"),
            ]),
        )
        .unwrap_err();
        assert!(error.to_string().contains("CSM_REQUEST_TIMEOUT_MS"));
    }
}
