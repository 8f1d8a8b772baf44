//! Fake upstreams on loopback for the `/v1` and `/admin/models` tests: a tiny hyper server
//! driven by a handler, plus an Ollama, an OpenAI-compatible server and a Hugging Face hub
//! built on it. Streamed bodies can pause, hang or break off, and report when they are dropped
//! (the proxy closed the connection).
#![allow(dead_code)] // each test crate uses a different part of this module

pub mod hub;
pub mod ollama;
pub mod openai;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::Value;

pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;
pub type Resp = Response<Body>;

/// A request as the fake saw it, body read whole.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Which TCP connection of this server carried it (numbered from 0 in accept order).
    pub conn: usize,
}

impl Req {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// Every request a fake received, in order.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Req>>>);

impl Log {
    pub fn push(&self, req: &Req) {
        self.0.lock().unwrap().push(req.clone());
    }

    pub fn all(&self) -> Vec<Req> {
        self.0.lock().unwrap().clone()
    }

    pub fn to(&self, path: &str) -> Vec<Req> {
        self.all().into_iter().filter(|r| r.path == path).collect()
    }

    /// How many TCP connections carried the requests so far.
    pub fn connections(&self) -> usize {
        let mut conns: Vec<usize> = self.all().iter().map(|r| r.conn).collect();
        conns.sort_unstable();
        conns.dedup();
        conns.len()
    }
}

/// Serves `handler` on 127.0.0.1 (HTTP/1.1) until the test's runtime ends.
pub async fn serve<H, F>(handler: H) -> SocketAddr
where
    H: Fn(Req) -> F + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        let mut accepted = 0;
        while let Ok((stream, _)) = listener.accept().await {
            let conn = accepted;
            accepted += 1;
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let req = Req {
                            method: parts.method,
                            path: parts.uri.path().to_owned(),
                            headers: parts.headers,
                            body,
                            conn,
                        };
                        Ok::<_, Infallible>(handler(req).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A chat upstream (the Ollama and OpenAI fakes): where it listens, what it received, and
/// whether a streamed answer was cut by the client.
pub struct Upstream {
    pub addr: SocketAddr,
    pub log: Log,
    pub dropped: Dropped,
}

impl Upstream {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `OPENAI_API_BASE` to configure (the OpenAI fake serves under `/v1`).
    pub fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

/// Serves `handler` like [`serve`], logging every request and handing it the dropped flag.
pub async fn upstream<H, F>(handler: H) -> Upstream
where
    H: Fn(Req, Dropped) -> F + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    let log = Log::default();
    let dropped = Dropped::default();
    let (l, d) = (log.clone(), dropped.clone());
    let addr = serve(move |req: Req| {
        l.push(&req);
        handler(req, d.clone())
    })
    .await;
    Upstream { addr, log, dropped }
}

pub fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", content_type)
        .body(
            Full::new(body.into())
                .map_err(|e| match e {})
                .boxed_unsync(),
        )
        .unwrap()
}

pub fn json(status: u16, value: &Value) -> Resp {
    full(status, "application/json", value.to_string())
}

/// A response whose body streams `frames`.
pub fn streamed<S>(status: u16, content_type: &str, frames: S) -> Resp
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", content_type)
        .body(BodyExt::boxed_unsync(StreamBody::new(
            frames.map(|r| r.map(Frame::data)),
        )))
        .unwrap()
}

/// What a paced stream does after its items.
#[derive(Clone)]
pub enum Then {
    End,
    /// Stays open and silent.
    Hang,
    /// Repeats this item forever, one per gap.
    Repeat(String),
}

/// Set when a streamed body is dropped before its end: the client went away.
#[derive(Clone, Default)]
pub struct Dropped(Arc<AtomicBool>);

impl Dropped {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Waits up to `limit` for the flag.
    pub async fn wait(&self, limit: Duration) -> bool {
        let end = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < end {
            if self.is_set() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.is_set()
    }
}

/// Sets its flag when dropped; a stream that ends forgets it instead.
struct Guard(Dropped);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0 .0.store(true, Ordering::SeqCst);
    }
}

/// `items` one per `gap` (the first at once), then `then`; `dropped` is set if the body is
/// dropped before it ends.
pub fn paced(
    items: Vec<String>,
    gap: Duration,
    then: Then,
    dropped: Dropped,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let guard = Guard(dropped);
    stream::unfold(
        (items.into_iter(), then, guard, true),
        move |(mut items, then, guard, first)| async move {
            if !first {
                tokio::time::sleep(gap).await;
            }
            let next = items.next().or_else(|| match &then {
                Then::Repeat(item) => Some(item.clone()),
                Then::Hang | Then::End => None,
            });
            match next {
                Some(item) => Some((Ok(Bytes::from(item)), (items, then, guard, false))),
                None => {
                    if matches!(then, Then::Hang) {
                        std::future::pending::<()>().await;
                    }
                    std::mem::forget(guard);
                    None
                }
            }
        },
    )
}
