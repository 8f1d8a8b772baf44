//! The innermost service: matches the path, picks the handler by method and maps handler
//! errors to responses. 404 and 405 (with `Allow`) come from here; HEAD runs the GET handler.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{header, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::Body as _;
use pin_project_lite::pin_project;
use platform_middleware::body::{self, Body};
use platform_middleware::context::RequestContext;
use tower::Service;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::state::AppState;
use crate::table::{Entry, Handler, HandlerFuture, Table};

#[derive(Clone)]
pub struct Router {
    table: Arc<Table>,
    state: Arc<AppState>,
}

impl Router {
    pub fn new(table: Arc<Table>, state: Arc<AppState>) -> Self {
        Router { table, state }
    }
}

/// The little of a request kept to render an error after the handler consumed it.
pub struct ErrorHead {
    method: Method,
    version: Version,
    uri: http::Uri,
    accept: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
}

impl ErrorHead {
    fn of(req: &Request<Body>) -> Self {
        ErrorHead {
            method: req.method().clone(),
            version: req.version(),
            uri: req.uri().clone(),
            accept: req.headers().get(header::ACCEPT).cloned(),
            request_id: RequestContext::of(req.extensions()).and_then(|c| c.request_id.clone()),
        }
    }

    pub(crate) fn respond(self, error: ApiError, state: &AppState) -> Response<Body> {
        let mut req = Request::new(());
        *req.method_mut() = self.method;
        *req.version_mut() = self.version;
        *req.uri_mut() = self.uri;
        if let Some(accept) = self.accept {
            req.headers_mut().insert(header::ACCEPT, accept);
        }
        let id = self
            .request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let (parts, ()) = req.into_parts();
        error.into_response(&parts, id, &*state.respond)
    }
}

impl Router {
    /// The handler for `req` and its path parameters, or the 404 or 405 to answer.
    fn find(&self, req: &Request<Body>) -> Result<(&Handler, Params), ApiError> {
        if let Some(entry) = self.matched(req) {
            return handler_of(entry, req.method(), Vec::new());
        }
        let m = self
            .table
            .paths
            .at(req.uri().path())
            .map_err(|_| ApiError::NotFound)?;
        let params = m
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        handler_of(&self.table.entries[*m.value], req.method(), params)
    }

    /// The entry the access log already matched, when it is this table's and has no path
    /// parameters to extract (matching the path again would find the same entry).
    fn matched(&self, req: &Request<Body>) -> Option<&Entry> {
        let route = RequestContext::of(req.extensions())?.route?.route?;
        let entry = self.table.entries.get(route.entry)?;
        (entry.fixed && std::ptr::eq(entry.pattern, route.pattern)).then_some(entry)
    }
}

type Params = Vec<(String, String)>;

fn handler_of<'a>(
    entry: &'a Entry,
    method: &Method,
    params: Params,
) -> Result<(&'a Handler, Params), ApiError> {
    match entry.route(method) {
        Some(route) => Ok((&route.handler, params)),
        None => Err(ApiError::MethodNotAllowed {
            allow: entry.allow.clone(),
        }),
    }
}

impl Service<Request<Body>> for Router {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = RouterFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let head = ErrorHead::of(&req);
        let found = self.find(&req);
        let (handler, params) = match found {
            Ok(found) => found,
            Err(error) => {
                return RouterFuture::Answered {
                    res: Some(head.respond(error, &self.state)),
                }
            }
        };
        let is_head = req.method() == Method::HEAD;
        let fut = handler(Ctx::new(req, params, self.state.clone()), head);
        RouterFuture::Handling { fut, is_head }
    }
}

pin_project! {
    /// An answer the router gave itself (404, 405) or the handler's future, whose errors become
    /// responses here.
    #[project = RouterFutureProj]
    pub enum RouterFuture {
        Answered { res: Option<Response<Body>> },
        Handling {
            #[pin]
            fut: HandlerFuture,
            is_head: bool,
        },
    }
}

impl Future for RouterFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (mut res, is_head) = match self.project() {
            RouterFutureProj::Answered { res } => {
                // Polled again after answering: never happens with hyper or tower.
                let res = res.take().unwrap_or_else(|| {
                    body::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                });
                return Poll::Ready(Ok(res));
            }
            RouterFutureProj::Handling { fut, is_head } => (ready!(fut.poll(cx)), *is_head),
        };
        if is_head {
            strip_body(&mut res);
        }
        Poll::Ready(Ok(res))
    }
}

