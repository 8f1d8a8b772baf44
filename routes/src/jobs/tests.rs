//! The supervisor over a real (temporary) database: a slow reader still gets the end, the
//! drain fails what outlives its window, queued jobs wait their turn.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use serde_json::{json, Map, Value};

use super::stream::{self, Format};
use super::supervisor::{JobSettings, Jobs, Outcome};
use crate::workflows::{Plan, Unavailable};

fn jobs(dir: &tempfile::TempDir, max_concurrent: usize) -> Arc<Jobs> {
    let db = Arc::new(crate::store::open(&dir.path().join("t.db")).unwrap());
    Arc::new(Jobs::new(
        db,
        Arc::new(Unavailable),
        JobSettings {
            node_timeout: Duration::from_secs(30),
            max_concurrent,
        },
    ))
}

fn chain(n: usize) -> Plan {
    let mut nodes = vec![json!({"id": "in", "type": "input.json", "data": {"value": 1}})];
    let mut edges = Vec::new();
    for i in 0..n {
        let prev = if i == 0 {
            "in".to_owned()
        } else {
            format!("g{}", i - 1)
        };
        nodes.push(json!({"id": format!("g{i}"), "type": "json.get", "data": {}}));
        edges.push(json!({"source": prev, "target": format!("g{i}")}));
    }
    nodes.push(json!({"id": "out", "type": "output", "data": {"name": "v"}}));
    edges.push(json!({"source": format!("g{}", n - 1), "target": "out"}));
    Plan::from_value(&json!({"nodes": nodes, "edges": edges})).unwrap()
}

fn delay(seconds: f64) -> Plan {
    Plan::from_value(&json!({"nodes": [
        {"id": "d", "type": "util.delay", "data": {"seconds": seconds}},
    ], "edges": []}))
    .unwrap()
}

async fn status(jobs: &Jobs, id: &str) -> (String, Option<String>) {
    let id = id.to_owned();
    jobs.db(move |c| {
        let job = super::store::get(c, &id)?.unwrap();
        Ok((job.status, job.error))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_reader_that_falls_behind_still_gets_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs(&dir, 2);
    // 500 nodes make about 1000 events, far past the buffer; nobody reads until the end.
    let mut started = jobs.submit("w", chain(500), "u", Map::new()).await.unwrap();
    assert_eq!(
        started.finished().await,
        Outcome::Completed(json!({"v": 1}).as_object().unwrap().clone())
    );
    let body = stream::response(started, Format::Ndjson)
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let lines: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert!(lines.len() < 300, "{} lines buffered", lines.len());
    assert_eq!(lines[0]["status"], "queued");
    assert_eq!(lines.last().unwrap()["type"], "job_completed");
    assert_eq!(lines.last().unwrap()["results"], json!({"v": 1}));
}

#[tokio::test]
async fn the_drain_fails_jobs_that_outlive_its_window_and_queued_ones_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs(&dir, 1);
    let mut running = jobs
        .submit("w", delay(30.0), "u", Map::new())
        .await
        .unwrap();
    let mut queued = jobs.submit("w", delay(0.0), "u", Map::new()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = std::time::Instant::now();
    jobs.drain(Duration::from_millis(200)).await;
    assert!(start.elapsed() < Duration::from_secs(2));
    let interrupted = Outcome::Failed("interrupted by shutdown".into());
    assert_eq!(running.finished().await, interrupted);
    assert_eq!(queued.finished().await, interrupted);
    for id in [&running.job_id, &queued.job_id] {
        let (status, error) = status(&jobs, id).await;
        assert_eq!(
            (status.as_str(), error.as_deref()),
            ("failed", Some("interrupted by shutdown"))
        );
    }
    assert_eq!(jobs.live_count(), 0);
    // After the drain, runs are refused.
    assert!(jobs.submit("w", delay(0.0), "u", Map::new()).await.is_err());
}

#[tokio::test]
async fn a_drain_with_nothing_left_past_the_window_returns_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs(&dir, 1);
    let mut quick = jobs
        .submit("w", delay(0.05), "u", Map::new())
        .await
        .unwrap();
    jobs.drain(Duration::from_secs(5)).await;
    assert_eq!(quick.finished().await.status(), "completed");
}

#[tokio::test]
async fn cancel_ends_queued_and_running_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs(&dir, 1);
    let mut running = jobs
        .submit("w", delay(30.0), "u", Map::new())
        .await
        .unwrap();
    let mut queued = jobs
        .submit("w", delay(30.0), "u", Map::new())
        .await
        .unwrap();
    assert!(jobs.cancel(&queued.job_id).await);
    assert_eq!(queued.finished().await, Outcome::Cancelled);
    assert!(jobs.cancel(&running.job_id).await);
    assert_eq!(running.finished().await, Outcome::Cancelled);
    assert_eq!(status(&jobs, &running.job_id).await.0, "cancelled");
    assert!(!jobs.cancel(&running.job_id).await, "no longer live");
}
