//! Collections (document search) under `/api/collections`, and the same handlers under the old
//! worker's shapes (`/admin/collections...`, `/collections/{name}/index`), which answer 200 with
//! JSON on success because the old worker's clients accept nothing else.
//!
//! Collections belong to the caller (`Identity::user_id`); another user's collection is 404.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, Response, StatusCode};
use platform_middleware::body::{self, Body};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::collections::chunk::{self, Options};
use crate::collections::documents::{self, Document};
use crate::collections::store::{self, Changes, NewCollection};
use crate::collections::{check_name, query, CollectionError, Filter};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::reply;
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "collections",
    register,
};

/// Largest body of an add (documents plus old clients' embeddings).
pub const ADD_LIMIT: usize = 32 * 1024 * 1024;
/// Largest multipart body of an index request (the file plus the form around it).
pub const INDEX_LIMIT: usize = 32 * 1024 * 1024;
/// `n_results` when a query does not say.
pub const DEFAULT_RESULTS: usize = 10;

fn register(r: &mut Routes<'_>) {
    r.get("/api/collections", list);
    r.post("/api/collections", |ctx| create(ctx, Shape::Api));
    r.get("/api/collections/{name}", get);
    r.put("/api/collections/{name}", update);
    r.delete("/api/collections/{name}", |ctx| delete(ctx, Shape::Api));
    r.post("/api/collections/{name}/documents", add);
    r.delete("/api/collections/{name}/documents/{id}", |ctx| {
        delete_document(ctx, Shape::Api)
    });
    r.post("/api/collections/{name}/query", search);
    r.post("/api/collections/{name}/index", |ctx| {
        index(ctx, Shape::Api)
    });

    r.get("/admin/collections", list);
    r.post("/admin/collections", |ctx| create(ctx, Shape::Worker));
    r.get("/admin/collections/{name}", get);
    r.put("/admin/collections/{name}", update);
    r.delete("/admin/collections/{name}", |ctx| {
        delete(ctx, Shape::Worker)
    });
    r.post("/admin/collections/{name}/add", add);
    r.post("/admin/collections/{name}/documents", add);
    r.delete("/admin/collections/{name}/documents/{id}", |ctx| {
        delete_document(ctx, Shape::Worker)
    });
    r.post("/admin/collections/{name}/query", search);
    r.post("/admin/collections/{name}/index", |ctx| {
        index(ctx, Shape::Worker)
    });
    r.post("/collections/{name}/index", |ctx| index(ctx, Shape::Worker));
}

/// Which family of routes answered: the worker's always say 200 with a JSON body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Api,
    Worker,
}

impl From<CollectionError> for ApiError {
    fn from(e: CollectionError) -> Self {
        match e {
            CollectionError::Invalid(msg) => ApiError::BadRequest(msg),
            CollectionError::Exists(_) => ApiError::Conflict(e.to_string()),
            CollectionError::NotFound => ApiError::NotFound,
            CollectionError::Db(e) => ApiError::internal(e),
        }
    }
}

fn owner(ctx: &Ctx) -> Result<String, ApiError> {
    Ok(ctx.identity()?.user_id.clone())
}

/// The `{name}` of the path, checked (400 for a name that cannot exist).
fn name(ctx: &Ctx) -> Result<String, ApiError> {
    let name = ctx.param("name").unwrap_or_default();
    check_name(name)?;
    Ok(name.to_owned())
}

fn no_content() -> Response<Body> {
    let mut res = Response::new(body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    res
}

/// A large JSON body, parsed on a blocking thread so a big add does not stall an async worker.
async fn large_json<T: DeserializeOwned + Send + 'static>(
    ctx: &mut Ctx,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = ctx.bytes_limited(limit).await?;
    tokio::task::spawn_blocking(move || serde_json::from_slice(&bytes))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON body: {e}")))
}

async fn list(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let owner = owner(&ctx)?;
    let all = ctx.db(move |c| Ok(store::list(c, &owner)?)).await?;
    reply::ok(&json!({ "count": all.len(), "collections": all }))
}

#[derive(Deserialize)]
struct Create {
    name: String,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    embedding_model: Option<String>,
}

async fn create(mut ctx: Ctx, shape: Shape) -> Result<Response<Body>, ApiError> {
    let owner = owner(&ctx)?;
    let req: Create = ctx.json().await?;
    check_name(&req.name)?;
    let new = NewCollection {
        name: req.name,
        metadata: req.metadata.unwrap_or_default(),
        embedding_model: req.embedding_model,
    };
    let made = ctx.db(move |c| Ok(store::create(c, &owner, new)?)).await?;
    let status = match shape {
        Shape::Api => StatusCode::CREATED,
        Shape::Worker => StatusCode::OK,
    };
    reply::json(status, &made)
}

async fn get(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let (owner, name) = (owner(&ctx)?, name(&ctx)?);
    let found = ctx.db(move |c| Ok(store::get(c, &owner, &name)?)).await?;
    reply::ok(&found)
}

#[derive(Deserialize)]
struct Update {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    embedding_model: Option<String>,
}

