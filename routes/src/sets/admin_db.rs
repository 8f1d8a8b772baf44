//! The worker's row-level sync routes: `POST /admin/db/{table}/save`,
//! `GET|DELETE /admin/db/{table}/{key}`, for the tables NodeTool syncs (`workflows`, `assets`).
//! Answers as the old worker did: 200 with JSON. Rows of any user: admins only.

use http::Response;
use platform_middleware::auth::Role;
use platform_middleware::body::Body;
use serde_json::{Map, Value};

use crate::assets::queries as assets;
use crate::assets::NewAsset;
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::reply;
use crate::table::{RouteSet, Routes};
use crate::workflows::store::{self as workflows, Workflow};

pub const SET: RouteSet = RouteSet {
    name: "admin_db",
    register,
};

fn register(r: &mut Routes<'_>) {
    r.post("/admin/db/{table}/save", save);
    r.get("/admin/db/{table}/{key}", get);
    r.delete("/admin/db/{table}/{key}", delete);
}

/// The tables these routes reach. A table is added with a variant here and an arm in each
/// handler.
#[derive(Clone, Copy)]
enum Table {
    Workflows,
    Assets,
}

impl Table {
    fn of(ctx: &Ctx) -> Result<Table, ApiError> {
        if ctx.identity()?.role != Role::Admin {
            return Err(ApiError::Forbidden("Admin role required".into()));
        }
        match ctx.param("table").unwrap_or_default() {
            "workflows" => Ok(Table::Workflows),
            "assets" => Ok(Table::Assets),
            other => Err(ApiError::BadRequest(format!(
                "Unknown table '{other}': expected workflows or assets"
            ))),
        }
    }
}

const OK: &str = r#"{"status":"ok"}"#;

fn ok() -> Result<Response<Body>, ApiError> {
    Ok(platform_middleware::body::with_type(
        http::StatusCode::OK,
        "application/json",
        OK,
    ))
}

async fn save(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let table = Table::of(&ctx)?;
    let item: Map<String, Value> = ctx.json().await?;
    match table {
        Table::Assets => {
            let row = asset_row(&item)?;
            ctx.db(move |c| Ok(assets::upsert(c, &row).map(|_| ())?))
                .await?;
        }
        Table::Workflows => {
            let row = workflow_row(&item)?;
            ctx.db(move |c| Ok(workflows::upsert(c, &row)?)).await?;
        }
    }
    ok()
}

async fn get(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let table = Table::of(&ctx)?;
    let key = ctx.param("key").unwrap_or_default().to_owned();
    match table {
        Table::Assets => {
            let asset = ctx.db(move |c| Ok(assets::get(c, &key)?)).await?;
            reply::ok(&asset.ok_or(ApiError::NotFound)?)
        }
        Table::Workflows => {
            let found = ctx.db(move |c| Ok(workflows::get(c, &key)?)).await?;
            reply::ok(&found.ok_or(ApiError::NotFound)?)
        }
    }
}

/// Removes the row only (as the old worker's adapter did); 200 whether or not it existed.
async fn delete(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let table = Table::of(&ctx)?;
    let key = ctx.param("key").unwrap_or_default().to_owned();
    match table {
        Table::Assets => {
            ctx.db(move |c| Ok(assets::delete_row(c, &key).map(|_| ())?))
                .await?;
        }
        Table::Workflows => {
            ctx.db(move |c| Ok(workflows::delete(c, &key).map(|_| ())?))
                .await?;
        }
    }
    ok()
}

/// A workflow row as the old worker's model serialised it; unknown fields are ignored. The
/// graph is kept as sent (a synced workflow may use node kinds this server does not run).
fn workflow_row(item: &Map<String, Value>) -> Result<Workflow, ApiError> {
    let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
    let id = text("id")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::Unprocessable("a workflow needs an id".into()))?;
    let now = workflows::now();
    let access = match text("access").as_deref() {
        Some("public") => "public",
        _ => "private",
    };
    Ok(Workflow {
        id,
        user_id: text("user_id").unwrap_or_else(|| "1".into()),
        name: text("name").unwrap_or_default(),
        description: text("description").unwrap_or_default(),
        access: access.into(),
        graph: item
            .get("graph")
            .cloned()
            .filter(|g| g.is_object())
            .unwrap_or_else(|| serde_json::json!({"nodes": [], "edges": []})),
        created_at: text("created_at").unwrap_or_else(|| now.clone()),
        updated_at: text("updated_at").unwrap_or(now),
    })
}

/// An asset row as the old worker's model serialised it; unknown fields are ignored.
fn asset_row(item: &Map<String, Value>) -> Result<NewAsset, ApiError> {
    let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
    let id = text("id")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::Unprocessable("an asset needs an id".into()))?;
    let user_id = text("user_id").unwrap_or_else(|| "1".into());
    Ok(NewAsset {
        id,
        parent_id: Some(
            text("parent_id")
                .filter(|p| !p.is_empty())
                .unwrap_or(user_id.clone()),
        ),
        user_id,
        name: text("name").unwrap_or_default(),
        content_type: text("content_type").unwrap_or_default(),
        size: item.get("size").and_then(Value::as_i64),
        metadata: item.get("metadata").cloned().filter(|m| !m.is_null()),
        workflow_id: text("workflow_id"),
        created_at: text("created_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn asset_rows_from_the_old_model() {
        let item = json!({"id": "a1", "user_id": "7", "name": "x.png",
                          "content_type": "image/png", "size": 3, "duration": null,
                          "created_at": "2024-01-01T00:00:00"});
        let row = asset_row(item.as_object().unwrap()).unwrap();
        assert_eq!(row.parent_id.as_deref(), Some("7"));
        assert_eq!(row.size, Some(3));
        assert!(asset_row(json!({"name": "x"}).as_object().unwrap()).is_err());
    }
}
