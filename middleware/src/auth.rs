//! Auth layer: resolves the request's credentials to an [`Identity`] through a chain of
//! [`Authenticate`] providers, and refuses protected routes without one.
//!
//! Providers plug in without touching the layer: the static server token lives here; session
//! cookies, per-user API tokens and JWTs are implemented by the route crate.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_util::future::{self, BoxFuture, Either, Ready};
use http::request::Parts;
use http::{header, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

use pin_project_lite::pin_project;

use crate::body::{self, Body, BoxError};
use crate::context::RequestContext;
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

/// The caller, as the auth layer leaves it in the [`RequestContext`].
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

/// What a provider says about a credential: `Ok(None)` means "not mine", and the next provider
/// is asked.
pub type Verdict = Result<Option<Authenticated>, BoxError>;

/// A provider's answer: at once (a token compared in memory, no cookie at all), or later when it
/// needs the database or the network. Most requests are decided without an allocation.
pub enum Check {
    Ready(Verdict),
    /// Owns what it needs, so the request can move on while it runs.
    Later(BoxFuture<'static, Verdict>),
}

impl Check {
    pub fn later(fut: impl Future<Output = Verdict> + Send + 'static) -> Self {
        Check::Later(Box::pin(fut))
    }
}

/// `check.await` waits for the answer whichever way it comes.
impl std::future::IntoFuture for Check {
    type Output = Verdict;
    type IntoFuture = Either<Ready<Verdict>, BoxFuture<'static, Verdict>>;

    fn into_future(self) -> Self::IntoFuture {
        match self {
            Check::Ready(verdict) => Either::Left(future::ready(verdict)),
            Check::Later(fut) => Either::Right(fut),
        }
    }
}

impl From<Verdict> for Check {
    fn from(verdict: Verdict) -> Self {
        Check::Ready(verdict)
    }
}

/// A credential resolver, asked in order by the auth layer.
pub trait Authenticate: Send + Sync + 'static {
    /// Resolves `Authorization: Bearer <token>`.
    fn bearer(&self, token: &str, req: &Parts) -> Check;

    /// Resolves credentials carried elsewhere (a session cookie) when no `Authorization`
    /// header was sent.
    fn ambient(&self, _req: &Parts) -> Check {
        Check::Ready(Ok(None))
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
    fn bearer(&self, token: &str, _req: &Parts) -> Check {
        // Word at a time with one optimisation barrier: subtle's byte-wise `ct_eq` cost more
        // than the rest of the auth layer.
        let ok = constant_time_eq::constant_time_eq(token.as_bytes(), &self.0);
        Check::Ready(Ok(ok.then(|| Identity::owner(AuthMethod::Static).into())))
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
    // On bytes: one pass over the token, where `to_str` and the whitespace scan made two.
    let value = value.as_bytes().trim_ascii();
    let gap = value
        .iter()
        .position(u8::is_ascii_whitespace)
        .ok_or(Refusal::BadFormat)?;
    let (scheme, token) = value.split_at(gap);
    let token = token.trim_ascii_start();
    // Visible ASCII, so one word and valid UTF-8.
    let one_word = !token.is_empty() && token.iter().all(u8::is_ascii_graphic);
    if !one_word || !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(Refusal::BadFormat);
    }
    std::str::from_utf8(token).map_err(|_| Refusal::BadFormat)
}

/// How far resolving got without waiting.
enum Resolved {
    Done(Result<Result<Authenticated, Refusal>, BoxError>),
    /// Provider `next - 1` answered `Check::Later` with `pending`; the rest are asked after it.
    Waiting {
        pending: BoxFuture<'static, Verdict>,
        next: usize,
    },
}

/// Asks the providers from `from` on, until one decides or one needs to wait.
fn resolve_now(providers: &[Arc<dyn Authenticate>], parts: &Parts, from: usize) -> Resolved {
    let token = match parts.headers.get(header::AUTHORIZATION).map(bearer_token) {
        Some(Err(refusal)) => return Resolved::Done(Ok(Err(refusal))),
        Some(Ok(token)) => Some(token),
        None => None,
    };
    for (i, p) in providers.iter().enumerate().skip(from) {
        let check = match token {
            Some(token) => p.bearer(token, parts),
            None => p.ambient(parts),
        };
        match check {
            Check::Ready(Ok(None)) => continue,
            Check::Ready(Ok(Some(found))) => return Resolved::Done(Ok(Ok(found))),
            Check::Ready(Err(e)) => return Resolved::Done(Err(e)),
            Check::Later(pending) => {
                return Resolved::Waiting {
                    pending,
                    next: i + 1,
                }
            }
        }
    }
    let refusal = if token.is_some() {
        Refusal::Invalid
    } else {
        Refusal::Missing
    };
    Resolved::Done(Ok(Err(refusal)))
}

/// Resolves to the end, waiting for providers as needed.
async fn resolve(
    providers: &[Arc<dyn Authenticate>],
    parts: &Parts,
    mut resolved: Resolved,
) -> Result<Result<Authenticated, Refusal>, BoxError> {
    loop {
        match resolved {
            Resolved::Done(outcome) => return outcome,
            Resolved::Waiting { pending, next } => match pending.await? {
                Some(found) => return Ok(Ok(found)),
                None => resolved = resolve_now(providers, parts, next),
            },
        }
    }
}

/// What the layer does with a request once its credentials are resolved.
enum Decision {
    /// On to the inner service with the identity attached, and a `Set-Cookie` to add.
    Pass(Parts, Option<HeaderValue>),
    Refuse(Response<Body>),
}

impl Shared {
    /// The request with its identity attached and the `Set-Cookie` to add to the response, or
    /// the refusal to answer with.
    fn decide(
        &self,
        outcome: Result<Result<Authenticated, Refusal>, BoxError>,
        open: bool,
        mut parts: Parts,
    ) -> Decision {
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::error!(error = %error, "authentication provider failed");
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                return Decision::Refuse(self.respond.refuse(
                    &parts,
                    status,
                    "Internal Server Error",
                ));
            }
        };
        let found = match (outcome, &self.fallback) {
            (Ok(found), _) => Some(found),
            (Err(_), Some(fallback)) => Some(fallback.clone().into()),
            (Err(_), None) if open => None,
            (Err(refusal), None) => return Decision::Refuse(self.refuse(&parts, refusal)),
        };
        let set_cookie = match found {
            Some(found) => {
                RequestContext::of_mut(&mut parts.extensions).identity = Some(found.identity);
                found.set_cookie
            }
            None => None,
        };
        Decision::Pass(parts, set_cookie)
    }

    fn refuse(&self, parts: &Parts, refusal: Refusal) -> Response<Body> {
        tracing::info!(
            path = parts.uri.path(),
            reason = refusal.detail(),
            "authentication refused"
        );
        ::metrics::counter!(crate::metrics::AUTH_REFUSED, "reason" => refusal.label()).increment(1);
        let mut res = self
            .respond
            .refuse(parts, StatusCode::UNAUTHORIZED, refusal.detail());
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        res
    }
}

