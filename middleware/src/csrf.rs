//! CSRF layer: a state-changing request authenticated by the session cookie must come from this
//! server's own origin. Browsers attach cookies to cross-site requests but also say where those
//! come from (`Origin`, `Sec-Fetch-Site`), so a cross-site form or fetch is refused with 403.
//! Bearer requests are unaffected: a browser never adds an `Authorization` header on its own.
//! A request with neither header is not from a modern browser page, so it cannot be a forgery
//! and passes. Routes marked `same_origin` (the login form) get the check without a cookie:
//! a login CSRF would sign the victim's browser in to the attacker's account.

use std::task::{Context, Poll};

use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::auth::AuthMethod;
use crate::body::{self, Body};
use crate::client::{client_of, ClientInfo};
use crate::context::RequestContext;
use crate::future::{self, Gate};
use crate::respond::{prefers_html, SharedRespond};

pub const DETAIL: &str = "Cross-site request refused";

#[derive(Clone)]
pub struct CsrfLayer {
    respond: SharedRespond,
}

impl CsrfLayer {
    pub fn new(respond: SharedRespond) -> Self {
        CsrfLayer { respond }
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = Csrf<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Csrf {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Csrf<S> {
    inner: S,
    layer: CsrfLayer,
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// `scheme://host[:port]` lower-cased, without the scheme's default port.
fn normalize(scheme: &str, authority: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    let authority = authority.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    let authority = authority
        .strip_suffix(default)
        .filter(|_| !default.is_empty())
        .unwrap_or(&authority);
    format!("{scheme}://{authority}")
}

/// The origin this request was addressed to, as the client saw it.
fn own_origin(client: &ClientInfo) -> Option<String> {
    let host = client.host()?;
    let authority = match client.port {
        Some(port) if !host.contains(':') || host.ends_with(']') => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    Some(normalize(client.scheme.as_str(), &authority))
}

/// Whether the browser's own statements place the request on this origin.
pub fn same_origin(headers: &HeaderMap, client: &ClientInfo) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| !matches!(s, "same-origin" | "none")) {
        return false;
    }
    let mut origins = headers.get_all(header::ORIGIN).iter();
    let (Some(origin), None) = (origins.next(), origins.next()) else {
        // No Origin at all passes; two are a forgery or a broken client.
        return headers.get(header::ORIGIN).is_none();
    };
    let Some((scheme, authority)) = origin.to_str().ok().and_then(|o| o.split_once("://")) else {
        // `Origin: null` (sandboxed frames, some redirects) or garbage.
        return false;
    };
    own_origin(client).is_some_and(|own| own == normalize(scheme, authority))
}

impl<S> Service<Request<Body>> for Csrf<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Gate<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let context = RequestContext::of(req.extensions());
        let by_cookie = context
            .and_then(|c| c.identity.as_ref())
            .is_some_and(|i| i.method == AuthMethod::Cookie);
        let checked = by_cookie || context.and_then(|c| c.route).is_some_and(|m| m.same_origin);
        if !checked
            || is_safe(req.method())
            || same_origin(req.headers(), &client_of(req.extensions()))
        {
            return future::pass(self.inner.call(req));
        }
        tracing::warn!(path = req.uri().path(), "cross-site request refused");
        let (parts, _) = req.into_parts();
        // The issue's contract is JSON; a browser that asked for a page gets the HTML one.
        let res = if prefers_html(&parts.headers) {
            self.layer
                .respond
                .refuse(&parts, StatusCode::FORBIDDEN, DETAIL)
        } else {
            body::detail(StatusCode::FORBIDDEN, DETAIL)
        };
        future::answer(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Identity, Role};
    use crate::policy::RouteMeta;
    use crate::respond::JsonOrHtml;
    use http::uri::Scheme;
    use http_body_util::BodyExt;
    use std::convert::Infallible;
    use std::sync::Arc;
    use tower::{service_fn, ServiceExt};

    async fn call(
        method: Method,
        method_of_auth: Option<AuthMethod>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, String) {
        call_route(method, method_of_auth, headers, RouteMeta::default()).await
    }

    async fn call_route(
        method: Method,
        method_of_auth: Option<AuthMethod>,
        headers: &[(&str, &str)],
        meta: RouteMeta,
    ) -> (StatusCode, String) {
        let svc =
            CsrfLayer::new(Arc::new(JsonOrHtml)).layer(service_fn(|_: Request<Body>| async {
                Ok::<_, Infallible>(Response::new(body::full("ok")))
            }));
        let mut req = Request::builder().method(method).uri("/api/tokens");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(body::empty()).unwrap();
        let mut client = ClientInfo::direct(
            "127.0.0.1:5000".parse().unwrap(),
            Some(http::HeaderValue::from_static("app.example:7777")),
        );
        client.scheme = Scheme::HTTPS;
        let context = RequestContext::of_mut(req.extensions_mut());
        context.client = Some(client);
        context.route = Some(meta);
        context.identity = method_of_auth.map(|m| Identity {
            user_id: "u".into(),
            username: None,
            role: Role::User,
            method: m,
        });
        let res = svc.oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    const COOKIE: Option<AuthMethod> = Some(AuthMethod::Cookie);

    #[tokio::test]
    async fn cross_site_cookie_writes_are_refused() {
        for headers in [
            &[("origin", "https://evil.example")][..],
            &[("origin", "http://app.example:7777")][..],
            &[("origin", "null")][..],
            &[("sec-fetch-site", "cross-site")][..],
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://app.example:7777"),
            ][..],
            &[
                ("origin", "https://app.example:7777"),
                ("origin", "https://evil.example"),
            ][..],
        ] {
            let (status, body) = call(Method::POST, COOKIE, headers).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
            assert_eq!(body, r#"{"detail":"Cross-site request refused"}"#);
        }
    }

    #[tokio::test]
    async fn same_origin_safe_methods_and_bearer_pass() {
        let ok = |r: (StatusCode, String)| assert_eq!(r.0, StatusCode::OK);
        ok(call(
            Method::POST,
            COOKIE,
            &[("origin", "https://APP.example:7777")],
        )
        .await);
        ok(call(Method::DELETE, COOKIE, &[("sec-fetch-site", "same-origin")]).await);
        ok(call(Method::POST, COOKIE, &[]).await);
        ok(call(Method::GET, COOKIE, &[("origin", "https://evil.example")]).await);
        let evil = [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ];
        ok(call(Method::POST, Some(AuthMethod::Token), &evil).await);
        ok(call(Method::POST, None, &evil).await);
    }

    /// The login form: no cookie yet, still only from this origin.
    #[tokio::test]
    async fn same_origin_routes_are_checked_without_a_cookie() {
        let login = RouteMeta {
            same_origin: true,
            ..RouteMeta::default()
        };
        for headers in [
            &[("origin", "https://evil.example")][..],
            &[("sec-fetch-site", "cross-site")][..],
        ] {
            let (status, _) = call_route(Method::POST, None, headers, login).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
        }
        let own = [("origin", "https://app.example:7777")];
        let (status, _) = call_route(Method::POST, None, &own, login).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call_route(Method::POST, None, &[], login).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "no browser statement: not a forgery"
        );
    }

    #[test]
    fn default_ports_are_the_same_origin() {
        assert_eq!(normalize("HTTPS", "Example.com:443"), "https://example.com");
        assert_eq!(
            normalize("http", "example.com:443"),
            "http://example.com:443"
        );
    }
}
