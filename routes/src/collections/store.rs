//! Collections themselves: create, list, read, rename or update metadata, delete. Every call is
//! scoped to an owner; another owner's collection does not exist (NotFound).

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row};
use serde_json::{Map, Value};

use super::{check_name, Collection, CollectionError};

pub struct NewCollection {
    pub name: String,
    pub metadata: Map<String, Value>,
    pub embedding_model: Option<String>,
}

/// What a PUT may change; `None` leaves a field as it is. Metadata is merged key by key, as the
/// old worker did.
#[derive(Default)]
pub struct Changes {
    pub name: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub embedding_model: Option<String>,
}

const SELECT: &str = "SELECT c.name, (SELECT count(*) FROM collection_documents d \
     WHERE d.collection_id = c.id), c.metadata, c.embedding_model, c.created_at, c.updated_at \
     FROM collections c";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Collection> {
    let metadata: String = r.get(2)?;
    Ok(Collection {
        name: r.get(0)?,
        count: r.get(1)?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        embedding_model: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

/// The old worker kept the embedding model in the collection's metadata; keep it there too.
fn with_model(mut metadata: Map<String, Value>, model: Option<&str>) -> String {
    if let Some(model) = model {
        metadata.insert("embedding_model".into(), Value::String(model.into()));
    }
    Value::Object(metadata).to_string()
}

pub fn create(
    c: &Connection,
    owner: &str,
    new: NewCollection,
) -> Result<Collection, CollectionError> {
    check_name(&new.name)?;
    let metadata = with_model(new.metadata, new.embedding_model.as_deref());
    c.execute(
        "INSERT INTO collections (owner, name, metadata, embedding_model) VALUES (?1, ?2, ?3, ?4)",
        params![owner, new.name, metadata, new.embedding_model],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            CollectionError::Exists(new.name.clone())
        } else {
            e.into()
        }
    })?;
    get(c, owner, &new.name)
}

pub fn list(c: &Connection, owner: &str) -> Result<Vec<Collection>, CollectionError> {
    let mut stmt = c.prepare(&format!("{SELECT} WHERE c.owner = ?1 ORDER BY c.name"))?;
    let rows = stmt.query_map([owner], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get(c: &Connection, owner: &str, name: &str) -> Result<Collection, CollectionError> {
    check_name(name)?;
    c.query_row(
        &format!("{SELECT} WHERE c.owner = ?1 AND c.name = ?2"),
        [owner, name],
        from_row,
    )
    .optional()?
    .ok_or(CollectionError::NotFound)
}

/// The row id of the owner's collection `name`.
pub fn id_of(c: &Connection, owner: &str, name: &str) -> Result<i64, CollectionError> {
    check_name(name)?;
    c.query_row(
        "SELECT id FROM collections WHERE owner = ?1 AND name = ?2",
        [owner, name],
        |r| r.get(0),
    )
    .optional()?
    .ok_or(CollectionError::NotFound)
}

pub fn update(
    c: &mut Connection,
    owner: &str,
    name: &str,
    changes: Changes,
) -> Result<Collection, CollectionError> {
    if let Some(new_name) = &changes.name {
        check_name(new_name)?;
    }
    let tx = c.transaction()?;
    let current = get(&tx, owner, name)?;
    let mut metadata = current.metadata;
    metadata.extend(changes.metadata.unwrap_or_default());
    let model = changes.embedding_model.or(current.embedding_model);
    let new_name = changes.name.unwrap_or(current.name);
    tx.execute(
        "UPDATE collections SET name = ?3, metadata = ?4, embedding_model = ?5,
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE owner = ?1 AND name = ?2",
        params![
            owner,
            name,
            new_name,
            with_model(metadata, model.as_deref()),
            model
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            CollectionError::Exists(new_name.clone())
        } else {
            e.into()
        }
    })?;
    let updated = get(&tx, owner, &new_name)?;
    tx.commit()?;
    Ok(updated)
}

/// Deletes the collection and its documents (the delete triggers clear the search index).
pub fn delete(c: &mut Connection, owner: &str, name: &str) -> Result<(), CollectionError> {
    let tx = c.transaction()?;
    let id = id_of(&tx, owner, name)?;
    tx.execute(
        "DELETE FROM collection_documents WHERE collection_id = ?1",
        [id],
    )?;
    tx.execute("DELETE FROM collections WHERE id = ?1", [id])?;
    tx.commit()?;
    Ok(())
}

/// Marks the collection changed (after documents were added or removed).
pub fn touch(c: &Connection, id: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE collections SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
        [id],
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::test_db;
    use serde_json::json;

    fn new(name: &str) -> NewCollection {
        NewCollection {
            name: name.into(),
            metadata: Map::new(),
            embedding_model: Some("all-minilm:latest".into()),
        }
    }

    #[test]
    fn create_list_rename_delete_per_owner() {
        let mut c = test_db();
        let made = create(&c, "u1", new("docs")).unwrap();
        assert_eq!(made.count, 0);
        assert_eq!(made.metadata["embedding_model"], "all-minilm:latest");
        assert!(matches!(
            create(&c, "u1", new("docs")),
            Err(CollectionError::Exists(_))
        ));
        // The same name under another owner is another collection.
        create(&c, "u2", new("docs")).unwrap();
        create(&c, "u1", new("alpha")).unwrap();
        let names: Vec<_> = list(&c, "u1")
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["alpha", "docs"]);

        let changes = Changes {
            name: Some("beta".into()),
            metadata: Some(json!({"topic": "x"}).as_object().unwrap().clone()),
            embedding_model: None,
        };
        let renamed = update(&mut c, "u1", "docs", changes).unwrap();
        assert_eq!(renamed.name, "beta");
        assert_eq!(renamed.metadata["topic"], "x");
        assert_eq!(renamed.metadata["embedding_model"], "all-minilm:latest");
        let clash = Changes {
            name: Some("alpha".into()),
            ..Default::default()
        };
        assert!(matches!(
            update(&mut c, "u1", "beta", clash),
            Err(CollectionError::Exists(_))
        ));
        assert!(matches!(
            get(&c, "u2", "beta"),
            Err(CollectionError::NotFound)
        ));
        delete(&mut c, "u1", "beta").unwrap();
        assert!(matches!(
            delete(&mut c, "u1", "beta"),
            Err(CollectionError::NotFound)
        ));
        assert_eq!(list(&c, "u2").unwrap().len(), 1);
    }
}
