//! The innermost service: matches the path, picks the handler by method and maps handler
//! errors to responses. 404 and 405 (with `Allow`) come from here; HEAD runs the GET handler.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{BoxFuture, FutureExt};
use http::{header, HeaderValue, Method, Request, Response};
use http_body::Body as _;
use platform_middleware::body::{self, Body};
use platform_middleware::trace::MatchedRoute;
use platform_middleware::trace::RequestId;
use tower::Service;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::state::AppState;
use crate::table::Table;

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
struct ErrorHead {
    method: Method,
    uri: http::Uri,
    accept: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
}

impl ErrorHead {
    fn of(req: &Request<Body>) -> Self {
        ErrorHead {
            method: req.method().clone(),
            uri: req.uri().clone(),
            accept: req.headers().get(header::ACCEPT).cloned(),
            request_id: req
                .extensions()
                .get::<RequestId>()
                .map(|id| id.header_value().clone()),
        }
    }

    fn respond(self, error: ApiError, state: &AppState) -> Response<Body> {
        let mut req = Request::new(());
        *req.method_mut() = self.method;
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

impl Service<Request<Body>> for Router {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let head = ErrorHead::of(&req);
        let state = self.state.clone();
        let found = match self.table.paths.at(req.uri().path()) {
            Err(_) => Err(ApiError::NotFound),
            Ok(m) => {
                let entry = &self.table.entries[*m.value];
                match entry.route(req.method()) {
                    None => Err(ApiError::MethodNotAllowed {
                        allow: entry.allow.clone(),
                    }),
                    Some(route) => {
                        let params = m
                            .params
                            .iter()
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect();
                        let matched = MatchedRoute {
                            set: route.set,
                            pattern: entry.pattern,
                        };
                        Ok((route.handler.clone(), params, matched))
                    }
                }
            }
        };
        let (handler, params, matched) = match found {
            Ok(found) => found,
            Err(error) => {
                return futures_util::future::ready(Ok(head.respond(error, &state))).boxed()
            }
        };
        let is_head = req.method() == Method::HEAD;
        let ctx = Ctx::new(req, params, state.clone());
        async move {
            let mut res = match handler(ctx).await {
                Ok(res) => res,
                Err(error) => head.respond(error, &state),
            };
            if is_head {
                strip_body(&mut res);
            }
            res.extensions_mut().insert(matched);
            Ok(res)
        }
        .boxed()
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
