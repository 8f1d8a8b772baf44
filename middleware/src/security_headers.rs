//! Browser hardening headers on every response: `X-Content-Type-Options: nosniff` everywhere (a
//! JSON body must never be sniffed into a page), and for HTML pages a `Content-Security-Policy`
//! (no framing, no inline script, styles only as hashed), `X-Frame-Options: DENY` and
//! `Referrer-Policy: same-origin`. Headers a handler set itself are kept.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{header, HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const DENY: HeaderValue = HeaderValue::from_static("DENY");
const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");

#[derive(Clone)]
pub struct SecurityHeadersLayer {
    /// The `Content-Security-Policy` of HTML pages. Cloned into every response future: give a
    /// value backed by static bytes (`Bytes::from_static`), whose clones cost nothing.
    csp: HeaderValue,
}

impl SecurityHeadersLayer {
    pub fn new(csp: HeaderValue) -> Self {
        SecurityHeadersLayer { csp }
    }
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeaders {
            inner,
            csp: self.csp.clone(),
        }
    }
}

#[derive(Clone)]
pub struct SecurityHeaders<S> {
    inner: S,
    csp: HeaderValue,
}

impl<S, B, R> Service<Request<B>> for SecurityHeaders<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = AddHeaders<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        AddHeaders {
            inner: self.inner.call(req),
            csp: Some(self.csp.clone()),
        }
    }
}

pin_project! {
    pub struct AddHeaders<F> {
        #[pin]
        inner: F,
        csp: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for AddHeaders<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        let headers = res.headers_mut();
        let is_html = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
        let mut add = |name: HeaderName, value: HeaderValue| {
            headers.entry(name).or_insert(value);
        };
        add(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
        if is_html {
            if let Some(csp) = this.csp.take() {
                add(header::CONTENT_SECURITY_POLICY, csp);
            }
            add(header::X_FRAME_OPTIONS, DENY);
            add(header::REFERRER_POLICY, SAME_ORIGIN);
        }
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{self, Body};
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};

    async fn answer(content_type: &'static str) -> Response<Body> {
        let layer = SecurityHeadersLayer::new(HeaderValue::from_static("frame-ancestors 'none'"));
        let svc = layer.layer(service_fn(move |_: Request<Body>| async move {
            let mut res = Response::new(body::empty());
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            Ok::<_, Infallible>(res)
        }));
        let req = Request::get("/").body(body::empty()).unwrap();
        svc.oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn pages_get_the_browser_headers_and_everything_nosniff() {
        let page = answer("text/html; charset=utf-8").await;
        let h = page.headers();
        assert_eq!(h["content-security-policy"], "frame-ancestors 'none'");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["x-content-type-options"], "nosniff");

        let json = answer("application/json").await;
        let h = json.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.get("content-security-policy").is_none());
        assert!(h.get("x-frame-options").is_none());
    }
}
