//! Model administration of the former worker (the admin token layer guards `/admin/*`):
//! Hugging Face downloads into the hub cache with SSE progress, cache scan, size and delete,
//! and Ollama pulls relayed as SSE.

use http::Response;
use platform_middleware::body::Body;
use serde::Deserialize;
use serde_json::json;

use crate::chat::{ollama, sse};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::models::download::{self, DownloadRequest};
use crate::models::patterns::Patterns;
use crate::models::{cache, names};
use crate::reply;
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "models",
    register,
};

fn register(r: &mut Routes<'_>) {
    r.post("/admin/models/huggingface/download", hf_download);
    r.delete("/admin/models/huggingface/{*repo_id}", hf_delete);
    r.get("/admin/cache/scan", cache_scan);
    r.get("/admin/cache/size", cache_size);
    r.post("/admin/models/ollama/download", ollama_download);
}

/// The cache path the old worker's container used; old clients still send it.
const OLD_CACHE_DIR: &str = "/app/.cache/huggingface/hub";

#[derive(Deserialize)]
struct HfDownload {
    repo_id: Option<String>,
    revision: Option<String>,
    allow_patterns: Option<Patterns>,
    ignore_patterns: Option<Patterns>,
    file_path: Option<String>,
}

async fn hf_download(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let body: HfDownload = ctx.json().await?;
    let repo_id = body
        .repo_id
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::BadRequest("repo_id is required".into()))?;
    names::check_repo_id(&repo_id).map_err(ApiError::BadRequest)?;
    let revision = body.revision.unwrap_or_else(|| "main".into());
    names::check_revision(&revision).map_err(ApiError::BadRequest)?;
    if let Some(file) = &body.file_path {
        names::repo_file(file)
            .ok_or_else(|| ApiError::BadRequest(format!("Invalid file_path '{file}'")))?;
    }
    let req = DownloadRequest {
        repo_id,
        revision,
        allow: body.allow_patterns,
        ignore: body.ignore_patterns,
        file_path: body.file_path,
    };
    Ok(sse::response(download::start(ctx.state.hub.clone(), req)))
}

async fn hf_delete(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let repo_id = ctx.param("repo_id").unwrap_or_default().trim_matches('/');
    names::check_repo_id(repo_id).map_err(ApiError::BadRequest)?;
    let repo_id = repo_id.to_owned();
    let hub = ctx.state.hub.clone();
    let lock = hub.lock(&repo_id);
    let _busy = lock
        .try_lock()
        .map_err(|_| ApiError::Conflict(format!("{repo_id} is being downloaded")))?;
    let dir = hub.repo_dir(&repo_id);
    let removed = tokio::task::spawn_blocking(move || cache::delete(&dir))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    if !removed {
        return Err(ApiError::NotFoundDetail(format!(
            "{repo_id} is not in the cache"
        )));
    }
    reply::ok(&json!({
        "status": "completed",
        "repo_id": repo_id,
        "message": format!("Successfully deleted {repo_id}"),
    }))
}

async fn cache_scan(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let dir = ctx.state.hub.settings.cache.clone();
    let info = tokio::task::spawn_blocking(move || cache::scan(&dir))
        .await
        .map_err(ApiError::internal)?;
    reply::ok(&json!({"status": "completed", "cache_info": info}))
}

async fn cache_size(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let dir = ctx.state.hub.settings.cache.clone();
    if let Some(asked) = query_param(&ctx, "cache_dir") {
        let asked = std::path::Path::new(&asked);
        if asked != std::path::Path::new(OLD_CACHE_DIR) && asked != dir {
            return Err(ApiError::BadRequest(format!(
                "cache_dir must be the server's cache ({}); other paths are not read",
                dir.display()
            )));
        }
    }
    let walk = dir.clone();
    let total = tokio::task::spawn_blocking(move || cache::size(&walk))
        .await
        .map_err(ApiError::internal)?;
    let gb = (total as f64 / (1024.0 * 1024.0 * 1024.0) * 100.0).round() / 100.0;
    reply::ok(&json!({
        "success": true,
        "cache_dir": dir.display().to_string(),
        "total_size_bytes": total,
        "size_gb": gb,
    }))
}

/// A query parameter, percent-decoded.
fn query_param(ctx: &Ctx, name: &str) -> Option<String> {
    let query = ctx.parts.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[derive(Deserialize)]
struct OllamaDownload {
    model_name: Option<String>,
}

async fn ollama_download(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let body: OllamaDownload = ctx.json().await?;
    let name = body
        .model_name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest("model_name is required".into()))?;
    let frames = ollama::pull(&ctx.state.chat, &name).await;
    Ok(sse::response(frames))
}
