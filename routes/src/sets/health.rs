//! Health checks for load balancers and smoke tests: public and never rate limited.

use chrono::{SecondsFormat, Utc};
use http::{Response, StatusCode};
use platform_middleware::body::{self, Body};
use platform_middleware::policy::RateRule;
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::reply;
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "health",
    register,
};

fn register(r: &mut Routes<'_>) {
    r.get("/health", health).public().rate(RateRule::Exempt);
    r.get("/ping", ping).public().rate(RateRule::Exempt);
}

/// `"OK"`, or 503 once the server is draining so balancers stop sending new work.
async fn health(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    if ctx.state.draining.is_draining() {
        return reply::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "detail": "Server is shutting down" }),
        );
    }
    // Load balancers poll this: a static body, nothing serialised or allocated.
    Ok(body::with_type(StatusCode::OK, "application/json", OK_BODY))
}

const OK_BODY: &[u8] = br#""OK""#;

async fn ping(_: Ctx) -> Result<Response<Body>, ApiError> {
    let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, false);
    reply::ok(&json!({ "status": "healthy", "timestamp": timestamp }))
}