impl<S> Service<Request<Body>> for Auth<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = AuthFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let shared = &self.layer.0;
        // OPTIONS gets no pass: a CORS preflight is answered by the CORS layer before this one,
        // and any other OPTIONS would otherwise probe routes and the admin token unauthenticated.
        let open = meta_of(&mut req, &*shared.policy).public;
        let (parts, body) = req.into_parts();
        let resolved = resolve_now(&shared.providers, &parts, 0);
        let Resolved::Done(outcome) = resolved else {
            return AuthFuture::Waiting {
                fut: self.wait(resolved, open, parts, body),
            };
        };
        match shared.decide(outcome, open, parts) {
            Decision::Refuse(refusal) => AuthFuture::Refused { res: Some(refusal) },
            Decision::Pass(parts, set_cookie) => AuthFuture::Passed {
                fut: self.inner.call(Request::from_parts(parts, body)),
                set_cookie,
            },
        }
    }
}

impl<S> Auth<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    /// The rare path: a provider needs the database or the network before the request goes on.
    fn wait(
        &mut self,
        resolved: Resolved,
        open: bool,
        parts: Parts,
        body: Body,
    ) -> BoxFuture<'static, Result<Response<Body>, S::Error>> {
        // The ready clone stays; the one driven to ready goes with the request (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.layer.0.clone();
        Box::pin(async move {
            let outcome = resolve(&shared.providers, &parts, resolved).await;
            let (parts, set_cookie) = match shared.decide(outcome, open, parts) {
                Decision::Pass(parts, set_cookie) => (parts, set_cookie),
                Decision::Refuse(refusal) => return Ok(refusal),
            };
            let mut res = inner.call(Request::from_parts(parts, body)).await?;
            add_cookie(&mut res, set_cookie);
            Ok(res)
        })
    }
}