async fn update(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let (owner, name) = (owner(&ctx)?, name(&ctx)?);
    let req: Update = ctx.json().await?;
    let changes = Changes {
        name: req.name,
        metadata: req.metadata,
        embedding_model: req.embedding_model,
    };
    let updated = ctx
        .db(move |c| Ok(store::update(c, &owner, &name, changes)?))
        .await?;
    reply::ok(&updated)
}

async fn delete(ctx: Ctx, shape: Shape) -> Result<Response<Body>, ApiError> {
    let (owner, name) = (owner(&ctx)?, name(&ctx)?);
    let gone = name.clone();
    ctx.db(move |c| Ok(store::delete(c, &owner, &gone)?))
        .await?;
    match shape {
        Shape::Api => Ok(no_content()),
        Shape::Worker => reply::ok(&json!({
            "message": format!("Collection {name} deleted successfully")
        })),
    }
}

#[derive(Deserialize)]
struct Add {
    ids: Vec<String>,
    #[serde(default)]
    documents: Option<Vec<Option<String>>>,
    #[serde(default)]
    metadatas: Option<Vec<Option<Map<String, Value>>>>,
    /// Old clients' vectors (any length): stored with each document, never refused.
    #[serde(default)]
    embeddings: Option<Value>,
}

/// The documents of an add, checked for matching lengths.
fn documents_of(req: Add) -> Result<Vec<Document>, ApiError> {
    let n = req.ids.len();
    let texts = req.documents.unwrap_or_default();
    if texts.len() != n {
        return Err(ApiError::BadRequest(format!(
            "ids and documents must have the same length ({n} ids, {} documents)",
            texts.len()
        )));
    }
    let mut metadatas = req.metadatas.unwrap_or_default().into_iter();
    if metadatas.len() != 0 && metadatas.len() != n {
        return Err(ApiError::BadRequest(format!(
            "metadatas must have one entry per id ({n} ids, {} metadatas)",
            metadatas.len()
        )));
    }
    let mut embeddings = match req.embeddings {
        Some(Value::Array(items)) => items.into_iter(),
        _ => Vec::new().into_iter(),
    };
    Ok(req
        .ids
        .into_iter()
        .zip(texts)
        .map(|(id, text)| Document {
            id,
            text: text.unwrap_or_default(),
            metadata: metadatas.next().flatten().unwrap_or_default(),
            embedding: embeddings.next().filter(|e| !e.is_null()),
        })
        .collect())
}

async fn add(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let (owner, name) = (owner(&ctx)?, name(&ctx)?);
    let req: Add = large_json(&mut ctx, ADD_LIMIT).await?;
    let docs = documents_of(req)?;
    let target = name.clone();
    let n = ctx
        .db(move |c| Ok(documents::upsert(c, &owner, &target, &docs)?))
        .await?;
    reply::ok(&json!({
        "message": format!("Documents added to collection {name} successfully"),
        "upserted": n,
    }))
}

async fn delete_document(ctx: Ctx, shape: Shape) -> Result<Response<Body>, ApiError> {
    let (owner, name) = (owner(&ctx)?, name(&ctx)?);
    let raw = ctx.param("id").unwrap_or_default();
    let id = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::BadRequest("document id is not UTF-8".into()))?
        .into_owned();
    let gone = id.clone();
    ctx.db(move |c| Ok(documents::delete(c, &owner, &name, &gone)?))
        .await?;
    match shape {
        Shape::Api => Ok(no_content()),
        Shape::Worker => reply::ok(&json!({ "message": format!("Document {id} deleted") })),
    }
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    query: Option<String>,
    /// Chroma clients' list of queries: searched as one.
    #[serde(default)]
    query_texts: Option<Vec<String>>,
    #[serde(default)]
    n_results: Option<usize>,
    #[serde(default, rename = "where")]
    filter: Option<Value>,
}

async fn search(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let (owner, name) = (owner(&ctx)?, name(&ctx)?);
    let req: Search = ctx.json().await?;
    let text = req
        .query
        .or_else(|| req.query_texts.map(|q| q.join(" ")))
        .unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("query must not be empty".into()));
    }
    let filter = Filter::parse(req.filter.as_ref())?;
    let n = req.n_results.unwrap_or(DEFAULT_RESULTS);
    let results = ctx
        .db(move |c| Ok(query::search(c, &owner, &name, &text, n, filter.as_ref())?))
        .await?;
    reply::ok(&results)
}

/// What the multipart form of an index request carried.
struct Upload {
    filename: String,
    content_type: Option<String>,
    bytes: Bytes,
    size: Option<usize>,
    overlap: Option<usize>,
}

fn bad_form(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("Invalid multipart body: {e}"))
}

async fn whole_number(field: multer::Field<'_>, what: &str) -> Result<usize, ApiError> {
    let text = field.text().await.map_err(bad_form)?;
    text.trim()
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{what} must be a whole number")))
}

