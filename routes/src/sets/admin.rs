//! Operator routes of the former worker; the admin token layer guards everything here.

use http::Response;
use platform_middleware::body::Body;
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::reply;
use crate::store::schema_version;
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "admin",
    register,
};

fn register(r: &mut Routes<'_>) {
    r.get("/admin/status", status);
}

/// What an operator checks after a deploy: version, uptime, schema, auth mode, drain state.
async fn status(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let (schema, instance) = ctx
        .db(|c| {
            let version = schema_version(c)?;
            let instance: String = c.query_row(
                "SELECT value FROM settings WHERE key = 'instance_id'",
                [],
                |r| r.get(0),
            )?;
            Ok((version, instance))
        })
        .await?;
    let info = &ctx.state.info;
    let (connections, idle) = ctx.state.db.usage();
    reply::ok(&json!({
        "version": info.version,
        "instance_id": instance,
        "uptime_seconds": info.started.elapsed().as_secs(),
        "draining": ctx.state.draining.is_draining(),
        "auth_provider": info.auth_provider,
        "server_mode": info.server_mode,
        "schema_version": schema,
        "db": { "path": ctx.state.db.path(), "connections": connections, "idle": idle },
    }))
}
