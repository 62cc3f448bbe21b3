//! Who is calling.
//!
//! Every RPC except health and reflection is authenticated by a bearer JWT
//! (`authorization: Bearer <token>`):
//!
//! - **People** present a token signed with one of the configured user keys
//!   (HS256 shared secrets, selected by `kid` when several are configured, so
//!   keys can rotate). `sub` is the login id; the optional `sid` names the
//!   login session and `profile` the active profile (R1.9).
//! - **Services** present a token signed with the suite's service key and
//!   carrying `csm_kind = "service"`; they are authorized by a static per-RPC
//!   [`ServicePolicy`], never by asking the role service, so no call loops.
//!
//! The [`AuthLayer`] verifies the token and puts the [`Caller`] into the
//! request extensions; handlers read it with [`caller`].

mod client;
mod layer;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use csm_errors::CsmError;
use csm_types::{LoginId, ProfileId, ServiceName, SessionId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub use client::{ServiceTokenLayer, ServiceTokenSource, WithServiceToken};
pub use layer::{AuthLayer, AuthService, PUBLIC_PATH_PREFIXES};

/// The issuer written into and required from every token.
pub const ISSUER: &str = "csm";

/// The claims of a CSM bearer token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Login id (people) or `service:<name>` (services).
    pub sub: String,
    pub iss: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    pub iat: u64,
    /// `"user"` or `"service"`.
    pub csm_kind: String,
    /// Login session id (people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Active profile id (people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// An authenticated person: a login, optionally with its session and active profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HumanCaller {
    pub login_id: LoginId,
    pub session_id: Option<SessionId>,
    pub profile_id: Option<ProfileId>,
}

/// The authenticated caller of an RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Human(HumanCaller),
    Service(ServiceName),
}

impl Caller {
    pub fn kind(&self) -> &'static str {
        match self {
            Caller::Human(_) => "human",
            Caller::Service(_) => "service",
        }
    }

    /// The caller as the audit trail names it.
    pub fn audit_actor(&self) -> csm_audit::Actor {
        match self {
            Caller::Human(human) => csm_audit::Actor::human(human.login_id, human.profile_id),
            Caller::Service(service) => csm_audit::Actor::service(service),
        }
    }
}

/// The caller the [`AuthLayer`] attached to `request`.
///
/// Every authenticated route has one; a missing caller means the handler was
/// mounted without the layer, which is answered as UNAUTHENTICATED rather than a panic.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, CsmError> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| CsmError::unauthenticated("MISSING_CREDENTIALS", "the request carries no credentials"))
}

/// Static policy: which services may call which RPC methods of this service.
/// Methods are given by name (`GetProfile`); `"*"` allows every method.
#[derive(Debug, Clone, Default)]
pub struct ServicePolicy {
    allowed: HashMap<ServiceName, Vec<&'static str>>,
}

impl ServicePolicy {
    pub fn new() -> Self {
        Self::default()
    }

    /// `service` may call each of `methods`.
    pub fn allow(mut self, service: ServiceName, methods: &[&'static str]) -> Self {
        self.allowed.entry(service).or_default().extend_from_slice(methods);
        self
    }

    pub fn allows(&self, service: ServiceName, method: &str) -> bool {
        self.allowed
            .get(&service)
            .is_some_and(|methods| methods.iter().any(|allowed| *allowed == "*" || *allowed == method))
    }
}

/// One HS256 key, optionally named by `kid`.
#[derive(Clone)]
struct NamedKey {
    kid: Option<String>,
    secret: Vec<u8>,
}

impl std::fmt::Debug for NamedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// The keys tokens are verified against (and, for development and services, signed with).
#[derive(Clone, Debug)]
pub struct AuthKeys {
    user_keys: Vec<NamedKey>,
    service_key: NamedKey,
}

impl AuthKeys {
    /// `user_keys`: comma-separated `secret` or `kid=secret` entries (`CSM_AUTH_USER_KEYS`);
    /// `service_key`: the suite's service-token secret (`CSM_AUTH_SERVICE_KEY`).
    pub fn parse(user_keys: &str, service_key: &str) -> anyhow::Result<Self> {
        let mut parsed = Vec::new();
        for entry in user_keys.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let (kid, secret) = match entry.split_once('=') {
                Some((kid, secret)) => (Some(kid.trim().to_owned()), secret.trim()),
                None => (None, entry),
            };
            anyhow::ensure!(secret.len() >= 16, "CSM_AUTH_USER_KEYS: every key must be at least 16 characters");
            parsed.push(NamedKey { kid, secret: secret.as_bytes().to_vec() });
        }
        anyhow::ensure!(!parsed.is_empty(), "CSM_AUTH_USER_KEYS must name at least one key");
        let service_key = service_key.trim();
        anyhow::ensure!(service_key.len() >= 16, "CSM_AUTH_SERVICE_KEY must be at least 16 characters");
        Ok(Self { user_keys: parsed, service_key: NamedKey { kid: None, secret: service_key.as_bytes().to_vec() } })
    }

    /// Fresh random keys (tests and `csm dev`).
    pub fn generate() -> Self {
        let user = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let service = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        Self::parse(&user, &service).expect("generated keys are valid")
    }

