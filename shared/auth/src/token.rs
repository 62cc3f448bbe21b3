//! Bearer tokens: what identity signs for a person, what a service signs for
//! itself, what an external OIDC provider signs — and one [`Verifier`] that
//! tells them apart by the key (`kid`) they name.
//!
//! - **Person tokens** are signed by identity (EdDSA, key owner `identity`):
//!   `sub` = login id, `sid` = login session, `profile` = active profile,
//!   `chn` = channel, `csm_kind = "user"`.
//! - **Service tokens** are signed by each service with its own key (owner =
//!   the service name): `sub = "service:<name>"`, `csm_kind = "service"`; a
//!   key of one service cannot sign for another.
//! - **OIDC tokens** are signed by a configured provider (its JWKS), carry its
//!   issuer and audience, and name a login by a configured claim.
//!
//! Rules for every token ([`TokenRules`]): `exp` is required; the leeway
//! defaults to 5 s; the lifetime (`exp - iat`) is at most 24 h by default; a
//! credential longer than 8 KiB is refused before it is parsed. A verified
//! token is kept (bounded cache) until it expires, so the signature of a
//! token is checked once, not on every call.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use csm_errors::CsmError;
use csm_types::{LoginId, ProfileId, ServiceName, SessionId};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::{IDENTITY_KEY_OWNER, Jwks, KeyPair};

/// The issuer of identity's person tokens and of service tokens.
pub const ISSUER: &str = "csm";

/// Verified tokens kept at most (each a few hundred bytes).
const VERIFIED_CACHE_ENTRIES: usize = 65_536;

/// Limits every token is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRules {
    /// Clock skew tolerated on `exp`, `nbf` and `iat` (`CSM_AUTH_TOKEN_LEEWAY_SECS`).
    pub leeway: Duration,
    /// Longest `exp - iat` accepted (`CSM_AUTH_MAX_TOKEN_LIFETIME_SECS`).
    pub max_lifetime: Duration,
    /// Longest `authorization` value accepted.
    pub max_credential_bytes: usize,
}

impl Default for TokenRules {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(5),
            max_lifetime: Duration::from_secs(24 * 3600),
            max_credential_bytes: 8192,
        }
    }
}

/// The claims of a suite token (person or service).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    // Missing members default here so that the validation (which runs after
    // deserializing) names the missing claim instead of "malformed".
    /// Login id (people) or `service:<name>` (services).
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub iss: String,
    /// Expiry, seconds since the epoch.
    #[serde(default)]
    pub exp: u64,
    #[serde(default)]
    pub iat: Option<u64>,
    /// `"user"` or `"service"`.
    #[serde(default)]
    pub csm_kind: String,
    /// Login session id (people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Active profile id (people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Channel of the session (people), e.g. `BROWSER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chn: Option<String>,
}

/// The login a person credential names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LoginRef {
    /// A suite token names the login id.
    Id(LoginId),
    /// An OIDC token names the login by its login name (the configured claim).
    Name(String),
}

/// What a person's verified credential claims; the caller directory decides
/// whether it still holds (session live, profile of the login and active).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonClaim {
    pub login: LoginRef,
    pub session: Option<SessionId>,
    pub profile: Option<ProfileId>,
}

/// A verified credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Person(PersonClaim),
    Service(ServiceName),
}

/// Signs person tokens: identity's keys (the first signs; all are published).
#[derive(Clone, Debug)]
pub struct TokenIssuer {
    keys: Vec<KeyPair>,
}

impl TokenIssuer {
    pub fn new(keys: Vec<KeyPair>) -> anyhow::Result<Self> {
        anyhow::ensure!(!keys.is_empty(), "identity needs at least one signing key");
        Ok(Self { keys })
    }

    /// The public keys identity publishes (GetSigningKeys).
    pub fn public_keys(&self) -> Jwks {
        Jwks::of(&self.keys)
    }

