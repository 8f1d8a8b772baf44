//! The one error type handlers return, mapped to a status and body in one place.

use http::request::Parts;
use http::{header, HeaderValue, Response, StatusCode};
use platform_middleware::body::{Body, BoxError};
use platform_middleware::panic::internal_error;
use platform_middleware::respond::{prefers_html, Respond};
use platform_middleware::scope::ScopeError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Not Found")]
    NotFound,
    /// 404 that says what was not found.
    #[error("{0}")]
    NotFoundDetail(String),
    #[error("Method Not Allowed")]
    MethodNotAllowed { allow: HeaderValue },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Request body too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Unprocessable(String),
    /// Refused for now (a locked account); `retry_after` seconds go in `Retry-After`.
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: u64 },
    /// Temporarily out of a resource (the database pool); the client may retry.
    #[error("Service Unavailable")]
    Unavailable,
    /// Anything else: logged with the request id, answered without internals.
    #[error(transparent)]
    Internal(BoxError),
}

impl ApiError {
    pub fn internal(error: impl Into<BoxError>) -> Self {
        ApiError::Internal(error.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound | ApiError::NotFoundDetail(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response for this error: JSON `{"detail": ...}`, or the HTML page `respond` renders
    /// when the client prefers HTML.
    pub fn into_response(
        self,
        req: &Parts,
        request_id: &str,
        respond: &dyn Respond,
    ) -> Response<Body> {
        let status = self.status();
        let mut res = match &self {
            ApiError::Internal(error) => {
                tracing::error!(request_id, error = %error, "internal error");
                if prefers_html(&req.headers) {
                    let detail = format!("Internal Server Error (request id {request_id})");
                    respond.refuse(req, status, &detail)
                } else {
                    internal_error(request_id)
                }
            }
            other => respond.refuse(req, status, &other.to_string()),
        };
        match self {
            ApiError::MethodNotAllowed { allow } => {
                res.headers_mut().insert(header::ALLOW, allow);
            }
            ApiError::Unavailable => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            ApiError::Unauthorized(_) => {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        res
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<ScopeError> for ApiError {
    fn from(e: ScopeError) -> Self {
        match e {
            ScopeError::Acquire(error) => {
                tracing::warn!(error = %error, "database pool exhausted");
                ApiError::Unavailable
            }
            other => ApiError::Internal(other.into()),
        }
    }
}
