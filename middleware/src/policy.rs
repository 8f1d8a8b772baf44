//! What a route declares about itself that layers in front of the router need to know:
//! whether it is public and which rate-limit class it counts against.

use std::sync::Arc;

use http::{Method, Request};

use crate::context::RequestContext;

/// The rate-limit class of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateClass {
    /// Credential endpoints (login, token exchange).
    Auth,
    /// POST, PUT, PATCH, DELETE.
    Write,
    /// GET, HEAD (and OPTIONS).
    Read,
}

impl RateClass {
    pub const ALL: [RateClass; 3] = [RateClass::Auth, RateClass::Write, RateClass::Read];

    pub fn name(self) -> &'static str {
        match self {
            RateClass::Auth => "auth",
            RateClass::Write => "write",
            RateClass::Read => "read",
        }
    }

    /// The class a request falls in when its route declares nothing special.
    pub fn for_method(method: &Method) -> RateClass {
        match *method {
            Method::GET | Method::HEAD | Method::OPTIONS => RateClass::Read,
            _ => RateClass::Write,
        }
    }
}

/// How a route is rate limited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RateRule {
    /// Read or write by method.
    #[default]
    ByMethod,
    /// Counts against the `auth` class.
    Auth,
    /// Never limited (health checks).
    Exempt,
}

/// Which route a request is for, as registered: for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatchedRoute {
    /// The route set ("health", "api", "auth", ...).
    pub set: &'static str,
    /// The pattern as registered (`/api/tokens/{id}`), never the raw path.
    pub pattern: &'static str,
    /// The policy's own number for the route, so the dispatcher behind it can reuse this match
    /// instead of matching the path again.
    pub entry: usize,
}

/// What the route table says about a request, looked up once (by the access log, the
/// outermost layer that needs it) and kept in the request's context for the layers after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteMeta {
    /// Passes the auth layer without credentials (an identity is still attached when valid
    /// credentials are present).
    pub public: bool,
    pub rate: RateRule,
    /// Writes must come from this origin even without a session cookie (the login form: a
    /// foreign page must not sign the browser in to an account of its choosing).
    pub same_origin: bool,
    /// The route the method and path match; `None` for unknown paths and methods.
    pub route: Option<MatchedRoute>,
}

impl RouteMeta {
    pub fn rate_class(&self, method: &Method) -> Option<RateClass> {
        match self.rate {
            RateRule::ByMethod => Some(RateClass::for_method(method)),
            RateRule::Auth => Some(RateClass::Auth),
            RateRule::Exempt => None,
        }
    }
}

/// Answers [`RouteMeta`] for a method and path; implemented by the route table.
pub trait Policy: Send + Sync + 'static {
    fn lookup(&self, method: &Method, path: &str) -> RouteMeta;
}

pub type SharedPolicy = Arc<dyn Policy>;

impl<F> Policy for F
where
    F: Fn(&Method, &str) -> RouteMeta + Send + Sync + 'static,
{
    fn lookup(&self, method: &Method, path: &str) -> RouteMeta {
        self(method, path)
    }
}

/// The request's [`RouteMeta`], looked up on first use and cached in its context so the
/// layers after the first do not match the path again.
pub fn meta_of<B>(req: &mut Request<B>, policy: &dyn Policy) -> RouteMeta {
    if let Some(meta) = RequestContext::of(req.extensions()).and_then(|c| c.route) {
        return meta;
    }
    let meta = policy.lookup(req.method(), req.uri().path());
    RequestContext::of_mut(req.extensions_mut()).route = Some(meta);
    meta
}
