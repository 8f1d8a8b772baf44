//! The auth pages of the former Flask service, now on the API's origin: login, logout and the
//! public keys that verify the session cookie.

use http::{header, HeaderValue, Response, StatusCode};
use platform_middleware::auth::AuthMethod;
use platform_middleware::body::Body;
use platform_middleware::policy::RateRule;
use serde::Serialize;

use crate::accounts::{cookies, passwords, return_to, sessions, users};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::pages::{self, field, form};
use crate::reply;
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "auth",
    register,
};

/// The one message for every failed login, so it tells nothing about which part was wrong.
pub const INVALID_LOGIN: &str = "Invalid username or password";
const LOCKED: &str = "Too many failed logins for this account; try again later";
/// Login forms are small; anything larger is not one.
const FORM_LIMIT: usize = 16 * 1024;

fn register(r: &mut Routes<'_>) {
    r.get("/auth/login", login_form).public();
    r.post("/auth/login", login)
        .public()
        .same_origin()
        .rate(RateRule::Auth);
    r.post("/auth/logout", logout).public();
    r.get("/auth/logout", logout).public();
    r.get("/.well-known/jwks.json", jwks).public();
}

#[derive(Serialize)]
struct LoginPage<'a> {
    return_to: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

fn query_param(ctx: &Ctx, name: &str) -> Option<String> {
    let query = ctx.parts.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn has_session(ctx: &Ctx) -> bool {
    ctx.identity().is_ok_and(|i| i.method == AuthMethod::Cookie)
}

async fn login_form(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let target = return_to::sanitize(query_param(&ctx, "return_to").as_deref());
    if has_session(&ctx) {
        return Ok(pages::redirect(&target));
    }
    let ctx_page = LoginPage {
        return_to: &target,
        username: "",
        error: None,
    };
    pages::page(StatusCode::OK, "auth/login.html", ctx_page)
}

/// Checks the password on the hashing pool (argon2 is slow and memory-hungry on purpose) and,
/// when it matches an active user, records a new session. No database connection is held
/// while the hash runs. Unknown users cost the same as wrong passwords.
async fn authenticate(
    ctx: &Ctx,
    username: String,
    password: String,
) -> Result<Option<String>, ApiError> {
    let user = ctx.db(move |c| Ok(users::by_name(c, &username)?)).await?;
    let phc = user.as_ref().and_then(|u| u.password_hash.clone());
    let accounts = ctx.state.accounts.clone();
    let ok = accounts
        .hashes
        .run(move || match &phc {
            Some(phc) => passwords::verify(&password, phc),
            None => {
                passwords::verify_dummy(&password);
                false
            }
        })
        .await
        .map_err(ApiError::internal)?;
    let Some(user) = user.filter(|u| ok && u.is_active()) else {
        return Ok(None);
    };
    let token = ctx
        .db(move |c| {
            let (token, _) = accounts
                .sessions
                .issue(c, &user)
                .map_err(ApiError::internal)?;
            Ok(token)
        })
        .await?;
    Ok(Some(token))
}

async fn login(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let fields = form(&ctx.bytes_limited(FORM_LIMIT).await?);
    let username = field(&fields, "username").unwrap_or("").trim().to_owned();
    let password = field(&fields, "password").unwrap_or("").to_owned();
    let target = return_to::sanitize(field(&fields, "return_to"));
    let lockout = &ctx.state.accounts.lockout;
    if let Some(wait) = lockout.locked_for(&username) {
        return Err(ApiError::TooManyRequests {
            detail: LOCKED.into(),
            retry_after: wait.as_secs().max(1),
        });
    }
    let Some(token) = authenticate(&ctx, username.clone(), password).await? else {
        lockout.record_failure(&username);
        tracing::info!(path = "/auth/login", "login failed");
        let page = LoginPage {
            return_to: &target,
            username: &username,
            error: Some(INVALID_LOGIN),
        };
        return pages::page(StatusCode::UNAUTHORIZED, "auth/login.html", page);
    };
    lockout.clear(&username);
    let mut res = pages::redirect(&target);
    if let Some(cookie) = ctx.state.accounts.cookies.set(&token, &ctx.client()) {
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(res)
}

/// Revokes the session's whole family server-side (a copied cookie, from before or after a
/// renewal, stops working too) and clears the cookie.
async fn logout(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let accounts = ctx.state.accounts.clone();
    if let Some(claims) = cookies::read(&ctx.parts).and_then(|t| accounts.sessions.verify(t)) {
        ctx.db(move |c| Ok(sessions::revoke(c, &claims.jti)?))
            .await?;
    }
    let mut res = pages::redirect("/auth/login");
    if let Some(cookie) = accounts.cookies.clear(&ctx.client()) {
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(res)
}

async fn jwks(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let mut res = reply::ok(&ctx.state.accounts.sessions.keys().jwks())?;
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(res)
}