async fn read_upload(ctx: &mut Ctx) -> Result<Upload, ApiError> {
    let content_type = ctx
        .parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::BadRequest("Expected a multipart/form-data body with a 'file' part".into())
    })?;
    let bytes = ctx.bytes_limited(INDEX_LIMIT).await?;
    let stream = futures_util::stream::once(async move { Ok::<_, Infallible>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut file = None;
    let (mut size, mut overlap) = (None, None);
    while let Some(field) = form.next_field().await.map_err(bad_form)? {
        match field.name() {
            Some("file") => {
                let filename = field.file_name().unwrap_or("uploaded_file").to_owned();
                let content_type = field.content_type().map(|m| m.to_string());
                let bytes = field.bytes().await.map_err(bad_form)?;
                file = Some((filename, content_type, bytes));
            }
            Some("chunk_size") => size = Some(whole_number(field, "chunk_size").await?),
            Some("chunk_overlap") => overlap = Some(whole_number(field, "chunk_overlap").await?),
            _ => {}
        }
    }
    let (filename, content_type, bytes) =
        file.ok_or_else(|| ApiError::BadRequest("multipart field 'file' is required".into()))?;
    Ok(Upload {
        filename,
        content_type,
        bytes,
        size,
        overlap,
    })
}

/// The file name as a chunk source: no control characters, at most 255 characters.
fn source_of(filename: &str) -> String {
    let clean: String = filename
        .chars()
        .filter(|c| !c.is_control())
        .take(255)
        .collect();
    if clean.trim().is_empty() {
        "uploaded_file".into()
    } else {
        clean
    }
}

/// Chunks of the file as documents `{source}:{position}` with their source and position.
fn chunk_documents(text: &str, source: &str, opts: Options) -> Vec<Document> {
    chunk::split(text, opts)
        .into_iter()
        .map(|c| {
            let mut metadata = Map::new();
            metadata.insert("source".into(), json!(source));
            metadata.insert("position".into(), json!(c.position));
            metadata.insert("offset".into(), json!(c.offset));
            if let Some(section) = c.section {
                metadata.insert("section".into(), json!(section));
            }
            Document {
                id: format!("{source}:{}", c.position),
                text: c.text,
                metadata,
                embedding: None,
            }
        })
        .collect()
}

async fn index(mut ctx: Ctx, shape: Shape) -> Result<Response<Body>, ApiError> {
    let (owner, name) = (owner(&ctx)?, name(&ctx)?);
    let upload = read_upload(&mut ctx).await?;
    let markdown = chunk::is_markdown(&upload.filename, upload.content_type.as_deref());
    let opts = Options::new(
        upload.size.unwrap_or(chunk::DEFAULT_SIZE),
        upload.overlap.unwrap_or(chunk::DEFAULT_OVERLAP),
        markdown,
    )
    .map_err(ApiError::BadRequest)?;
    let source = source_of(&upload.filename);
    let (src, bytes) = (source.clone(), upload.bytes);
    let chunked = tokio::task::spawn_blocking(move || {
        let text = std::str::from_utf8(&bytes).ok()?;
        Some(chunk_documents(
            text.trim_start_matches('\u{feff}'),
            &src,
            opts,
        ))
    })
    .await
    .map_err(ApiError::internal)?;
    let Some(chunks) = chunked else {
        let error = "file must be UTF-8 text or markdown";
        return match shape {
            Shape::Api => Err(ApiError::BadRequest(error.into())),
            // The old worker reported indexing failures in a 200 body.
            Shape::Worker => reply::ok(&json!({ "path": upload.filename, "error": error })),
        };
    };
    let src = source.clone();
    let n = ctx
        .db(move |c| Ok(documents::replace_source(c, &owner, &name, &src, &chunks)?))
        .await?;
    reply::ok(&json!({
        "path": upload.filename,
        "error": null,
        "source": source,
        "chunks": n,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_bodies_keep_embeddings_of_any_length() {
        let req: Add = serde_json::from_value(json!({
            "ids": ["a", "b"],
            "documents": ["one", null],
            "metadatas": [{"k": "v"}, null],
            "embeddings": [[0.1, 0.2], [0.3, 0.4, 0.5, 0.6]],
        }))
        .unwrap();
        let docs = documents_of(req).unwrap();
        assert_eq!(docs[0].embedding, Some(json!([0.1, 0.2])));
        assert_eq!(docs[1].embedding, Some(json!([0.3, 0.4, 0.5, 0.6])));
        assert_eq!(docs[1].text, "");
        assert_eq!(docs[0].metadata["k"], "v");

        let mismatch: Add = serde_json::from_value(json!({"ids": ["a"], "documents": []})).unwrap();
        assert!(documents_of(mismatch).is_err());
        let few_embeddings: Add = serde_json::from_value(
            json!({"ids": ["a", "b"], "documents": ["x", "y"], "embeddings": [[1.0]]}),
        )
        .unwrap();
        assert_eq!(documents_of(few_embeddings).unwrap()[1].embedding, None);
    }

    #[test]
    fn sources_are_clean() {
        assert_eq!(source_of("notes.md"), "notes.md");
        assert_eq!(source_of("a\nb"), "ab");
        assert_eq!(source_of(" "), "uploaded_file");
        assert_eq!(source_of(&"x".repeat(300)).len(), 255);
    }
}
