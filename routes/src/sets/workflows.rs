//! Workflows on the API: CRUD with ownership (another user's workflow is 404 unless public;
//! public ones are read-only to others) and runs, answered whole or streamed as NDJSON. The
//! old worker's shapes (`/workflows/...`) reuse these in `worker_workflows.rs`.

use http::{Response, StatusCode};
use platform_middleware::body::Body;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::paging;
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::jobs::stream::{self, Format};
use crate::jobs::{Outcome, Started};
use crate::reply;
use crate::table::{RouteSet, Routes};
use crate::workflows::store::{self, Draft, Workflow};
use crate::workflows::Plan;

pub const SET: RouteSet = RouteSet {
    name: "workflows",
    register,
};

fn register(r: &mut Routes<'_>) {
    r.get("/api/workflows", list);
    r.get("/api/workflows/", list);
    r.post("/api/workflows", create);
    r.post("/api/workflows/", create);
    r.get("/api/workflows/{id}", get);
    r.put("/api/workflows/{id}", put);
    r.delete("/api/workflows/{id}", delete);
    r.post("/api/workflows/{id}/run", run);
    r.post("/api/workflows/{id}/run/stream", run_stream);
}

const NAME_MAX: usize = 200;
const ID_MAX: usize = 128;

/// A workflow as sent on create or replace; absent fields keep their value (or default).
#[derive(Deserialize)]
struct WorkflowBody {
    name: Option<String>,
    description: Option<String>,
    access: Option<String>,
    graph: Option<Value>,
}

fn user(ctx: &Ctx) -> Result<String, ApiError> {
    Ok(ctx.identity()?.user_id.clone())
}

fn id(ctx: &Ctx) -> String {
    ctx.param("id").unwrap_or_default().to_owned()
}

pub(crate) async fn list(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = user(&ctx)?;
    let (limit, cursor) = paging::page(&paging::query(&ctx))?;
    let (workflows, next) = ctx
        .db(move |c| Ok(store::list(c, &user, cursor.as_deref(), limit)?))
        .await?;
    reply::ok(&json!({ "workflows": workflows, "next": next }))
}

async fn create(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = user(&ctx)?;
    let body: WorkflowBody = ctx.json().await?;
    let draft = merge(body, None)?;
    let id = store::new_id();
    let now = store::now();
    let wf = ctx
        .db(move |c| {
            store::insert(c, &id, &user, &draft, &now)?;
            store::get(c, &id)?.ok_or(ApiError::NotFound)
        })
        .await?;
    reply::ok(&wf)
}

async fn get(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = user(&ctx)?;
    let id = id(&ctx);
    let wf = ctx.db(move |c| Ok(store::get(c, &id)?)).await?;
    reply::ok(&visible(wf, &user)?)
}

/// Replaces (or, when missing, creates) workflow `{id}` for the caller.
pub(crate) async fn put(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = user(&ctx)?;
    let id = id(&ctx);
    let body: WorkflowBody = ctx.json().await?;
    let wf = ctx
        .db(move |c| {
            let tx = c.transaction()?;
            let existing = store::get(&tx, &id)?;
            let now = store::now();
            match existing {
                None => {
                    check_id(&id)?;
                    store::insert(&tx, &id, &user, &merge(body, None)?, &now)?;
                }
                Some(wf) => {
                    owned(&wf, &user)?;
                    store::update(&tx, &id, &merge(body, Some(&wf))?, &now)?;
                }
            }
            let wf = store::get(&tx, &id)?.ok_or(ApiError::NotFound)?;
            tx.commit()?;
            Ok(wf)
        })
        .await?;
    reply::ok(&wf)
}

pub(crate) async fn delete(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = user(&ctx)?;
    let id = id(&ctx);
    let deleted = ctx
        .db(move |c| {
            let wf = store::get(c, &id)?.ok_or(ApiError::NotFound)?;
            owned(&wf, &user)?;
            store::delete(c, &id)?;
            Ok(id)
        })
        .await?;
    reply::ok(&json!({ "id": deleted, "deleted": true }))
}

/// `POST /api/workflows/{id}/run` with `{"params":{...}}`: the results, or NDJSON with
/// `?stream=true`. Only the query parameter streams: old clients send
/// `Accept: text/event-stream` on every call and expect JSON.
async fn run(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let streaming = matches!(
        paging::query(&ctx).get("stream").map(String::as_str),
        Some("true" | "1")
    );
    let params = params_field(&mut ctx).await?;
    let started = start(&ctx, params).await?;
    if streaming {
        return Ok(stream::response(started, Format::Ndjson));
    }
    finish(started, |results| json!(results)).await
}

