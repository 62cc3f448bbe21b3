//! The keys and token rules a service starts with, and the generated key
//! set of tests and `csm dev`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use csm_types::{LoginId, ProfileId, ServiceName, SessionId};

use crate::keys::{IDENTITY_KEY_OWNER, Jwks, KeyPair};
use crate::token::{OidcProvider, ServiceSigner, TokenIssuer, TokenRules, Verifier};

/// How often the other services fetch identity's published keys by default.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(60);

/// Everything about tokens one service needs.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub rules: TokenRules,
    /// identity's public keys known from configuration (`CSM_AUTH_IDENTITY_JWKS`).
    pub identity_keys: Jwks,
    /// Every service's public key (`CSM_AUTH_SERVICE_JWKS`).
    pub service_keys: Jwks,
    /// This service's own private key (`CSM_AUTH_SERVICE_KEY_FILE`).
    pub service_key: KeyPair,
    /// identity only: its signing keys, the first signs (`CSM_IDENTITY_SIGNING_KEY_FILES`).
    pub signing_keys: Vec<KeyPair>,
    pub oidc: Option<OidcProvider>,
    /// How often identity's published keys are fetched (`CSM_AUTH_JWKS_REFRESH_SECS`; 0: never).
    pub jwks_refresh: Option<Duration>,
}

impl AuthConfig {
    /// The verifier of this configuration (identity's own keys included).
    pub fn verifier(&self) -> anyhow::Result<Verifier> {
        let mut identity = self.identity_keys.clone();
        identity.extend(Jwks::of(&self.signing_keys));
        Verifier::new(self.rules, identity, &self.service_keys, self.oidc.clone())
    }

    pub fn service_signer(&self, service: ServiceName) -> anyhow::Result<ServiceSigner> {
        ServiceSigner::new(service, self.service_key.clone())
    }

    /// identity's issuer (`None` unless signing keys are configured).
    pub fn issuer(&self) -> anyhow::Result<Option<TokenIssuer>> {
        if self.signing_keys.is_empty() {
            return Ok(None);
        }
        TokenIssuer::new(self.signing_keys.clone()).map(Some)
    }

