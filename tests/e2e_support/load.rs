//! A bounded load generator: `connections` workers, each with its own keep-alive connection,
//! sending GETs one after another until a count, a time cap or a stop flag ends them. Every
//! answer other than 200 and every transport error (refused, reset, timeout) is a failure, with
//! one exception that every browser and Go client also makes: a GET that a *kept-alive*
//! connection loses before any response byte (the peer closed it as the request went out) is
//! sent again once on a fresh connection (RFC 9112 §9.3.1). Those retries are counted and
//! reported, and tests can require zero of them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Load {
    pub url: String,
    pub connections: usize,
    /// Upper bound on requests per connection.
    pub per_connection: usize,
    /// Upper bound on the whole run.
    pub cap: Duration,
    /// Pause between two requests of one connection (spreads the load over the switch).
    pub pause: Duration,
}

#[derive(Debug, Default)]
pub struct Report {
    pub ok: usize,
    pub failed: usize,
    /// Connections refused (counted in `failed` too).
    pub refused: usize,
    /// Requests sent a second time after a kept-alive connection was closed under them.
    pub retried: usize,
    /// The first few failures, for the assertion message.
    pub errors: Vec<String>,
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
}

impl Report {
    pub fn total(&self) -> usize {
        self.ok + self.failed
    }

    /// The 99th percentile latency of all requests, failed ones included.
    pub fn p99(&self) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = (sorted.len() * 99).div_ceil(100).max(1) - 1;
        sorted[rank]
    }

    fn merge(&mut self, other: Report) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.refused += other.refused;
        self.retried += other.retried;
        for e in other.errors {
            if self.errors.len() < 10 {
                self.errors.push(e);
            }
        }
        self.latencies.extend(other.latencies);
    }
}

/// A handle on running load: `stop` ends it early, `finish` waits for the report.
pub struct Running {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    workers: Vec<tokio::task::JoinHandle<Report>>,
    started: Instant,
}

impl Running {
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Requests answered or failed so far.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }

    /// Waits until `count` requests are done, or `limit` passes.
    pub async fn wait_for(&self, count: usize, limit: Duration) {
        let start = Instant::now();
        while self.done() < count && start.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn finish(self) -> Report {
        self.stop();
        let mut report = Report::default();
        for worker in self.workers {
            report.merge(worker.await.expect("load worker"));
        }
        report.elapsed = self.started.elapsed();
        report
    }
}

/// Starts the load with one plain-HTTP client per connection.
pub fn start(load: Load) -> Running {
    start_with(load, || {
        reqwest::Client::builder()
            .http1_only()
            .build()
            .expect("client")
    })
}

/// Starts the load with clients from `make` (one per connection, so one pool each).
pub fn start_with(load: Load, make: impl Fn() -> reqwest::Client) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + load.cap;
    let workers = (0..load.connections)
        .map(|_| {
            let shared = Shared {
                stop: stop.clone(),
                done: done.clone(),
                deadline,
            };
            tokio::spawn(worker(make(), load.clone(), shared))
        })
        .collect();
    Running {
        stop,
        done,
        workers,
        started: Instant::now(),
    }
}

/// What the workers share: when to stop, and a progress count.
struct Shared {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    deadline: Instant,
}

async fn worker(client: reqwest::Client, load: Load, shared: Shared) -> Report {
    let mut report = Report::default();
    for _ in 0..load.per_connection {
        if shared.stop.load(Ordering::SeqCst) || Instant::now() >= shared.deadline {
            break;
        }
        let started = Instant::now();
        let mut outcome = one(&client, &load.url).await;
        if matches!(&outcome, Err(Failure::Stale(_))) {
            report.retried += 1;
            outcome = one(&client, &load.url).await;
        }
        report.latencies.push(started.elapsed());
        shared.done.fetch_add(1, Ordering::SeqCst);
        match outcome {
            Ok(()) => report.ok += 1,
            Err(e) => {
                report.failed += 1;
                report.refused += usize::from(matches!(e, Failure::Refused(_)));
                let e = format!("{e:?}");
                if report.errors.len() < 10 {
                    report.errors.push(e);
                }
            }
        }
        if !load.pause.is_zero() {
            tokio::time::sleep(load.pause).await;
        }
    }
    report
}

#[derive(Debug)]
enum Failure {
    /// Connection refused.
    Refused(String),
    /// The connection closed or reset before any response: retryable once for a GET.
    Stale(String),
    Other(String),
}

async fn one(client: &reqwest::Client, url: &str) -> Result<(), Failure> {
    let res = client
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(classify)?;
    let status = res.status();
    let body = res
        .bytes()
        .await
        .map_err(|e| Failure::Other(format!("body: {e:?}")))?;
    if status != reqwest::StatusCode::OK {
        let body = String::from_utf8_lossy(&body);
        return Err(Failure::Other(format!("status {status}: {body}")));
    }
    Ok(())
}

fn classify(e: reqwest::Error) -> Failure {
    let text = format!("{e:?}");
    if e.is_connect() {
        return if io_kind(&e) == Some(std::io::ErrorKind::ConnectionRefused) {
            Failure::Refused(text)
        } else {
            Failure::Other(text)
        };
    }
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    let lost = matches!(
        io_kind(&e),
        Some(ConnectionReset | BrokenPipe | ConnectionAborted)
    ) || incomplete(&e);
    if e.is_request() && lost {
        Failure::Stale(text)
    } else {
        Failure::Other(text)
    }
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = err.source();
    }
    None
}

/// hyper's "connection closed before message completed".
fn incomplete(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            return h.is_incomplete_message();
        }
        source = err.source();
    }
    false
}

#[test]
fn p99_picks_the_right_rank() {
    let report = Report {
        latencies: (1..=200).map(Duration::from_millis).collect(),
        ..Report::default()
    };
    assert_eq!(report.p99(), Duration::from_millis(198));
    assert_eq!(Report::default().p99(), Duration::ZERO);
}
