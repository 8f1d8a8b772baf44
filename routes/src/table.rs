//! The dispatch table: matchit paths, each with its handlers by method and what the layers in
//! front of the router need to know about them ([`RouteMeta`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt};
use http::{HeaderValue, Method, Response};
use platform_middleware::body::Body;
use platform_middleware::policy::{MatchedRoute, Policy, RateRule, RouteMeta};

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::router::ErrorHead;

/// A handler's future with its error already turned into a response: what the error needs of
/// the request ([`ErrorHead`]) rides in the same box as the handler, not in every request's
/// future.
pub type HandlerFuture = BoxFuture<'static, Response<Body>>;
pub type Handler = Arc<dyn Fn(Ctx, ErrorHead) -> HandlerFuture + Send + Sync>;

/// Start-up settings that decide the shape of some routes (whether they are public).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteSettings {
    /// `PUBLIC_STORAGE`: stored files readable without credentials.
    pub public_storage: bool,
}

/// A group of routes from one former service, registered by one function.
#[derive(Clone, Copy)]
pub struct RouteSet {
    pub name: &'static str,
    pub register: fn(&mut Routes<'_>),
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("route {method} {path} of set '{set}' is registered twice (first by set '{first}')")]
    Duplicate {
        method: Method,
        path: &'static str,
        set: &'static str,
        first: &'static str,
    },
    #[error("route {path} of set '{set}' conflicts with an existing route: {source}")]
    Conflict {
        path: &'static str,
        set: &'static str,
        source: matchit::InsertError,
    },
}

pub(crate) struct Route {
    pub handler: Handler,
    /// What the route declared (public, rate rule); `lookup` adds which route it is.
    pub meta: RouteMeta,
    pub set: &'static str,
}

pub(crate) struct Entry {
    pub pattern: &'static str,
    /// The pattern has no `{parameters}`: a match made earlier for the same path can be reused.
    pub fixed: bool,
    pub methods: Vec<(Method, Route)>,
    /// Precomputed `Allow` header for 405s.
    pub allow: HeaderValue,
}

impl Entry {
    /// The route for `method`, with HEAD falling back to GET.
    pub fn route(&self, method: &Method) -> Option<&Route> {
        let find = |m: &Method| {
            self.methods
                .iter()
                .find(|(have, _)| have == m)
                .map(|(_, r)| r)
        };
        find(method).or_else(|| {
            (method == Method::HEAD)
                .then(|| find(&Method::GET))
                .flatten()
        })
    }
}

/// The built table; immutable once serving starts.
pub struct Table {
    pub(crate) paths: matchit::Router<usize>,
    pub(crate) entries: Vec<Entry>,
}

impl Table {
    pub fn build(sets: &[RouteSet]) -> Result<Table, TableError> {
        Self::build_with(sets, RouteSettings::default())
    }

    /// The table for these start-up settings.
    pub fn build_with(sets: &[RouteSet], settings: RouteSettings) -> Result<Table, TableError> {
        let mut builder = Builder::default();
        for set in sets {
            (set.register)(&mut Routes {
                builder: &mut builder,
                set: set.name,
                settings,
            });
        }
        builder.finish()
    }

    /// Every `(method, pattern, set)` in the table, for start-up logs and docs.
    pub fn routes(&self) -> impl Iterator<Item = (&Method, &'static str, &'static str)> + '_ {
        self.entries
            .iter()
            .flat_map(|e| e.methods.iter().map(move |(m, r)| (m, e.pattern, r.set)))
    }
}

impl Policy for Table {
    /// Unknown paths and methods are neither public nor exempt: they need credentials before
    /// they learn the route does not exist, as they did behind the old auth middleware.
    fn lookup(&self, method: &Method, path: &str) -> RouteMeta {
        let Ok(found) = self.paths.at(path) else {
            return RouteMeta::default();
        };
        let entry = &self.entries[*found.value];
        entry
            .route(method)
            .map_or_else(RouteMeta::default, |r| RouteMeta {
                route: Some(MatchedRoute {
                    set: r.set,
                    pattern: entry.pattern,
                    entry: *found.value,
                }),
                ..r.meta
            })
    }
}

