//! A deadline per RPC that answers DEADLINE_EXCEEDED instead of a transport error.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tower::{Layer, Service};

/// Bounds each RPC by the smaller of the client's `grpc-timeout` and a server maximum.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    maximum: Duration,
}

impl DeadlineLayer {
    pub fn new(maximum: Duration) -> Self {
        Self { maximum }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Deadline { inner, maximum: self.maximum }
    }
}

#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    maximum: Duration,
}

/// Parses a `grpc-timeout` header value (`<digits><unit>`, unit in H M S m u n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Deadline<S>
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

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let client_deadline =
            request.headers().get("grpc-timeout").and_then(|value| value.to_str().ok()).and_then(parse_grpc_timeout);
        let deadline = client_deadline.map_or(self.maximum, |client| client.min(self.maximum));
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            match tokio::time::timeout(deadline, inner.call(request)).await {
                Ok(result) => result,
                Err(_) => Ok(tonic::Status::deadline_exceeded(format!(
                    "the RPC did not complete within {} ms",
                    deadline.as_millis()
                ))
                .into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_rpc_is_answered_with_deadline_exceeded() {
        use tower::{ServiceExt as _, service_fn};
        let slow = service_fn(|_request: Request<()>| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, std::convert::Infallible>(Response::new(String::new()))
        });
        let service = DeadlineLayer::new(Duration::from_secs(30)).layer(slow);
        // The client's grpc-timeout (20 ms) is shorter than the server maximum and wins.
        let request = Request::builder().header("grpc-timeout", "20m").body(()).unwrap();
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.headers().get("grpc-status").unwrap(), "4");
    }

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout("10q"), None);
    }
}

/// Answers a call the load shedder refused as UNAVAILABLE `OVERLOADED` with
/// `google.rpc.RetryInfo` — not the bare RESOURCE_EXHAUSTED tower would give,
/// which clients could not tell from a full licence pool or a rate limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct OverloadLayer;

impl<S> Layer<S> for OverloadLayer {
    type Service = Overload<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Overload { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Overload<S> {
    inner: S,
}

/// How long an overloaded server asks clients to wait before retrying.
pub const OVERLOAD_RETRY_AFTER: Duration = Duration::from_millis(200);

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Overload<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<tower::BoxError>,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = tower::BoxError;
    type Future = BoxFuture<Result<S::Response, tower::BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            match inner.call(request).await {
                Ok(response) => Ok(response),
                Err(error) => {
                    let error: tower::BoxError = error.into();
                    if error.is::<tower::load_shed::error::Overloaded>() {
                        let status = csm_errors::CsmError::unavailable(
                            "OVERLOADED",
                            "the server is at its concurrency limit; retry after the delay",
                        )
                        .with_retry_after(OVERLOAD_RETRY_AFTER)
                        .to_status();
                        Ok(status.into_http::<ResBody>())
                    } else {
                        Err(error)
                    }
                }
            }
        })
    }
}
