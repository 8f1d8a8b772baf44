//! The JSON API of the former API server.

use http::Response;
use platform_middleware::body::Body;
use serde::Serialize;
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::reply;
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "api",
    register,
};

fn register(r: &mut Routes<'_>) {
    r.get("/api/me", me);
    r.get("/api/client", client);
}

/// The body of `/api/me`; fields in the order the old server sent them (alphabetical).
#[derive(Serialize)]
struct Me<'a> {
    auth: &'static str,
    role: &'static str,
    user_id: &'a str,
    username: Option<&'a str>,
}

/// The caller as the auth layer resolved them.
async fn me(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let who = ctx.identity()?;
    reply::ok(&Me {
        auth: who.method.as_str(),
        role: who.role.as_str(),
        user_id: &who.user_id,
        username: who.username.as_deref(),
    })
}

/// What the server believes about the caller's connection after ProxyFix: lets operators check
/// their proxy settings (`TRUSTED_PROXIES`, `PROXY_FIX_*`) from the outside.
async fn client(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let c = ctx.client();
    reply::ok(&json!({
        "addr": c.addr.to_string(),
        "scheme": c.scheme.as_str(),
        "host": c.host(),
        "port": c.port,
        "prefix": c.prefix,
        "peer": c.peer.to_string(),
    }))
}
