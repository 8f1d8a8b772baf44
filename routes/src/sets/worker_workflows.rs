//! The old worker's workflow routes, kept for its clients: `GET /workflows`,
//! `PUT|DELETE /workflows/{id}`, `POST /workflows/{id}/run` (the body is the params object)
//! answering `{"results":{...}}`, and `POST /workflows/{id}/run/stream` as Server-Sent Events.

use http::Response;
use platform_middleware::body::Body;
use serde_json::{json, Map, Value};

use super::workflows::{delete, finish, list, put, start};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::jobs::stream::{self, Format};
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "worker_workflows",
    register,
};

fn register(r: &mut Routes<'_>) {
    r.get("/workflows", list);
    r.put("/workflows/{id}", put);
    r.delete("/workflows/{id}", delete);
    r.post("/workflows/{id}/run", run);
    r.post("/workflows/{id}/run/stream", run_stream);
}

async fn run(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let params = params_body(&mut ctx).await?;
    let started = start(&ctx, params).await?;
    finish(started, |results| json!({ "results": results })).await
}

async fn run_stream(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let params = params_body(&mut ctx).await?;
    let started = start(&ctx, params).await?;
    Ok(stream::response(started, Format::Sse))
}

/// The whole body is the params object; an empty body runs with none.
async fn params_body(ctx: &mut Ctx) -> Result<Map<String, Value>, ApiError> {
    let bytes = ctx.bytes().await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(params)) => Ok(params),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(ApiError::BadRequest(
            "The body must be a JSON object of params".into(),
        )),
        Err(e) => Err(ApiError::BadRequest(format!("Invalid JSON body: {e}"))),
    }
}