#[derive(Default)]
struct Builder {
    paths: matchit::Router<usize>,
    entries: Vec<Entry>,
    by_pattern: HashMap<&'static str, usize>,
    error: Option<TableError>,
}

impl Builder {
    fn add(
        &mut self,
        set: &'static str,
        method: Method,
        path: &'static str,
        handler: Handler,
    ) -> Option<&mut RouteMeta> {
        if self.error.is_some() {
            return None;
        }
        let index = match self.by_pattern.get(path) {
            Some(&i) => i,
            None => {
                if let Err(source) = self.paths.insert(path, self.entries.len()) {
                    self.error = Some(TableError::Conflict { path, set, source });
                    return None;
                }
                self.entries.push(Entry {
                    pattern: path,
                    fixed: !path.contains('{'),
                    methods: Vec::new(),
                    allow: HeaderValue::from_static(""),
                });
                self.by_pattern.insert(path, self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[index];
        if let Some((_, first)) = entry.methods.iter().find(|(m, _)| *m == method) {
            self.error = Some(TableError::Duplicate {
                method,
                path,
                set,
                first: first.set,
            });
            return None;
        }
        entry.methods.push((
            method,
            Route {
                handler,
                meta: RouteMeta::default(),
                set,
            },
        ));
        entry.methods.last_mut().map(|(_, r)| &mut r.meta)
    }

    fn finish(mut self) -> Result<Table, TableError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        for entry in &mut self.entries {
            entry.allow = allow_header(&entry.methods);
        }
        Ok(Table {
            paths: self.paths,
            entries: self.entries,
        })
    }
}

fn allow_header(methods: &[(Method, Route)]) -> HeaderValue {
    let mut names: Vec<&str> = methods.iter().map(|(m, _)| m.as_str()).collect();
    if names.contains(&"GET") && !names.contains(&"HEAD") {
        names.push("HEAD");
    }
    names.sort_unstable();
    HeaderValue::from_str(&names.join(", ")).unwrap_or_else(|_| HeaderValue::from_static("GET"))
}

/// What a route set's `register` function receives.
pub struct Routes<'a> {
    builder: &'a mut Builder,
    set: &'static str,
    settings: RouteSettings,
}

/// Options of the route just added.
pub struct RouteOptions<'a>(Option<&'a mut RouteMeta>);

impl RouteOptions<'_> {
    /// Reachable without credentials.
    pub fn public(mut self) -> Self {
        if let Some(meta) = self.0.as_deref_mut() {
            meta.public = true;
        }
        self
    }

    /// Writes only from this server's origin, with or without a session cookie.
    pub fn same_origin(mut self) -> Self {
        if let Some(meta) = self.0.as_deref_mut() {
            meta.same_origin = true;
        }
        self
    }

    /// Reachable without credentials when `public` (a start-up setting) holds.
    pub fn public_if(self, public: bool) -> Self {
        if public {
            self.public()
        } else {
            self
        }
    }

    pub fn rate(mut self, rule: RateRule) -> Self {
        if let Some(meta) = self.0.as_deref_mut() {
            meta.rate = rule;
        }
        self
    }
}

