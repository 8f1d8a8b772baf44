//! Auth layer: resolves the request's credentials to an [`Identity`] through a chain of
//! [`Authenticate`] providers, and refuses protected routes without one.
//!
//! Providers plug in without touching the layer: the static server token lives here; session
//! cookies, per-user API tokens and JWTs are implemented by the route crate.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{self, BoxFuture, FutureExt};
use http::request::Parts;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use subtle::ConstantTimeEq;
use tower::{Layer, Service};

use crate::body::{Body, BoxError};
use crate::policy::{meta_of, SharedPolicy};
use crate::respond::SharedRespond;

pub const MISSING: &str = "Authorization header required. Use 'Authorization: Bearer YOUR_TOKEN'";
pub const BAD_FORMAT: &str =
    "Invalid authorization header format. Use 'Authorization: Bearer YOUR_TOKEN'";
pub const INVALID: &str = "Invalid authentication token";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

/// How the caller proved who they are; reported by `/api/me` as `auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `AUTH_PROVIDER=none|local`: nothing checked.
    Local,
    /// The server token.
    Static,
    /// A user's API token.
    Token,
    /// The browser session cookie.
    Cookie,
    /// An externally issued JWT.
    Jwt,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Local => "local",
            AuthMethod::Static => "static",
            AuthMethod::Token => "token",
            AuthMethod::Cookie => "cookie",
            AuthMethod::Jwt => "jwt",
        }
    }
}

/// The caller, as the auth layer leaves it in request extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub username: Option<String>,
    pub role: Role,
    pub method: AuthMethod,
}

impl Identity {
    /// The single user of a server without accounts (`none`, `local` and the static token).
    pub fn owner(method: AuthMethod) -> Self {
        Identity {
            user_id: "1".into(),
            username: None,
            role: Role::Admin,
            method,
        }
    }
}

/// What a provider returns for credentials it accepts: the identity and, for sessions renewed on
/// use, a `Set-Cookie` to add to the response.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub identity: Identity,
    pub set_cookie: Option<HeaderValue>,
}

impl From<Identity> for Authenticated {
    fn from(identity: Identity) -> Self {
        Authenticated {
            identity,
            set_cookie: None,
        }
    }
}

/// A credential resolver. `Ok(None)` means "not mine": the next provider is asked.
pub trait Authenticate: Send + Sync + 'static {
    /// Resolves `Authorization: Bearer <token>`.
    fn bearer<'a>(
        &'a self,
        token: &'a str,
        req: &'a Parts,
    ) -> BoxFuture<'a, Result<Option<Authenticated>, BoxError>>;

    /// Resolves credentials carried elsewhere (a session cookie) when no `Authorization`
    /// header was sent.
    fn ambient<'a>(
        &'a self,
        _req: &'a Parts,
    ) -> BoxFuture<'a, Result<Option<Authenticated>, BoxError>> {
        future::ready(Ok(None)).boxed()
    }
}

/// The server token of `AUTH_PROVIDER=static`; maps to user "1".
pub struct StaticToken(Box<[u8]>);

impl StaticToken {
    pub fn new(token: &str) -> Self {
        StaticToken(token.as_bytes().into())
    }
}

impl Authenticate for StaticToken {
    fn bearer<'a>(
        &'a self,
        token: &'a str,
        _req: &'a Parts,
    ) -> BoxFuture<'a, Result<Option<Authenticated>, BoxError>> {
        let ok = bool::from(token.as_bytes().ct_eq(&self.0));
        future::ready(Ok(ok.then(|| Identity::owner(AuthMethod::Static).into()))).boxed()
    }
}

/// The providers, asked in order, and what to do when none accepts.
#[derive(Clone)]
pub struct AuthLayer(Arc<Shared>);

/// Behind one `Arc`: the layer is cloned for every request.
struct Shared {
    providers: Vec<Arc<dyn Authenticate>>,
    /// `Some` for providers that do not enforce (`none`, `local`): the identity every request
    /// without valid credentials gets.
    fallback: Option<Identity>,
    policy: SharedPolicy,
    respond: SharedRespond,
}

