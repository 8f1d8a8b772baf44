//! Access log: a span per request (request id, method, path, client) and one line when the
//! response head is ready, with the route the router matched, status and latency.

use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::future::{BoxFuture, FutureExt};
use http::{Request, Response};
use tower::{Layer, Service};
pub use tower_http::request_id::RequestId;
use tracing::Instrument;

use crate::body::Body;
use crate::client::ClientInfo;

/// Which route answered, left in response extensions by the router for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatchedRoute {
    /// The route set ("health", "api", "auth", ...).
    pub set: &'static str,
    /// The pattern as registered (`/api/tokens/{id}`), never the raw path.
    pub pattern: &'static str,
}

/// The request id as a string, or "-" when none was set.
pub fn request_id_of(extensions: &http::Extensions) -> &str {
    extensions
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-")
}

#[derive(Clone, Copy, Debug, Default)]
pub struct AccessLogLayer;

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AccessLog { inner }
    }
}

#[derive(Clone, Debug)]
pub struct AccessLog<S> {
    inner: S,
}

impl<S> Service<Request<Body>> for AccessLog<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let started = Instant::now();
        let client = req.extensions().get::<ClientInfo>().map(|c| c.addr);
        let span = tracing::info_span!(
            "request",
            id = request_id_of(req.extensions()),
            method = %req.method(),
            path = req.uri().path(),
            client = client.map(tracing::field::display),
        );
        let fut = span.in_scope(|| self.inner.call(req));
        async move {
            let result = fut.await;
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            match &result {
                Ok(res) => {
                    let route = res
                        .extensions()
                        .get::<MatchedRoute>()
                        .map_or("-", |r| r.pattern);
                    let status = res.status().as_u16();
                    if res.status().is_server_error() {
                        tracing::error!(status, route, latency_ms, "response");
                    } else {
                        tracing::info!(status, route, latency_ms, "response");
                    }
                }
                Err(e) => tracing::error!(error = %e, latency_ms, "request failed"),
            }
            result
        }
        .instrument(span)
        .boxed()
    }
}