    /// Signs a person token for `login` acting as `profile`, valid for `ttl`
    /// (without a profile the token acts as its session's or login's default
    /// profile: development tokens only; sessions always name theirs).
    pub fn mint_person(
        &self,
        login: LoginId,
        session: Option<SessionId>,
        profile: impl Into<Option<ProfileId>>,
        channel: Option<&str>,
        ttl: Duration,
    ) -> String {
        let now = now_seconds();
        let claims = Claims {
            sub: login.to_string(),
            iss: ISSUER.to_owned(),
            exp: now + ttl.as_secs(),
            iat: Some(now),
            csm_kind: "user".to_owned(),
            sid: session.map(|id| id.to_string()),
            profile: profile.into().map(|profile| profile.to_string()),
            chn: channel.map(str::to_owned),
        };
        sign(&self.keys[0], &claims)
    }
}

/// Signs this service's own tokens.
#[derive(Clone, Debug)]
pub struct ServiceSigner {
    service: ServiceName,
    key: KeyPair,
}

impl ServiceSigner {
    pub fn new(service: ServiceName, key: KeyPair) -> anyhow::Result<Self> {
        anyhow::ensure!(
            key.public_jwk().owner() == Some(service.as_str()),
            "the service key of {service} must be owned by {service} (kid {})",
            key.kid()
        );
        Ok(Self { service, key })
    }

    pub fn service(&self) -> ServiceName {
        self.service
    }

    pub fn mint(&self, ttl: Duration) -> String {
        let now = now_seconds();
        let claims = Claims {
            sub: format!("service:{}", self.service),
            iss: ISSUER.to_owned(),
            exp: now + ttl.as_secs(),
            iat: Some(now),
            csm_kind: "service".to_owned(),
            sid: None,
            profile: None,
            chn: None,
        };
        sign(&self.key, &claims)
    }
}

fn sign(key: &KeyPair, claims: &Claims) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid().to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding_key()).expect("Ed25519 signing cannot fail")
}

/// An external OpenID Connect provider whose ID/access tokens are accepted.
#[derive(Clone, Debug)]
pub struct OidcProvider {
    /// `iss` the tokens must carry (`CSM_AUTH_OIDC_ISSUER`).
    pub issuer: String,
    /// `aud` the tokens must carry (`CSM_AUTH_OIDC_AUDIENCE`).
    pub audience: String,
    /// The provider's public keys (`CSM_AUTH_OIDC_JWKS`: inline or `@file`).
    pub keys: Jwks,
    /// The claim holding the suite login name (`CSM_AUTH_OIDC_LOGIN_CLAIM`, default `preferred_username`).
    pub login_claim: String,
}

struct VerifyingKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

fn key_map(jwks: &Jwks) -> anyhow::Result<HashMap<String, VerifyingKey>> {
    let mut keys = HashMap::new();
    for jwk in &jwks.keys {
        anyhow::ensure!(!jwk.kid.is_empty(), "every key of a JWKS needs a kid");
        let (algorithm, key) = jwk.decoding_key()?;
        keys.insert(jwk.kid.clone(), VerifyingKey { algorithm, key });
    }
    Ok(keys)
}

struct Verified {
    credential: Credential,
    expires_at: u64,
}

/// Verifies bearer tokens. Cheap to share (`Arc`); identity's keys can be
/// replaced at run time ([`Verifier::set_identity_keys`], key rotation).
pub struct Verifier {
    rules: TokenRules,
    /// identity's keys: the configured ones plus the ones last fetched.
    identity: RwLock<Arc<HashMap<String, VerifyingKey>>>,
    configured_identity: Jwks,
    services: HashMap<String, (ServiceName, VerifyingKey)>,
    oidc: Option<(OidcProvider, HashMap<String, VerifyingKey>)>,
    person_validation: Validation,
    service_validation: Validation,
    oidc_validation: Option<Validation>,
    verified: quick_cache::sync::Cache<Box<str>, Arc<Verified>>,
    /// Set when a token named a key nobody configured: the key refresher looks again.
    unknown_key_seen: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("rules", &self.rules).finish_non_exhaustive()
    }
}

fn validation(algorithm: Algorithm, rules: &TokenRules, issuer: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    validation.leeway = rules.leeway.as_secs();
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation
}