    /// Reads the settings of `service` through `lookup` (environment variables):
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `CSM_AUTH_SERVICE_KEY_FILE` | this service's Ed25519 private key (PKCS#8 PEM) | required |
    /// | `CSM_AUTH_SERVICE_JWKS` | every service's public key: a JWKS, inline or `@file` | required |
    /// | `CSM_AUTH_IDENTITY_JWKS` | identity's public keys: a JWKS, inline or `@file` | none (fetched from identity) |
    /// | `CSM_AUTH_JWKS_REFRESH_SECS` | how often identity's published keys are fetched; 0: never | 60 |
    /// | `CSM_IDENTITY_SIGNING_KEY_FILES` | identity only: PEM files of its signing keys, comma-separated, the first signs | required on identity |
    /// | `CSM_AUTH_TOKEN_LEEWAY_SECS` | clock skew tolerated (at most 60) | 5 |
    /// | `CSM_AUTH_MAX_TOKEN_LIFETIME_SECS` | longest lifetime (`exp - iat`) of any token | 86400 |
    /// | `CSM_AUTH_OIDC_ISSUER`, `CSM_AUTH_OIDC_AUDIENCE`, `CSM_AUTH_OIDC_JWKS` | an OIDC provider whose tokens are accepted | none |
    /// | `CSM_AUTH_OIDC_LOGIN_CLAIM` | the claim holding the login name | `preferred_username` |
    pub fn from_lookup(service: ServiceName, lookup: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |key: &str| lookup(key).filter(|value| !value.trim().is_empty());
        let read_file = |key: &str, path: &str| {
            std::fs::read_to_string(path.trim()).with_context(|| format!("{key}: cannot read {path}"))
        };
        let key_file = get("CSM_AUTH_SERVICE_KEY_FILE")
            .context("CSM_AUTH_SERVICE_KEY_FILE is required (this service's Ed25519 private key, PEM)")?;
        let service_key = KeyPair::from_pem(service.as_str(), &read_file("CSM_AUTH_SERVICE_KEY_FILE", &key_file)?)
            .context("CSM_AUTH_SERVICE_KEY_FILE")?;
        let service_keys = Jwks::from_setting(
            &get("CSM_AUTH_SERVICE_JWKS")
                .context("CSM_AUTH_SERVICE_JWKS is required (the public keys of every service)")?,
        )
        .context("CSM_AUTH_SERVICE_JWKS")?;
        anyhow::ensure!(
            service_keys.keys.iter().any(|key| key.kid == service_key.kid()),
            "CSM_AUTH_SERVICE_JWKS does not contain this service's own key {} (CSM_AUTH_SERVICE_KEY_FILE)",
            service_key.kid()
        );
        let identity_keys = match get("CSM_AUTH_IDENTITY_JWKS") {
            Some(value) => Jwks::from_setting(&value).context("CSM_AUTH_IDENTITY_JWKS")?,
            None => Jwks::default(),
        };
        let mut signing_keys = Vec::new();
        if service == ServiceName::Identity {
            let files = get("CSM_IDENTITY_SIGNING_KEY_FILES")
                .context("CSM_IDENTITY_SIGNING_KEY_FILES is required on identity (its token signing keys, PEM)")?;
            for path in files.split(',').map(str::trim).filter(|path| !path.is_empty()) {
                let pem = read_file("CSM_IDENTITY_SIGNING_KEY_FILES", path)?;
                signing_keys.push(
                    KeyPair::from_pem(IDENTITY_KEY_OWNER, &pem)
                        .with_context(|| format!("CSM_IDENTITY_SIGNING_KEY_FILES: {path}"))?,
                );
            }
        }
        let seconds = |key: &str, default: u64| -> anyhow::Result<u64> {
            match get(key) {
                Some(value) => {
                    value.trim().parse().with_context(|| format!("{key} must be whole seconds, got {value:?}"))
                }
                None => Ok(default),
            }
        };
        let defaults = TokenRules::default();
        let leeway = seconds("CSM_AUTH_TOKEN_LEEWAY_SECS", defaults.leeway.as_secs())?;
        anyhow::ensure!(leeway <= 60, "CSM_AUTH_TOKEN_LEEWAY_SECS must be at most 60");
        let max_lifetime = seconds("CSM_AUTH_MAX_TOKEN_LIFETIME_SECS", defaults.max_lifetime.as_secs())?;
        anyhow::ensure!(max_lifetime > 0, "CSM_AUTH_MAX_TOKEN_LIFETIME_SECS must be positive");
        let refresh = seconds("CSM_AUTH_JWKS_REFRESH_SECS", DEFAULT_JWKS_REFRESH.as_secs())?;
        let oidc = match get("CSM_AUTH_OIDC_ISSUER") {
            None => None,
            Some(issuer) => Some(OidcProvider {
                issuer,
                audience: get("CSM_AUTH_OIDC_AUDIENCE")
                    .context("CSM_AUTH_OIDC_AUDIENCE is required with CSM_AUTH_OIDC_ISSUER")?,
                keys: Jwks::from_setting(
                    &get("CSM_AUTH_OIDC_JWKS").context("CSM_AUTH_OIDC_JWKS is required with CSM_AUTH_OIDC_ISSUER")?,
                )
                .context("CSM_AUTH_OIDC_JWKS")?,
                login_claim: get("CSM_AUTH_OIDC_LOGIN_CLAIM").unwrap_or_else(|| "preferred_username".to_owned()),
            }),
        };
        let config = Self {
            rules: TokenRules {
                leeway: Duration::from_secs(leeway),
                max_lifetime: Duration::from_secs(max_lifetime),
                ..defaults
            },
            identity_keys,
            service_keys,
            service_key,
            signing_keys,
            oidc,
            jwks_refresh: (refresh > 0).then(|| Duration::from_secs(refresh)),
        };
        // Invalid keys fail here, at start-up, naming the setting.
        config.verifier().context("the configured keys")?;
        Ok(config)
    }
}

