//! Admin token layer: everything under `/admin/` also needs `X-Admin-Token` when an admin token
//! is configured. Runs after auth, so a request with no credentials at all is a 401 first.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::body::Body;
use crate::future::{self, Gate};
use crate::respond::SharedRespond;

pub const HEADER: &str = "x-admin-token";
pub const MISSING: &str = "Admin token required. Use X-Admin-Token header.";
pub const INVALID: &str = "Invalid admin token.";

#[derive(Clone)]
pub struct AdminTokenLayer {
    token: Option<Arc<[u8]>>,
    respond: SharedRespond,
}

impl AdminTokenLayer {
    /// `None` disables the check (start-up warns about that in production).
    pub fn new(token: Option<&str>, respond: SharedRespond) -> Self {
        let token = token
            .filter(|t| !t.is_empty())
            .map(|t| Arc::from(t.as_bytes()));
        AdminTokenLayer { token, respond }
    }
}

impl<S> Layer<S> for AdminTokenLayer {
    type Service = AdminToken<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AdminToken {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AdminToken<S> {
    inner: S,
    layer: AdminTokenLayer,
}

/// True for `/admin` and everything below it.
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

impl<S> Service<Request<Body>> for AdminToken<S>
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
        let Some(expected) = self.layer.token.as_deref() else {
            return future::pass(self.inner.call(req));
        };
        if !is_admin_path(req.uri().path()) {
            return future::pass(self.inner.call(req));
        }
        let refusal = match req.headers().get(HEADER) {
            None => Some(MISSING),
            Some(given) if constant_time_eq::constant_time_eq(given.as_bytes(), expected) => None,
            Some(_) => Some(INVALID),
        };
        match refusal {
            None => future::pass(self.inner.call(req)),
            Some(detail) => {
                tracing::warn!(
                    path = req.uri().path(),
                    reason = detail,
                    "admin token refused"
                );
                let (parts, _) = req.into_parts();
                let res = self
                    .layer
                    .respond
                    .refuse(&parts, StatusCode::FORBIDDEN, detail);
                future::answer(res)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;
    use crate::respond::JsonOrHtml;
    use http_body_util::BodyExt;
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};

    fn svc(
        token: Option<&str>,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> {
        AdminTokenLayer::new(token, Arc::new(JsonOrHtml)).layer(service_fn(
            |_req: Request<Body>| async { Ok::<_, Infallible>(Response::new(body::full("inner"))) },
        ))
    }

    async fn call(token: Option<&str>, path: &str, header: Option<&str>) -> (StatusCode, String) {
        let mut req = Request::builder().uri(path);
        if let Some(h) = header {
            req = req.header(HEADER, h);
        }
        let res = svc(token)
            .oneshot(req.body(body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn admin_paths_need_the_token() {
        let t = Some("s3cret");
        assert_eq!(
            call(t, "/admin/status", None).await,
            (
                StatusCode::FORBIDDEN,
                r#"{"detail":"Admin token required. Use X-Admin-Token header."}"#.into()
            )
        );
        assert_eq!(
            call(t, "/admin/status", Some("nope")).await,
            (
                StatusCode::FORBIDDEN,
                r#"{"detail":"Invalid admin token."}"#.into()
            )
        );
        assert_eq!(
            call(t, "/admin/status", Some("s3cret")).await.0,
            StatusCode::OK
        );
        assert_eq!(call(t, "/admin", None).await.0, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn other_paths_and_unset_token_pass() {
        assert_eq!(
            call(Some("s3cret"), "/api/me", None).await.0,
            StatusCode::OK
        );
        assert_eq!(
            call(Some("s3cret"), "/administrator", None).await.0,
            StatusCode::OK
        );
        assert_eq!(call(None, "/admin/status", None).await.0, StatusCode::OK);
        assert_eq!(
            call(Some(""), "/admin/status", None).await.0,
            StatusCode::OK
        );
    }
}
