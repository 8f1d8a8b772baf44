//! The one body type every layer and handler speaks, and small constructors for it.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;

use crate::incoming::{BodyLimits, LimitedIncoming};

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Request and response body. The common shapes (no body, a buffered body) are held inline;
/// hyper's incoming body, when there is one, and anything else are boxed. So the type stays
/// small (requests, responses and the futures holding them are moved between every layer),
/// and a request without a body or a buffered response allocates nothing for it. A newtype so
/// `Service<Request<Body>>` bounds carry no `dyn` lifetime.
pub struct Body(Kind);

enum Kind {
    Empty(Empty<Bytes>),
    Full(Full<Bytes>),
    Incoming(Box<LimitedIncoming>),
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl Default for Body {
    fn default() -> Self {
        empty()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Body")
    }
}

impl Body {
    /// A request body from hyper, with `limits` on how long the client may keep us waiting.
    pub fn incoming(body: Incoming, limits: BodyLimits) -> Self {
        use http_body::Body as _;
        if body.is_end_stream() {
            return empty();
        }
        Body(Kind::Incoming(Box::new(LimitedIncoming::new(body, limits))))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.0 {
            Kind::Empty(body) => Pin::new(body).poll_frame(cx).map_err(|e| match e {}),
            Kind::Full(body) => Pin::new(body).poll_frame(cx).map_err(|e| match e {}),
            Kind::Incoming(body) => Pin::new(&mut **body).poll_frame(cx),
            Kind::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Empty(body) => body.is_end_stream(),
            Kind::Full(body) => body.is_end_stream(),
            Kind::Incoming(body) => body.is_end_stream(),
            Kind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Empty(body) => body.size_hint(),
            Kind::Full(body) => body.size_hint(),
            Kind::Incoming(body) => body.size_hint(),
            Kind::Boxed(body) => body.size_hint(),
        }
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Body(Kind::Full(Full::new(bytes.into())))
}

pub fn empty() -> Body {
    Body(Kind::Empty(Empty::new()))
}

/// Wraps any body whose error converts into [`BoxError`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    Body(Kind::Boxed(body.map_err(Into::into).boxed_unsync()))
}

/// A JSON response from an already serialisable value.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    with_type(status, "application/json", bytes)
}

/// The `{"detail": ...}` error body the old services answered with.
pub fn detail(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "detail": message }))
}

pub fn with_type(
    status: StatusCode,
    content_type: &'static str,
    bytes: impl Into<Bytes>,
) -> Response<Body> {
    let mut res = Response::new(full(bytes));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}