/// Keys for a whole suite in one process (tests, `csm dev`): identity's
/// signing key and one key per service. Each service gets only its own
/// private key; identity alone gets the signing key.
#[derive(Clone, Debug)]
pub struct SuiteKeys {
    pub identity: KeyPair,
    pub services: BTreeMap<ServiceName, KeyPair>,
}

impl SuiteKeys {
    pub fn generate() -> Self {
        Self {
            identity: KeyPair::generate(IDENTITY_KEY_OWNER),
            services: ServiceName::ALL
                .into_iter()
                .map(|service| (service, KeyPair::generate(service.as_str())))
                .collect(),
        }
    }

    /// The configuration of `service`.
    pub fn config_for(&self, service: ServiceName) -> AuthConfig {
        AuthConfig {
            rules: TokenRules::default(),
            identity_keys: Jwks::of([&self.identity]),
            service_keys: Jwks::of(self.services.values()),
            service_key: self.services[&service].clone(),
            signing_keys: if service == ServiceName::Identity { vec![self.identity.clone()] } else { Vec::new() },
            oidc: None,
            jwks_refresh: Some(DEFAULT_JWKS_REFRESH),
        }
    }

    /// identity's issuer (tests and development tooling mint as identity would).
    pub fn issuer(&self) -> TokenIssuer {
        TokenIssuer::new(vec![self.identity.clone()]).expect("one key")
    }

    /// A person token for `login` acting as `profile`, without a session.
    pub fn mint_person(
        &self,
        login: LoginId,
        session: Option<SessionId>,
        profile: impl Into<Option<ProfileId>>,
        ttl: Duration,
    ) -> String {
        self.issuer().mint_person(login, session, profile, None, ttl)
    }

    /// The token `service` presents to its peers.
    pub fn mint_service(&self, service: ServiceName, ttl: Duration) -> String {
        ServiceSigner::new(service, self.services[&service].clone()).expect("own key").mint(ttl)
    }

    /// `KEY=value` lines (base64 PKCS#8 DER) for a development data directory.
    pub fn to_env_lines(&self) -> String {
        let mut out = format!("CSM_DEV_IDENTITY_KEY={}\n", self.identity.to_base64_der());
        for (service, key) in &self.services {
            out.push_str(&format!("CSM_DEV_SERVICE_KEY_{}={}\n", env_suffix(*service), key.to_base64_der()));
        }
        out
    }

    /// Reads the keys [`SuiteKeys::to_env_lines`] wrote.
    pub fn from_env(get: impl Fn(&str) -> anyhow::Result<String>) -> anyhow::Result<Self> {
        let identity = KeyPair::from_base64_der(IDENTITY_KEY_OWNER, &get("CSM_DEV_IDENTITY_KEY")?)?;
        let mut services = BTreeMap::new();
        for service in ServiceName::ALL {
            let encoded = get(&format!("CSM_DEV_SERVICE_KEY_{}", env_suffix(service)))?;
            services.insert(service, KeyPair::from_base64_der(service.as_str(), &encoded)?);
        }
        Ok(Self { identity, services })
    }
}

