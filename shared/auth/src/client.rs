//! The service token a service presents on its calls to peers, re-minted
//! before it expires.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use csm_types::ServiceName;
use http::{HeaderValue, Request};
use tower::{Layer, Service};

use crate::token::ServiceSigner;

const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// Mints and caches this service's token.
#[derive(Clone)]
pub struct ServiceTokenSource {
    signer: Arc<ServiceSigner>,
    cached: Arc<Mutex<Option<(HeaderValue, Instant)>>>,
}

impl ServiceTokenSource {
    pub fn new(signer: ServiceSigner) -> Self {
        Self { signer: Arc::new(signer), cached: Arc::new(Mutex::new(None)) }
    }

    pub fn service(&self) -> ServiceName {
        self.signer.service()
    }

    /// `Bearer <token>`, renewed five minutes before it expires.
    pub fn authorization(&self) -> HeaderValue {
        let mut cached = self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((value, expires)) = cached.as_ref()
            && Instant::now() + RENEW_BEFORE < *expires
        {
            return value.clone();
        }
        let token = self.signer.mint(TOKEN_LIFETIME);
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).expect("a JWT is a valid header value");
        value.set_sensitive(true);
        *cached = Some((value.clone(), Instant::now() + TOKEN_LIFETIME));
        value
    }
}

/// Adds the service token to every outgoing request.
#[derive(Clone)]
pub struct ServiceTokenLayer {
    source: ServiceTokenSource,
}

impl ServiceTokenLayer {
    pub fn new(source: ServiceTokenSource) -> Self {
        Self { source }
    }
}

impl<S> Layer<S> for ServiceTokenLayer {
    type Service = WithServiceToken<S>;
    fn layer(&self, inner: S) -> Self::Service {
        WithServiceToken { inner, source: self.source.clone() }
    }
}

#[derive(Clone)]
pub struct WithServiceToken<S> {
    inner: S,
    source: ServiceTokenSource,
}

impl<S, B> Service<Request<B>> for WithServiceToken<S>
where
    S: Service<Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.headers_mut().insert(http::header::AUTHORIZATION, self.source.authorization());
        Box::pin(self.inner.call(request))
    }
}