async fn run_stream(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let params = params_field(&mut ctx).await?;
    let started = start(&ctx, params).await?;
    Ok(stream::response(started, Format::Ndjson))
}

/// The `params` object of a run body; an empty body runs with none.
async fn params_field(ctx: &mut Ctx) -> Result<Map<String, Value>, ApiError> {
    #[derive(Deserialize)]
    struct RunBody {
        #[serde(default)]
        params: Option<Map<String, Value>>,
    }
    let bytes = ctx.bytes().await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let body: RunBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON body: {e}")))?;
    Ok(body.params.unwrap_or_default())
}

/// Loads the workflow the caller may run (theirs, or a public one), validates it and submits
/// a job. The workflow is read with a connection held for that call only: the response may
/// stream for as long as the job runs.
pub(crate) async fn start(ctx: &Ctx, params: Map<String, Value>) -> Result<Started, ApiError> {
    let user = user(ctx)?;
    let (id, who) = (id(ctx), user.clone());
    let jobs = ctx.state.jobs.clone();
    let wf = jobs.db(move |c| visible(store::get(c, &id)?, &who)).await?;
    let plan = Plan::from_value(&wf.graph).map_err(invalid)?;
    jobs.submit(&wf.id, plan, &user, params).await
}

/// Waits for the job and answers its results (shaped by `shape`), or its error: 500 with
/// the error as `detail` when it failed (as the old services answered), 409 when cancelled.
pub(crate) async fn finish(
    mut started: Started,
    shape: impl FnOnce(Map<String, Value>) -> Value,
) -> Result<Response<Body>, ApiError> {
    let job_id = started.job_id.clone();
    match started.finished().await {
        Outcome::Completed(results) => reply::ok(&shape(results)),
        Outcome::Failed(error) => reply::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "detail": error, "job_id": job_id }),
        ),
        Outcome::Cancelled => reply::json(
            StatusCode::CONFLICT,
            &json!({ "detail": "Job cancelled", "job_id": job_id }),
        ),
    }
}

pub(crate) fn invalid(what: String) -> ApiError {
    ApiError::BadRequest(format!("Invalid workflow: {what}"))
}

/// The workflow if the caller may read it: theirs or public; 404 otherwise.
fn visible(wf: Option<Workflow>, user: &str) -> Result<Workflow, ApiError> {
    match wf {
        Some(wf) if wf.user_id == user || wf.is_public() => Ok(wf),
        _ => Err(ApiError::NotFound),
    }
}

/// Whether the caller may change it: theirs; 403 for another user's public one, else 404.
fn owned(wf: &Workflow, user: &str) -> Result<(), ApiError> {
    if wf.user_id == user {
        Ok(())
    } else if wf.is_public() {
        Err(ApiError::Forbidden(
            "This workflow is public but read-only: it belongs to another user".into(),
        ))
    } else {
        Err(ApiError::NotFound)
    }
}

fn check_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= ID_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "Invalid workflow id: use 1-{ID_MAX} letters, digits, '-', '_' or '.'"
        )))
    }
}

/// The body over the stored workflow (or defaults), checked: name, access, and the graph.
fn merge(body: WorkflowBody, old: Option<&Workflow>) -> Result<Draft, ApiError> {
    let name = body
        .name
        .or_else(|| old.map(|w| w.name.clone()))
        .unwrap_or_default();
    if name.chars().count() > NAME_MAX {
        return Err(ApiError::Unprocessable(format!(
            "name must be at most {NAME_MAX} characters"
        )));
    }
    let access = body
        .access
        .or_else(|| old.map(|w| w.access.clone()))
        .unwrap_or_else(|| "private".into());
    if access != "private" && access != "public" {
        return Err(ApiError::Unprocessable(
            "access must be 'private' or 'public'".into(),
        ));
    }
    let graph = body
        .graph
        .or_else(|| old.map(|w| w.graph.clone()))
        .unwrap_or_else(|| json!({"nodes": [], "edges": []}));
    Plan::from_value(&graph).map_err(invalid)?;
    Ok(Draft {
        name,
        description: body
            .description
            .or_else(|| old.map(|w| w.description.clone()))
            .unwrap_or_default(),
        access,
        graph,
    })
}