impl AuthLayer {
    pub fn new(
        providers: Vec<Arc<dyn Authenticate>>,
        fallback: Option<Identity>,
        policy: SharedPolicy,
        respond: SharedRespond,
    ) -> Self {
        AuthLayer(Arc::new(Shared {
            providers,
            fallback,
            policy,
            respond,
        }))
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    layer: AuthLayer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Missing,
    BadFormat,
    Invalid,
}

impl Refusal {
    fn detail(self) -> &'static str {
        match self {
            Refusal::Missing => MISSING,
            Refusal::BadFormat => BAD_FORMAT,
            Refusal::Invalid => INVALID,
        }
    }

    /// The `reason` label of `auth_refused_total`.
    fn label(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::BadFormat => "bad_format",
            Refusal::Invalid => "invalid",
        }
    }
}

/// The token of `Authorization: Bearer <token>`; `Err` for any other shape.
fn bearer_token(value: &HeaderValue) -> Result<&str, Refusal> {
    let value = value.to_str().map_err(|_| Refusal::BadFormat)?;
    let mut words = value.split_ascii_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(scheme), Some(token), None) if scheme.eq_ignore_ascii_case("bearer") => Ok(token),
        _ => Err(Refusal::BadFormat),
    }
}

async fn resolve(
    providers: &[Arc<dyn Authenticate>],
    parts: &Parts,
) -> Result<Result<Authenticated, Refusal>, BoxError> {
    let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
        for p in providers {
            if let Some(found) = p.ambient(parts).await? {
                return Ok(Ok(found));
            }
        }
        return Ok(Err(Refusal::Missing));
    };
    let token = match bearer_token(header) {
        Ok(token) => token,
        Err(refusal) => return Ok(Err(refusal)),
    };
    for p in providers {
        if let Some(found) = p.bearer(token, parts).await? {
            return Ok(Ok(found));
        }
    }
    Ok(Err(Refusal::Invalid))
}