impl Routes<'_> {
    /// The start-up settings the table is built with.
    pub fn settings(&self) -> RouteSettings {
        self.settings
    }

    pub fn route<F, Fut>(
        &mut self,
        method: Method,
        path: &'static str,
        handler: F,
    ) -> RouteOptions<'_>
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Body>, ApiError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |ctx: Ctx, head: ErrorHead| {
            let state = ctx.state.clone();
            let fut = handler(ctx);
            async move {
                match fut.await {
                    Ok(res) => res,
                    Err(error) => head.respond(error, &state),
                }
            }
            .boxed()
        });
        RouteOptions(self.builder.add(self.set, method, path, handler))
    }

    pub fn get<F, Fut>(&mut self, path: &'static str, handler: F) -> RouteOptions<'_>
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Body>, ApiError>> + Send + 'static,
    {
        self.route(Method::GET, path, handler)
    }

    pub fn post<F, Fut>(&mut self, path: &'static str, handler: F) -> RouteOptions<'_>
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Body>, ApiError>> + Send + 'static,
    {
        self.route(Method::POST, path, handler)
    }

    pub fn put<F, Fut>(&mut self, path: &'static str, handler: F) -> RouteOptions<'_>
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Body>, ApiError>> + Send + 'static,
    {
        self.route(Method::PUT, path, handler)
    }

    pub fn delete<F, Fut>(&mut self, path: &'static str, handler: F) -> RouteOptions<'_>
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Body>, ApiError>> + Send + 'static,
    {
        self.route(Method::DELETE, path, handler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply;

    async fn nothing(_: Ctx) -> Result<Response<Body>, ApiError> {
        reply::ok("x")
    }

    fn a(r: &mut Routes<'_>) {
        r.get("/items/{id}", nothing);
        r.post("/login", nothing).public().rate(RateRule::Auth);
    }

    #[test]
    fn methods_of_one_path_merge_across_sets() {
        fn b(r: &mut Routes<'_>) {
            r.delete("/items/{id}", nothing);
        }
        let table = Table::build(&[
            RouteSet {
                name: "a",
                register: a,
            },
            RouteSet {
                name: "b",
                register: b,
            },
        ])
        .unwrap();
        assert_eq!(table.routes().count(), 3);
        let entry = &table.entries[*table.paths.at("/items/7").unwrap().value];
        assert_eq!(entry.allow, "DELETE, GET, HEAD");
        assert!(entry.route(&Method::HEAD).is_some());
        assert_eq!(
            table.lookup(&Method::POST, "/login"),
            RouteMeta {
                public: true,
                rate: RateRule::Auth,
                same_origin: false,
                route: Some(MatchedRoute {
                    set: "a",
                    pattern: "/login",
                    entry: *table.paths.at("/login").unwrap().value,
                }),
            }
        );
        assert_eq!(table.lookup(&Method::GET, "/login"), RouteMeta::default());
        assert_eq!(table.lookup(&Method::GET, "/nowhere"), RouteMeta::default());
    }

    #[test]
    fn settings_decide_whether_a_route_is_public() {
        fn files(r: &mut Routes<'_>) {
            let public = r.settings().public_storage;
            r.get("/files/{*key}", nothing).public_if(public);
        }
        let set = [RouteSet {
            name: "files",
            register: files,
        }];
        let public = |settings| {
            Table::build_with(&set, settings)
                .unwrap()
                .lookup(&Method::GET, "/files/a/b")
                .public
        };
        assert!(!public(RouteSettings::default()));
        assert!(public(RouteSettings {
            public_storage: true
        }));
    }

    #[test]
    fn duplicates_and_conflicts_fail_the_build() {
        fn dup(r: &mut Routes<'_>) {
            r.get("/items/{id}", nothing);
        }
        let err = Table::build(&[
            RouteSet {
                name: "a",
                register: a,
            },
            RouteSet {
                name: "dup",
                register: dup,
            },
        ])
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "route GET /items/{id} of set 'dup' is registered twice (first by set 'a')"
        );
        fn conflict(r: &mut Routes<'_>) {
            r.get("/items/{name}", nothing);
        }
        let err = Table::build(&[
            RouteSet {
                name: "a",
                register: a,
            },
            RouteSet {
                name: "c",
                register: conflict,
            },
        ])
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .starts_with("route /items/{name} of set 'c' conflicts"),
            "{err}"
        );
    }
}
