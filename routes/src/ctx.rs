//! The request context a handler receives: the request head, its path parameters, body readers
//! with limits, the identity the auth layer attached, and the database through the scope.

use std::sync::Arc;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{header, Request};
use http_body_util::BodyExt;
use platform_middleware::auth::Identity;
use platform_middleware::body::Body;
use platform_middleware::client::{client_of, ClientInfo};
use platform_middleware::context::RequestContext;
use platform_middleware::request_id::request_id_of;
use platform_middleware::scope::Scope;
use serde::de::DeserializeOwned;
use sync_wrapper::SyncWrapper;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Conn, Db};

pub struct Ctx {
    pub parts: Parts,
    /// Wrapped so `Ctx` is `Sync` and handlers may hold `&Ctx` across an await.
    body: Option<SyncWrapper<Body>>,
    params: Vec<(String, String)>,
    pub state: Arc<AppState>,
}

impl Ctx {
    pub fn new(req: Request<Body>, params: Vec<(String, String)>, state: Arc<AppState>) -> Self {
        let (parts, body) = req.into_parts();
        Ctx {
            parts,
            body: Some(SyncWrapper::new(body)),
            params,
            state,
        }
    }

    /// A path parameter by name (`{id}` in the pattern).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The caller, or 401 on a route that did not require one.
    pub fn identity(&self) -> Result<&Identity, ApiError> {
        RequestContext::identity_of(&self.parts.extensions)
            .ok_or_else(|| ApiError::Unauthorized(platform_middleware::auth::MISSING.into()))
    }

    pub fn client(&self) -> ClientInfo {
        client_of(&self.parts.extensions)
    }

    pub fn request_id(&self) -> &str {
        request_id_of(&self.parts.extensions)
    }

    /// The `Content-Length` the client announced, if any.
    pub fn declared_length(&self) -> Option<u64> {
        self.parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    }

    /// The request body, to stream it; reading it again fails. Map read errors with
    /// [`ApiError::body_read`] (a stalled client is a 408) and refuse an announced length over
    /// the route's limit first with [`Ctx::refuse_declared_over`].
    pub fn take_body(&mut self) -> Result<Body, ApiError> {
        self.body
            .take()
            .map(SyncWrapper::into_inner)
            .ok_or_else(|| ApiError::internal("request body read twice"))
    }

    /// 413 when the client announced more than `limit` bytes, answered before reading any of
    /// it: a client waiting on `Expect: 100-continue` is told at once and never sends the body.
    pub async fn refuse_declared_over(&mut self, limit: u64) -> Result<(), ApiError> {
        if self.declared_length().is_none_or(|n| n <= limit) {
            return Ok(());
        }
        let waits_for_continue = self
            .parts
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let body = self.take_body()?;
        if !waits_for_continue {
            discard(body).await;
        }
        Err(ApiError::PayloadTooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        })
    }

    /// The whole body, refused with 413 past `limit` bytes.
    pub async fn bytes_limited(&mut self, limit: usize) -> Result<Bytes, ApiError> {
        self.refuse_declared_over(limit as u64).await?;
        let mut body = self.take_body()?;
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(ApiError::body_read)?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            if buf.len() + data.len() > limit {
                discard(body).await;
                return Err(ApiError::PayloadTooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
        Ok(buf.freeze())
    }

    /// The whole body, within the server's default limit.
    pub async fn bytes(&mut self) -> Result<Bytes, ApiError> {
        self.bytes_limited(self.state.body_limit).await
    }

    /// The body parsed as JSON; 400 with the parser's line and column when it is not.
    pub async fn json<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("Invalid JSON body: {e}")))
    }

    /// Runs `f` on a blocking thread with a pooled connection borrowed for this call alone.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Conn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let scope = match RequestContext::scope_of::<Db>(&self.parts.extensions) {
            Some(scope) => scope.clone(),
            // Outside the stack (unit tests of handlers): a scope for this call alone.
            None => Scope::new(self.state.db.clone()),
        };
        scope.run(f).await?
    }
}

/// What of an over-limit body is read and thrown away before the 413 goes out. A client still
/// sending when the server closes the connection gets a reset instead of the 413; reading what
/// is already on its way (within these bounds) lets it see the answer. A client that pauses is
/// not waited for.
const DISCARD_MAX: usize = 16 * 1024 * 1024;
const DISCARD_TIME: Duration = Duration::from_secs(5);
const DISCARD_GAP: Duration = Duration::from_millis(250);

pub(crate) async fn discard(mut body: Body) {
    let deadline = tokio::time::Instant::now() + DISCARD_TIME;
    let mut seen = 0usize;
    while seen <= DISCARD_MAX {
        let gap = tokio::time::Instant::now() + DISCARD_GAP;
        match tokio::time::timeout_at(deadline.min(gap), body.frame()).await {
            Ok(Some(Ok(frame))) => seen += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}
