//! API tokens for scripts: the same tokens the account page manages, as JSON.

use http::{Response, StatusCode};
use platform_middleware::auth::AuthMethod;
use platform_middleware::body::{self, Body};
use serde::Deserialize;
use serde_json::json;

use crate::accounts::{api_tokens, users};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::reply;
use crate::store::Conn;
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "tokens",
    register,
};

fn register(r: &mut Routes<'_>) {
    r.get("/api/tokens", list);
    r.post("/api/tokens", create);
    r.delete("/api/tokens/{id}", revoke);
}

const NO_ACCOUNT: &str = "API tokens belong to user accounts; sign in as a user";

/// Who the caller is, taken from the request so [`account`] can run inside a database call.
struct Caller {
    id: String,
    /// The server token's (or local mode's) user "1", who gets a row on first use.
    owner: bool,
}

fn caller(ctx: &Ctx) -> Result<Caller, ApiError> {
    let who = ctx.identity()?;
    Ok(Caller {
        owner: who.user_id == "1" && matches!(who.method, AuthMethod::Static | AuthMethod::Local),
        id: who.user_id.clone(),
    })
}

/// The caller's user id, when the caller has (or, for the server token's user "1", gets) a row
/// in the users table. External JWT users have none: their issuer manages their credentials.
fn account(c: &Conn, caller: Caller) -> Result<String, ApiError> {
    if users::exists(c, &caller.id)? {
        return Ok(caller.id);
    }
    if caller.owner {
        users::ensure_owner(c).map_err(ApiError::internal)?;
        return Ok(caller.id);
    }
    Err(ApiError::Forbidden(NO_ACCOUNT.into()))
}

/// One database call, which also writes the JSON, so the rows are made and freed on the thread
/// that read them and only the body comes back. A token implies its account (foreign key,
/// `ON DELETE CASCADE`), so the account check runs only when the list is empty.
async fn list(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let caller = caller(&ctx)?;
    ctx.db(move |c| {
        let tokens = api_tokens::list(c, &caller.id)?;
        if tokens.is_empty() {
            account(c, caller)?;
        }
        reply::ok(&tokens)
    })
    .await
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
}

async fn create(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    // Checked before the body is read, so an account-less caller learns that first.
    let caller = caller(&ctx)?;
    let id = ctx.db(move |c| account(c, caller)).await?;
    let new: NewToken = ctx.json().await?;
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::Unprocessable(
            "name must be 1-100 characters".into(),
        ));
    }
    let (info, token) = ctx
        .db(move |c| Ok(api_tokens::create(c, &id, &name)?))
        .await?;
    reply::json(
        StatusCode::CREATED,
        &json!({
            "id": info.id,
            "name": info.name,
            "created_at": info.created_at,
            "last_used_at": info.last_used_at,
            "token": token,
        }),
    )
}

async fn revoke(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let caller = caller(&ctx)?;
    let token_id = ctx.param("id").unwrap_or_default().to_owned();
    if ctx
        .db(move |c| {
            let id = account(c, caller)?;
            Ok(api_tokens::revoke(c, &id, &token_id)?)
        })
        .await?
    {
        let mut res = Response::new(body::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        Ok(res)
    } else {
        Err(ApiError::NotFound)
    }
}
