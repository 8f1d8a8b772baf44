//! Secrets per user under `/api/secrets` (values only on `?decrypt=true`), and the admin import
//! of secrets exported from the old Python server.

use http::{Response, StatusCode};
use platform_middleware::auth::Role;
use platform_middleware::body::{self, Body};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::reply;
use crate::secrets::{check_key, check_value, import, store};
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "secrets",
    register,
};

/// Largest import body.
pub const IMPORT_LIMIT: usize = 16 * 1024 * 1024;

fn register(r: &mut Routes<'_>) {
    r.get("/api/secrets", list);
    r.get("/api/secrets/{key}", get);
    r.put("/api/secrets/{key}", put);
    r.delete("/api/secrets/{key}", delete);
    r.post("/admin/secrets/import", import_old);
}

fn owner(ctx: &Ctx) -> Result<String, ApiError> {
    Ok(ctx.identity()?.user_id.clone())
}

/// The `{key}` of the path, percent-decoded and checked.
fn key(ctx: &Ctx) -> Result<String, ApiError> {
    let raw = ctx.param("key").unwrap_or_default();
    let key = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::BadRequest("secret key is not UTF-8".into()))?
        .into_owned();
    check_key(&key).map_err(ApiError::BadRequest)?;
    Ok(key)
}

fn wants_value(ctx: &Ctx) -> bool {
    let query = ctx.parts.uri.query().unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "decrypt" && matches!(&*v, "true" | "1" | "yes"))
}

async fn list(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let owner = owner(&ctx)?;
    let secrets = ctx.db(move |c| Ok(store::list(c, &owner)?)).await?;
    reply::ok(&json!({ "secrets": secrets }))
}

async fn get(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let (owner, key) = (owner(&ctx)?, key(&ctx)?);
    let (who, k) = (owner.clone(), key.clone());
    let (info, sealed) = ctx
        .db(move |c| Ok(store::get(c, &who, &k)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut out = serde_json::to_value(&info).map_err(ApiError::internal)?;
    if wants_value(&ctx) {
        let plain = ctx
            .state
            .secrets
            .open(&owner, &key, &sealed)
            .map_err(ApiError::internal)?;
        let value = String::from_utf8(plain).map_err(ApiError::internal)?;
        out["value"] = Value::String(value);
    }
    reply::ok(&out)
}

#[derive(Deserialize)]
struct Put {
    value: String,
    #[serde(default)]
    description: Option<String>,
}

async fn put(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let (owner, key) = (owner(&ctx)?, key(&ctx)?);
    let req: Put = ctx.json().await?;
    check_value(&req.value).map_err(ApiError::BadRequest)?;
    let sealed = ctx
        .state
        .secrets
        .seal(&owner, &key, req.value.as_bytes())
        .map_err(ApiError::internal)?;
    let (info, created) = ctx
        .db(move |c| {
            Ok(store::put(
                c,
                &owner,
                &key,
                &sealed,
                req.description.as_deref(),
            )?)
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    reply::json(status, &info)
}

async fn delete(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let (owner, key) = (owner(&ctx)?, key(&ctx)?);
    if !ctx.db(move |c| Ok(store::delete(c, &owner, &key)?)).await? {
        return Err(ApiError::NotFound);
    }
    let mut res = Response::new(body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    Ok(res)
}

/// `[{"user_id","key","encrypted_value","description"?}]` from the old server, stored for the
/// users named (upserts, so a repeated import converges). Admins only: the old server let any
/// authenticated caller write anyone's secrets here.
async fn import_old(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    if ctx.identity()?.role != Role::Admin {
        return Err(ApiError::Forbidden("Admin role required".into()));
    }
    let bytes = ctx.bytes_limited(IMPORT_LIMIT).await?;
    let keyring = ctx.state.secrets.clone();
    let (ready, failed) = tokio::task::spawn_blocking(move || {
        let entries: Vec<Value> = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::BadRequest(format!(
                "Invalid JSON body: expected a list of secrets: {e}"
            ))
        })?;
        Ok::<_, ApiError>(import::prepare(&keyring, &entries))
    })
    .await
    .map_err(ApiError::internal)??;
    let imported = ready.len();
    ctx.db(move |c| {
        let tx = c.transaction()?;
        for p in &ready {
            let times = store::Times {
                created_at: p.created_at.as_deref(),
                updated_at: p.updated_at.as_deref(),
            };
            store::upsert(
                &tx,
                &p.user_id,
                &p.key,
                &p.sealed,
                p.description.as_deref(),
                times,
            )?;
        }
        tx.commit()?;
        Ok(())
    })
    .await?;
    reply::ok(&json!({ "imported": imported, "failed": failed }))
}
