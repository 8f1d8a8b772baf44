//! Which way of taking SQLite off the async worker is cheapest for `ctx.db`: runs the token
//! listing query (20 rows) through the real pool from 64 concurrent tasks on a one-worker
//! runtime (the server pinned to one core gets one worker) by `spawn_blocking`,
//! `block_in_place`, and the scope's fixed set of threads (`platform_middleware::blocking`), and
//! prints queries/s and CPU per query for each (`taskset -c 0` to pin it like the server).
//! In-process `block_in_place` looks cheapest; in the server it was the most expensive (see
//! bench/README.md), so the server's choice rests on `bench/run.sh`.
//!   taskset -c 0 cargo run --release --example db_dispatch

use std::sync::Arc;
use std::time::{Duration, Instant};

use platform_middleware::blocking::Threads;
use platform_middleware::scope::{Pool, THREADS};
use platform_routes::accounts::api_tokens;
use platform_routes::store::{self, Conn};

const TASKS: usize = 64;
const RUN: Duration = Duration::from_secs(3);

fn query(c: &mut Conn) -> usize {
    api_tokens::list(c, "1").map(|v| v.len()).unwrap_or(0)
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / 100.0
}

async fn drive<F, Fut>(name: &str, one: F)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = usize> + Send,
{
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let one = one.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while started.elapsed() < RUN {
                    assert_eq!(one().await, 20);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    println!(
        "{name:<15} {:>8.0} queries/s  {:>6.1} us CPU/query",
        total as f64 / wall,
        cpu * 1e6 / total as f64
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("db-dispatch-{}", std::process::id()));
    let db = Arc::new(store::open(&dir.join("platform.db"))?);
    {
        let c = db.get().map_err(|e| e.to_string())?;
        platform_routes::accounts::users::ensure_owner(&c)?;
        for i in 0..20 {
            api_tokens::create(&c, "1", &format!("token {i}"))?;
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for _ in 0..2 {
            let pool = db.clone();
            drive("spawn_blocking", move || {
                let pool = pool.clone();
                async move {
                    tokio::task::spawn_blocking(move || pool.get().map_or(0, |mut c| query(&mut c)))
                        .await
                        .unwrap_or(0)
                }
            })
            .await;
            let pool = db.clone();
            drive("block_in_place", move || {
                let pool = pool.clone();
                async move {
                    tokio::task::block_in_place(|| pool.get().map_or(0, |mut c| query(&mut c)))
                }
            })
            .await;
            let threads = Arc::new(Threads::start("db", THREADS)?);
            let pool = db.clone();
            drive("threads(8)", move || {
                let (threads, pool) = (threads.clone(), pool.clone());
                async move {
                    threads
                        .run(move || pool.get().map_or(0, |mut c| query(&mut c)))
                        .await
                        .unwrap_or(0)
                }
            })
            .await;
        }
        Ok::<_, std::io::Error>(())
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
