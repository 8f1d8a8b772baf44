//! Resource scope: a per-request handle that takes a pooled connection on first use and gives
//! it back when the response body has been sent (or dropped), so a streaming response keeps
//! its connection exactly as long as it streams. Requests that never ask take nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::body::{self, Body, BoxError};

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
}

impl std::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScopeError::Acquire(e) => write!(f, "could not take a pooled connection: {e}"),
            ScopeError::Task(e) => write!(f, "blocking task failed: {e}"),
        }
    }
}

impl std::error::Error for ScopeError {}

/// The request's handle; cheap to clone, found in request extensions.
pub struct Scope<P: Pool> {
    inner: Arc<Inner<P>>,
}

struct Inner<P: Pool> {
    pool: Arc<P>,
    conn: Mutex<Option<P::Conn>>,
}

impl<P: Pool> Clone for Scope<P> {
    fn clone(&self) -> Self {
        Scope {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Pool> Scope<P> {
    pub fn new(pool: Arc<P>) -> Self {
        Scope {
            inner: Arc::new(Inner {
                pool,
                conn: Mutex::new(None),
            }),
        }
    }

    /// Runs `f` with the request's connection on a blocking thread, taking one from the pool
    /// first if this request has none yet.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ScopeError>
    where
        F: FnOnce(&mut P::Conn) -> T + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut slot = inner
                .conn
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let conn = match &mut *slot {
                Some(conn) => conn,
                empty => empty.insert(inner.pool.get().map_err(ScopeError::Acquire)?),
            };
            Ok(f(conn))
        })
        .await
        .map_err(ScopeError::Task)?
    }

    /// Whether this request has taken a connection.
    pub fn is_holding(&self) -> bool {
        self.inner.conn.lock().map(|c| c.is_some()).unwrap_or(true)
    }

    /// Whether another handle to this scope exists.
    fn is_shared(&self) -> bool {
        Arc::strong_count(&self.inner) > 1
    }
}

pub struct ScopeLayer<P> {
    pool: Arc<P>,
}

impl<P> ScopeLayer<P> {
    pub fn new(pool: Arc<P>) -> Self {
        ScopeLayer { pool }
    }
}

impl<P> Clone for ScopeLayer<P> {
    fn clone(&self) -> Self {
        ScopeLayer {
            pool: self.pool.clone(),
        }
    }
}

impl<S, P> Layer<S> for ScopeLayer<P> {
    type Service = ScopeService<S, P>;
    fn layer(&self, inner: S) -> Self::Service {
        ScopeService {
            inner,
            pool: self.pool.clone(),
        }
    }
}

pub struct ScopeService<S, P> {
    inner: S,
    pool: Arc<P>,
}

impl<S: Clone, P> Clone for ScopeService<S, P> {
    fn clone(&self) -> Self {
        ScopeService {
            inner: self.inner.clone(),
            pool: self.pool.clone(),
        }
    }
}

impl<S, P> Service<Request<Body>> for ScopeService<S, P>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    P: Pool,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ScopeFuture<S::Future, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let scope = Scope::new(self.pool.clone());
        req.extensions_mut().insert(scope.clone());
        ScopeFuture {
            inner: self.inner.call(req),
            scope: Some(scope),
        }
    }
}

pin_project! {
    /// The inner future; hands the scope to the response body when the body may still need it.
    pub struct ScopeFuture<F, P: Pool> {
        #[pin]
        inner: F,
        scope: Option<Scope<P>>,
    }
}

impl<F, E, P: Pool> Future for ScopeFuture<F, P>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx))?;
        let res = match this.scope.take() {
            // A held connection is returned when the body ends; a handle still shared (moved into
            // a streaming body) may take one later. Otherwise nothing is left to keep.
            Some(scope) if scope.is_holding() || scope.is_shared() => res.map(|inner| {
                body::boxed(ScopedBody {
                    inner,
                    scope: Some(scope),
                })
            }),
            _ => res,
        };
        Poll::Ready(Ok(res))
    }
}

pin_project! {
    /// A response body that keeps the request's scope until its last frame.
    struct ScopedBody<P: Pool> {
        #[pin]
        inner: Body,
        scope: Option<Scope<P>>,
    }
}

impl<P: Pool> http_body::Body for ScopedBody<P> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.scope.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[tokio::test]
    async fn a_handle_kept_by_the_body_can_still_take_a_connection() {
        let pool = Arc::new(Counting::default());
        let svc =
            ScopeLayer::new(pool.clone()).layer(service_fn(|req: Request<Body>| async move {
                let scope = req.extensions().get::<Scope<Counting>>().unwrap().clone();
                let stream = futures_util::stream::once(async move {
                    scope.run(|_c| ()).await.unwrap();
                    Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"late")))
                });
                Ok::<_, Infallible>(Response::new(body::boxed(StreamBody::new(stream))))
            }));
        let res = svc.oneshot(request()).await.unwrap();
        assert_eq!(pool.taken.load(Ordering::SeqCst), 0, "nothing taken yet");
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"late");
        assert_eq!(pool.taken.load(Ordering::SeqCst), 1);
        assert_eq!(
            pool.returned.load(Ordering::SeqCst),
            1,
            "returned at the end"
        );
    }

    #[tokio::test]
    async fn one_connection_per_request_held_until_the_stream_ends() {
        let pool = Arc::new(Counting::default());
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
        let rx = Arc::new(Mutex::new(Some(rx)));
        let svc = ScopeLayer::new(pool.clone()).layer(service_fn(move |req: Request<Body>| {
            let rx = rx.lock().unwrap().take().unwrap();
            async move {
                let scope = req.extensions().get::<Scope<Counting>>().unwrap().clone();
                scope.run(|_c| ()).await.unwrap();
                scope.run(|_c| ()).await.unwrap();
                assert!(scope.is_holding());
                let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|f| (f, rx))
                });
                Ok::<_, Infallible>(Response::new(body::boxed(StreamBody::new(stream))))
            }
        }));
        let res = svc.oneshot(request()).await.unwrap();
        assert_eq!(
            pool.taken.load(Ordering::SeqCst),
            1,
            "two uses, one connection"
        );
        let mut body = res.into_body();
        tx.send(Ok(Frame::data(Bytes::from_static(b"a"))))
            .await
            .unwrap();
        body.frame().await.unwrap().unwrap();
        assert_eq!(pool.returned.load(Ordering::SeqCst), 0, "still streaming");
        drop(tx);
        assert!(body.frame().await.is_none());
        assert_eq!(
            pool.returned.load(Ordering::SeqCst),
            1,
            "returned at the end of the body"
        );
    }
}