impl Verifier {
    /// `identity`: identity's public keys; `services`: every service's public key
    /// (each owned, by its kid, by one service).
    pub fn new(rules: TokenRules, identity: Jwks, services: &Jwks, oidc: Option<OidcProvider>) -> anyhow::Result<Self> {
        for jwk in &identity.keys {
            anyhow::ensure!(
                jwk.owner() == Some(IDENTITY_KEY_OWNER),
                "identity's keys must have kids of the form identity.<thumbprint> (got {:?})",
                jwk.kid
            );
        }
        let mut service_keys = HashMap::new();
        for (kid, key) in key_map(services)? {
            let owner = kid.split_once('.').map(|(owner, _)| owner).unwrap_or_default();
            let service: ServiceName = owner
                .parse()
                .map_err(|_| anyhow::anyhow!("service key {kid:?} does not name a service as its owner"))?;
            anyhow::ensure!(key.algorithm == Algorithm::EdDSA, "service key {kid:?} must be Ed25519");
            service_keys.insert(kid, (service, key));
        }
        let oidc = match oidc {
            Some(provider) => {
                let keys = key_map(&provider.keys)?;
                Some((provider, keys))
            }
            None => None,
        };
        let oidc_validation = oidc.as_ref().map(|(provider, _)| {
            let mut validation = validation(Algorithm::RS256, &rules, &provider.issuer);
            validation.set_audience(&[provider.audience.as_str()]);
            validation.validate_aud = true;
            validation
        });
        let verifier = Self {
            rules,
            identity: RwLock::new(Arc::new(HashMap::new())),
            configured_identity: identity.clone(),
            services: service_keys,
            oidc,
            person_validation: validation(Algorithm::EdDSA, &rules, ISSUER),
            service_validation: validation(Algorithm::EdDSA, &rules, ISSUER),
            oidc_validation,
            verified: quick_cache::sync::Cache::new(VERIFIED_CACHE_ENTRIES),
            unknown_key_seen: std::sync::atomic::AtomicBool::new(false),
        };
        verifier.set_identity_keys(Jwks::default())?;
        Ok(verifier)
    }

    pub fn rules(&self) -> &TokenRules {
        &self.rules
    }

    /// Replaces the fetched identity keys (the configured ones stay).
    pub fn set_identity_keys(&self, fetched: Jwks) -> anyhow::Result<()> {
        let mut all = self.configured_identity.clone();
        all.extend(fetched);
        anyhow::ensure!(
            all.keys.iter().all(|jwk| jwk.owner() == Some(IDENTITY_KEY_OWNER)),
            "identity published a key whose kid is not identity.<thumbprint>"
        );
        let keys = key_map(&all)?;
        anyhow::ensure!(keys.values().all(|key| key.algorithm == Algorithm::EdDSA), "identity's keys must be Ed25519");
        *self.identity.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(keys);
        Ok(())
    }

