//! `GET /health`, an authenticated `GET /api/me` and an authenticated `GET /api/tokens` (the 20
//! rows platform-server lists, read from its database file `DB_PATH` on a thread-local
//! connection, right on the async worker) on bare hyper: the floor platform-server's stack is
//! compared with.

use std::cell::RefCell;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde::Serialize;
use subtle::ConstantTimeEq;

#[derive(Serialize)]
struct TokenInfo {
    id: String,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
}

thread_local! {
    static DB: RefCell<Option<rusqlite::Connection>> = const { RefCell::new(None) };
}

/// platform-server's token listing query, on this thread's connection (opened on first use).
fn tokens() -> Result<Vec<u8>, String> {
    DB.with_borrow_mut(|db| {
        if db.is_none() {
            let path = std::env::var("DB_PATH").map_err(|_| "no DB_PATH".to_string())?;
            *db = Some(rusqlite::Connection::open(path).map_err(|e| e.to_string())?);
        }
        let Some(conn) = db.as_ref() else {
            return Err("no connection".into());
        };
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
        let rows: Vec<TokenInfo> = rows.collect::<Result<_, _>>().map_err(|e| e.to_string())?;
        serde_json::to_vec(&rows).map_err(|e| e.to_string())
    })
}

fn authorized(req: &Request<Incoming>, token: &[u8]) -> bool {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    bool::from(given.as_bytes().ct_eq(token))
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    res
}

fn detail(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, serde_json::to_vec(&serde_json::json!({ "detail": message })).unwrap_or_default())
}

fn handle(req: &Request<Incoming>, token: &[u8]) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/health" => json(StatusCode::OK, serde_json::to_vec("OK").unwrap_or_default()),
        "/api/me" | "/api/tokens" if !authorized(req, token) => {
            detail(StatusCode::UNAUTHORIZED, "Invalid authentication token")
        }
        "/api/tokens" => match tokens() {
            Ok(body) => json(StatusCode::OK, body),
            Err(e) => detail(StatusCode::INTERNAL_SERVER_ERROR, &e),
        },
        "/api/me" => {
            let me = serde_json::json!({ "user_id": "1", "username": null, "role": "admin", "auth": "static" });
            json(StatusCode::OK, serde_json::to_vec(&me).unwrap_or_default())
        }
        _ => detail(StatusCode::NOT_FOUND, "Not Found"),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:7800".to_string();
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            listen = args.next().unwrap_or(listen);
        }
    }
    let token: Arc<[u8]> = std::env::var("SERVER_AUTH_TOKEN").unwrap_or_default().into_bytes().into();
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("bench-baseline listening on http://{}", listener.local_addr()?);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(30));
    let builder = Arc::new(builder);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (builder, token) = (builder.clone(), token.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let res = handle(&req, &token);
                async move { Ok::<_, Infallible>(res) }
            });
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
