//! The management UI: server-rendered pages for a signed-in browser (session cookie only).
//! Anonymous visitors are sent to the login page with a `return_to` back here.

use http::{Response, StatusCode};
use platform_middleware::auth::{AuthMethod, Identity};
use platform_middleware::body::Body;
use serde::Serialize;

use crate::accounts::api_tokens::{self, TokenInfo};
use crate::accounts::{cookies, passwords, sessions, users};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::pages::{self, field, form};
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "app",
    register,
};

const FORM_LIMIT: usize = 16 * 1024;

fn register(r: &mut Routes<'_>) {
    r.get("/app", dashboard).public();
    r.get("/app/", dashboard).public();
    r.get("/app/account", account).public();
    r.post("/app/tokens", create_token).public();
    r.post("/app/tokens/{id}/revoke", revoke_token).public();
    r.post("/app/password", change_password).public();
}

#[derive(Serialize)]
struct PageUser {
    id: String,
    username: String,
    role: &'static str,
}

/// The user signed in by the session cookie (bearer credentials do not open the UI).
fn session(ctx: &Ctx) -> Option<PageUser> {
    match ctx.identity() {
        Ok(Identity {
            user_id,
            username,
            role,
            method: AuthMethod::Cookie,
        }) => Some(PageUser {
            id: user_id.clone(),
            username: username.clone().unwrap_or_default(),
            role: role.as_str(),
        }),
        _ => None,
    }
}

/// The redirect to the login page that brings the user back here.
fn to_login(ctx: &Ctx) -> Response<Body> {
    let here = ctx
        .parts
        .uri
        .path_and_query()
        .map_or("/app/", |p| p.as_str());
    let back: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
    pages::redirect(&format!("/auth/login?return_to={back}"))
}

macro_rules! signed_in {
    ($ctx:expr) => {
        match session(&$ctx) {
            Some(user) => user,
            None => return Ok(to_login(&$ctx)),
        }
    };
}

async fn dashboard(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = signed_in!(ctx);
    let version = ctx.state.info.version;
    pages::page(
        StatusCode::OK,
        "app/dashboard.html",
        minijinja::context! { user, version },
    )
}

#[derive(Default, Serialize)]
struct AccountPage {
    tokens: Vec<TokenInfo>,
    notice: Option<String>,
    error: Option<String>,
    new_token: Option<String>,
    new_token_name: Option<String>,
}

async fn render_account(
    ctx: &Ctx,
    user: PageUser,
    status: StatusCode,
    mut extra: AccountPage,
) -> Result<Response<Body>, ApiError> {
    let id = user.id.clone();
    extra.tokens = ctx.db(move |c| Ok(api_tokens::list(c, &id)?)).await?;
    pages::page(
        status,
        "app/account.html",
        minijinja::context! { user, ..minijinja::Value::from_serialize(&extra) },
    )
}

async fn account(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = signed_in!(ctx);
    render_account(&ctx, user, StatusCode::OK, AccountPage::default()).await
}

async fn create_token(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = signed_in!(ctx);
    let fields = form(&ctx.bytes_limited(FORM_LIMIT).await?);
    let name = field(&fields, "name").unwrap_or("").trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        let page = AccountPage {
            error: Some("A token needs a name of 1-100 characters".into()),
            ..Default::default()
        };
        return render_account(&ctx, user, StatusCode::BAD_REQUEST, page).await;
    }
    let (id, n) = (user.id.clone(), name.clone());
    let (_, token) = ctx.db(move |c| Ok(api_tokens::create(c, &id, &n)?)).await?;
    let page = AccountPage {
        new_token: Some(token),
        new_token_name: Some(name),
        ..Default::default()
    };
    render_account(&ctx, user, StatusCode::CREATED, page).await
}

async fn revoke_token(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = signed_in!(ctx);
    let token_id = ctx.param("id").unwrap_or_default().to_owned();
    ctx.db(move |c| Ok(api_tokens::revoke(c, &user.id, &token_id)?))
        .await?;
    Ok(pages::redirect("/app/account"))
}

async fn change_password(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let user = signed_in!(ctx);
    let fields = form(&ctx.bytes_limited(FORM_LIMIT).await?);
    let current = field(&fields, "current").unwrap_or("").to_owned();
    let new = field(&fields, "new").unwrap_or("").to_owned();
    if let Some(weak) = passwords::weakness(&new) {
        let page = AccountPage {
            error: Some(weak),
            ..Default::default()
        };
        return render_account(&ctx, user, StatusCode::BAD_REQUEST, page).await;
    }
    let changed = set_password(&ctx, &user.id, current, new).await?;
    let page = if changed {
        AccountPage {
            notice: Some("Password changed".into()),
            ..Default::default()
        }
    } else {
        AccountPage {
            error: Some("The current password is wrong".into()),
            ..Default::default()
        }
    };
    let status = if changed {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render_account(&ctx, user, status, page).await
}

/// Checks `current` and sets `new` (hashing on the password pool, off the database pool), then
/// ends the user's other sessions; this browser's session family lives on.
async fn set_password(
    ctx: &Ctx,
    user_id: &str,
    current: String,
    new: String,
) -> Result<bool, ApiError> {
    let id = user_id.to_owned();
    let Some(user) = ctx.db(move |c| Ok(users::by_id(c, &id)?)).await? else {
        return Ok(false);
    };
    let Some(phc) = user.password_hash.clone() else {
        return Ok(false);
    };
    let accounts = ctx.state.accounts.clone();
    let hashed = accounts
        .hashes
        .run(move || {
            passwords::verify(&current, &phc)
                .then(|| passwords::hash(&new))
                .transpose()
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let Some(new_phc) = hashed else {
        return Ok(false);
    };
    let jti = cookies::read(&ctx.parts)
        .and_then(|t| accounts.sessions.verify(t))
        .map(|claims| claims.jti);
    ctx.db(move |c| {
        let keep = match jti {
            Some(jti) => sessions::family_of(c, &jti)?,
            None => None,
        };
        users::set_password(c, &user.username, &new_phc, keep.as_deref())
            .map_err(ApiError::internal)
    })
    .await?;
    Ok(true)
}