    /// The user keys in their configuration form (to hand the same keys to several services).
    pub fn user_keys_config(&self) -> String {
        self.user_keys
            .iter()
            .map(|key| {
                let secret = String::from_utf8_lossy(&key.secret);
                match &key.kid {
                    Some(kid) => format!("{kid}={secret}"),
                    None => secret.into_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn service_key_config(&self) -> String {
        String::from_utf8_lossy(&self.service_key.secret).into_owned()
    }

    /// Signs a token for a person (development tooling and tests; production
    /// tokens come from the identity provider that shares the user key).
    pub fn mint_user_token(
        &self,
        login_id: LoginId,
        session_id: Option<SessionId>,
        profile_id: Option<ProfileId>,
        ttl: Duration,
    ) -> String {
        let key = &self.user_keys[0];
        let now = now_seconds();
        let claims = Claims {
            sub: login_id.to_string(),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + ttl.as_secs(),
            csm_kind: "user".to_owned(),
            sid: session_id.map(|id| id.to_string()),
            profile: profile_id.map(|id| id.to_string()),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = key.kid.clone();
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&key.secret))
            .expect("HS256 signing cannot fail")
    }

    /// Signs the service token a service presents to its peers.
    pub fn mint_service_token(&self, service: ServiceName, ttl: Duration) -> String {
        let now = now_seconds();
        let claims = Claims {
            sub: format!("service:{service}"),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + ttl.as_secs(),
            csm_kind: "service".to_owned(),
            sid: None,
            profile: None,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.service_key.secret),
        )
        .expect("HS256 signing cannot fail")
    }

    /// Verifies `token` and returns the caller it names.
    pub fn verify(&self, token: &str) -> Result<Caller, CsmError> {
        let invalid = |why: &str| CsmError::unauthenticated("INVALID_TOKEN", format!("invalid bearer token: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        if header.alg != Algorithm::HS256 {
            return Err(invalid("unsupported algorithm"));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 30;

        // Service tokens are only accepted under the service key, user tokens
        // only under a user key: a leaked user key cannot mint a service identity.
        let try_key =
            |key: &NamedKey| jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&key.secret), &validation);
        let service_attempt = try_key(&self.service_key);
        if let Ok(data) = service_attempt {
            let claims = data.claims;
            if claims.csm_kind != "service" {
                return Err(invalid("not a service token"));
            }
            let name = claims.sub.strip_prefix("service:").ok_or_else(|| invalid("bad service subject"))?;
            let service = name.parse::<ServiceName>().map_err(|_| invalid("unknown service"))?;
            return Ok(Caller::Service(service));
        }
        let candidates: Vec<&NamedKey> = match &header.kid {
            Some(kid) => self.user_keys.iter().filter(|key| key.kid.as_deref() == Some(kid)).collect(),
            None => self.user_keys.iter().collect(),
        };
        let mut last_error = None;
        for key in candidates {
            match try_key(key) {
                Ok(data) => return human_from_claims(data.claims).map_err(&invalid),
                Err(error) => last_error = Some(error),
            }
        }
        match last_error.map(|error| error.into_kind()) {
            Some(jsonwebtoken::errors::ErrorKind::ExpiredSignature) => Err(invalid("expired")),
            Some(jsonwebtoken::errors::ErrorKind::InvalidIssuer) => Err(invalid("wrong issuer")),
            _ => Err(invalid("signature does not verify")),
        }
    }
}

fn human_from_claims(claims: Claims) -> Result<Caller, &'static str> {
    if claims.csm_kind != "user" {
        return Err("not a user token");
    }
    let login_id = LoginId::parse(&claims.sub).map_err(|_| "sub must be a login id")?;
    let session_id = claims.sid.as_deref().map(SessionId::parse).transpose().map_err(|_| "sid must be a session id")?;
    let profile_id =
        claims.profile.as_deref().map(ProfileId::parse).transpose().map_err(|_| "profile must be a profile id")?;
    Ok(Caller::Human(HumanCaller { login_id, session_id, profile_id }))
}

fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_tokens_verify_to_their_login_and_profile() {
        let keys = AuthKeys::generate();
        let login = LoginId::new();
        let profile = ProfileId::new();
        let token = keys.mint_user_token(login, None, Some(profile), Duration::from_secs(60));
        let caller = keys.verify(&token).unwrap();
        assert_eq!(caller, Caller::Human(HumanCaller { login_id: login, session_id: None, profile_id: Some(profile) }));
    }

    #[test]
    fn service_tokens_verify_to_their_service() {
        let keys = AuthKeys::generate();
        let token = keys.mint_service_token(ServiceName::CaseAccess, Duration::from_secs(60));
        assert_eq!(keys.verify(&token).unwrap(), Caller::Service(ServiceName::CaseAccess));
    }

    #[test]
    fn tokens_of_other_keys_are_rejected() {
        let keys = AuthKeys::generate();
        let other = AuthKeys::generate();
        let token = other.mint_user_token(LoginId::new(), None, None, Duration::from_secs(60));
        let error = keys.verify(&token).unwrap_err();
        assert_eq!(error.reason(), "INVALID_TOKEN");
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        let keys = AuthKeys::generate();
        assert!(keys.verify("not.a.jwt").is_err());
        assert!(keys.verify("").is_err());
    }

    #[test]
    fn rotated_keys_are_selected_by_kid() {
        let old = "old=0123456789abcdef0123";
        let new = "new=fedcba9876543210fedc";
        let signer = AuthKeys::parse(new, "service-secret-0123456789").unwrap();
        let verifier = AuthKeys::parse(&format!("{old},{new}"), "service-secret-0123456789").unwrap();
        let token = signer.mint_user_token(LoginId::new(), None, None, Duration::from_secs(60));
        assert!(verifier.verify(&token).is_ok());
    }

    #[test]
    fn service_policy_allows_only_listed_methods() {
        let policy = ServicePolicy::new().allow(ServiceName::Role, &["GetProfile"]);
        assert!(policy.allows(ServiceName::Role, "GetProfile"));
        assert!(!policy.allows(ServiceName::Role, "CreateAccount"));
        assert!(!policy.allows(ServiceName::Licensing, "GetProfile"));
    }
}
