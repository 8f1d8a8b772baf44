//! Turns a panic anywhere below into a 500 carrying the request id, instead of a dropped
//! connection; the panic message goes to the log, never to the client.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::body::{self, Body};
use crate::context::RequestContext;

#[derive(Clone, Copy, Debug, Default)]
pub struct CatchPanicLayer;

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CatchPanic { inner }
    }
}

#[derive(Clone, Debug)]
pub struct CatchPanic<S> {
    inner: S,
}

/// The body every internal error gets: no internals, just the id to quote to an operator.
pub fn internal_error(request_id: &str) -> Response<Body> {
    let mut res = body::json(
        StatusCode::INTERNAL_SERVER_ERROR,
        &serde_json::json!({ "detail": "Internal Server Error", "request_id": request_id }),
    );
    res.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    res
}

fn message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic)")
}

impl<S> Service<Request<Body>> for CatchPanic<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = CatchPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The header value, not a String: a refcount bump instead of an allocation per request.
        let id = RequestContext::of(req.extensions()).and_then(|c| c.request_id.clone());
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
            Ok(inner) => CatchPanicFuture {
                inner: Some(inner),
                panic: None,
                id,
            },
            Err(panic) => CatchPanicFuture {
                inner: None,
                panic: Some(panic),
                id,
            },
        }
    }
}

pin_project! {
    /// The inner future, or the 500 for a panic in `call` or in any poll of it.
    pub struct CatchPanicFuture<F> {
        #[pin]
        inner: Option<F>,
        // Set when `call` itself panicked.
        panic: Option<Box<dyn Any + Send>>,
        id: Option<HeaderValue>,
    }
}

impl<F, E> Future for CatchPanicFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let panic = match this.inner.as_pin_mut() {
            Some(inner) => match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                Ok(poll) => return poll,
                Err(panic) => panic,
            },
            None => this
                .panic
                .take()
                .unwrap_or_else(|| Box::new("response polled after the panic was answered")),
        };
        let id = this
            .id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::error!(
            request_id = id,
            panic = message(&*panic),
            "handler panicked"
        );
        Poll::Ready(Ok(internal_error(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};

    #[tokio::test]
    async fn panics_become_500s_with_the_request_id() {
        let svc = CatchPanicLayer.layer(service_fn(|req: Request<Body>| async move {
            if req.uri().path() == "/boom" {
                panic!("secret internals");
            }
            Ok::<_, Infallible>(Response::new(body::empty()))
        }));
        let mut req = Request::get("/boom").body(body::empty()).unwrap();
        RequestContext::of_mut(req.extensions_mut()).request_id =
            Some(HeaderValue::from_static("rid-1"));
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &bytes[..],
            br#"{"detail":"Internal Server Error","request_id":"rid-1"}"#
        );
        let ok = svc
            .oneshot(Request::get("/").body(body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }

    /// A service that panics before it even returns a future.
    #[derive(Clone)]
    struct PanicsInCall;

    impl Service<Request<Body>> for PanicsInCall {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<Body>) -> Self::Future {
            panic!("panicked in call");
        }
    }

    #[tokio::test]
    async fn a_panic_in_call_is_a_500_too() {
        let res = CatchPanicLayer
            .layer(PanicsInCall)
            .oneshot(Request::get("/").body(body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &bytes[..],
            br#"{"detail":"Internal Server Error","request_id":"-"}"#
        );
    }
}
