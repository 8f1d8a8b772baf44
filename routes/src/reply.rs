//! Response constructors for handlers.

use http::{Response, StatusCode};
use platform_middleware::body::{self, Body};
use serde::Serialize;

use crate::error::ApiError;

/// `status` with `value` serialised as JSON.
pub fn json<T: Serialize + ?Sized>(
    status: StatusCode,
    value: &T,
) -> Result<Response<Body>, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(ApiError::internal)?;
    Ok(body::with_type(status, "application/json", bytes))
}

/// 200 with `value` as JSON.
pub fn ok<T: Serialize + ?Sized>(value: &T) -> Result<Response<Body>, ApiError> {
    json(StatusCode::OK, value)
}
