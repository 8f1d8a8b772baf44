//! The accept loop and graceful drain (after axum's `serve`): every listener feeds one loop,
//! each connection is served by hyper-util's auto builder (HTTP/1.1 and h2c, or both over TLS
//! when `TLS_CERT` is set) and watched so a drain can let in-flight requests finish.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::{header, HeaderValue, Request, Response, Version};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use pin_project_lite::pin_project;
use platform_middleware::body::Body;
use platform_middleware::context::RequestContext;
use platform_middleware::incoming::BodyLimits;
use tokio::net::TcpStream;
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

use crate::first_bytes::{FirstBytes, Opened};
use crate::listeners::Listener;
use crate::tls::Tls;

/// What [`serve`] needs of the stack. `stack::build` returns its concrete type, so a request
/// costs a clone of a few `Arc`s and its future is one value, not a box per layer.
pub trait Stack:
    Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future: Send + Unpin + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> Stack for S where
    S: Service<
            Request<Body>,
            Response = Response<Body>,
            Error = Infallible,
            Future: Send + Unpin + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// Connection-level settings.
#[derive(Clone)]
pub struct ServeOptions {
    /// How long a client may take to send request headers (also the idle keep-alive limit, and
    /// the limit on a new connection's silence).
    pub header_read_timeout: Duration,
    /// How long a request body may keep the server waiting.
    pub body: BodyLimits,
    /// How long a drain waits for in-flight requests before closing what is left.
    pub drain_timeout: Duration,
    /// Terminate TLS on every listener (`TLS_CERT`); `None` serves plain HTTP.
    pub tls: Option<Arc<Tls>>,
}

/// How long a drain lets busy keep-alive connections learn they should close (see [`drain`]).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The longest a client may take to finish the TLS handshake (less if `header_read_timeout`
/// is shorter).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a drain ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// Every connection finished.
    Clean,
    /// `drain_timeout` passed with this many connections still open; they were dropped.
    TimedOut(usize),
}

