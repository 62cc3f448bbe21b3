//! `csm load`: a deterministic data generator (`seed`) and a Check /
//! ListVisibleCases load driver (`run`) for a running suite, through the
//! public RPCs only.
//!
//! A [`Target`] names the services' addresses and the token keys (from the
//! data directory of `csm dev`, or from the test harness); the generator mints
//! a token per principal and acts as it. `seed` writes a [`Manifest`] (JSON) of
//! everything it created, which `run` reads instead of re-listing the suite.

pub mod manifest;
pub mod plan;
pub mod run;
pub mod seed;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;

use csm_auth::SuiteKeys;
use csm_server::default_port;
use csm_types::{LoginId, ProfileId, ServiceName};
use tonic::transport::{Channel, Endpoint};

pub use manifest::Manifest;
pub use run::{RunOptions, RunReport};
pub use seed::{SeedOptions, SeedReport};

/// The suite under load: where its services listen and how to mint tokens for it.
#[derive(Clone)]
pub struct Target {
    pub identity: String,
    pub role: String,
    pub account_team: String,
    pub case_access: String,
    pub keys: SuiteKeys,
    /// The administrator the generator acts as for set-up calls.
    pub admin_login: LoginId,
    pub admin_profile: ProfileId,
    /// The login of each seeded profile (a token names both; filled while
    /// seeding, or by [`Target::resolve_logins`] from identity).
    pub logins: Arc<RwLock<HashMap<String, LoginId>>>,
}

impl Target {
    /// The suite of `csm dev`: identity at `host:base_port`, the others on the
    /// next ports (role +1, account-team +2, case-access +3), keys and the
    /// administrator from `<data_dir>/dev.env`.
    pub fn from_dev(data_dir: &Path, target: &str) -> anyhow::Result<Self> {
        let state = crate::dev::DevState::load_or_create(data_dir)?;
        Ok(Self {
            identity: dev_url(target, ServiceName::Identity)?,
            role: dev_url(target, ServiceName::Role)?,
            account_team: dev_url(target, ServiceName::AccountTeam)?,
            case_access: dev_url(target, ServiceName::CaseAccess)?,
            keys: state.keys,
            admin_login: state.admin_login,
            admin_profile: state.admin_profile,
            logins: Arc::default(),
        })
    }

    /// A lazily connecting channel to `url` (one HTTP/2 connection, multiplexed).
    pub fn channel(url: &str) -> anyhow::Result<Channel> {
        Ok(Endpoint::from_shared(url.to_owned())?.timeout(Duration::from_secs(60)).tcp_nodelay(true).connect_lazy())
    }

    /// A token of the administrator.
    pub fn admin_token(&self) -> String {
        self.keys.mint_person(self.admin_login, None, self.admin_profile, TOKEN_TTL)
    }

    /// A token acting as `profile` for its login (known from seeding or [`Target::resolve_logins`]).
    pub fn token_for(&self, profile: &str) -> anyhow::Result<String> {
        let login = self
            .logins
            .read()
            .map_err(|_| anyhow::anyhow!("login cache poisoned"))?
            .get(profile)
            .copied()
            .with_context(|| format!("profile {profile}: its login is not known (resolve_logins first)"))?;
        let profile = ProfileId::parse(profile).map_err(|error| anyhow::anyhow!("profile {profile}: {error}"))?;
        Ok(self.keys.mint_person(login, None, profile, TOKEN_TTL))
    }

    /// Remembers that `profile` belongs to `login`.
    pub fn remember_login(&self, profile: &str, login: &str) -> anyhow::Result<()> {
        let login = LoginId::parse(login).map_err(|_| anyhow::anyhow!("profile {profile} has no login"))?;
        self.logins.write().map_err(|_| anyhow::anyhow!("login cache poisoned"))?.insert(profile.to_owned(), login);
        Ok(())
    }

