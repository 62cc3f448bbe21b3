//! The tower layer that authenticates and authorizes every RPC: the one place
//! each service enforces the authorization matrix.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use csm_errors::CsmError;
use csm_types::ProfileId;
use http::{Request, Response};
use tower::{Layer, Service};

use crate::admission::CallerDirectory;
use crate::matrix::{CallerKind, CallerKinds, Matrix, Rule};
use crate::token::{Credential, Verifier};
use crate::{Caller, HumanCaller};

/// Paths served without credentials and outside the matrix: health checks
/// (probes, meshes) and reflection.
pub const PUBLIC_PATH_PREFIXES: [&str; 3] =
    ["/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"];

/// The metadata key an OIDC caller (whose token names no profile) uses to pick one of its login's profiles.
pub const PROFILE_HEADER: &str = "x-csm-profile-id";

/// Verifies the bearer token of each request, admits the person behind it
/// (its login, session and profile still hold), applies the method's row of
/// the authorization matrix, and attaches the [`Caller`] to the request.
#[derive(Clone)]
pub struct AuthLayer {
    gate: Arc<Gate>,
}

struct Gate {
    verifier: Arc<Verifier>,
    matrix: &'static Matrix,
    directory: Arc<dyn CallerDirectory>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<Verifier>, matrix: &'static Matrix, directory: Arc<dyn CallerDirectory>) -> Self {
        Self { gate: Arc::new(Gate { verifier, matrix, directory }) }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, gate: self.gate.clone() }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    gate: Arc<Gate>,
}

/// What the synchronous part of the gate found: done, or a person to admit.
enum Step {
    Done(Option<Caller>),
    Person { credential: crate::token::PersonClaim, requested: Option<ProfileId>, rule: Rule },
}

impl Gate {
    fn start<B>(&self, request: &Request<B>) -> Result<Step, CsmError> {
        let path = request.uri().path();
        if PUBLIC_PATH_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
            return Ok(Step::Done(None));
        }
        // Fail closed: an RPC without a row is served to nobody.
        let rule = self.matrix.rule(path).ok_or_else(|| {
            CsmError::permission_denied("RPC_NOT_IN_MATRIX", "this RPC has no row in the authorization matrix")
        })?;
        let Some(header) = request.headers().get(http::header::AUTHORIZATION) else {
            if rule.kinds.contains(CallerKind::Anonymous) {
                return Ok(Step::Done(None));
            }
            return Err(CsmError::unauthenticated("MISSING_CREDENTIALS", "authorization: Bearer <token> is required"));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| CsmError::unauthenticated("INVALID_TOKEN", "authorization must be 'Bearer <token>'"))?;
        match self.verifier.verify(token)? {
            Credential::Service(service) => {
                if !rule.allows_service(service) {
                    let method = path.rsplit('/').next().unwrap_or_default();
                    return Err(CsmError::permission_denied(
                        "SERVICE_NOT_ALLOWED",
                        format!("service {service} may not call {method}"),
                    ));
                }
                Ok(Step::Done(Some(Caller::Service(service))))
            }
            Credential::Person(credential) => {
                let requested = match request.headers().get(PROFILE_HEADER) {
                    None => None,
                    Some(value) => Some(
                        value.to_str().ok().and_then(|value| ProfileId::parse(value.trim()).ok()).ok_or_else(|| {
                            CsmError::unauthenticated("INVALID_TOKEN", format!("{PROFILE_HEADER} must be a profile id"))
                        })?,
                    ),
                };
                Ok(Step::Person { credential, requested, rule: rule.clone() })
            }
        }
    }

    async fn admit_person(
        &self,
        credential: &crate::token::PersonClaim,
        requested: Option<ProfileId>,
        rule: &Rule,
    ) -> Result<HumanCaller, CsmError> {
        let person = self.directory.admit(credential, requested).await?;
        // Authenticated: a refusal below is recorded with who was refused.
        let human = person.human.clone();
        csm_audit::set_actor_with(move || Caller::Human(human).audit_actor());
        if rule.allows_person(CallerKinds::of(person.base)) {
            return Ok(person.human);
        }
        if rule.needs_roles_for(person.base) {
            // Roles from the cache first; before refusing, read them fresh
            // (a role granted a moment ago must not be refused).
            for fresh in [false, true] {
                if rule.allows_person(self.directory.kinds(&person, fresh).await?) {
                    return Ok(person.human);
                }
            }
        }
        let method = rule.method.rsplit('/').next().unwrap_or_default();
        let persons = rule.kinds.iter().filter(|kind| !matches!(kind, CallerKind::Anonymous | CallerKind::Service));
        let allowed = persons.map(CallerKind::as_str).collect::<Vec<_>>().join(", ");
        Err(CsmError::permission_denied(
            "CALLER_KIND_NOT_ALLOWED",
            format!(
                "{method} is not open to a {} caller (open to: {})",
                person.base,
                if allowed.is_empty() { "no person" } else { &allowed }
            ),
        )
        .with_metadata("method", rule.method.clone())
        .with_metadata("allowed_kinds", allowed))
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let refuse = |error: CsmError, path: &str| {
            tracing::info!(reason = error.reason(), path, "refused call");
            let response = error.to_status().into_http::<ResBody>();
            Box::pin(async move { Ok(response) }) as Self::Future
        };
        let admitted = |request: &mut Request<ReqBody>, caller: Caller| {
            tracing::Span::current().record("csm.caller_kind", caller.kind());
            let named = caller.clone();
            csm_audit::set_actor_with(move || named.audit_actor());
            request.extensions_mut().insert(caller);
        };
        match self.gate.start(&request) {
            Err(error) => refuse(error, request.uri().path()),
            Ok(Step::Done(caller)) => {
                if let Some(caller) = caller {
                    admitted(&mut request, caller);
                }
                Box::pin(inner.call(request))
            }
            Ok(Step::Person { credential, requested, rule }) => {
                let gate = self.gate.clone();
                Box::pin(async move {
                    match gate.admit_person(&credential, requested, &rule).await {
                        Ok(human) => {
                            admitted(&mut request, Caller::Human(human));
                            inner.call(request).await
                        }
                        Err(error) => {
                            tracing::info!(reason = error.reason(), path = request.uri().path(), "refused call");
                            Ok(error.to_status().into_http::<ResBody>())
                        }
                    }
                })
            }
        }
    }
}
