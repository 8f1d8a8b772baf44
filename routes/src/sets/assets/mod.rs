//! Assets: `/api/assets[...]` for the signed-in user, and the worker's `/admin/assets[...]`
//! shapes, where an admin may act for the `user_id` given. Users only ever see their own
//! assets: someone else's is 404, as if it did not exist.

mod upload;

use std::collections::HashMap;

use http::{header, Response, StatusCode};
use platform_middleware::auth::Role;
use platform_middleware::body::Body;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::assets::queries::{self, Filter};
use crate::assets::{Asset, Changes, NewAsset, ADMIN_PAGE_MAX, FOLDER, PAGE_DEFAULT, PAGE_MAX};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::reply;
use crate::storage::{Key, StorageError};
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "assets",
    register,
};

fn register(r: &mut Routes<'_>) {
    r.get("/api/assets", |ctx| list(ctx, Shape::Api));
    r.post("/api/assets", create);
    r.get("/api/assets/{id}", |ctx| get(ctx, Shape::Api));
    r.put("/api/assets/{id}", update);
    r.delete("/api/assets/{id}", |ctx| delete(ctx, Shape::Api));

    r.get("/admin/assets", |ctx| list(ctx, Shape::Admin));
    r.post("/admin/assets", create_admin);
    r.get("/admin/assets/{id}", |ctx| get(ctx, Shape::Admin));
    r.delete("/admin/assets/{id}", |ctx| delete(ctx, Shape::Admin));
}

/// The new API, or the worker's admin shape (which takes `user_id` and answers 200).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Api,
    Admin,
}

const PARENT_MISSING: &str = "Parent folder not found";

/// The query string's parameters; empty values count as absent (`?parent_id=&cursor=`).
fn query(ctx: &Ctx) -> HashMap<String, String> {
    let q = ctx.parts.uri.query().unwrap_or_default();
    url::form_urlencoded::parse(q.as_bytes())
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Whose assets a request is about: the caller's, or on admin routes the `user_id` an admin
/// names (other callers' `user_id` is ignored: they only reach their own).
fn acting_user(ctx: &Ctx, given: Option<&str>) -> Result<String, ApiError> {
    let who = ctx.identity()?;
    Ok(match given {
        Some(user) if who.role == Role::Admin => user.to_owned(),
        _ => who.user_id.clone(),
    })
}

fn is_admin(ctx: &Ctx) -> Result<bool, ApiError> {
    Ok(ctx.identity()?.role == Role::Admin)
}

async fn list(ctx: Ctx, shape: Shape) -> Result<Response<Body>, ApiError> {
    let q = query(&ctx);
    let user = match shape {
        Shape::Api => acting_user(&ctx, None)?,
        Shape::Admin => acting_user(&ctx, q.get("user_id").map(String::as_str))?,
    };
    let max = if shape == Shape::Admin {
        ADMIN_PAGE_MAX
    } else {
        PAGE_MAX
    };
    let size = match q.get("page_size") {
        None => PAGE_DEFAULT,
        Some(s) => s
            .parse::<u32>()
            .map_err(|_| ApiError::BadRequest("page_size must be a positive number".into()))?
            .clamp(1, max),
    };
    let cursor = q
        .get("cursor")
        .map(|c| c.parse::<i64>())
        .transpose()
        .map_err(|_| ApiError::BadRequest("Invalid cursor".into()))?;
    let filter = Filter {
        parent_id: q.get("parent_id").cloned(),
        content_type: q.get("content_type").cloned(),
    };
    let (assets, next) = ctx
        .db(move |c| Ok(queries::page(c, &user, &filter, cursor, size)?))
        .await?;
    reply::ok(&json!({ "assets": assets, "next": next }))
}

async fn get(ctx: Ctx, shape: Shape) -> Result<Response<Body>, ApiError> {
    let id = ctx.param("id").unwrap_or_default().to_owned();
    let q = query(&ctx);
    let user = acting_user(
        &ctx,
        q.get("user_id")
            .filter(|_| shape == Shape::Admin)
            .map(String::as_str),
    )?;
    if id == user {
        return reply::ok(&Asset::home(&user));
    }
    // The old worker's admin routes read any user's asset; keep that for admins only.
    let any = shape == Shape::Admin && is_admin(&ctx)?;
    let asset = ctx
        .db(move |c| {
            Ok(if any {
                queries::get(c, &id)?
            } else {
                queries::get_owned(c, &user, &id)?
            })
        })
        .await?;
    reply::ok(&asset.ok_or(ApiError::NotFound)?)
}

/// A name as stored: trimmed, 1-255 characters, no control characters.
fn valid_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(
            "name must be 1-255 characters without control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    content_type: Option<String>,
    parent_id: Option<String>,
    metadata: Option<Value>,
    workflow_id: Option<String>,
}

/// `POST /api/assets`: JSON for a folder (or a file's record), multipart with a `file` part
/// for an upload.
async fn create(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let multipart = ctx
        .parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    let asset = if multipart {
        upload::receive(ctx).await?
    } else {
        create_from_json(ctx).await?
    };
    reply::json(StatusCode::CREATED, &asset)
}

async fn create_from_json(mut ctx: Ctx) -> Result<Asset, ApiError> {
    let user = acting_user(&ctx, None)?;
    let body: CreateBody = ctx.json().await?;
    let new = NewAsset {
        id: new_id(),
        parent_id: Some(
            body.parent_id
                .filter(|p| !p.is_empty())
                .unwrap_or(user.clone()),
        ),
        name: valid_name(&body.name)?,
        content_type: body.content_type.unwrap_or_else(|| FOLDER.into()),
        metadata: body.metadata,
        workflow_id: body.workflow_id,
        user_id: user,
        ..NewAsset::default()
    };
    insert_checked(&ctx, new).await
}

/// Inserts a new asset after checking its parent is one of the owner's folders.
async fn insert_checked(ctx: &Ctx, new: NewAsset) -> Result<Asset, ApiError> {
    ctx.db(move |c| {
        let parent = new.parent_id.as_deref().unwrap_or(&new.user_id);
        if !queries::is_folder_of(c, &new.user_id, parent)? {
            return Err(ApiError::Unprocessable(PARENT_MISSING.into()));
        }
        Ok(queries::upsert(c, &new)?)
    })
    .await
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `PUT /api/assets/{id}`: rename, move, retype or change metadata (`null` clears it).
async fn update(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = acting_user(&ctx, None)?;
    let id = ctx.param("id").unwrap_or_default().to_owned();
    let body: Map<String, Value> = ctx.json().await?;
    let text = |field: &str| -> Result<Option<String>, ApiError> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::Unprocessable(format!("{field} must be a string"))),
        }
    };
    let changes = Changes {
        name: text("name")?.as_deref().map(valid_name).transpose()?,
        parent_id: text("parent_id")?.filter(|p| !p.is_empty()),
        content_type: text("content_type")?,
        metadata: body.get("metadata").cloned(),
    };
    let asset = ctx
        .db(move |c| {
            let Some(current) = queries::get_owned(c, &user, &id)? else {
                return Err(ApiError::NotFound);
            };
            if let Some(parent) = &changes.parent_id {
                if !queries::is_folder_of(c, &user, parent)? {
                    return Err(ApiError::Unprocessable(PARENT_MISSING.into()));
                }
                if current.is_folder() && queries::within(c, &user, &id, parent)? {
                    return Err(ApiError::Unprocessable(
                        "A folder cannot move into itself or below itself".into(),
                    ));
                }
            }
            queries::update(c, &user, &id, &changes)?.ok_or(ApiError::NotFound)
        })
        .await?;
    reply::ok(&asset)
}