fn add_cookie(res: &mut Response<Body>, cookie: Option<HeaderValue>) {
    if let Some(cookie) = cookie {
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
}

pin_project! {
    /// Decided at once (refused, or passed on with the identity attached), or waiting for a
    /// provider.
    #[project = AuthFutureProj]
    pub enum AuthFuture<F, E> {
        Refused { res: Option<Response<Body>> },
        Passed {
            #[pin]
            fut: F,
            set_cookie: Option<HeaderValue>,
        },
        Waiting { fut: BoxFuture<'static, Result<Response<Body>, E>> },
    }
}

impl<F, E> Future for AuthFuture<F, E>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AuthFutureProj::Refused { res } => Poll::Ready(Ok(res
                .take()
                .unwrap_or_else(|| body::detail(StatusCode::UNAUTHORIZED, INVALID)))),
            AuthFutureProj::Passed { fut, set_cookie } => {
                let mut res = ready!(fut.poll(cx))?;
                add_cookie(&mut res, set_cookie.take());
                Poll::Ready(Ok(res))
            }
            AuthFutureProj::Waiting { fut } => fut.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;
    use crate::policy::RouteMeta;
    use crate::respond::JsonOrHtml;
    use http::Method;
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
            let who = RequestContext::identity_of(req.extensions())
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
            (Some("Bearer t\u{f6}k"), BAD_FORMAT),
            (Some("Bearer\twrong\t"), INVALID),
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
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "OPTIONS meets auth like GET"
        );
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
        fn bearer(&self, _: &str, _: &Parts) -> Check {
            Check::Ready(Ok(None))
        }
        fn ambient(&self, req: &Parts) -> Check {
            let found = req.headers.get("cookie").map(|_| Authenticated {
                identity: Identity {
                    user_id: "7".into(),
                    username: Some("ada".into()),
                    role: Role::User,
                    method: AuthMethod::Cookie,
                },
                set_cookie: Some(HeaderValue::from_static("s=renewed")),
            });
            // Answered later, as a provider that looks the session up would.
            Check::later(async move { Ok(found) })
        }
    }

    #[tokio::test]
    async fn ambient_providers_can_renew() {
        let policy: SharedPolicy = Arc::new(|_: &Method, _: &str| RouteMeta::default());
        let layer = AuthLayer::new(vec![Arc::new(Renewing)], None, policy, Arc::new(JsonOrHtml));
        let svc = layer.layer(service_fn(|req: Request<Body>| async move {
            let id = RequestContext::identity_of(req.extensions())
                .unwrap()
                .user_id
                .clone();
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

    /// Declines, but only after waiting (as a database lookup that finds nothing would).
    struct SlowNo;
    impl Authenticate for SlowNo {
        fn bearer(&self, _: &str, _: &Parts) -> Check {
            Check::later(async {
                tokio::task::yield_now().await;
                Ok(None)
            })
        }
    }

    #[tokio::test]
    async fn providers_after_a_waiting_one_are_still_asked() {
        let policy: SharedPolicy = Arc::new(|_: &Method, _: &str| RouteMeta::default());
        let providers: Vec<Arc<dyn Authenticate>> =
            vec![Arc::new(SlowNo), Arc::new(StaticToken::new("tok3n"))];
        let layer = AuthLayer::new(providers, None, policy, Arc::new(JsonOrHtml));
        let (status, body, _) =
            call(layer.clone(), Method::GET, "/api/me", Some("Bearer tok3n")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "1:static"));
        let (status, body, _) = call(layer, Method::GET, "/api/me", Some("Bearer nope")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, format!(r#"{{"detail":"{INVALID}"}}"#));
    }
}
