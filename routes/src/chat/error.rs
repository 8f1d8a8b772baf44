//! Errors of the `/v1` routes in OpenAI's shape, `{"error":{"message","type","param","code"}}`,
//! so OpenAI clients raise the right exception. Every `/v1` failure maps to a response here.

use http::{header, HeaderValue, Response, StatusCode};
use platform_middleware::body::{self, Body};
use serde_json::{json, Value};

use crate::error::ApiError;

#[derive(Debug)]
pub struct OpenAiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl OpenAiError {
    fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        OpenAiError {
            status,
            message: message.into(),
            kind: kind.into(),
            param: None,
            code: None,
        }
    }

    fn code(mut self, code: &str) -> Self {
        self.code = Some(code.into());
        self
    }

    /// 400 `invalid_request_error` about `param`.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message);
        e.param = Some(param.into());
        e
    }

    /// 404 `model_not_found`, with the provider's message.
    pub fn model_not_found(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message);
        e.param = Some("model".into());
        e.code("model_not_found")
    }

    /// 502: the provider could not be reached or failed.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "api_error", message).code("upstream_error")
    }

    /// 504: the provider accepted the request and then went silent.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "api_error", message).code("upstream_timeout")
    }

    /// A failed call to the provider named `provider`.
    pub fn from_reqwest(provider: &str, e: &reqwest::Error) -> Self {
        tracing::warn!(provider, error = %e, "chat provider request failed");
        if e.is_timeout() {
            Self::timeout(format!(
                "The {provider} provider did not answer within the read timeout"
            ))
        } else if e.is_connect() {
            Self::bad_gateway(format!("Could not connect to the {provider} provider"))
        } else {
            Self::bad_gateway(format!("The {provider} provider failed: {}", short(e)))
        }
    }

    /// The provider answered `status` with `body`: its 4xx passed on with its message (404 as
    /// `model_not_found`), anything else a 502.
    pub fn from_upstream(provider: &str, status: StatusCode, body: &[u8]) -> Self {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let err = &parsed["error"];
        let message = err["message"]
            .as_str()
            .or_else(|| err.as_str())
            .or_else(|| parsed["detail"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() {
                    format!("{provider} answered {status}")
                } else {
                    text.chars().take(500).collect()
                }
            });
        if status == StatusCode::NOT_FOUND {
            return Self::model_not_found(message);
        }
        if !status.is_client_error() {
            tracing::warn!(provider, %status, message, "chat provider failed");
            return Self::bad_gateway(format!("The {provider} provider failed: {message}"));
        }
        let text = |v: &Value| v.as_str().map(str::to_owned);
        OpenAiError {
            status,
            message,
            kind: text(&err["type"]).unwrap_or_else(|| "invalid_request_error".into()),
            param: text(&err["param"]),
            code: text(&err["code"]),
        }
    }

    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }

    pub fn into_response(self) -> Response<Body> {
        let mut res = body::json(self.status, &self.body());
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Errors of the shared request plumbing (body limits, JSON) in the OpenAI shape.
impl From<ApiError> for OpenAiError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        match e {
            ApiError::Internal(error) => {
                tracing::error!(error = %error, "internal error");
                Self::new(status, "api_error", "Internal Server Error")
            }
            ApiError::Unavailable => Self::new(status, "api_error", "Service Unavailable"),
            other => Self::new(status, "invalid_request_error", other.to_string()),
        }
    }
}

/// A reqwest error's message without the URL it carries (the provider's address is the
/// operator's business, not the caller's).
fn short(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = String::new();
    let mut source = e.source();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    if text.is_empty() {
        "request failed".into()
    } else {
        text
    }
}
