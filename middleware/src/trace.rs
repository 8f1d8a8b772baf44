//! Access log: a span per request (request id, method, path, client) and one line when the
//! response head is ready, with the route the router matched, status and latency.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tower_http::request_id::MakeRequestId;
pub use tower_http::request_id::RequestId;
use tracing::Span;

use crate::body::Body;
use crate::client::ClientInfo;
use crate::metrics;

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

/// Random (v4) UUIDs for requests that arrive without an `X-Request-Id`. Like tower-http's
/// `MakeRequestUuid`, but formatted on the stack: one allocation per id instead of three.
#[derive(Clone, Copy, Debug, Default)]
pub struct MakeRequestUuid;

impl MakeRequestId for MakeRequestUuid {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
        HeaderValue::from_str(id).ok().map(RequestId::new)
    }
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
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = AccessLogFuture<S::Future>;

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
        let in_flight = Some(metrics::InFlight::start());
        let inner = span.in_scope(|| self.inner.call(req));
        AccessLogFuture {
            inner,
            span,
            started,
            in_flight,
        }
    }
}

pin_project! {
    /// The inner future, polled inside the request's span; logs and records the response.
    pub struct AccessLogFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        started: Instant,
        in_flight: Option<metrics::InFlight>,
    }
}

impl<F, E> Future for AccessLogFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
    E: std::fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.inner.poll(cx));
        drop(this.in_flight.take());
        let elapsed = this.started.elapsed().as_secs_f64();
        let latency_ms = elapsed * 1000.0;
        match &result {
            Ok(res) => {
                let matched = res.extensions().get::<MatchedRoute>();
                let route = matched.map_or("-", |r| r.pattern);
                let set = matched.map_or(metrics::NO_SET, |r| r.set);
                metrics::record_response(set, res.status(), elapsed);
                let status = res.status().as_u16();
                if res.status().is_server_error() {
                    tracing::error!(status, route, latency_ms, "response");
                } else {
                    tracing::info!(status, route, latency_ms, "response");
                }
            }
            Err(e) => tracing::error!(error = %e, latency_ms, "request failed"),
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_v4_uuids() {
        let req = Request::new(());
        let a = MakeRequestUuid.make_request_id(&req).unwrap();
        let b = MakeRequestUuid.make_request_id(&req).unwrap();
        assert_ne!(a.header_value(), b.header_value());
        let id = uuid::Uuid::parse_str(a.header_value().to_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 4);
    }
}