/// Deletes the asset, with its subtree for a folder, then the files of what was deleted.
async fn delete(ctx: Ctx, shape: Shape) -> Result<Response<Body>, ApiError> {
    let id = ctx.param("id").unwrap_or_default().to_owned();
    let caller = acting_user(&ctx, None)?;
    let any = shape == Shape::Admin && is_admin(&ctx)?;
    let (ids, keys) = ctx
        .db(move |c| {
            // An admin on the worker's route deletes whoever's asset it is.
            let owner = match (any, queries::get(c, &id)?) {
                (true, Some(asset)) => asset.user_id,
                _ => caller,
            };
            queries::delete_tree(c, &owner, &id)?.ok_or(ApiError::NotFound)
        })
        .await?;
    let bucket = ctx.state.storage.assets.clone();
    for key in keys {
        let Ok(key) = Key::parse(&key) else { continue };
        match bucket.delete(&key).await {
            Ok(()) | Err(StorageError::NotFound) => {}
            Err(e) => tracing::warn!(key = %key, error = %e, "could not delete an asset's file"),
        }
    }
    reply::ok(&json!({ "deleted_asset_ids": ids }))
}

#[derive(Deserialize)]
struct AdminCreate {
    id: Option<String>,
    user_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    content_type: String,
    parent_id: Option<String>,
    workflow_id: Option<String>,
    metadata: Option<Value>,
    size: Option<i64>,
}

/// The worker's `POST /admin/assets`: a record (the file comes by `PUT /admin/storage`), saved
/// under the given id if any, answered 200 with the asset as the old worker did.
async fn create_admin(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let body: AdminCreate = ctx.json().await?;
    let user = acting_user(&ctx, body.user_id.as_deref())?;
    let admin = is_admin(&ctx)?;
    let id = body.id.filter(|i| !i.is_empty()).unwrap_or_else(new_id);
    let new = NewAsset {
        parent_id: Some(
            body.parent_id
                .filter(|p| !p.is_empty())
                .unwrap_or(user.clone()),
        ),
        id,
        user_id: user,
        name: body.name,
        content_type: body.content_type,
        size: body.size,
        metadata: body.metadata,
        workflow_id: body.workflow_id,
        created_at: None,
    };
    let asset = ctx
        .db(move |c| {
            // Only an admin may overwrite another user's record under its id.
            if let Some(existing) = queries::get(c, &new.id)? {
                if existing.user_id != new.user_id && !admin {
                    return Err(ApiError::Conflict("An asset with this id exists".into()));
                }
            }
            Ok(queries::upsert(c, &new)?)
        })
        .await?;
    reply::ok(&asset)
}