impl<S> Service<Request<Body>> for Auth<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let open =
            meta_of(&mut req, &*self.layer.0.policy).public || req.method() == Method::OPTIONS;
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.0.clone();
        async move {
            let (mut parts, body) = req.into_parts();
            let outcome = match resolve(&layer.providers, &parts).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    tracing::error!(error = %error, "authentication provider failed");
                    let status = StatusCode::INTERNAL_SERVER_ERROR;
                    return Ok(layer
                        .respond
                        .refuse(&parts, status, "Internal Server Error"));
                }
            };
            let found = match (outcome, &layer.fallback) {
                (Ok(found), _) => Some(found),
                (Err(_), Some(fallback)) => Some(fallback.clone().into()),
                (Err(_), None) if open => None,
                (Err(refusal), None) => {
                    tracing::info!(
                        path = parts.uri.path(),
                        reason = refusal.detail(),
                        "authentication refused"
                    );
                    ::metrics::counter!(crate::metrics::AUTH_REFUSED, "reason" => refusal.label())
                        .increment(1);
                    let mut res =
                        layer
                            .respond
                            .refuse(&parts, StatusCode::UNAUTHORIZED, refusal.detail());
                    res.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    return Ok(res);
                }
            };
            let set_cookie = found.as_ref().and_then(|f| f.set_cookie.clone());
            if let Some(found) = found {
                parts.extensions.insert(found.identity);
            }
            let mut res = inner.call(Request::from_parts(parts, body)).await?;
            if let Some(cookie) = set_cookie {
                res.headers_mut().append(header::SET_COOKIE, cookie);
            }
            Ok(res)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;
    use crate::policy::RouteMeta;
    use crate::respond::JsonOrHtml;
    use http_body_util::BodyExt;
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};

    fn layer(fallback: Option<Identity>) -> AuthLayer {
        let policy: SharedPolicy = Arc::new(|_: &Method, path: &str| RouteMeta {
            public: path == "/health",
            ..RouteMeta::default()
        });
        AuthLayer::new(
            vec![Arc::new(StaticToken::new("tok3n"))],
            fallback,
            policy,
            Arc::new(JsonOrHtml),
        )
    }

    /// Answers with the user id the layer attached, or "anonymous".
    async fn call(
        layer: AuthLayer,
        method: Method,
        path: &str,
        auth: Option<&str>,
    ) -> (StatusCode, String, Option<String>) {
        let svc = layer.layer(service_fn(|req: Request<Body>| async move {
            let who = req
                .extensions()
                .get::<Identity>()
                .map_or("anonymous".to_string(), |i| {
                    format!("{}:{}", i.user_id, i.method.as_str())
                });
            Ok::<_, Infallible>(Response::new(body::full(who)))
        }));
        let mut req = Request::builder().method(method).uri(path);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = svc.oneshot(req.body(body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        let www = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap(), www)
    }

    #[tokio::test]
    async fn refusals_have_the_old_workers_bodies() {
        let cases = [
            (None, MISSING),
            (Some("Basic abc"), BAD_FORMAT),
            (Some("Bearer"), BAD_FORMAT),
            (Some("Bearer a b"), BAD_FORMAT),
            (Some("Bearer wrong"), INVALID),
        ];
        for (auth, detail) in cases {
            let (status, body, www) = call(layer(None), Method::GET, "/api/me", auth).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
            assert_eq!(body, serde_json::json!({ "detail": detail }).to_string());
            assert_eq!(www.as_deref(), Some("Bearer"));
        }
    }

    #[tokio::test]
    async fn the_static_token_is_user_one() {
        let (status, body, _) =
            call(layer(None), Method::GET, "/api/me", Some("Bearer tok3n")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "1:static"));
        let (status, body, _) =
            call(layer(None), Method::GET, "/api/me", Some("bearer   tok3n")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "1:static"));
    }

    #[tokio::test]
    async fn public_paths_and_preflights_pass() {
        let (status, body, _) = call(layer(None), Method::GET, "/health", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "anonymous"));
        let (status, body, _) =
            call(layer(None), Method::GET, "/health", Some("Bearer tok3n")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "1:static"));
        let (status, _, _) = call(layer(None), Method::OPTIONS, "/api/me", None).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn non_enforcing_providers_act_as_user_one() {
        let local = Some(Identity::owner(AuthMethod::Local));
        let (status, body, _) = call(layer(local.clone()), Method::GET, "/api/me", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "1:local"));
        let (status, body, _) =
            call(layer(local), Method::GET, "/api/me", Some("Bearer nope")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "1:local"));
    }

    struct Renewing;
    impl Authenticate for Renewing {
        fn bearer<'a>(
            &'a self,
            _: &'a str,
            _: &'a Parts,
        ) -> BoxFuture<'a, Result<Option<Authenticated>, BoxError>> {
            future::ready(Ok(None)).boxed()
        }
        fn ambient<'a>(
            &'a self,
            req: &'a Parts,
        ) -> BoxFuture<'a, Result<Option<Authenticated>, BoxError>> {
            let found = req.headers.get("cookie").map(|_| Authenticated {
                identity: Identity {
                    user_id: "7".into(),
                    username: Some("ada".into()),
                    role: Role::User,
                    method: AuthMethod::Cookie,
                },
                set_cookie: Some(HeaderValue::from_static("s=renewed")),
            });
            future::ready(Ok(found)).boxed()
        }
    }

    #[tokio::test]
    async fn ambient_providers_can_renew() {
        let policy: SharedPolicy = Arc::new(|_: &Method, _: &str| RouteMeta::default());
        let layer = AuthLayer::new(vec![Arc::new(Renewing)], None, policy, Arc::new(JsonOrHtml));
        let svc = layer.layer(service_fn(|req: Request<Body>| async move {
            let id = req.extensions().get::<Identity>().unwrap().user_id.clone();
            Ok::<_, Infallible>(Response::new(body::full(id)))
        }));
        let req = Request::get("/api/me")
            .header("cookie", "s=x")
            .body(body::empty())
            .unwrap();
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["set-cookie"], "s=renewed");
    }
}
