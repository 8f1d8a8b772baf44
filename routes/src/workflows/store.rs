//! Stored workflows: SQL beside the type. Callers check ownership; these functions do not.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;

/// A page ends early once its graphs add up to this many bytes, so a listing's memory stays
/// bounded whatever the page size.
const PAGE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, Serialize)]
pub struct Workflow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub access: String,
    pub graph: Value,
    pub created_at: String,
    pub updated_at: String,
    pub user_id: String,
}

/// What a client sets on create or replace.
#[derive(Clone, Debug)]
pub struct Draft {
    pub name: String,
    pub description: String,
    pub access: String,
    pub graph: Value,
}

impl Workflow {
    pub fn is_public(&self) -> bool {
        self.access == "public"
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Workflow> {
        let graph: String = r.get("graph")?;
        Ok(Workflow {
            id: r.get("id")?,
            name: r.get("name")?,
            description: r.get("description")?,
            access: r.get("access")?,
            graph: serde_json::from_str(&graph).unwrap_or(Value::Null),
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
            user_id: r.get("user_id")?,
        })
    }
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<Workflow>> {
    c.query_row(
        "SELECT * FROM workflows WHERE id = ?1",
        [id],
        Workflow::from_row,
    )
    .optional()
}

/// `user`'s workflows, newest first, after `cursor` (an id from a previous page); the cursor
/// of the next page when there is one.
pub fn list(
    c: &Connection,
    user: &str,
    cursor: Option<&str>,
    limit: usize,
) -> rusqlite::Result<(Vec<Workflow>, Option<String>)> {
    let mut stmt = c.prepare_cached(
        "SELECT * FROM workflows WHERE user_id = ?1 AND (?2 IS NULL OR id < ?2)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let mut rows = stmt.query(params![user, cursor, limit as i64 + 1])?;
    let mut out = Vec::new();
    let mut bytes = 0;
    while let Some(row) = rows.next()? {
        if out.len() == limit || (bytes > PAGE_BYTES && !out.is_empty()) {
            let next = out.last().map(|w: &Workflow| w.id.clone());
            return Ok((out, next));
        }
        bytes += row.get_ref("graph")?.as_str().map_or(0, str::len);
        out.push(Workflow::from_row(row)?);
    }
    Ok((out, None))
}

pub fn insert(c: &Connection, id: &str, user: &str, d: &Draft, now: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO workflows (id, user_id, name, description, access, graph, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![id, user, d.name, d.description, d.access, d.graph.to_string(), now],
    )?;
    Ok(())
}

pub fn update(c: &Connection, id: &str, d: &Draft, now: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE workflows SET name = ?2, description = ?3, access = ?4, graph = ?5, updated_at = ?6
         WHERE id = ?1",
        params![
            id,
            d.name,
            d.description,
            d.access,
            d.graph.to_string(),
            now
        ],
    )?;
    Ok(())
}

/// Writes a whole row as a syncing client sent it (the worker's `/admin/db`), creating or
/// replacing it; the graph is stored as given and validated when it runs.
pub fn upsert(c: &Connection, w: &Workflow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO workflows (id, user_id, name, description, access, graph, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET user_id = ?2, name = ?3, description = ?4, access = ?5,
             graph = ?6, updated_at = ?8",
        params![
            w.id,
            w.user_id,
            w.name,
            w.description,
            w.access,
            w.graph.to_string(),
            w.created_at,
            w.updated_at
        ],
    )?;
    Ok(())
}

pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(c.execute("DELETE FROM workflows WHERE id = ?1", [id])? > 0)
}

/// A new time-ordered id (UUIDv7, hex).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Now, as the timestamps are stored (RFC 3339, UTC, milliseconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