fn env_suffix(service: ServiceName) -> String {
    service.as_str().replace('-', "_").to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Credential;

    #[test]
    fn suite_keys_give_each_service_its_own_key_only() {
        let keys = SuiteKeys::generate();
        let role = keys.config_for(ServiceName::Role);
        assert!(role.signing_keys.is_empty());
        assert!(role.issuer().unwrap().is_none());
        assert_eq!(role.service_key.kid(), keys.services[&ServiceName::Role].kid());
        let identity = keys.config_for(ServiceName::Identity);
        assert!(identity.issuer().unwrap().is_some());
        let verifier = role.verifier().unwrap();
        let token = keys.mint_service(ServiceName::Licensing, Duration::from_secs(60));
        assert_eq!(verifier.verify(&token).unwrap(), Credential::Service(ServiceName::Licensing));
        let person = keys.mint_person(LoginId::new(), None, ProfileId::new(), Duration::from_secs(60));
        assert!(matches!(verifier.verify(&person).unwrap(), Credential::Person(_)));
    }

    #[test]
    fn suite_keys_round_trip_through_env_lines() {
        let keys = SuiteKeys::generate();
        let lines = keys.to_env_lines();
        let map: BTreeMap<&str, &str> = lines.lines().filter_map(|line| line.split_once('=')).collect();
        let read =
            SuiteKeys::from_env(|key| map.get(key).map(|value| (*value).to_owned()).context(key.to_owned())).unwrap();
        assert_eq!(read.identity.kid(), keys.identity.kid());
        assert_eq!(read.services[&ServiceName::CaseAccess].kid(), keys.services[&ServiceName::CaseAccess].kid());
    }

    #[test]
    fn configuration_is_read_from_pem_files_and_jwks() {
        let keys = SuiteKeys::generate();
        let dir = std::env::temp_dir().join(format!("csm-auth-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let own = dir.join("role.pem");
        std::fs::write(&own, keys.services[&ServiceName::Role].to_pem()).unwrap();
        let signing = dir.join("identity.pem");
        std::fs::write(&signing, keys.identity.to_pem()).unwrap();
        let jwks = Jwks::of(keys.services.values()).to_json();
        let env: BTreeMap<&str, String> = BTreeMap::from([
            ("CSM_AUTH_SERVICE_KEY_FILE", own.display().to_string()),
            ("CSM_AUTH_SERVICE_JWKS", jwks.clone()),
            ("CSM_AUTH_TOKEN_LEEWAY_SECS", "3".to_owned()),
        ]);
        let config = AuthConfig::from_lookup(ServiceName::Role, &|key| env.get(key).cloned()).unwrap();
        assert_eq!(config.rules.leeway, Duration::from_secs(3));
        assert!(config.identity_keys.keys.is_empty(), "fetched from identity");

        // identity needs its signing keys; a wrong leeway is named.
        let error = AuthConfig::from_lookup(ServiceName::Identity, &|key| env.get(key).cloned()).unwrap_err();
        assert!(format!("{error:#}").contains("CSM_AUTH_SERVICE_JWKS does not contain"), "{error:#}");
        let mut identity_env = env.clone();
        identity_env.insert("CSM_AUTH_SERVICE_KEY_FILE", {
            let path = dir.join("identity-service.pem");
            std::fs::write(&path, keys.services[&ServiceName::Identity].to_pem()).unwrap();
            path.display().to_string()
        });
        let error = AuthConfig::from_lookup(ServiceName::Identity, &|key| identity_env.get(key).cloned()).unwrap_err();
        assert!(format!("{error:#}").contains("CSM_IDENTITY_SIGNING_KEY_FILES"), "{error:#}");
        identity_env.insert("CSM_IDENTITY_SIGNING_KEY_FILES", signing.display().to_string());
        let config = AuthConfig::from_lookup(ServiceName::Identity, &|key| identity_env.get(key).cloned()).unwrap();
        assert_eq!(config.signing_keys[0].kid(), keys.identity.kid());
        identity_env.insert("CSM_AUTH_TOKEN_LEEWAY_SECS", "600".to_owned());
        let error = AuthConfig::from_lookup(ServiceName::Identity, &|key| identity_env.get(key).cloned()).unwrap_err();
        assert!(format!("{error:#}").contains("CSM_AUTH_TOKEN_LEEWAY_SECS"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
