//! CORS for real preflights only. tower-http's `CorsLayer` answers every `OPTIONS` request
//! itself, credentials or not; an `OPTIONS` that is not a preflight (no `Origin` or no
//! `Access-Control-Request-Method`) would then pass unauthenticated. This wrapper sends such
//! requests past the CORS layer to the layers inside (auth first), where they meet the same
//! checks as a `GET`.
//!
//! The layer is always in the stack, with or without CORS origins configured, and keeps the
//! CORS settings behind an `Arc`: the stack is cloned and moved for every request, and holding
//! a `Cors<S>` beside `S` (or `tower::util::Either` of the two) doubled its size.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::Either;
use http::{header, Method, Request, Response};
use tower::{Layer, Service};
use tower_http::cors::{Cors, CorsLayer};

/// Whether this is a CORS preflight as browsers send them.
pub fn is_preflight<B>(req: &Request<B>) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

#[derive(Clone)]
pub struct PreflightOnlyLayer {
    cors: Option<Arc<CorsLayer>>,
}

impl PreflightOnlyLayer {
    /// `None` when no origin may make cross-origin requests: every request passes untouched.
    pub fn new(cors: Option<CorsLayer>) -> Self {
        if let Some(cors) = &cors {
            // tower-http checks its rules (no wildcard with credentials) when it wraps a
            // service, which here happens per request: check once, at start-up.
            let _ = cors.layer(());
        }
        PreflightOnlyLayer {
            cors: cors.map(Arc::new),
        }
    }
}

impl<S> Layer<S> for PreflightOnlyLayer {
    type Service = PreflightOnly<S>;
    fn layer(&self, inner: S) -> Self::Service {
        PreflightOnly {
            cors: self.cors.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct PreflightOnly<S> {
    cors: Option<Arc<CorsLayer>>,
    inner: S,
}

impl<S, B, R> Service<Request<B>> for PreflightOnly<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone,
    R: Default,
{
    type Response = Response<R>;
    type Error = S::Error;
    /// The CORS future is boxed: it carries the headers to add, and inline it would make every
    /// request's future larger whether CORS is configured or not.
    type Future = Either<Pin<Box<<Cors<S> as Service<Request<B>>>::Future>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match &self.cors {
            Some(cors) if req.method() != Method::OPTIONS || is_preflight(&req) => {
                // The ready service goes with the request; a clone stays (tower's rule).
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                Either::Left(Box::pin(cors.layer(inner).call(req)))
            }
            _ => Either::Right(self.inner.call(req)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{self, Body};
    use http::{HeaderValue, StatusCode};
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};
    use tower_http::cors::AllowOrigin;

    async fn status(req: Request<Body>) -> StatusCode {
        let cors = CorsLayer::new().allow_origin(AllowOrigin::exact(HeaderValue::from_static(
            "https://app.example",
        )));
        let svc = PreflightOnlyLayer::new(Some(cors)).layer(service_fn(|_: Request<Body>| async {
            let mut res = Response::new(body::empty());
            *res.status_mut() = StatusCode::UNAUTHORIZED;
            Ok::<_, Infallible>(res)
        }));
        svc.oneshot(req).await.unwrap().status()
    }

    /// tower-http refuses a wildcard origin with credentials when it wraps a service; the layer
    /// wraps one per request, so it asks at start-up instead of failing the first request.
    #[test]
    #[should_panic(expected = "Access-Control-Allow-Credentials")]
    fn unusable_cors_rules_fail_at_start_up() {
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::any())
            .allow_credentials(true);
        let _ = PreflightOnlyLayer::new(Some(cors));
    }

    #[tokio::test]
    async fn only_real_preflights_are_answered_by_cors() {
        let preflight = Request::options("/api/tokens")
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .body(body::empty())
            .unwrap();
        assert_eq!(status(preflight).await, StatusCode::OK);
        let bare = Request::options("/api/tokens").body(body::empty()).unwrap();
        assert_eq!(status(bare).await, StatusCode::UNAUTHORIZED);
        let origin_only = Request::options("/api/tokens")
            .header("origin", "https://app.example")
            .body(body::empty())
            .unwrap();
        assert_eq!(status(origin_only).await, StatusCode::UNAUTHORIZED);
    }
}
