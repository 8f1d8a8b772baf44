//! `X-Request-Id`: kept when the client or a proxy sent a usable one (up to 128 printable
//! characters), generated (a v4 UUID) otherwise, left in the [`RequestContext`] for logs and
//! error bodies, and echoed on the response. The request's own headers are left as sent: code
//! inside reads the id with [`request_id_of`].
//!
//! One layer instead of tower-http's `SetRequestId` and `PropagateRequestId` pair: that pair also
//! stores the id in response extensions, three allocations per request that nothing here reads.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::context::RequestContext;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id as a string, or "-" when none was set.
pub fn request_id_of(extensions: &http::Extensions) -> &str {
    RequestContext::of(extensions)
        .and_then(|c| c.request_id.as_ref())
        .and_then(|id| id.to_str().ok())
        .unwrap_or("-")
}

/// A random (v4) UUID, formatted on the stack into one shared buffer: the copies in the request,
/// the response header and the log span are reference counts, not allocations.
pub fn new_id() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_maybe_shared(Bytes::from_owner(buf))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// Longest client-supplied id kept; longer ones are replaced rather than logged and echoed.
const MAX_GIVEN_LEN: usize = 128;

/// A given id is kept when it is short and printable (no spaces or control characters), so what
/// a client sends cannot bloat or garble log lines.
fn usable(id: &HeaderValue) -> bool {
    !id.is_empty() && id.len() <= MAX_GIVEN_LEN && id.as_bytes().iter().all(u8::is_ascii_graphic)
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = SetRequestId<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SetRequestId { inner }
    }
}

#[derive(Clone, Debug)]
pub struct SetRequestId<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for SetRequestId<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = EchoRequestId<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = match req.headers().get(&X_REQUEST_ID).filter(|v| usable(v)) {
            Some(given) => given.clone(),
            None => new_id(),
        };
        RequestContext::of_mut(req.extensions_mut()).request_id = Some(id.clone());
        EchoRequestId {
            inner: self.inner.call(req),
            id: Some(id),
        }
    }
}

pin_project! {
    /// The inner response, with the request id added unless a handler set its own.
    pub struct EchoRequestId<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for EchoRequestId<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            res.headers_mut().entry(X_REQUEST_ID).or_insert(id);
        }
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};

    /// Answers with the id the layers inside see, as a header of its own.
    async fn seen(req: Request<()>) -> Result<Response<()>, Infallible> {
        let id = request_id_of(req.extensions()).to_owned();
        let mut res = Response::new(());
        res.headers_mut()
            .insert("x-seen", HeaderValue::from_str(&id).unwrap());
        Ok(res)
    }

    #[tokio::test]
    async fn a_missing_id_is_generated_seen_inside_and_echoed() {
        let svc = RequestIdLayer.layer(service_fn(seen));
        let res = svc.oneshot(Request::new(())).await.unwrap();
        let echoed = res.headers()[&X_REQUEST_ID].to_str().unwrap();
        assert_eq!(res.headers()["x-seen"], echoed);
        let id = uuid::Uuid::parse_str(echoed).unwrap();
        assert_eq!(id.get_version_num(), 4);
    }

    #[tokio::test]
    async fn a_given_id_is_kept() {
        let svc = RequestIdLayer.layer(service_fn(seen));
        let req = Request::builder()
            .header("x-request-id", "abc-123")
            .body(())
            .unwrap();
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.headers()[&X_REQUEST_ID], "abc-123");
        assert_eq!(res.headers()["x-seen"], "abc-123");
    }

    #[tokio::test]
    async fn unusable_ids_are_replaced() {
        for given in ["", "has space", &"x".repeat(MAX_GIVEN_LEN + 1)] {
            let svc = RequestIdLayer.layer(service_fn(seen));
            let req = Request::builder()
                .header("x-request-id", given)
                .body(())
                .unwrap();
            let res = svc.oneshot(req).await.unwrap();
            let echoed = res.headers()[&X_REQUEST_ID].to_str().unwrap();
            assert!(
                uuid::Uuid::parse_str(echoed).is_ok(),
                "{given:?} -> {echoed}"
            );
            assert_eq!(res.headers()["x-seen"], echoed);
        }
        let longest = "x".repeat(MAX_GIVEN_LEN);
        let svc = RequestIdLayer.layer(service_fn(seen));
        let req = Request::builder()
            .header("x-request-id", &longest)
            .body(())
            .unwrap();
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.headers()[&X_REQUEST_ID], longest.as_str());
    }

    #[tokio::test]
    async fn a_handlers_own_id_is_not_replaced() {
        let svc = RequestIdLayer.layer(service_fn(|_: Request<()>| async {
            let mut res = Response::new(());
            res.headers_mut()
                .insert(X_REQUEST_ID, HeaderValue::from_static("upstream"));
            Ok::<_, Infallible>(res)
        }));
        let res = svc.oneshot(Request::new(())).await.unwrap();
        assert_eq!(res.headers().get_all(&X_REQUEST_ID).iter().count(), 1);
        assert_eq!(res.headers()[&X_REQUEST_ID], "upstream");
    }

    #[test]
    fn ids_are_distinct() {
        assert_ne!(new_id(), new_id());
    }
}