/// HEAD: the GET response's headers, with its length kept when known, and no body.
fn strip_body(res: &mut Response<Body>) {
    if let Some(len) = res.body().size_hint().exact() {
        res.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    *res.body_mut() = body::empty();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply;
    use crate::state::{Draining, ServerInfo};
    use crate::table::{RouteSet, Routes};
    use http_body_util::BodyExt;
    use platform_middleware::policy::{MatchedRoute, Policy, RouteMeta};
    use platform_middleware::respond::JsonOrHtml;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    async fn echo(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
        let value: Value = ctx.json().await?;
        reply::ok(&value)
    }

    async fn fail(_: Ctx) -> Result<Response<Body>, ApiError> {
        Err(ApiError::internal("disk on fire at /var/secret"))
    }

    async fn item(ctx: Ctx) -> Result<Response<Body>, ApiError> {
        reply::ok(ctx.param("id").unwrap_or_default())
    }

    fn test_routes(r: &mut Routes<'_>) {
        r.post("/echo", echo);
        r.get("/fail", fail);
        r.get("/items/{id}", item);
    }

    fn router(dir: &tempfile::TempDir) -> (Router, Draining) {
        let sets = [
            crate::sets::health::SET,
            RouteSet {
                name: "test",
                register: test_routes,
            },
        ];
        let table = Arc::new(Table::build(&sets).unwrap());
        let draining = Draining::default();
        let db = Arc::new(crate::store::open(&dir.path().join("t.db")).unwrap());
        let state = Arc::new(AppState {
            jobs: crate::jobs::Jobs::for_tests(db.clone()),
            db,
            draining: draining.clone(),
            respond: Arc::new(JsonOrHtml),
            info: ServerInfo {
                version: "test",
                auth_provider: "local".into(),
                server_mode: "desktop".into(),
                started: std::time::Instant::now(),
            },
            body_limit: 64,
            accounts: Arc::new(crate::accounts::test_accounts(dir.path())),
            storage: Arc::new(
                crate::storage::Buckets::local(
                    &dir.path().join("assets"),
                    &dir.path().join("temp"),
                    1024,
                )
                .unwrap(),
            ),
            secrets: Arc::new(crate::secrets::Keyring::new("test")),
            chat: Arc::new(crate::chat::Chat::new(
                Default::default(),
                reqwest::Client::new(),
            )),
            hub: Arc::new(crate::models::Hub::new(
                crate::models::HubSettings::under(dir.path().join("hf")),
                reqwest::Client::new(),
            )),
        });
        (Router::new(table, state), draining)
    }

    async fn send(router: &Router, req: Request<Body>) -> (u16, Value) {
        let res = router.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn post(body: &'static str) -> Request<Body> {
        Request::post("/echo").body(body::full(body)).unwrap()
    }

    #[tokio::test]
    async fn json_bodies_parse_or_say_where_they_broke() {
        let dir = tempfile::tempdir().unwrap();
        let (router, _) = router(&dir);
        assert_eq!(
            send(&router, post(r#"{"a":1}"#)).await,
            (200, json!({"a": 1}))
        );
        let (status, body) = send(&router, post("{\"a\":\n  oops}")).await;
        assert_eq!(status, 400);
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("line 2 column 3"), "{detail}");
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413() {
        let dir = tempfile::tempdir().unwrap();
        let (router, _) = router(&dir);
        let big = Box::leak(format!("\"{}\"", "x".repeat(100)).into_boxed_str());
        let (status, body) = send(&router, post(big)).await;
        assert_eq!(status, 413);
        assert_eq!(body["detail"], "Request body too large (limit 64 bytes)");
        // Also when streamed without a Content-Length.
        let stream = futures_util::stream::iter((0..10).map(|_| {
            Ok::<_, platform_middleware::BoxError>(http_body::Frame::data(
                bytes::Bytes::from_static(b"0123456789"),
            ))
        }));
        let req = Request::post("/echo")
            .body(body::boxed(http_body_util::StreamBody::new(stream)))
            .unwrap();
        assert_eq!(send(&router, req).await.0, 413);
    }

    #[tokio::test]
    async fn internal_errors_hide_internals_and_carry_the_request_id() {
        let dir = tempfile::tempdir().unwrap();
        let (router, _) = router(&dir);
        let mut req = Request::get("/fail").body(body::empty()).unwrap();
        RequestContext::of_mut(req.extensions_mut()).request_id =
            Some(HeaderValue::from_static("rid-9"));
        let (status, body) = send(&router, req).await;
        assert_eq!(status, 500);
        assert_eq!(
            body,
            json!({"detail": "Internal Server Error", "request_id": "rid-9"})
        );
    }

    #[tokio::test]
    async fn reuses_the_match_in_front_only_for_its_own_routes_without_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let (router, _) = router(&dir);
        let get = |path: &str, matched: Option<MatchedRoute>| {
            let mut req = Request::get(path).body(body::empty()).unwrap();
            RequestContext::of_mut(req.extensions_mut()).route = Some(RouteMeta {
                route: matched,
                ..RouteMeta::default()
            });
            req
        };
        let matched = |path: &str| router.table.lookup(&Method::GET, path).route;
        // The access log's match is used as it is (the layers in front already trusted it with
        // the route's policy); a request whose match says /fail reaches /fail's handler.
        assert_eq!(send(&router, get("/health", matched("/fail"))).await.0, 500);
        // A route with parameters is matched again, for its parameters.
        assert_eq!(
            send(&router, get("/items/7", matched("/items/7"))).await,
            (200, json!("7"))
        );
        // A match that is not this table's is ignored: the path decides. (Its number is that of
        // /fail, so only the pattern tells it apart.)
        let fail = matched("/fail").unwrap();
        let foreign = MatchedRoute {
            set: "other",
            pattern: "/elsewhere",
            entry: fail.entry,
        };
        assert_eq!(
            send(&router, get("/health", Some(foreign))).await,
            (200, json!("OK"))
        );
        let beyond = MatchedRoute {
            entry: usize::MAX,
            ..foreign
        };
        assert_eq!(send(&router, get("/health", Some(beyond))).await.0, 200);
        assert_eq!(send(&router, get("/nowhere", None)).await.0, 404);
    }

    #[tokio::test]
    async fn health_is_503_while_draining() {
        let dir = tempfile::tempdir().unwrap();
        let (router, draining) = router(&dir);
        let get = || Request::get("/health").body(body::empty()).unwrap();
        assert_eq!(send(&router, get()).await, (200, json!("OK")));
        draining.start();
        assert_eq!(send(&router, get()).await.0, 503);
    }
}
