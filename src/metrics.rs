//! `/metrics` in Prometheus text format on its own listener (`METRICS_LISTEN`), so scrapes
//! never pass through the public stack, its auth or its rate limits. The per-request series are
//! atomics kept by `platform_middleware::metrics` and rendered here; rare events go through the
//! `metrics` facade; gauges that describe state (database pool, draining) are sampled here when
//! a scrape comes in.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use platform_middleware::metrics as names;
use platform_routes::state::Draining;
use platform_routes::store::Db;
use tokio::net::TcpListener;

/// How often a busy metrics address is tried again (the process being replaced may hold it).
const REBIND_EVERY: Duration = Duration::from_secs(1);
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What is sampled at scrape time.
#[derive(Clone)]
pub struct Sources {
    pub db: Arc<Db>,
    pub draining: Draining,
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// Serialises first installs (servers started concurrently in one process).
static INSTALLING: Mutex<()> = Mutex::new(());

/// Installs the global recorder once per process and returns its handle.
pub fn install() -> Result<PrometheusHandle, String> {
    let _installing = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    // No histogram goes through the facade (request latency is recorded into fixed buckets by
    // the middleware), so the recorder needs no upkeep task on the serving threads.
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
    platform_middleware::metrics::enable();
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(
        names::RATE_LIMITED,
        "Requests refused with 429, by route class."
    );
    describe_counter!(names::AUTH_REFUSED, "Requests refused with 401, by reason.");
    describe_gauge!(
        "db_pool_connections",
        "Database connections open, by state."
    );
    describe_gauge!("draining", "1 while the server drains before exit.");
}

/// Binds `addr` and serves `/metrics` there. When the address is busy (during a restart the
/// old process still holds it) the server starts anyway and keeps trying in the background;
/// then `Ok(None)` is returned.
pub async fn start(
    addr: SocketAddr,
    sources: Sources,
) -> Result<Option<SocketAddr>, std::io::Error> {
    let handle = install().map_err(std::io::Error::other)?;
    match TcpListener::bind(addr).await {
        Ok(listener) => {
            let bound = listener.local_addr()?;
            tokio::spawn(serve(listener, handle, sources));
            Ok(Some(bound))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            tracing::warn!(%addr, "metrics address in use; retrying in the background");
            tokio::spawn(rebind(addr, handle, sources));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn rebind(addr: SocketAddr, handle: PrometheusHandle, sources: Sources) {
    loop {
        tokio::time::sleep(REBIND_EVERY).await;
        if let Ok(listener) = TcpListener::bind(addr).await {
            tracing::info!(%addr, "metrics listening");
            return serve(listener, handle, sources).await;
        }
    }
}

async fn serve(listener: TcpListener, handle: PrometheusHandle, sources: Sources) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (handle, sources) = (handle.clone(), sources.clone());
        let service = service_fn(move |req| {
            let res = answer(&req, &handle, &sources);
            async move { Ok::<_, Infallible>(res) }
        });
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}

fn answer(
    req: &Request<Incoming>,
    handle: &PrometheusHandle,
    sources: &Sources,
) -> Response<Full<Bytes>> {
    let (status, body) = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics") => (StatusCode::OK, render(handle, sources)),
        _ => (StatusCode::NOT_FOUND, "not found: try /metrics\n".into()),
    };
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(CONTENT_TYPE),
    );
    res
}

/// Samples the state gauges, then renders everything.
fn render(handle: &PrometheusHandle, sources: &Sources) -> String {
    let (open, idle) = sources.db.usage();
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(f64::from(open.saturating_sub(idle)));
    let draining = if sources.draining.is_draining() {
        1.0
    } else {
        0.0
    };
    metrics::gauge!("draining").set(draining);
    let mut text = handle.render();
    text.push('\n');
    names::render(&mut text);
    text
}