    /// Whether a token named an unknown key since the last call (then the key set is fetched again).
    pub fn take_unknown_key_seen(&self) -> bool {
        self.unknown_key_seen.swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    /// Verifies `token` and returns what it claims.
    pub fn verify(&self, token: &str) -> Result<Credential, CsmError> {
        if token.len() > self.rules.max_credential_bytes {
            return Err(CsmError::unauthenticated(
                "CREDENTIAL_TOO_LARGE",
                format!("the bearer token is longer than {} bytes", self.rules.max_credential_bytes),
            ));
        }
        let now = now_seconds();
        if let Some(hit) = self.verified.get(token) {
            if hit.expires_at.saturating_add(self.rules.leeway.as_secs()) >= now {
                return Ok(hit.credential.clone());
            }
            self.verified.remove(token);
            return Err(CsmError::unauthenticated("TOKEN_EXPIRED", "the bearer token has expired"));
        }
        let (credential, expires_at) = self.verify_uncached(token, now)?;
        self.verified.insert(token.into(), Arc::new(Verified { credential: credential.clone(), expires_at }));
        Ok(credential)
    }

    fn verify_uncached(&self, token: &str, now: u64) -> Result<(Credential, u64), CsmError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("it is not a JWT"))?;
        let kid = header.kid.as_deref().ok_or_else(|| invalid("it names no signing key (kid)"))?;
        let identity = self.identity.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        if let Some(key) = identity.get(kid) {
            let claims = self.decode::<Claims>(token, &header, key, &self.person_validation)?;
            self.check_lifetime(claims.iat, claims.exp, now)?;
            if claims.csm_kind != "user" {
                return Err(invalid("identity's key signed a token that is not a person's"));
            }
            let person = person_claim(&claims).map_err(invalid)?;
            return Ok((Credential::Person(person), claims.exp));
        }
        if let Some((service, key)) = self.services.get(kid) {
            let claims = self.decode::<Claims>(token, &header, key, &self.service_validation)?;
            self.check_lifetime(claims.iat, claims.exp, now)?;
            let named = claims.sub.strip_prefix("service:").and_then(|name| name.parse::<ServiceName>().ok());
            if claims.csm_kind != "service" || named != Some(*service) {
                return Err(invalid("a service key signs only its own service's tokens"));
            }
            return Ok((Credential::Service(*service), claims.exp));
        }
        if let (Some((provider, keys)), Some(validation)) = (&self.oidc, &self.oidc_validation)
            && let Some(key) = keys.get(kid)
        {
            let claims = self.decode::<serde_json::Map<String, serde_json::Value>>(token, &header, key, validation)?;
            let seconds = |name: &str| claims.get(name).and_then(serde_json::Value::as_u64);
            let exp = seconds("exp").ok_or_else(|| invalid("exp is not a number"))?;
            self.check_lifetime(seconds("iat"), exp, now)?;
            let login_name = claims
                .get(&provider.login_claim)
                .and_then(serde_json::Value::as_str)
                .filter(|name| !name.trim().is_empty())
                .ok_or_else(|| {
                    CsmError::unauthenticated(
                        "LOGIN_CLAIM_MISSING",
                        format!("the OIDC token has no {:?} claim naming a login", provider.login_claim),
                    )
                })?;
            let profile = claims
                .get("csm_profile")
                .and_then(serde_json::Value::as_str)
                .map(ProfileId::parse)
                .transpose()
                .map_err(|_| invalid("csm_profile must be a profile id"))?;
            let person = PersonClaim { login: LoginRef::Name(login_name.to_owned()), session: None, profile };
            return Ok((Credential::Person(person), exp));
        }
        self.unknown_key_seen.store(true, std::sync::atomic::Ordering::Release);
        Err(CsmError::unauthenticated(
            "UNKNOWN_SIGNING_KEY",
            "the bearer token is signed with a key this service does not know (kid not published)",
        ))
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        header: &Header,
        key: &VerifyingKey,
        validation: &Validation,
    ) -> Result<T, CsmError> {
        if header.alg != key.algorithm {
            return Err(invalid("its algorithm does not match its key"));
        }
        let mut validation = validation.clone();
        validation.algorithms = vec![key.algorithm];
        jsonwebtoken::decode::<T>(token, &key.key, &validation).map(|data| data.claims).map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            match error.into_kind() {
                ErrorKind::ExpiredSignature => {
                    CsmError::unauthenticated("TOKEN_EXPIRED", "the bearer token has expired")
                }
                ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => CsmError::unauthenticated(
                    "TOKEN_EXPIRY_MISSING",
                    "the bearer token has no exp claim: tokens must expire",
                ),
                ErrorKind::MissingRequiredClaim(claim) => invalid(&format!("it has no {claim} claim")),
                ErrorKind::InvalidIssuer => invalid("wrong issuer"),
                ErrorKind::InvalidAudience => invalid("wrong audience"),
                ErrorKind::ImmatureSignature => invalid("not valid yet (nbf)"),
                ErrorKind::InvalidSignature => invalid("signature does not verify"),
                _ => invalid("malformed claims"),
            }
        })
    }

    fn check_lifetime(&self, issued_at: Option<u64>, expires_at: u64, now: u64) -> Result<(), CsmError> {
        let leeway = self.rules.leeway.as_secs();
        let max = self.rules.max_lifetime.as_secs();
        if let Some(issued_at) = issued_at
            && issued_at > now.saturating_add(leeway)
        {
            return Err(invalid("issued in the future (iat)"));
        }
        let start = issued_at.unwrap_or(now);
        if expires_at.saturating_sub(start) > max.saturating_add(leeway) {
            return Err(CsmError::unauthenticated(
                "TOKEN_LIFETIME_TOO_LONG",
                format!("the bearer token lives longer than the maximum of {max} s"),
            ));
        }
        Ok(())
    }
}

