//! Job rows: one per run, from `queued` to a final status.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::workflows::store::now;

pub const STATUSES: &[&str] = &["queued", "running", "completed", "failed", "cancelled"];

/// What a job left by a crash or a stop gets as its error.
pub const INTERRUPTED: &str = "interrupted by shutdown";

#[derive(Clone, Debug, Serialize)]
pub struct Job {
    pub id: String,
    pub workflow_id: String,
    pub user_id: String,
    pub status: String,
    pub params: Value,
    pub results: Option<Value>,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl Job {
    pub fn is_finished(&self) -> bool {
        !matches!(self.status.as_str(), "queued" | "running")
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Job> {
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        Ok(Job {
            id: r.get("id")?,
            workflow_id: r.get("workflow_id")?,
            user_id: r.get("user_id")?,
            status: r.get("status")?,
            params: json(r.get("params")?).unwrap_or(Value::Null),
            results: json(r.get("results")?),
            error: r.get("error")?,
            created_at: r.get("created_at")?,
            started_at: r.get("started_at")?,
            finished_at: r.get("finished_at")?,
        })
    }
}

pub fn insert(
    c: &Connection,
    id: &str,
    workflow_id: &str,
    user: &str,
    params: &Map<String, Value>,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO jobs (id, workflow_id, user_id, status, params, created_at)
         VALUES (?1, ?2, ?3, 'queued', ?4, ?5)",
        params![
            id,
            workflow_id,
            user,
            Value::Object(params.clone()).to_string(),
            now()
        ],
    )?;
    Ok(())
}

pub fn mark_running(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE jobs SET status = 'running', started_at = ?2 WHERE id = ?1",
        params![id, now()],
    )?;
    Ok(())
}

/// Records the final status; only a job not yet finished changes.
pub fn finish(
    c: &Connection,
    id: &str,
    status: &str,
    results: Option<&Map<String, Value>>,
    error: Option<&str>,
) -> rusqlite::Result<()> {
    let results = results.map(|r| Value::Object(r.clone()).to_string());
    c.execute(
        "UPDATE jobs SET status = ?2, results = ?3, error = ?4, finished_at = ?5
         WHERE id = ?1 AND status IN ('queued', 'running')",
        params![id, status, results, error, now()],
    )?;
    Ok(())
}

/// At start-up: jobs a previous process left unfinished can never finish; they fail.
pub fn fail_unfinished(c: &Connection) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE jobs SET status = 'failed', error = ?1, finished_at = ?2
         WHERE status IN ('queued', 'running')",
        params![INTERRUPTED, now()],
    )
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<Job>> {
    c.query_row("SELECT * FROM jobs WHERE id = ?1", [id], Job::from_row)
        .optional()
}

/// Filters of a job listing; `cursor` is the last id of the previous page.
#[derive(Default)]
pub struct Filter {
    pub workflow_id: Option<String>,
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: usize,
}

/// `user`'s jobs, newest first; the cursor of the next page when there is one.
pub fn list(
    c: &Connection,
    user: &str,
    f: &Filter,
) -> rusqlite::Result<(Vec<Job>, Option<String>)> {
    let mut stmt = c.prepare_cached(
        "SELECT * FROM jobs WHERE user_id = ?1
           AND (?2 IS NULL OR workflow_id = ?2)
           AND (?3 IS NULL OR status = ?3)
           AND (?4 IS NULL OR id < ?4)
         ORDER BY id DESC LIMIT ?5",
    )?;
    let mut jobs = stmt
        .query_map(
            params![user, f.workflow_id, f.status, f.cursor, f.limit as i64 + 1],
            Job::from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next = (jobs.len() > f.limit).then(|| {
        jobs.truncate(f.limit);
        jobs.last().map(|j| j.id.clone())
    });
    Ok((jobs, next.flatten()))
}
