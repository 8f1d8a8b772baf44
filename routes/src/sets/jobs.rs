//! Jobs on the API: list (by workflow and status, cursor paging), read, cancel. A user sees
//! only their own jobs.

use http::Response;
use platform_middleware::body::Body;
use serde_json::json;

use super::paging;
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::jobs::store::{self, Filter, STATUSES};
use crate::reply;
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "jobs",
    register,
};

fn register(r: &mut Routes<'_>) {
    r.get("/api/jobs", list);
    r.get("/api/jobs/", list);
    r.get("/api/jobs/{id}", get);
    r.post("/api/jobs/{id}/cancel", cancel);
}

async fn list(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = ctx.identity()?.user_id.clone();
    let q = paging::query(&ctx);
    let (limit, cursor) = paging::page(&q)?;
    let status = q.get("status").cloned();
    if let Some(s) = &status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "status must be one of {}",
                STATUSES.join(", ")
            )));
        }
    }
    let filter = Filter {
        workflow_id: q.get("workflow_id").cloned(),
        status,
        cursor,
        limit,
    };
    let (jobs, next) = ctx.db(move |c| Ok(store::list(c, &user, &filter)?)).await?;
    reply::ok(&json!({ "jobs": jobs, "next": next }))
}

async fn get(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    reply::ok(&own_job(&ctx).await?)
}

/// Stops a queued or running job: 200 with the job as it ended, 409 if it had already ended.
async fn cancel(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let job = own_job(&ctx).await?;
    if job.is_finished() {
        return Err(ApiError::Conflict(format!("Job is already {}", job.status)));
    }
    let jobs = ctx.state.jobs.clone();
    if !jobs.cancel(&job.id).await {
        // Not running here (left by another process): record the cancel directly.
        let id = job.id.clone();
        jobs.db(move |c| {
            Ok(store::finish(
                c,
                &id,
                "cancelled",
                None,
                Some("Job cancelled"),
            )?)
        })
        .await?;
    }
    let id = job.id;
    let job = jobs
        .db(move |c| Ok(store::get(c, &id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    reply::ok(&job)
}

/// The job `{id}` if it is the caller's; 404 otherwise.
async fn own_job(ctx: &Ctx) -> Result<store::Job, ApiError> {
    let user = ctx.identity()?.user_id.clone();
    let id = ctx.param("id").unwrap_or_default().to_owned();
    let job = ctx.state.jobs.db(move |c| Ok(store::get(c, &id)?)).await?;
    job.filter(|j| j.user_id == user).ok_or(ApiError::NotFound)
}
