//! `GET /health`, an authenticated `GET /api/me` and an authenticated `GET /api/tokens` (20 rows
//! from SQLite) on axum 0.8 with the layers a user would reach for: tower-http's
//! `SetRequestId` + `TraceLayer` + `PropagateRequestId`, tower_governor per client IP (with its
//! documented background `retain_recent`), and a `from_fn` bearer check. The second reference
//! platform-server is measured against.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use r2d2_sqlite::SqliteConnectionManager;
use serde::Serialize;
use subtle::ConstantTimeEq;
use tower::ServiceBuilder;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::GovernorLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing_subscriber::EnvFilter;

type Pool = r2d2::Pool<SqliteConnectionManager>;

#[derive(Clone)]
struct AppState {
    token: Arc<[u8]>,
    db: Option<Pool>,
}

#[derive(Serialize)]
struct Me {
    user_id: &'static str,
    username: Option<&'static str>,
    role: &'static str,
    auth: &'static str,
}

#[derive(Serialize)]
struct TokenInfo {
    id: String,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
}

fn detail(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "detail": message }))).into_response()
}

async fn require_bearer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(given.as_bytes().ct_eq(&state.token)) {
        return detail(StatusCode::UNAUTHORIZED, "Invalid authentication token");
    }
    next.run(req).await
}

async fn health() -> Json<&'static str> {
    Json("OK")
}

async fn me() -> Json<Me> {
    Json(Me {
        user_id: "1",
        username: None,
        role: "admin",
        auth: "static",
    })
}

/// The same query platform-server's `GET /api/tokens` runs, on a pooled connection on a
/// blocking thread (what axum's SQLite examples do).
async fn tokens(State(state): State<AppState>) -> Response {
    let Some(pool) = state.db else {
        return detail(StatusCode::NOT_FOUND, "no database (DB_PATH)");
    };
    let rows = tokio::task::spawn_blocking(move || -> Result<Vec<TokenInfo>, String> {
        let conn = pool.get().map_err(|e| e.to_string())?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, name, created_at, last_used_at FROM api_tokens
                 WHERE user_id = ?1 ORDER BY created_at, id",
            )
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map(["1"], |r| {
                Ok(TokenInfo {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                    last_used_at: r.get(3)?,
                })
            })
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
    })
    .await;
    match rows {
        Ok(Ok(rows)) => Json(rows).into_response(),
        _ => detail(StatusCode::INTERNAL_SERVER_ERROR, "database error"),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:7802".to_string();
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            listen = args.next().unwrap_or(listen);
        }
    }
    let db = std::env::var_os("DB_PATH").map(|path| {
        let manager = SqliteConnectionManager::file(path);
        r2d2::Pool::builder()
            .max_size(8)
            .build(manager)
            .expect("open DB_PATH")
    });
    let state = AppState {
        token: std::env::var("SERVER_AUTH_TOKEN")
            .unwrap_or_default()
            .into_bytes()
            .into(),
        db,
    };

    // Per client IP; the quota is far above what the benchmark sends, so it never refuses.
    let governor = Arc::new(
        GovernorConfigBuilder::default()
            .per_nanosecond(1)
            .burst_size(u32::MAX)
            .finish()
            .expect("governor config"),
    );
    let limiter = governor.limiter().clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(60));
        limiter.retain_recent();
    });

    let x_request_id = HeaderName::from_static("x-request-id");
    let protected = Router::new()
        .route("/api/me", get(me))
        .route("/api/tokens", get(tokens))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_bearer));
    let app = Router::new()
        .route("/health", get(health))
        .merge(protected)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http())
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(GovernorLayer::new(governor)),
        )
        .with_state(state);

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("bench-axum-ref listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
