//! The request context a handler receives: the request head, its path parameters, body readers
//! with limits, the identity the auth layer attached, and the database through the scope.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{header, Request};
use http_body_util::{BodyExt, Limited};
use platform_middleware::auth::Identity;
use platform_middleware::body::Body;
use platform_middleware::client::ClientInfo;
use platform_middleware::scope::Scope;
use platform_middleware::trace::request_id_of;
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
        self.parts
            .extensions
            .get::<Identity>()
            .ok_or_else(|| ApiError::Unauthorized(platform_middleware::auth::MISSING.into()))
    }

    pub fn client(&self) -> ClientInfo {
        self.parts
            .extensions
            .get::<ClientInfo>()
            .cloned()
            .unwrap_or_else(ClientInfo::unknown)
    }

    pub fn request_id(&self) -> &str {
        request_id_of(&self.parts.extensions)
    }

    /// The whole body, refused with 413 past `limit` bytes.
    pub async fn bytes_limited(&mut self, limit: usize) -> Result<Bytes, ApiError> {
        let declared = self
            .parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok());
        if declared
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > limit as u64)
        {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        let body = self
            .body
            .take()
            .ok_or_else(|| ApiError::internal("request body read twice"))?
            .into_inner();
        match Limited::new(body, limit).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                Err(ApiError::PayloadTooLarge { limit })
            }
            Err(e) => Err(ApiError::BadRequest(format!(
                "Could not read the request body: {e}"
            ))),
        }
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

    /// Runs `f` with this request's pooled connection on a blocking thread.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Conn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let scope = match self.parts.extensions.get::<Scope<Db>>() {
            Some(scope) => scope.clone(),
            // Outside the stack (unit tests of handlers): a scope for this call alone.
            None => Scope::new(self.state.db.clone()),
        };
        scope.run(f).await?
    }
}
