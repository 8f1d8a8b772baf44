//! SQL for assets. Every function that takes a `user_id` only ever sees that user's rows.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::{file_key, Asset, Changes, NewAsset, FOLDER};

const COLUMNS: &str = "id, user_id, parent_id, name, content_type, size, metadata, workflow_id, \
                       created_at, file_key";

fn row(r: &Row<'_>) -> rusqlite::Result<Asset> {
    let metadata: Option<String> = r.get(6)?;
    let file_key: Option<String> = r.get(9)?;
    Ok(Asset {
        id: r.get(0)?,
        user_id: r.get(1)?,
        parent_id: r.get(2)?,
        name: r.get(3)?,
        content_type: r.get(4)?,
        size: r.get(5)?,
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
        workflow_id: r.get(7)?,
        created_at: r.get(8)?,
        get_url: file_key.as_ref().map(|k| format!("/api/storage/{k}")),
        file_key,
    })
}

fn json_text(v: &Option<Value>) -> Option<String> {
    v.as_ref().filter(|v| !v.is_null()).map(Value::to_string)
}

/// Inserts `new`, or replaces the row with its id (the worker's admin routes save rows made
/// elsewhere under their own ids). The row's `seq` is kept on replace.
pub fn upsert(c: &Connection, new: &NewAsset) -> rusqlite::Result<Asset> {
    c.execute(
        "INSERT INTO assets (id, user_id, parent_id, name, content_type, size, metadata,
                             workflow_id, file_key, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
                 COALESCE(?10, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
         ON CONFLICT (id) DO UPDATE SET
             user_id = excluded.user_id, parent_id = excluded.parent_id, name = excluded.name,
             content_type = excluded.content_type, size = excluded.size,
             metadata = excluded.metadata, workflow_id = excluded.workflow_id,
             file_key = excluded.file_key,
             created_at = COALESCE(?10, assets.created_at)",
        params![
            new.id,
            new.user_id,
            new.parent_id,
            new.name,
            new.content_type,
            new.size,
            json_text(&new.metadata),
            new.workflow_id,
            file_key(&new.id, &new.content_type),
            new.created_at,
        ],
    )?;
    c.query_row(
        &format!("SELECT {COLUMNS} FROM assets WHERE id = ?1"),
        [&new.id],
        row,
    )
}

/// Any user's asset (the worker's admin routes).
pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<Asset>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM assets WHERE id = ?1"),
        [id],
        row,
    )
    .optional()
}

pub fn get_owned(c: &Connection, user_id: &str, id: &str) -> rusqlite::Result<Option<Asset>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM assets WHERE id = ?1 AND user_id = ?2"),
        params![id, user_id],
        row,
    )
    .optional()
}

/// What a listing filters on.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub parent_id: Option<String>,
    /// `image/png`, or a major type alone (`image`) for all of its subtypes.
    pub content_type: Option<String>,
}

/// One page after `cursor` (a `seq`), in creation order, and the cursor of the next page.
/// Without a filter the page is of the user's root folder.
pub fn page(
    c: &Connection,
    user_id: &str,
    filter: &Filter,
    cursor: Option<i64>,
    limit: u32,
) -> rusqlite::Result<(Vec<Asset>, Option<String>)> {
    let parent = match (&filter.parent_id, &filter.content_type) {
        (None, None) => Some(user_id.to_owned()),
        (p, _) => p.clone(),
    };
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS}, seq FROM assets
         WHERE user_id = ?1 AND seq > ?2
           AND (?3 IS NULL OR parent_id = ?3)
           AND (?4 IS NULL OR content_type = ?4 OR content_type LIKE ?4 || '/%')
         ORDER BY seq LIMIT ?5"
    ))?;
    let rows = stmt.query_map(
        params![
            user_id,
            cursor.unwrap_or(0),
            parent,
            filter.content_type,
            i64::from(limit) + 1
        ],
        |r| Ok((row(r)?, r.get::<_, i64>(10)?)),
    )?;
    let mut out: Vec<(Asset, i64)> = rows.collect::<Result<_, _>>()?;
    let next = if out.len() > limit as usize {
        out.truncate(limit as usize);
        out.last().map(|(_, seq)| seq.to_string())
    } else {
        None
    };
    Ok((out.into_iter().map(|(a, _)| a).collect(), next))
}

/// Applies `changes` to the user's asset; `None` when it is not theirs or does not exist.
pub fn update(
    c: &Connection,
    user_id: &str,
    id: &str,
    changes: &Changes,
) -> rusqlite::Result<Option<Asset>> {
    let Some(current) = get_owned(c, user_id, id)? else {
        return Ok(None);
    };
    let content_type = changes
        .content_type
        .clone()
        .unwrap_or(current.content_type.clone());
    // A file keeps the key its bytes were stored under; a type change does not move them.
    let key = current
        .file_key
        .clone()
        .or_else(|| file_key(id, &content_type));
    // An explicit `null` clears the metadata; absent keeps it.
    let metadata = match &changes.metadata {
        None => current.metadata.clone(),
        Some(Value::Null) => None,
        Some(m) => Some(m.clone()),
    };
    c.execute(
        "UPDATE assets SET name = ?3, parent_id = ?4, content_type = ?5, metadata = ?6,
                file_key = ?7
         WHERE id = ?1 AND user_id = ?2",
        params![
            id,
            user_id,
            changes.name.as_ref().unwrap_or(&current.name),
            changes.parent_id.as_ref().or(current.parent_id.as_ref()),
            content_type,
            json_text(&metadata),
            key,
        ],
    )?;
    get_owned(c, user_id, id)
}

