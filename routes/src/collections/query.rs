//! Search: the user's words become an FTS5 expression of quoted terms (so no input is FTS5
//! syntax and none can fail to parse), matched documents are filtered by metadata and ranked
//! by BM25.

use rusqlite::types::Value as Sql;
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{store, CollectionError, Filter};

/// Most terms of a query that are searched; the rest are ignored.
pub const MAX_TERMS: usize = 64;
/// Largest `n_results`.
pub const MAX_RESULTS: usize = 1000;

/// Results in the column shape old clients read: parallel lists, best match first. `scores` are
/// BM25 relevance (higher is better).
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Results {
    pub ids: Vec<String>,
    pub documents: Vec<String>,
    pub metadatas: Vec<Map<String, Value>>,
    pub scores: Vec<f64>,
}

/// Each whitespace-separated word as an FTS5 string (`"..."`, inner quotes doubled), any of
/// them matching; words without a letter or digit are dropped (they would match nothing).
/// `None` when no word is left.
pub fn match_expression(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .take(MAX_TERMS)
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" OR "))
}

pub fn search(
    c: &Connection,
    owner: &str,
    name: &str,
    text: &str,
    n_results: usize,
    filter: Option<&Filter>,
) -> Result<Results, CollectionError> {
    let collection = store::id_of(c, owner, name)?;
    let Some(expr) = match_expression(text) else {
        return Ok(Results::default());
    };
    let mut params = vec![Sql::Text(expr), Sql::Integer(collection)];
    let filter_sql = filter
        .map(|f| format!("AND {}", f.to_sql("d.metadata", &mut params)))
        .unwrap_or_default();
    params.push(Sql::Integer(n_results.min(MAX_RESULTS) as i64));
    let sql = format!(
        "SELECT d.doc_id, d.document, d.metadata, bm25(collection_fts) AS rank
         FROM collection_fts JOIN collection_documents d ON d.id = collection_fts.rowid
         WHERE collection_fts MATCH ? AND d.collection_id = ? {filter_sql}
         ORDER BY rank, d.doc_id LIMIT ?"
    );
    let mut stmt = c.prepare(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Results::default();
    while let Some(r) = rows.next()? {
        let metadata: String = r.get(2)?;
        let rank: f64 = r.get(3)?;
        out.ids.push(r.get(0)?);
        out.documents.push(r.get(1)?);
        out.metadatas
            .push(serde_json::from_str(&metadata).unwrap_or_default());
        // FTS5's bm25() is lower-is-better; negate it so a better match scores higher.
        out.scores.push(-rank);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::test_db;
    use crate::collections::documents::{doc, upsert};
    use crate::collections::store::{create, NewCollection};
    use serde_json::json;

    fn setup() -> Connection {
        let mut c = test_db();
        let new = NewCollection {
            name: "docs".into(),
            metadata: Map::new(),
            embedding_model: None,
        };
        create(&c, "u", new).unwrap();
        let docs = [
            doc(
                "rust",
                "Rust is a systems programming language",
                json!({"lang": "en", "year": 2015}),
            ),
            doc(
                "py",
                "Python is a programming language for scripting",
                json!({"lang": "en", "year": 1991}),
            ),
            doc(
                "de",
                "Rust ist eine Programmiersprache",
                json!({"lang": "de", "draft": true}),
            ),
            doc("zoo", "zebras and lions and zebras", json!({"lang": "en"})),
        ];
        upsert(&mut c, "u", "docs", &docs).unwrap();
        c
    }

    fn ids(r: &Results) -> Vec<&str> {
        r.ids.iter().map(String::as_str).collect()
    }

    #[test]
    fn ranks_by_bm25_and_filters_on_metadata() {
        let c = setup();
        let all = search(&c, "u", "docs", "rust programming", 10, None).unwrap();
        assert_eq!(ids(&all)[0], "rust", "both words match best: {all:?}");
        assert_eq!(all.ids.len(), 3);
        assert!(all.scores.windows(2).all(|w| w[0] >= w[1]), "{all:?}");
        assert!(all.scores[0] > 0.0);

        let f = Filter::parse(Some(&json!({"lang": "de"}))).unwrap();
        let de = search(&c, "u", "docs", "rust", 10, f.as_ref()).unwrap();
        assert_eq!(ids(&de), ["de"]);
        let f = Filter::parse(Some(&json!({"year": 1991}))).unwrap();
        assert_eq!(
            ids(&search(&c, "u", "docs", "programming", 10, f.as_ref()).unwrap()),
            ["py"]
        );
        let f = Filter::parse(Some(&json!({"draft": true}))).unwrap();
        assert_eq!(
            ids(&search(&c, "u", "docs", "rust", 10, f.as_ref()).unwrap()),
            ["de"]
        );
        let f = Filter::parse(Some(&json!({"year": "1991"}))).unwrap();
        assert!(search(&c, "u", "docs", "programming", 10, f.as_ref())
            .unwrap()
            .ids
            .is_empty());
        assert_eq!(
            search(&c, "u", "docs", "rust", 1, None).unwrap().ids.len(),
            1
        );
        assert_eq!(
            ids(&search(&c, "u", "docs", "zebra", 10, None).unwrap()),
            ["zoo"]
        );
    }

    #[test]
    fn fts_syntax_in_input_is_just_text() {
        let c = setup();
        for q in [
            "\"",
            "rust\"",
            "NEAR(rust",
            "rust AND",
            "OR",
            "*",
            "lang:en",
            "(",
            "-rust",
            "rust^",
            "{lang}: x",
            "a\"b\"c",
            "NOT",
            "\u{0}",
            "rust*",
        ] {
            search(&c, "u", "docs", q, 10, None).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        }
        assert!(search(&c, "u", "docs", "  ** ", 10, None)
            .unwrap()
            .ids
            .is_empty());
        assert!(matches!(
            search(&c, "other", "docs", "rust", 10, None),
            Err(CollectionError::NotFound)
        ));
    }
}
