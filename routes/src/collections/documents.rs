//! Documents of a collection: upsert by id, delete one, replace the chunks of an indexed file.

use rusqlite::{params, Connection};
use serde_json::{Map, Value};

use super::{check_id, store, CollectionError};

/// One document to store. `embedding` is whatever the client sent (any length), kept as JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub id: String,
    pub text: String,
    pub metadata: Map<String, Value>,
    pub embedding: Option<Value>,
}

const UPSERT: &str =
    "INSERT INTO collection_documents (collection_id, doc_id, document, metadata, embedding)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (collection_id, doc_id) DO UPDATE SET
         document = excluded.document,
         metadata = excluded.metadata,
         embedding = excluded.embedding,
         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

fn upsert_all(c: &Connection, collection: i64, docs: &[Document]) -> rusqlite::Result<()> {
    let mut stmt = c.prepare_cached(UPSERT)?;
    for d in docs {
        let embedding = d.embedding.as_ref().map(Value::to_string);
        stmt.execute(params![
            collection,
            d.id,
            d.text,
            Value::Object(d.metadata.clone()).to_string(),
            embedding
        ])?;
    }
    Ok(())
}

/// Inserts or replaces `docs` (by id) in the owner's collection, all or nothing.
pub fn upsert(
    c: &mut Connection,
    owner: &str,
    name: &str,
    docs: &[Document],
) -> Result<usize, CollectionError> {
    for d in docs {
        check_id(&d.id)?;
    }
    let tx = c.transaction()?;
    let id = store::id_of(&tx, owner, name)?;
    upsert_all(&tx, id, docs)?;
    store::touch(&tx, id)?;
    tx.commit()?;
    Ok(docs.len())
}

/// Replaces every document whose metadata `source` is `source` with `chunks`, so re-indexing a
/// shorter version of a file leaves none of the old chunks behind.
pub fn replace_source(
    c: &mut Connection,
    owner: &str,
    name: &str,
    source: &str,
    chunks: &[Document],
) -> Result<usize, CollectionError> {
    let tx = c.transaction()?;
    let id = store::id_of(&tx, owner, name)?;
    tx.execute(
        "DELETE FROM collection_documents WHERE collection_id = ?1 AND id IN (
             SELECT d.id FROM collection_documents d, json_each(d.metadata) m
             WHERE d.collection_id = ?1 AND m.key = 'source' AND m.atom = ?2)",
        params![id, source],
    )?;
    upsert_all(&tx, id, chunks)?;
    store::touch(&tx, id)?;
    tx.commit()?;
    Ok(chunks.len())
}

/// Deletes document `doc_id`; NotFound when the collection or the document is missing.
pub fn delete(
    c: &mut Connection,
    owner: &str,
    name: &str,
    doc_id: &str,
) -> Result<(), CollectionError> {
    let tx = c.transaction()?;
    let id = store::id_of(&tx, owner, name)?;
    let n = tx.execute(
        "DELETE FROM collection_documents WHERE collection_id = ?1 AND doc_id = ?2",
        params![id, doc_id],
    )?;
    if n == 0 {
        return Err(CollectionError::NotFound);
    }
    store::touch(&tx, id)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
pub(crate) fn doc(id: &str, text: &str, metadata: Value) -> Document {
    Document {
        id: id.into(),
        text: text.into(),
        metadata: metadata.as_object().cloned().unwrap_or_default(),
        embedding: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::test_db;
    use crate::collections::store::{create, get, NewCollection};
    use serde_json::json;

    fn fts_rows(c: &Connection) -> i64 {
        c.query_row(
            "SELECT count(*) FROM collection_fts WHERE collection_fts MATCH 'zebra'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn upsert_replaces_by_id_and_keeps_the_index_in_step() {
        let mut c = test_db();
        let new = NewCollection {
            name: "docs".into(),
            metadata: Map::new(),
            embedding_model: None,
        };
        create(&c, "u", new).unwrap();
        let mut a = doc("a", "a zebra", json!({"k": 1}));
        a.embedding = Some(json!([0.1, 0.2, 0.3]));
        upsert(
            &mut c,
            "u",
            "docs",
            &[a, doc("b", "a zebra too", json!({}))],
        )
        .unwrap();
        assert_eq!(fts_rows(&c), 2);
        upsert(&mut c, "u", "docs", &[doc("a", "a horse", json!({}))]).unwrap();
        assert_eq!(get(&c, "u", "docs").unwrap().count, 2);
        assert_eq!(fts_rows(&c), 1);
        delete(&mut c, "u", "docs", "b").unwrap();
        assert_eq!(fts_rows(&c), 0);
        assert!(matches!(
            delete(&mut c, "u", "docs", "b"),
            Err(CollectionError::NotFound)
        ));
        assert!(matches!(
            upsert(&mut c, "other", "docs", &[]),
            Err(CollectionError::NotFound)
        ));
    }

    #[test]
    fn replacing_a_source_drops_its_old_chunks_only() {
        let mut c = test_db();
        let new = NewCollection {
            name: "docs".into(),
            metadata: Map::new(),
            embedding_model: None,
        };
        create(&c, "u", new).unwrap();
        let chunks = |n: usize| -> Vec<Document> {
            (0..n)
                .map(|i| doc(&format!("f.md:{i}"), "zebra", json!({"source": "f.md"})))
                .collect()
        };
        upsert(&mut c, "u", "docs", &[doc("keep", "zebra", json!({}))]).unwrap();
        replace_source(&mut c, "u", "docs", "f.md", &chunks(3)).unwrap();
        replace_source(&mut c, "u", "docs", "f.md", &chunks(1)).unwrap();
        assert_eq!(get(&c, "u", "docs").unwrap().count, 2);
        assert_eq!(fts_rows(&c), 2);
    }
}
