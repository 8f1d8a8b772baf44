//! Server-rendered HTML: templates embedded in the binary (minijinja, autoescaped), the error
//! pages browsers get, and small response helpers for the browser route sets.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use http::request::Parts;
use http::{header, HeaderValue, Response, StatusCode};
use minijinja::Environment;
use platform_middleware::body::{self, Body};
use platform_middleware::respond::{prefers_html, Respond};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("error.html", include_str!("../../templates/error.html")),
    (
        "auth/login.html",
        include_str!("../../templates/auth/login.html"),
    ),
    (
        "app/dashboard.html",
        include_str!("../../templates/app/dashboard.html"),
    ),
    (
        "app/account.html",
        include_str!("../../templates/app/account.html"),
    ),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `.html` names autoescape by default; every template here is one.
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env
    })
}

/// The pages' `Content-Security-Policy`: nothing from elsewhere, no script at all (scripts a
/// later UI adds must be hashed here too), `fetch` only to this origin, no framing,
/// forms only to this origin, and styles only as the templates' own inline blocks (by hash, so
/// an injected `<style>` would not apply either).
///
/// Computed once and held in static memory, so the copy each HTML response carries is free.
pub fn content_security_policy() -> HeaderValue {
    static POLICY: OnceLock<HeaderValue> = OnceLock::new();
    POLICY.get_or_init(policy).clone()
}

fn policy() -> HeaderValue {
    let styles: String = TEMPLATES
        .iter()
        .flat_map(|(_, source)| inline_styles(source))
        .map(|css| {
            format!(
                " 'sha256-{}'",
                BASE64.encode(Sha256::digest(css.as_bytes()))
            )
        })
        .collect();
    let styles = if styles.is_empty() {
        " 'none'"
    } else {
        &styles
    };
    let policy = format!(
        "default-src 'none'; style-src{styles}; img-src 'self'; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let policy: &'static str = Box::leak(policy.into_boxed_str());
    HeaderValue::from_maybe_shared(bytes::Bytes::from_static(policy.as_bytes()))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"))
}

/// The contents of every `<style>` block in a template's source.
fn inline_styles(source: &str) -> impl Iterator<Item = &str> {
    source
        .split("<style>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</style>").map(|(css, _)| css))
}

/// `name` rendered with `ctx`.
pub fn render<S: Serialize>(name: &str, ctx: S) -> Result<String, ApiError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(ApiError::internal)
}

pub fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut res = body::with_type(status, "text/html; charset=utf-8", page);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `name` rendered as a whole response.
pub fn page<S: Serialize>(
    status: StatusCode,
    name: &str,
    ctx: S,
) -> Result<Response<Body>, ApiError> {
    Ok(html(status, render(name, ctx)?))
}

/// 302 to `location` (a local path, already validated by the caller).
pub fn redirect(location: &str) -> Response<Body> {
    let mut res = Response::new(body::empty());
    *res.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Whether a request comes from a browser page rather than an API client: the auth pages, the
/// app, or anything whose `Accept` prefers HTML.
pub fn is_browser(req: &Parts) -> bool {
    let path = req.uri.path();
    path.starts_with("/auth/")
        || path == "/app"
        || path.starts_with("/app/")
        || prefers_html(&req.headers)
}

/// Refusals by audience: `templates/error.html` for browsers, `{"detail"}` JSON for the API.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pages;

#[derive(Serialize)]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    detail: &'a str,
}

impl Respond for Pages {
    fn refuse(&self, req: &Parts, status: StatusCode, detail: &str) -> Response<Body> {
        if !is_browser(req) {
            return body::detail(status, detail);
        }
        let ctx = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            detail,
        };
        match render("error.html", ctx) {
            Ok(page) => html(status, page),
            Err(_) => body::detail(status, detail),
        }
    }
}

/// `application/x-www-form-urlencoded` fields of a form body.
pub fn form(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(res: Response<Body>) -> String {
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    fn parts(path: &str, accept: Option<&str>) -> Parts {
        let mut b = http::Request::get(path);
        if let Some(a) = accept {
            b = b.header("accept", a);
        }
        b.body(()).unwrap().into_parts().0
    }

    /// The policy allows exactly the styles a rendered page carries, and no script.
    #[test]
    fn the_policy_hashes_the_rendered_styles() {
        let csp = content_security_policy();
        let csp = csp.to_str().unwrap();
        let page = render(
            "error.html",
            minijinja::context! { status => 404, reason => "Not Found", detail => "x" },
        )
        .unwrap();
        let css = inline_styles(&page).next().expect("a style block");
        let hash = BASE64.encode(Sha256::digest(css.as_bytes()));
        assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
        assert!(!csp.contains("script-src") && !csp.contains("unsafe"));
    }

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
    }

    #[tokio::test]
    async fn browsers_get_pages_api_clients_json() {
        let res = Pages.refuse(
            &parts("/app/x", None),
            StatusCode::TOO_MANY_REQUESTS,
            "<slow down>",
        );
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
        let page = text(res).await;
        assert!(page.contains("429 Too Many Requests") && page.contains("&lt;slow down&gt;"));
        let res = Pages.refuse(
            &parts("/api/me", Some("text/html")),
            StatusCode::UNAUTHORIZED,
            "no",
        );
        assert!(text(res).await.contains("<!doctype html>"));
        let res = Pages.refuse(&parts("/api/me", None), StatusCode::UNAUTHORIZED, "no");
        assert_eq!(text(res).await, r#"{"detail":"no"}"#);
    }
}