/// Serves `listeners` until `shutdown` resolves, then stops accepting (dropping the listeners,
/// so new connections are refused unless systemd holds the socket) and drains.
pub async fn serve(
    listeners: Vec<Listener>,
    stack: impl Stack,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Drained {
    let builder = Arc::new(builder(&options));
    let graceful = GracefulShutdown::new();
    let closing = Arc::new(AtomicBool::new(false));
    tokio::pin!(shutdown);
    let mut next = 0;
    let mut silent = Silent::default();
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = accept_any(&listeners, &mut next) => match accepted {
                Ok(conn) => conn,
                Err(e) if is_out_of_files(&e) && silent.shed() > 0 => continue,
                Err(e) => {
                    if backoff(e, &mut shutdown).await.is_break() {
                        break;
                    }
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let opened = Opened::default();
        // Watched from accept on, so a drain also waits for connections mid-handshake.
        let conn = Conn {
            builder: builder.clone(),
            stack: stack.clone(),
            peer,
            watcher: graceful.watcher(),
            closing: closing.clone(),
            header_read_timeout: options.header_read_timeout,
            body: options.body,
            opened: opened.clone(),
        };
        // The handshake runs in the connection's task: a slow client never blocks accepting.
        let task = tokio::spawn(conn.run(stream, options.tls.as_ref().map(|t| t.acceptor())));
        silent.push(task.abort_handle(), opened);
    }
    drop(listeners);
    drain(graceful, &closing, options.drain_timeout).await
}

/// Drains in two steps. First, for a grace period, connections stay open and every HTTP/1
/// response says `Connection: close`: a busy keep-alive client learns from its next response
/// that the connection ends, instead of racing a close with a request already on the wire
/// (the race that turns a restart under load into failed requests). Then the rest are told
/// to shut down (idle ones close at once) and waited for until `drain_timeout`.
async fn drain(graceful: GracefulShutdown, closing: &AtomicBool, limit: Duration) -> Drained {
    closing.store(true, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + limit;
    tracing::info!(connections = graceful.count(), "draining");
    let grace_end = tokio::time::Instant::now() + CLOSE_GRACE.min(limit);
    while graceful.count() > 0 && tokio::time::Instant::now() < grace_end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let open = graceful.count();
    match tokio::time::timeout_at(deadline, graceful.shutdown()).await {
        Ok(()) => Drained::Clean,
        Err(_) => Drained::TimedOut(open),
    }
}

/// One accepted connection and what serving it needs.
struct Conn<S> {
    builder: Arc<auto::Builder<TokioExecutor>>,
    stack: S,
    peer: SocketAddr,
    watcher: Watcher,
    /// Set once the server drains.
    closing: Arc<AtomicBool>,
    header_read_timeout: Duration,
    body: BodyLimits,
    opened: Opened,
}

impl<S: Stack> Conn<S> {
    async fn run(self, stream: TcpStream, tls: Option<Arc<TlsAcceptor>>) {
        let Some(acceptor) = tls else {
            return self.serve(stream, false).await;
        };
        let limit = HANDSHAKE_TIMEOUT.min(self.header_read_timeout);
        match tokio::time::timeout(limit, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.serve(stream, true).await,
            Ok(Err(e)) => tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
        }
    }

    async fn serve<I>(self, io: I, tls: bool)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let service = ConnService {
            stack: self.stack,
            peer: self.peer,
            tls,
            closing: self.closing,
            body: self.body,
        };
        let io = FirstBytes::new(io, self.header_read_timeout, self.opened);
        let conn = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service);
        if let Err(e) = self.watcher.watch(conn).await {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
        }
    }
}

fn builder(options: &ServeOptions) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// The stack behind one connection, as hyper's `Service`: records the TCP peer (and direct TLS)
/// and while draining asks HTTP/1 clients to close the connection after the response. Unlike
/// hyper-util's `TowerToHyperService`, whose future only starts the stack when hyper first
/// polls it, `call` runs the stack at once (see [`Eager`]).
struct ConnService<S> {
    stack: S,
    peer: SocketAddr,
    tls: bool,
    closing: Arc<AtomicBool>,
    body: BodyLimits,
}

impl<S: Stack> hyper::service::Service<Request<Incoming>> for ConnService<S> {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Eager<CloseWhenDraining<Started<S>>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let limits = self.body;
        let mut req = req.map(|b| Body::incoming(b, limits));
        req.extensions_mut().insert(RequestContext {
            peer: Some(self.peer),
            direct_tls: self.tls,
            ..RequestContext::default()
        });
        // HTTP/2 has GOAWAY for this and forbids the header.
        let h1 = req.version() < Version::HTTP_2;
        Eager::start(CloseWhenDraining {
            inner: Started::new(self.stack.clone(), req),
            closing: h1.then(|| self.closing.clone()),
        })
    }
}

/// The stack called with the request, or, should it not be ready, a boxed `Oneshot` that
/// waits until it is. Every layer is ready at once today; calling directly spares moving the
/// stack and the request through `Oneshot`'s states.
pub enum Started<S: Stack> {
    Called(S::Future),
    Waiting(Pin<Box<Oneshot<S, Request<Body>>>>),
}

impl<S: Stack> Started<S> {
    fn new(mut stack: S, req: Request<Body>) -> Self {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match stack.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => Started::Called(stack.call(req)),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Started::Waiting(Box::pin(stack.oneshot(req))),
        }
    }
}

impl<S: Stack> Future for Started<S> {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Started::Called(fut) => Pin::new(fut).poll(cx),
            Started::Waiting(fut) => fut.as_mut().poll(cx),
        }
    }
}

/// A response future polled once as soon as it is made. Most requests complete on that first
/// poll, so they (and the request head, which borrows hyper's read buffer) are gone before
/// hyper reads from the connection again: hyper then reuses its buffer in place instead of
/// allocating a new one for every request. A future that is not done is boxed (hyper moves
/// this value a few times; the usual answer is a response, much smaller than the stack's
/// future) and polled again by hyper with its real waker, as every future must allow.
pub enum Eager<F: Future> {
    Done(Option<F::Output>),
    Waiting(Box<F>),
}

impl<F: Future + Unpin> Eager<F> {
    fn start(mut fut: F) -> Self {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(&mut fut).poll(&mut cx) {
            Poll::Ready(out) => Eager::Done(Some(out)),
            Poll::Pending => Eager::Waiting(Box::new(fut)),
        }
    }
}

