//! The one error type handlers return, mapped to a status and body in one place.

use http::request::Parts;
use http::{header, HeaderValue, Response, StatusCode, Version};
use platform_middleware::body::{self, Body, BoxError};
use platform_middleware::incoming;
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
    /// The client stopped sending its body (`BODY_READ_TIMEOUT`); the connection is closed.
    #[error("Request body timeout")]
    BodyTimeout,
    #[error("{0}")]
    Unprocessable(String),
    /// A `Range` outside the object; `size` goes in `Content-Range: bytes */size`.
    #[error("Range Not Satisfiable")]
    RangeNotSatisfiable { size: u64 },
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

    /// A failed read of the request body: 408 when the client stalled, 400 otherwise.
    pub fn body_read(error: BoxError) -> Self {
        if incoming::is_timeout(&error) {
            ApiError::BodyTimeout
        } else {
            ApiError::BadRequest(format!("Could not read the request body: {error}"))
        }
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
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
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
            // A stalled upload is a transport failure, not a page: the same JSON for everyone.
            ApiError::BodyTimeout => body::detail(status, "Request body timeout"),
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
            // The rest of the body is not read: end the connection rather than parse it as the
            // next request. HTTP/2 ends just the stream, and forbids the header.
            ApiError::BodyTimeout | ApiError::PayloadTooLarge { .. }
                if req.version < Version::HTTP_2 =>
            {
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::RangeNotSatisfiable { size } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    res.headers_mut().insert(header::CONTENT_RANGE, v);
                }
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