/// Whether `candidate` is `folder` or lies below it (moving a folder there would make a loop).
pub fn within(
    c: &Connection,
    user_id: &str,
    folder: &str,
    candidate: &str,
) -> rusqlite::Result<bool> {
    c.query_row(
        "WITH RECURSIVE up(id, parent_id) AS (
             SELECT id, parent_id FROM assets WHERE id = ?3 AND user_id = ?1
             UNION SELECT a.id, a.parent_id FROM assets a JOIN up ON a.id = up.parent_id
                   WHERE a.user_id = ?1)
         SELECT EXISTS (SELECT 1 FROM up WHERE id = ?2)",
        params![user_id, folder, candidate],
        |r| r.get(0),
    )
}

/// Whether `id` can hold assets of `user_id`: their root, or one of their folders.
pub fn is_folder_of(c: &Connection, user_id: &str, id: &str) -> rusqlite::Result<bool> {
    if id == user_id {
        return Ok(true);
    }
    Ok(get_owned(c, user_id, id)?.is_some_and(|a| a.content_type == FOLDER))
}

/// Deletes the asset and, for a folder, everything below it, in one transaction. Returns the
/// deleted ids (children before their folder) and the bucket keys whose files to remove;
/// `None` when the asset is not the user's.
pub fn delete_tree(
    c: &mut Connection,
    user_id: &str,
    id: &str,
) -> rusqlite::Result<Option<(Vec<String>, Vec<String>)>> {
    let tx = c.transaction()?;
    let found: Vec<(String, Option<String>)> = {
        let mut stmt = tx.prepare(
            "WITH RECURSIVE tree(id, depth) AS (
                 SELECT id, 0 FROM assets WHERE id = ?2 AND user_id = ?1
                 UNION SELECT a.id, tree.depth + 1 FROM assets a JOIN tree ON a.parent_id = tree.id
                       WHERE a.user_id = ?1)
             SELECT a.id, a.file_key FROM tree JOIN assets a ON a.id = tree.id
             ORDER BY tree.depth DESC, a.seq",
        )?;
        let rows = stmt.query_map(params![user_id, id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    if found.is_empty() {
        return Ok(None);
    }
    for (asset, _) in &found {
        tx.execute("DELETE FROM assets WHERE id = ?1", [asset])?;
    }
    tx.commit()?;
    let (ids, keys): (Vec<String>, Vec<Option<String>>) = found.into_iter().unzip();
    Ok(Some((ids, keys.into_iter().flatten().collect())))
}

/// Removes one row by id, whoever owns it (the worker's `/admin/db`); true when there was one.
pub fn delete_row(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(c.execute("DELETE FROM assets WHERE id = ?1", [id])? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new(id: &str, user: &str, parent: Option<&str>, ct: &str) -> NewAsset {
        NewAsset {
            id: id.into(),
            user_id: user.into(),
            parent_id: parent.map(Into::into),
            name: format!("{id}-name"),
            content_type: ct.into(),
            ..NewAsset::default()
        }
    }

    #[test]
    fn pages_filters_and_ownership() {
        let c = crate::accounts::test_db();
        for i in 0..5 {
            upsert(&c, &new(&format!("a{i}"), "u", Some("u"), "image/png")).unwrap();
        }
        upsert(&c, &new("f", "u", Some("u"), FOLDER)).unwrap();
        upsert(&c, &new("t", "u", Some("f"), "text/plain")).unwrap();
        upsert(&c, &new("x", "other", Some("other"), "image/png")).unwrap();
        let root = Filter::default();
        let (first, next) = page(&c, "u", &root, None, 4).unwrap();
        assert_eq!(first.len(), 4);
        let cursor = next.unwrap().parse().ok();
        let (rest, next) = page(&c, "u", &root, cursor, 4).unwrap();
        assert_eq!(
            rest.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            ["a4", "f"]
        );
        assert_eq!(next, None);
        let images = Filter {
            content_type: Some("image".into()),
            ..Filter::default()
        };
        assert_eq!(page(&c, "u", &images, None, 100).unwrap().0.len(), 5);
        assert!(get_owned(&c, "other", "a0").unwrap().is_none());
        assert_eq!(
            get(&c, "a0").unwrap().unwrap().get_url.unwrap(),
            "/api/storage/a0.png"
        );
        assert!(within(&c, "u", "f", "t").unwrap());
        assert!(!within(&c, "u", "t", "f").unwrap());
    }

    #[test]
    fn updates_and_subtree_deletes() {
        let mut c = crate::accounts::test_db();
        upsert(&c, &new("f", "u", Some("u"), FOLDER)).unwrap();
        upsert(&c, &new("g", "u", Some("f"), FOLDER)).unwrap();
        upsert(&c, &new("t", "u", Some("g"), "text/plain")).unwrap();
        upsert(&c, &new("k", "u", Some("u"), "text/plain")).unwrap();
        let changed = update(
            &c,
            "u",
            "k",
            &Changes {
                name: Some("renamed".into()),
                metadata: Some(json!({"a": 1})),
                ..Changes::default()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (changed.name.as_str(), changed.metadata),
            ("renamed", Some(json!({"a": 1})))
        );
        assert!(update(&c, "other", "k", &Changes::default())
            .unwrap()
            .is_none());
        assert!(delete_tree(&mut c, "other", "f").unwrap().is_none());
        let (ids, keys) = delete_tree(&mut c, "u", "f").unwrap().unwrap();
        assert_eq!(ids, ["t", "g", "f"]);
        assert_eq!(keys, ["t.txt"]);
        assert!(get(&c, "k").unwrap().is_some());
    }
}
