//! Resource scope: the per-request handle through which handlers reach pooled blocking
//! resources. Each [`Scope::run`] borrows a connection for one blocking call and gives it back
//! when the call returns, so no request holds one while it waits on its client (a stalled
//! upload, a slow reader of the response) or on anything else. Requests that never ask take
//! nothing.

use std::any::Any;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{Layer, Service};

use crate::blocking::{Lost, Threads};
use crate::body::{Body, BoxError};
use crate::context::RequestContext;

/// A pool of blocking resources (the SQLite pool implements this in the route crate).
pub trait Pool: Send + Sync + 'static {
    type Conn: Send + 'static;
    /// Takes a resource, blocking until one is free or the pool's timeout passes. Only ever
    /// called on a blocking thread.
    fn get(&self) -> Result<Self::Conn, BoxError>;
}

#[derive(Debug)]
pub enum ScopeError {
    /// The pool had nothing to give.
    Acquire(BoxError),
    /// The blocking task panicked or was cancelled.
    Task(tokio::task::JoinError),
    /// The call panicked on the scope's threads.
    Lost,
}

impl std::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScopeError::Acquire(e) => write!(f, "could not take a pooled connection: {e}"),
            ScopeError::Task(e) => write!(f, "blocking task failed: {e}"),
            ScopeError::Lost => f.write_str("blocking call panicked"),
        }
    }
}

impl std::error::Error for ScopeError {}

/// The request's handle; cheap to clone, found in the [`RequestContext`] (see [`ScopeHandle`]).
pub struct Scope<P: Pool> {
    pool: Arc<P>,
    /// The stack's threads for blocking calls; `None` outside the stack (`spawn_blocking`).
    threads: Option<Arc<Threads>>,
}

impl<P: Pool> Clone for Scope<P> {
    fn clone(&self) -> Self {
        Scope {
            pool: self.pool.clone(),
            threads: self.threads.clone(),
        }
    }
}

impl<P: Pool> Scope<P> {
    /// A scope of its own, for code outside the stack: each call is a `spawn_blocking`.
    pub fn new(pool: Arc<P>) -> Self {
        Scope {
            pool,
            threads: None,
        }
    }

    /// Runs `f` off the async worker with a connection taken for this call alone and returned
    /// as soon as `f` does. One unit of work (a transaction, say) belongs in one call.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ScopeError>
    where
        F: FnOnce(&mut P::Conn) -> T + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let work = move || {
            let mut conn = pool.get().map_err(ScopeError::Acquire)?;
            Ok(f(&mut conn))
        };
        match &self.threads {
            Some(threads) => threads.run(work).await.map_err(|Lost| ScopeError::Lost)?,
            None => tokio::task::spawn_blocking(work)
                .await
                .map_err(ScopeError::Task)?,
        }
    }
}

/// A [`Scope`] with its pool type erased, so the middleware's [`RequestContext`] can hold it:
/// one shared value handed to every request, a reference count rather than an allocation.
#[derive(Clone)]
pub struct ScopeHandle(Arc<dyn Any + Send + Sync>);

impl ScopeHandle {
    /// The scope, when its pool is a `P`.
    pub fn get<P: Pool>(&self) -> Option<&Scope<P>> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for ScopeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScopeHandle")
    }
}

/// How many threads run the stack's blocking calls: as many as the SQLite pool has
/// connections, so no call waits for a thread while a connection is free, nor for a
/// connection once it has a thread.
pub const THREADS: usize = 8;

/// Hands every request the one shared scope.
#[derive(Clone)]
pub struct ScopeLayer {
    scope: ScopeHandle,
}

impl ScopeLayer {
    /// Starts the [`THREADS`] threads the stack's blocking calls run on; they stop once the
    /// layer and every scope it handed out are dropped. Should the system refuse the threads,
    /// calls fall back to `spawn_blocking`.
    pub fn new<P: Pool>(pool: Arc<P>) -> Self {
        let threads = Threads::start("db", THREADS)
            .inspect_err(|e| tracing::warn!(error = %e, "no threads for blocking calls"))
            .ok()
            .map(Arc::new);
        ScopeLayer {
            scope: ScopeHandle(Arc::new(Scope { pool, threads })),
        }
    }
}

