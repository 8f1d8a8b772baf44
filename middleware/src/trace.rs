//! Access log: a span per request (request id, method, path, client) and one line when the
//! response head is ready, with the route the table matched, status and latency.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Span;

use crate::body::Body;
use crate::context::RequestContext;
use crate::metrics;
use crate::policy::{meta_of, MatchedRoute, SharedPolicy};
use crate::request_id::request_id_of;

/// Also the outermost layer that needs the route table's
/// [`RouteMeta`](crate::policy::RouteMeta): it looks it up once, for the route it logs, and
/// leaves it in the request for the rate-limit and auth layers.
#[derive(Clone)]
pub struct AccessLogLayer {
    policy: SharedPolicy,
}

impl AccessLogLayer {
    pub fn new(policy: SharedPolicy) -> Self {
        AccessLogLayer { policy }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AccessLog {
            inner,
            policy: self.policy.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
    policy: SharedPolicy,
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

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let started = Instant::now();
        let route = meta_of(&mut req, &*self.policy).route;
        let client = RequestContext::client_of(req.extensions()).map(|c| c.addr);
        let span = tracing::info_span!(
            "request",
            id = request_id_of(req.extensions()),
            method = %req.method(),
            path = req.uri().path(),
            client = client.map(tracing::field::display),
        );
        let in_flight = Some(metrics::InFlight::start());
        // `in_scope` moves the request and the future through a closure: skipped when the
        // span is off (the default `RUST_LOG=info` keeps it on).
        let inner = if span.is_disabled() {
            self.inner.call(req)
        } else {
            span.in_scope(|| self.inner.call(req))
        };
        AccessLogFuture {
            inner,
            span,
            started,
            in_flight,
            route,
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
        route: Option<MatchedRoute>,
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
        let elapsed = this.started.elapsed();
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        match &result {
            Ok(res) => {
                let route = this.route.map_or("-", |r| r.pattern);
                let set = this.route.map_or(metrics::NO_SET, |r| r.set);
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
    use crate::policy::RouteMeta;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tower::{service_fn, ServiceExt};

    #[tokio::test]
    async fn the_route_is_looked_up_once_and_left_for_the_layers_inside() {
        let lookups = Arc::new(AtomicUsize::new(0));
        let counted = lookups.clone();
        let policy: SharedPolicy = Arc::new(move |_: &http::Method, path: &str| {
            counted.fetch_add(1, Ordering::SeqCst);
            RouteMeta {
                public: path == "/open",
                ..RouteMeta::default()
            }
        });
        let inner_policy = policy.clone();
        let svc = AccessLogLayer::new(policy).layer(service_fn(move |mut req: Request<Body>| {
            let meta = meta_of(&mut req, &*inner_policy);
            async move {
                assert!(meta.public);
                Ok::<_, Infallible>(Response::new(Body::default()))
            }
        }));
        let req = Request::get("/open").body(Body::default()).unwrap();
        svc.oneshot(req).await.unwrap();
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
    }
}