impl<F> Future for Eager<F>
where
    F: Future + Unpin,
    F::Output: Unpin,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.get_mut() {
            Eager::Waiting(fut) => Pin::new(&mut **fut).poll(cx),
            Eager::Done(out) => match out.take() {
                Some(out) => Poll::Ready(out),
                None => Poll::Pending,
            },
        }
    }
}

pin_project! {
    /// The stack's response, with `Connection: close` added when it completes during a drain.
    struct CloseWhenDraining<F> {
        #[pin]
        inner: F,
        closing: Option<Arc<AtomicBool>>,
    }
}

impl<F> Future for CloseWhenDraining<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if this
            .closing
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            res.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(res))
    }
}

/// The next connection from any listener, taking them in turn so none starves.
async fn accept_any(
    listeners: &[Listener],
    next: &mut usize,
) -> io::Result<(TcpStream, SocketAddr)> {
    poll_fn(|cx| {
        let n = listeners.len();
        for i in 0..n {
            let idx = (*next + i) % n;
            if let Poll::Ready(result) = listeners[idx].inner.poll_accept(cx) {
                *next = (idx + 1) % n;
                return Poll::Ready(result);
            }
        }
        Poll::Pending
    })
    .await
}

/// Connections that have not yet sent a request, oldest first. When accept runs out of file
/// descriptors these are closed to make room: a flood of silent connections then cannot keep
/// real clients out until its members time out.
#[derive(Default)]
struct Silent(VecDeque<(AbortHandle, Opened)>);

impl Silent {
    fn push(&mut self, task: AbortHandle, opened: Opened) {
        self.0.push_back((task, opened));
        // Forget, from the front, connections that spoke or ended: the queue stays about as
        // long as the connections accepted within one header timeout.
        while let Some((task, opened)) = self.0.front() {
            if !(task.is_finished() || opened.get()) {
                break;
            }
            self.0.pop_front();
        }
    }

    /// Closes every connection still silent; how many it closed.
    fn shed(&mut self) -> usize {
        let mut closed = 0;
        for (task, opened) in self.0.drain(..) {
            if !opened.get() && !task.is_finished() {
                task.abort();
                closed += 1;
            }
        }
        if closed > 0 {
            tracing::warn!(
                closed,
                "out of file descriptors: closed connections that sent no request"
            );
        }
        closed
    }
}

fn is_out_of_files(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Errors that concern one connection are skipped; others (out of file descriptors) are
/// logged and retried after a pause so the loop never spins. Breaks if shutdown comes first.
async fn backoff(
    e: io::Error,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> std::ops::ControlFlow<()> {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return std::ops::ControlFlow::Continue(());
    }
    tracing::error!(error = %e, "accept failed; retrying in 1s");
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(1)) => std::ops::ControlFlow::Continue(()),
        () = shutdown.as_mut() => std::ops::ControlFlow::Break(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use platform_middleware::body;

    #[tokio::test]
    async fn a_future_pending_at_start_completes_when_woken_later() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let eager = Eager::start(rx);
        assert!(matches!(eager, Eager::Waiting(_)));
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            let _ = tx.send(7);
        });
        let got = tokio::time::timeout(Duration::from_secs(5), eager).await;
        assert_eq!(got.expect("woken").expect("sent"), 7);
    }

    /// Pending on its first `poll_ready` (waking at once), ready afterwards.
    #[derive(Clone, Default)]
    struct ReadyOnSecondPoll(Arc<AtomicBool>);

    impl Service<Request<Body>> for ReadyOnSecondPoll {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self.0.swap(true, Ordering::SeqCst) {
                return Poll::Ready(Ok(()));
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }

        fn call(&mut self, _: Request<Body>) -> Self::Future {
            std::future::ready(Ok(Response::new(body::full("late"))))
        }
    }

    #[tokio::test]
    async fn a_stack_not_ready_at_once_is_waited_for() {
        let req = Request::new(body::empty());
        let started = Started::new(ReadyOnSecondPoll::default(), req);
        assert!(matches!(started, Started::Waiting(_)));
        let res = tokio::time::timeout(Duration::from_secs(5), started).await;
        let Ok(Ok(res)) = res else {
            panic!("the stack's answer never came");
        };
        let bytes = http_body_util::BodyExt::collect(res.into_body()).await;
        assert_eq!(&bytes.unwrap().to_bytes()[..], b"late");
    }
}