impl<S> Layer<S> for ScopeLayer {
    type Service = ScopeService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ScopeService {
            inner,
            scope: self.scope.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ScopeService<S> {
    inner: S,
    scope: ScopeHandle,
}

impl<S> Service<Request<Body>> for ScopeService<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        RequestContext::of_mut(req.extensions_mut()).scope = Some(self.scope.clone());
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;
    use bytes::Bytes;
    use futures_util::StreamExt;
    use http_body::Frame;
    use http_body_util::{BodyExt, StreamBody};
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::{service_fn, ServiceExt};

    /// Counts connections handed out and returned.
    #[derive(Default)]
    struct Counting {
        taken: AtomicUsize,
        returned: Arc<AtomicUsize>,
    }

    impl Counting {
        fn out(&self) -> usize {
            self.taken.load(Ordering::SeqCst) - self.returned.load(Ordering::SeqCst)
        }
    }

    struct Conn(Arc<AtomicUsize>);
    impl Drop for Conn {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Pool for Counting {
        type Conn = Conn;
        fn get(&self) -> Result<Conn, BoxError> {
            self.taken.fetch_add(1, Ordering::SeqCst);
            Ok(Conn(self.returned.clone()))
        }
    }

    fn request() -> Request<Body> {
        Request::get("/").body(body::empty()).unwrap()
    }

    fn scope_of(req: &Request<Body>) -> Scope<Counting> {
        RequestContext::scope_of::<Counting>(req.extensions())
            .unwrap()
            .clone()
    }

    #[tokio::test]
    async fn untouched_requests_take_nothing() {
        let pool = Arc::new(Counting::default());
        let svc = ScopeLayer::new(pool.clone()).layer(service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(body::full("hi")))
        }));
        let res = svc.oneshot(request()).await.unwrap();
        res.into_body().collect().await.unwrap();
        assert_eq!(pool.taken.load(Ordering::SeqCst), 0);
    }

    /// The handler waits on something (its client, say) between two calls: nothing is held
    /// while it waits.
    #[tokio::test]
    async fn each_call_returns_its_connection_before_the_handler_waits_again() {
        let pool = Arc::new(Counting::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(Some(rx)));
        let svc = ScopeLayer::new(pool.clone()).layer(service_fn(move |req: Request<Body>| {
            let rx = rx.lock().unwrap().take().unwrap();
            async move {
                let scope = scope_of(&req);
                scope.run(|_c| ()).await.unwrap();
                let _ = rx.await;
                scope.run(|_c| ()).await.unwrap();
                Ok::<_, Infallible>(Response::new(body::empty()))
            }
        }));
        let call = tokio::spawn(svc.oneshot(request()));
        while pool.taken.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(pool.out(), 0, "nothing held while the handler waits");
        tx.send(()).unwrap();
        call.await.unwrap().unwrap();
        assert_eq!(pool.taken.load(Ordering::SeqCst), 2);
        assert_eq!(pool.out(), 0);
    }

    /// In the stack, calls run on the scope's own threads, never the caller's.
    #[tokio::test]
    async fn in_the_stack_calls_run_on_the_scope_threads() {
        let pool = Arc::new(Counting::default());
        let svc =
            ScopeLayer::new(pool.clone()).layer(service_fn(|req: Request<Body>| async move {
                let ran_on = scope_of(&req)
                    .run(|_c| std::thread::current().name().map(str::to_owned))
                    .await
                    .unwrap();
                Ok::<_, Infallible>(Response::new(body::full(ran_on.unwrap_or_default())))
            }));
        let res = svc.oneshot(request()).await.unwrap();
        let name = res.into_body().collect().await.unwrap().to_bytes();
        assert!(name.starts_with(b"db-"), "{name:?}");
        assert_eq!(pool.out(), 0);
    }

    #[tokio::test]
    async fn a_streaming_body_borrows_per_call_and_holds_nothing_between_frames() {
        let pool = Arc::new(Counting::default());
        let svc =
            ScopeLayer::new(pool.clone()).layer(service_fn(|req: Request<Body>| async move {
                let scope = scope_of(&req);
                let stream = futures_util::stream::iter(0..2).then(move |i| {
                    let scope = scope.clone();
                    async move {
                        scope.run(|_c| ()).await.unwrap();
                        Ok::<_, BoxError>(Frame::data(Bytes::from(format!("{i}"))))
                    }
                });
                Ok::<_, Infallible>(Response::new(body::boxed(StreamBody::new(stream))))
            }));
        let res = svc.oneshot(request()).await.unwrap();
        let mut body = res.into_body();
        body.frame().await.unwrap().unwrap();
        assert_eq!(pool.out(), 0, "nothing held between frames");
        body.frame().await.unwrap().unwrap();
        assert!(body.frame().await.is_none());
        assert_eq!(pool.taken.load(Ordering::SeqCst), 2);
        assert_eq!(pool.out(), 0);
    }
}
