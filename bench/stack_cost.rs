//! What the stack costs per request without the network: builds the real stack in the default
//! configuration `bench/run.sh` measures (static token, rate limiter on with quotas it never
//! hits, metrics recorder installed, fresh data dir), drives `/health`, `/api/me` and
//! `/api/tokens` (20 rows) through it in-process the way hyper does (clone, ready, call, read
//! the body) and prints ns and allocations per request.
//!   cargo run --release --example stack_cost
//!   AUDIT=1 cargo run --release --example stack_cost   also prints where one request allocates

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use http::{header, Request};
use http_body_util::BodyExt;
use platform_middleware::body::{self, Body};
use platform_middleware::context::RequestContext;
use platform_server::config::{Config, Overrides};
use platform_server::serve::Stack;
use tower::ServiceExt;

const TOKEN: &str = "bench-token-0123456789abcdefghijklmnop";
const ROUNDS: usize = 100_000;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static AUDITING: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        if AUDITING.with(|a| a.replace(false)) {
            eprintln!(
                "--- alloc of {} bytes at\n{}",
                layout.size(),
                std::backtrace::Backtrace::force_capture()
            );
            AUDITING.with(|a| a.set(true));
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn request(path: &str) -> Request<Body> {
    let mut req = Request::get(path)
        .header(header::HOST, "127.0.0.1:7801")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(body::empty())
        .unwrap_or_default();
    let peer: SocketAddr = ([127, 0, 0, 1], 40000).into();
    RequestContext::of_mut(req.extensions_mut()).peer = Some(peer);
    req
}

async fn one(stack: &impl Stack, req: Request<Body>) -> usize {
    let before = ALLOCS.load(Ordering::Relaxed);
    let Ok(res) = stack.clone().oneshot(req).await;
    assert!(res.status().is_success(), "status {}", res.status());
    let bytes = res.into_body().collect().await.map(|b| b.to_bytes().len());
    assert!(bytes.is_ok());
    ALLOCS.load(Ordering::Relaxed) - before
}

async fn measure(stack: &impl Stack, path: &str) {
    for _ in 0..1000 {
        one(stack, request(path)).await;
    }
    if std::env::var_os("AUDIT").is_some() {
        let req = request(path);
        AUDITING.with(|a| a.set(true));
        one(stack, req).await;
        AUDITING.with(|a| a.set(false));
    }
    let (mut allocs, started) = (0, Instant::now());
    for _ in 0..ROUNDS {
        allocs += one(stack, request(path)).await;
    }
    let total = started.elapsed();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        drop(std::hint::black_box(request(path)));
    }
    let building = started.elapsed();
    println!(
        "{path:<11} {:>6.0} ns/request in the stack, {:.1} allocations/request",
        (total.saturating_sub(building)).as_nanos() as f64 / ROUNDS as f64,
        allocs as f64 / ROUNDS as f64
    );
}

/// What every request moves between layers: bytes copied on each hand-off.
fn sizes<S: Stack>(_: &S) {
    println!(
        "request {} bytes, response {} bytes, the stack's future {} bytes, the stack {} bytes",
        std::mem::size_of::<Request<Body>>(),
        std::mem::size_of::<http::Response<Body>>(),
        std::mem::size_of::<S::Future>(),
        std::mem::size_of::<S>(),
    );
}

/// The 20 tokens `/api/tokens` lists, made through the API.
async fn add_tokens(stack: &impl Stack) {
    for i in 0..20 {
        let mut req = request("/api/tokens");
        *req.method_mut() = http::Method::POST;
        req.headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        *req.body_mut() = body::full(format!(r#"{{"name": "token {i}"}}"#));
        let Ok(res) = stack.clone().oneshot(req).await;
        assert_eq!(res.status(), http::StatusCode::CREATED);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("stack-cost-{}", std::process::id()));
    let vars = [
        ("AUTH_PROVIDER", "static".into()),
        ("DATA_DIR", dir.join("data").display().to_string()),
        (
            "DEPLOYMENT_CONFIG",
            dir.join("deployment.yaml").display().to_string(),
        ),
        (
            "RATE_LIMITS",
            "auth=1000000000/second,write=1000000000/second,read=1000000000/second".into(),
        ),
        ("SERVER_AUTH_TOKEN", TOKEN.into()),
    ];
    for (name, value) in vars {
        // Single-threaded here: nothing else reads the environment yet.
        unsafe { std::env::set_var(name, value) };
    }
    let config = Config::from_process_env(&Overrides::default())?;
    // Multi-thread with one worker, as the server pinned to one core runs (`ctx.db` may need it).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        platform_server::metrics::install()?;
        let assembled = platform_server::app::assemble(&config).await?;
        sizes(&assembled.stack);
        add_tokens(&assembled.stack).await;
        measure(&assembled.stack, "/health").await;
        measure(&assembled.stack, "/api/me").await;
        measure(&assembled.stack, "/api/tokens").await;
        Ok::<_, Box<dyn std::error::Error>>(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
