//! The whole request path, outermost first. Each layer is a type in `platform-middleware` with
//! its own tests; this file only decides the order.

use std::sync::Arc;

use http::{header, HeaderName, Method};
use platform_middleware::admin::AdminTokenLayer;
use platform_middleware::auth::{AuthLayer, Authenticate, Identity};
use platform_middleware::csrf::CsrfLayer;
use platform_middleware::panic::CatchPanicLayer;
use platform_middleware::policy::SharedPolicy;
use platform_middleware::preflight::PreflightOnlyLayer;
use platform_middleware::proxy_fix::ProxyFixLayer;
use platform_middleware::rate_limit::{Limits, RateLimitLayer};
use platform_middleware::request_id::RequestIdLayer;
use platform_middleware::respond::SharedRespond;
use platform_middleware::scope::ScopeLayer;
use platform_middleware::security_headers::SecurityHeadersLayer;
use platform_middleware::trace::AccessLogLayer;
use platform_routes::{pages, AppState, Router, Table};
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::serve::Stack;

/// What the layers are made from.
pub struct Parts {
    pub table: Arc<Table>,
    pub state: Arc<AppState>,
    pub limits: Arc<Limits>,
    pub providers: Vec<Arc<dyn Authenticate>>,
    /// The identity of requests without credentials when the provider does not enforce.
    pub fallback: Option<Identity>,
}

pub fn build(config: &Config, parts: Parts) -> impl Stack {
    let policy: SharedPolicy = parts.table.clone();
    let respond: SharedRespond = parts.state.respond.clone();
    ServiceBuilder::new()
        // 1. Client address, scheme, host from trusted proxies: once, before anything reads them.
        .layer(ProxyFixLayer::new(
            config.trusted_proxies.clone(),
            config.hops,
        ))
        // 2. Request id (kept or generated, echoed), browser hardening headers on every answer,
        //    access log (which looks the route up once for every layer below), panics as 500s.
        .layer(RequestIdLayer)
        .layer(SecurityHeadersLayer::new(pages::content_security_policy()))
        .layer(AccessLogLayer::new(policy.clone()))
        .layer(CatchPanicLayer)
        //    CORS answers real preflights here, before they could be limited or refused; any
        //    other OPTIONS goes on to auth.
        .layer(PreflightOnlyLayer::new(cors(config)))
        // 3. Rate limits per client address and route class.
        .layer(RateLimitLayer::new(
            parts.limits,
            policy.clone(),
            respond.clone(),
        ))
        // 4. Credentials to an identity; protected routes refused without one.
        .layer(AuthLayer::new(
            parts.providers,
            parts.fallback,
            policy,
            respond.clone(),
        ))
        //    Cookie-authenticated writes only from this origin.
        .layer(CsrfLayer::new(respond.clone()))
        // 5. `/admin/*` also needs X-Admin-Token when one is configured.
        .layer(AdminTokenLayer::new(config.admin_token.as_deref(), respond))
        // 6. Pooled database connections, lent per blocking call, never held while waiting.
        .layer(ScopeLayer::new(parts.state.db.clone()))
        // 7. The dispatch table.
        .service(Router::new(parts.table, parts.state))
}

/// Only configured origins, with credentials; never `*`.
fn cors(config: &Config) -> Option<CorsLayer> {
    if config.cors_origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(config.cors_origins.iter().cloned()))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-admin-token"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(std::time::Duration::from_secs(600));
    Some(layer)
}
