//! Who is calling, and may they call this RPC.
//!
//! Every RPC except health and reflection passes the [`AuthLayer`]:
//!
//! - **Credentials** ([`token`]): identity issues people's tokens (Ed25519,
//!   naming login, session, active profile); each service signs its own
//!   service tokens with a key only it holds; tokens of a configured OIDC
//!   provider name a login by a claim. The other services hold public keys
//!   only ([`keys`], JWKS by `kid`).
//! - **Admission** ([`admission`]): a person's credential holds only while its
//!   login is enabled, its session live and its profile the login's own and
//!   active — facts from the caller directory each service keeps, fed by
//!   identity's change feed.
//! - **Authorization matrix** ([`matrix`]): one row per RPC says which kinds
//!   of caller may reach the handler; handlers keep the finer scope checks.
//!
//! Handlers read the admitted [`Caller`] with [`caller`].

pub mod admission;
mod client;
pub mod config;
pub mod keys;
mod layer;
pub mod matrix;
pub mod token;

use csm_errors::CsmError;
use csm_types::{LoginId, ProfileId, ServiceName, SessionId};

pub use admission::{AdmittedPerson, CallerDirectory, LoginFacts, ProfileFacts, SessionFacts};
pub use client::{ServiceTokenLayer, ServiceTokenSource, WithServiceToken};
pub use config::{AuthConfig, SuiteKeys};
pub use keys::{Jwk, Jwks, KeyPair};
pub use layer::{AuthLayer, AuthService, PROFILE_HEADER, PUBLIC_PATH_PREFIXES};
pub use matrix::{CallerKind, CallerKinds, Matrix, Rule};
pub use token::{
    Claims, Credential, ISSUER, LoginRef, OidcProvider, PersonClaim, ServiceSigner, TokenIssuer, TokenRules, Verifier,
};

/// An authenticated person: a login with its session (when the credential
/// names one) and the profile it acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HumanCaller {
    pub login_id: LoginId,
    pub session_id: Option<SessionId>,
    /// Always set for an admitted caller (the credential's, the session's or the login's default profile).
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

    /// Whose request ids a call's are (idempotency keys): the acting
    /// profile of a person, else its login; `service:<name>` for a service.
    pub fn request_scope(&self) -> String {
        match self {
            Caller::Human(human) => match human.profile_id {
                Some(profile) => profile.to_string(),
                None => format!("login:{}", human.login_id),
            },
            Caller::Service(service) => format!("service:{service}"),
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
/// Every authenticated route has one; a missing caller means an anonymous
/// call (only RPCs whose matrix row allows `anonymous` get that far), which
/// such handlers read with [`caller_if_any`].
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, CsmError> {
    caller_if_any(request)
        .ok_or_else(|| CsmError::unauthenticated("MISSING_CREDENTIALS", "the request carries no credentials"))
}

/// The caller, or `None` for an anonymous call.
pub fn caller_if_any<T>(request: &tonic::Request<T>) -> Option<Caller> {
    request.extensions().get::<Caller>().cloned()
}
