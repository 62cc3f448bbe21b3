//! The tower layer that authenticates every RPC.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use csm_errors::CsmError;
use http::{Request, Response};
use tower::{Layer, Service};

use crate::{AuthKeys, Caller, ServicePolicy};

/// Paths served without credentials: health checks (probes, meshes) and reflection.
pub const PUBLIC_PATH_PREFIXES: [&str; 3] =
    ["/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"];

/// Verifies the bearer token of each request, applies the service policy and
/// attaches the [`Caller`] to the request extensions.
#[derive(Clone)]
pub struct AuthLayer {
    keys: Arc<AuthKeys>,
    policy: Arc<ServicePolicy>,
}

impl AuthLayer {
    pub fn new(keys: AuthKeys, policy: ServicePolicy) -> Self {
        Self { keys: Arc::new(keys), policy: Arc::new(policy) }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, keys: self.keys.clone(), policy: self.policy.clone() }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    keys: Arc<AuthKeys>,
    policy: Arc<ServicePolicy>,
}

impl<S> AuthService<S> {
    fn authenticate<B>(&self, request: &Request<B>) -> Result<Option<Caller>, CsmError> {
        let path = request.uri().path();
        if PUBLIC_PATH_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
            return Ok(None);
        }
        let header = request.headers().get(http::header::AUTHORIZATION).ok_or_else(|| {
            CsmError::unauthenticated("MISSING_CREDENTIALS", "authorization: Bearer <token> is required")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| CsmError::unauthenticated("INVALID_TOKEN", "authorization must be 'Bearer <token>'"))?;
        let caller = self.keys.verify(token)?;
        if let Caller::Service(service) = caller {
            let method = path.rsplit('/').next().unwrap_or_default();
            if !self.policy.allows(service, method) {
                return Err(CsmError::permission_denied(
                    "SERVICE_NOT_ALLOWED",
                    format!("service {service} may not call {method}"),
                ));
            }
        }
        Ok(Some(caller))
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
        match self.authenticate(&request) {
            Ok(caller) => {
                if let Some(caller) = caller {
                    tracing::Span::current().record("csm.caller_kind", caller.kind());
                    csm_audit::set_actor(caller.audit_actor());
                    request.extensions_mut().insert(caller);
                }
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { inner.call(request).await })
            }
            Err(error) => {
                tracing::info!(reason = error.reason(), path = request.uri().path(), "rejected unauthenticated call");
                let response = error.to_status().into_http::<ResBody>();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}