    /// Reads the logins of `profiles` not known yet from identity (BatchGetProfiles, 1,000 at a time).
    pub async fn resolve_logins<'a>(&self, profiles: impl IntoIterator<Item = &'a String>) -> anyhow::Result<()> {
        let unknown: Vec<String> = {
            let known = self.logins.read().map_err(|_| anyhow::anyhow!("login cache poisoned"))?;
            profiles.into_iter().filter(|id| !id.is_empty() && !known.contains_key(*id)).cloned().collect()
        };
        let mut identity =
            csm_proto::identity::identity_service_client::IdentityServiceClient::new(Self::channel(&self.identity)?);
        for chunk in unknown.chunks(1000) {
            let request = authed(
                csm_proto::identity::BatchGetProfilesRequest { profile_ids: chunk.to_vec() },
                &self.admin_token(),
            );
            let found = identity.batch_get_profiles(request).await.context("BatchGetProfiles")?.into_inner();
            for profile in found.profiles {
                self.remember_login(&profile.profile_id, &profile.login_id).with_context(|| {
                    "a seeded person has no login (seeded by an older csm): seed again with --fresh".to_owned()
                })?;
            }
        }
        Ok(())
    }
}

/// The URL of `service` in a `csm dev` suite whose identity listens at
/// `target` (`host:port`, or `host` for the default port): the services sit
/// on consecutive ports in the order of their default ports.
pub fn dev_url(target: &str, service: ServiceName) -> anyhow::Result<String> {
    let (host, base_port) = match target.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| anyhow::anyhow!("--target: bad port {port:?}"))?),
        None => (target, default_port(ServiceName::Identity)),
    };
    let offset = default_port(service) - default_port(ServiceName::Identity);
    Ok(format!("http://{host}:{}", base_port + offset))
}