fn person_claim(claims: &Claims) -> Result<PersonClaim, &'static str> {
    let login = LoginId::parse(&claims.sub).map_err(|_| "sub must be a login id")?;
    let session = claims.sid.as_deref().map(SessionId::parse).transpose().map_err(|_| "sid must be a session id")?;
    let profile =
        claims.profile.as_deref().map(ProfileId::parse).transpose().map_err(|_| "profile must be a profile id")?;
    Ok(PersonClaim { login: LoginRef::Id(login), session, profile })
}

fn invalid(why: &str) -> CsmError {
    CsmError::unauthenticated("INVALID_TOKEN", format!("invalid bearer token: {why}"))
}

pub(crate) fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Keys {
        identity: KeyPair,
        case_access: KeyPair,
        role: KeyPair,
    }

    fn keys() -> Keys {
        Keys {
            identity: KeyPair::generate("identity"),
            case_access: KeyPair::generate("case-access"),
            role: KeyPair::generate("role"),
        }
    }

    fn verifier(keys: &Keys) -> Verifier {
        Verifier::new(
            TokenRules::default(),
            Jwks::of([&keys.identity]),
            &Jwks::of([&keys.case_access, &keys.role]),
            None,
        )
        .unwrap()
    }

    fn raw(key: &KeyPair, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid().to_owned());
        jsonwebtoken::encode(&header, claims, &key.encoding_key()).unwrap()
    }

    #[test]
    fn person_tokens_name_their_login_session_and_profile() {
        let keys = keys();
        let issuer = TokenIssuer::new(vec![keys.identity.clone()]).unwrap();
        let (login, session, profile) = (LoginId::new(), SessionId::new(), ProfileId::new());
        let token = issuer.mint_person(login, Some(session), profile, Some("BROWSER"), Duration::from_secs(60));
        let credential = verifier(&keys).verify(&token).unwrap();
        assert_eq!(
            credential,
            Credential::Person(PersonClaim {
                login: LoginRef::Id(login),
                session: Some(session),
                profile: Some(profile)
            })
        );
    }

    #[test]
    fn a_service_key_signs_only_for_its_service() {
        let keys = keys();
        let verifier = verifier(&keys);
        let own = ServiceSigner::new(ServiceName::CaseAccess, keys.case_access.clone()).unwrap();
        assert_eq!(
            verifier.verify(&own.mint(Duration::from_secs(60))).unwrap(),
            Credential::Service(ServiceName::CaseAccess)
        );
        // case-access's key claiming to be role.
        let now = now_seconds();
        let forged = raw(
            &keys.case_access,
            &serde_json::json!({"sub": "service:role", "iss": ISSUER, "exp": now + 60, "iat": now, "csm_kind": "service"}),
        );
        assert_eq!(verifier.verify(&forged).unwrap_err().reason(), "INVALID_TOKEN");
        // A service key cannot sign a person's token either.
        let person = raw(
            &keys.case_access,
            &serde_json::json!({"sub": LoginId::new().to_string(), "iss": ISSUER, "exp": now + 60, "iat": now, "csm_kind": "user"}),
        );
        assert!(verifier.verify(&person).is_err());
        assert!(ServiceSigner::new(ServiceName::Role, keys.case_access.clone()).is_err());
    }

    #[test]
    fn token_rules_hold() {
        let keys = keys();
        let verifier = verifier(&keys);
        let now = now_seconds();
        let claims = |exp: Option<u64>, iat: u64| {
            let mut value = serde_json::json!({"sub": LoginId::new().to_string(), "iss": ISSUER, "iat": iat, "csm_kind": "user", "profile": ProfileId::new().to_string()});
            if let Some(exp) = exp {
                value["exp"] = exp.into();
            }
            raw(&keys.identity, &value)
        };
        // Expired 30 s ago: beyond the 5 s leeway.
        assert_eq!(verifier.verify(&claims(Some(now - 30), now - 90)).unwrap_err().reason(), "TOKEN_EXPIRED");
        // Expired 2 s ago: within the leeway.
        assert!(verifier.verify(&claims(Some(now - 2), now - 60)).is_ok());
        // No exp at all.
        let error = verifier.verify(&claims(None, now)).unwrap_err();
        assert_eq!(error.reason(), "TOKEN_EXPIRY_MISSING");
        assert!(error.message().contains("exp"));
        // exp in 2286.
        assert_eq!(verifier.verify(&claims(Some(9_999_999_999), now)).unwrap_err().reason(), "TOKEN_LIFETIME_TOO_LONG");
        // Oversized.
        let huge = "a".repeat(64 * 1024);
        assert_eq!(verifier.verify(&huge).unwrap_err().reason(), "CREDENTIAL_TOO_LARGE");
    }

    #[test]
    fn foreign_and_unknown_keys_are_refused() {
        let keys = keys();
        let verifier = verifier(&keys);
        let stranger = TokenIssuer::new(vec![KeyPair::generate("identity")]).unwrap();
        let token = stranger.mint_person(LoginId::new(), None, ProfileId::new(), None, Duration::from_secs(60));
        assert_eq!(verifier.verify(&token).unwrap_err().reason(), "UNKNOWN_SIGNING_KEY");
        assert!(verifier.take_unknown_key_seen());
        assert_eq!(verifier.verify("not.a.jwt").unwrap_err().reason(), "INVALID_TOKEN");
        assert!(verifier.verify("").is_err());
    }

    #[test]
    fn rotated_identity_keys_verify_once_published() {
        let keys = keys();
        let verifier = verifier(&keys);
        let next = KeyPair::generate("identity");
        let issuer = TokenIssuer::new(vec![next.clone(), keys.identity.clone()]).unwrap();
        let token = issuer.mint_person(LoginId::new(), None, ProfileId::new(), None, Duration::from_secs(60));
        assert!(verifier.verify(&token).is_err());
        verifier.set_identity_keys(issuer.public_keys()).unwrap();
        assert!(verifier.verify(&token).is_ok());
        // A service's key is never accepted as identity's.
        assert!(verifier.set_identity_keys(Jwks::of([&keys.role])).is_err());
    }

    #[test]
    fn oidc_tokens_name_a_login_by_the_configured_claim() {
        let keys = keys();
        let provider_key = KeyPair::generate("idp");
        let mut jwks = Jwks::of([&provider_key]);
        jwks.keys[0].kid = "idp-key-1".to_owned();
        let provider = OidcProvider {
            issuer: "https://idp.example.com".to_owned(),
            audience: "csm".to_owned(),
            keys: jwks,
            login_claim: "preferred_username".to_owned(),
        };
        let verifier =
            Verifier::new(TokenRules::default(), Jwks::of([&keys.identity]), &Jwks::default(), Some(provider)).unwrap();
        let now = now_seconds();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("idp-key-1".to_owned());
        let sign =
            |claims: serde_json::Value| jsonwebtoken::encode(&header, &claims, &provider_key.encoding_key()).unwrap();
        let token = sign(
            serde_json::json!({"iss": "https://idp.example.com", "aud": "csm", "sub": "x", "exp": now + 60, "iat": now, "preferred_username": "ada"}),
        );
        assert_eq!(
            verifier.verify(&token).unwrap(),
            Credential::Person(PersonClaim { login: LoginRef::Name("ada".to_owned()), session: None, profile: None })
        );
        let wrong_audience = sign(
            serde_json::json!({"iss": "https://idp.example.com", "aud": "other", "sub": "x", "exp": now + 60, "preferred_username": "ada"}),
        );
        assert!(verifier.verify(&wrong_audience).is_err());
        let no_login =
            sign(serde_json::json!({"iss": "https://idp.example.com", "aud": "csm", "sub": "x", "exp": now + 60}));
        assert_eq!(verifier.verify(&no_login).unwrap_err().reason(), "LOGIN_CLAIM_MISSING");
    }
}