const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// `message` with `authorization: Bearer <token>`.
pub(crate) fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Options of `csm load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    #[command(subcommand)]
    pub command: LoadCommand,
}

/// Where the suite is (shared by both subcommands).
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Identity's `host:port`; role, account-team and case-access listen on the next ports (as `csm dev`).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub target: String,
    /// The data directory of `csm dev` (token keys and the administrator).
    #[arg(long, default_value = "data", env = "CSM_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The manifest `seed` writes and `run` reads.
    #[arg(long, default_value = "load-manifest.json")]
    pub manifest: PathBuf,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum LoadCommand {
    /// Create a deterministic data set (accounts with hierarchy, contacts, partners,
    /// agents, consumers, cases, related parties); resumable from its manifest.
    Seed {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, default_value_t = 1000)]
        accounts: usize,
        #[arg(long, default_value_t = 10_000)]
        contacts: usize,
        #[arg(long, default_value_t = 100_000)]
        cases: usize,
        /// RNG seed; the same seed gives the same data set (and the same request ids).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 16)]
        parallelism: usize,
        /// Ignore (overwrite) an existing manifest made with other parameters.
        #[arg(long)]
        fresh: bool,
    },
    /// Drive Check at several concurrency levels and time ListVisibleCases drains.
    Run {
        #[command(flatten)]
        target: TargetArgs,
        /// Concurrency levels, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,8,32,128")]
        concurrency: Vec<usize>,
        /// Duration of each level, e.g. 20s, 500ms, 1m.
        #[arg(long, default_value = "20s", value_parser = parse_duration)]
        duration: Duration,
        /// Warm-up before the first level (not measured).
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        warmup: Duration,
        /// case-access's Prometheus endpoint, e.g. http://127.0.0.1:9464/metrics (cache hit rate).
        #[arg(long)]
        metrics_url: Option<String>,
        /// Drains of ListVisibleCases per page size.
        #[arg(long, default_value_t = 10)]
        list_runs: usize,
        /// Page sizes of the ListVisibleCases drains.
        #[arg(long, value_delimiter = ',', default_value = "100,1000")]
        list_page_sizes: Vec<i32>,
        /// The customer admin timed is the one whose hierarchy holds closest to this many cases.
        #[arg(long, default_value_t = 1000)]
        list_visible: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Only the first N principals of each kind ask (a hot set the cache can hold); default all.
        #[arg(long)]
        hot: Option<usize>,
    },
}

/// Parses `20s`, `500ms`, `2m` or plain seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let (number, unit) = match value.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(index) => value.split_at(index),
        None => (value, "s"),
    };
    let number: f64 = number.parse().map_err(|_| format!("bad duration {value:?}"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return Err(format!("bad duration unit in {value:?} (ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// Runs `csm load …`.
pub async fn main(args: LoadArgs) -> anyhow::Result<()> {
    match args.command {
        LoadCommand::Seed { target, accounts, contacts, cases, seed, parallelism, fresh } => {
            let suite = Target::from_dev(&target.data_dir, &target.target)?;
            let options = SeedOptions {
                accounts,
                contacts,
                cases,
                seed,
                parallelism,
                fresh,
                manifest: Some(target.manifest),
                quiet: false,
            };
            let report = seed::seed(&suite, &options).await?;
            println!("{report}");
            Ok(())
        }
        LoadCommand::Run {
            target,
            concurrency,
            duration,
            warmup,
            metrics_url,
            list_runs,
            list_page_sizes,
            list_visible,
            seed,
            hot,
        } => {
            let suite = Target::from_dev(&target.data_dir, &target.target)?;
            let manifest = Manifest::read(&target.manifest)?;
            let options = RunOptions {
                concurrency,
                duration,
                warmup,
                metrics_url,
                list_runs,
                list_page_sizes,
                list_visible,
                seed,
                hot,
                quiet: false,
            };
            let report = run::run(&suite, &manifest, &options).await?;
            println!("{report}");
            Ok(())
        }
    }
}

/// A small deterministic RNG (SplitMix64): the data set depends only on the seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// An independent stream for item `index` of stream `stream` (so an item's
    /// choices do not depend on the items before it, and a resumed run makes the same ones).
    pub fn derive(seed: u64, stream: u64, index: u64) -> Self {
        Self(mix(seed ^ mix(stream.wrapping_mul(0xA076_1D64_78BD_642F) ^ mix(index))))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// A random element of `items` (None when empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() { None } else { items.get(self.below(items.len())) }
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic request id (UUID) for item `index` of stream `stream`.
pub fn request_id(seed: u64, stream: u64, index: u64) -> String {
    let mut rng = Rng::derive(seed, stream ^ 0x5eed_0000, index);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// Latency samples (microseconds) with percentiles from the sorted list.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<u64>);

impl Samples {
    pub fn record(&mut self, elapsed: Duration) {
        self.0.push(elapsed.as_micros() as u64);
    }

    pub fn merge(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `q` quantile (0..=1) in milliseconds (0 when empty).
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1] as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_streams_are_deterministic_and_independent() {
        let a: Vec<u64> = (0..4).map(|i| Rng::derive(1, 2, i).next_u64()).collect();
        let b: Vec<u64> = (0..4).map(|i| Rng::derive(1, 2, i).next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(Rng::derive(1, 2, 0).next_u64(), Rng::derive(2, 2, 0).next_u64());
        assert_eq!(request_id(1, 3, 9), request_id(1, 3, 9));
        assert_ne!(request_id(1, 3, 9), request_id(1, 3, 10));
        assert!(uuid::Uuid::parse_str(&request_id(1, 3, 9)).is_ok());
    }

    #[test]
    fn quantiles_come_from_the_sorted_samples() {
        let mut samples = Samples::default();
        for ms in (1..=100).rev() {
            samples.record(Duration::from_millis(ms));
        }
        assert_eq!(samples.quantile_ms(0.5), 50.0);
        assert_eq!(samples.quantile_ms(0.99), 99.0);
        assert_eq!(samples.quantile_ms(1.0), 100.0);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("3h").is_err());
    }
}
