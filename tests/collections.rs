//! Collections end to end against the real binary: the `/api` routes and their errors, FTS
//! queries with metadata filters, indexing a markdown file, the old worker's shapes (200 with
//! JSON), and isolation between two users.

mod accounts_support;

use accounts_support::*;
use reqwest::Method;
use serde_json::{json, Value};

fn server() -> Server {
    Server::builder()
        .user("ada", false)
        .user("bob", false)
        .start()
}

#[tokio::test]
async fn collections_create_read_rename_delete_and_their_errors() {
    let server = server();
    let t = As::token(&server);
    let (status, made) = t
        .json(
            Method::POST,
            "/api/collections",
            json!({"name": "notes", "embedding_model": "all-minilm", "metadata": {"team": "a"}}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["name"], "notes");
    assert_eq!(made["count"], 0);
    assert_eq!(made["embedding_model"], "all-minilm");
    assert_eq!(
        made["metadata"],
        json!({"team": "a", "embedding_model": "all-minilm"})
    );
    let (status, body) = t
        .json(Method::POST, "/api/collections", json!({"name": "notes"}))
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["detail"], "Collection 'notes' already exists");

    let long = "x".repeat(65);
    for bad in ["-lead", ".hidden", "a b", "ä", "", long.as_str(), "a/b"] {
        let (status, body) = t
            .json(Method::POST, "/api/collections", json!({ "name": bad }))
            .await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert!(body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Invalid collection name"));
    }
    let (status, _) = t.call(Method::GET, "/api/collections/-lead").await;
    assert_eq!(status, 400);
    let (status, _) = t
        .call(Method::GET, &format!("/api/collections/{long}"))
        .await;
    assert_eq!(status, 400);
    let (status, body) = t.call(Method::GET, "/api/collections/missing").await;
    assert_eq!((status, body), (404, json!({"detail": "Not Found"})));
    let (status, _) = t
        .json(Method::PUT, "/api/collections/missing", json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = t.call(Method::DELETE, "/api/collections/missing").await;
    assert_eq!(status, 404);
    let res = t
        .raw_body(Method::POST, "/api/collections", "application/json", "{")
        .await;
    assert_eq!(res.status(), 400);
    let (status, _) = t.json(Method::POST, "/api/collections", json!({})).await;
    assert_eq!(status, 400, "name is required");

    t.json(
        Method::POST,
        "/api/collections",
        json!({"name": "Other.v2"}),
    )
    .await;
    let (status, list) = t.call(Method::GET, "/api/collections").await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 2);
    let names: Vec<&str> = list["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Other.v2", "notes"]);

    // PUT merges metadata and renames; a rename onto an existing name is 409.
    let (status, body) = t
        .json(
            Method::PUT,
            "/api/collections/notes",
            json!({"name": "journal", "metadata": {"topic": "x"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "journal");
    assert_eq!(
        body["metadata"],
        json!({"team": "a", "topic": "x", "embedding_model": "all-minilm"})
    );
    let (status, _) = t
        .json(
            Method::PUT,
            "/api/collections/journal",
            json!({"name": "Other.v2"}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = t
        .json(
            Method::PUT,
            "/api/collections/journal",
            json!({"name": "bad name"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = t.call(Method::GET, "/api/collections/notes").await;
    assert_eq!(status, 404);

    let res = t.raw(Method::DELETE, "/api/collections/journal").await;
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());
    let (status, _) = t.call(Method::DELETE, "/api/collections/journal").await;
    assert_eq!(status, 404);
    // Unauthenticated callers learn nothing.
    let res = As::anonymous(&server)
        .raw(Method::GET, "/api/collections")
        .await;
    assert_eq!(res.status(), 401);
}

async fn seed(who: &As<'_>, name: &str) {
    let (status, _) = who
        .json(Method::POST, "/api/collections", json!({ "name": name }))
        .await;
    assert_eq!(status, 201);
    let (status, body) = who
        .json(
            Method::POST,
            &format!("/api/collections/{name}/documents"),
            json!({
                "ids": ["rust", "python", "german", "zoo"],
                "documents": [
                    "Rust is a systems programming language focused on safety",
                    "Python is a programming language loved for scripting",
                    "Rust ist eine Programmiersprache",
                    "Zebras and lions live in the zoo",
                ],
                "metadatas": [
                    {"lang": "en", "year": 2015, "compiled": true},
                    {"lang": "en", "year": 1991, "compiled": false},
                    {"lang": "de", "year": 2015},
                    {"lang": "en", "kind": "animals"},
                ],
                "embeddings": [[0.1, 0.2], [0.3], [0.4, 0.5, 0.6, 0.7], [1.0]],
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upserted"], 4);
}

async fn query(who: &As<'_>, name: &str, body: Value) -> (u16, Value) {
    who.json(
        Method::POST,
        &format!("/api/collections/{name}/query"),
        body,
    )
    .await
}

fn ids(results: &Value) -> Vec<&str> {
    results["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn documents_upsert_and_queries_rank_and_filter() {
    let server = server();
    let t = As::token(&server);
    seed(&t, "langs").await;
    let (_, info) = t.call(Method::GET, "/api/collections/langs").await;
    assert_eq!(info["count"], 4);

    let (status, r) = query(&t, "langs", json!({"query": "rust programming"})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(ids(&r)[0], "rust", "both words match best: {r}");
    assert_eq!(ids(&r).len(), 3);
    let scores: Vec<f64> = r["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{r}");
    assert_eq!(
        r["documents"][0],
        "Rust is a systems programming language focused on safety"
    );
    assert_eq!(r["metadatas"][0]["year"], 2015);

    // Equality filters on metadata: strings, numbers, booleans, $eq, $in, $and, $or.
    let cases = [
        (json!({"lang": "de"}), vec!["german"]),
        (json!({"year": 1991}), vec!["python"]),
        (json!({"compiled": true}), vec!["rust"]),
        (json!({"lang": {"$eq": "en"}, "year": 2015}), vec!["rust"]),
        (json!({"year": {"$in": [1991, 1800]}}), vec!["python"]),
        (
            json!({"$or": [{"lang": "de"}, {"year": 1991}]}),
            vec!["german", "python"],
        ),
        (json!({"year": "2015"}), vec![]),
        (json!({"missing": "x"}), vec![]),
    ];
    for (filter, expect) in cases {
        let (status, r) = query(
            &t,
            "langs",
            json!({"query": "rust python programming programmiersprache", "where": filter, "n_results": 10}),
        )
        .await;
        assert_eq!(status, 200, "{filter}: {r}");
        let mut got = ids(&r);
        got.sort();
        assert_eq!(got, expect, "{filter}");
    }
    let (_, r) = query(&t, "langs", json!({"query": "rust python", "n_results": 1})).await;
    assert_eq!(ids(&r).len(), 1);
    // Chroma clients' query_texts are accepted too.
    let (_, r) = query(&t, "langs", json!({"query_texts": ["zebras"]})).await;
    assert_eq!(ids(&r), ["zoo"]);

    // FTS5 syntax in user input is plain text, never an error.
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
        "{a}: b",
        "^x",
    ] {
        let (status, r) = query(&t, "langs", json!({ "query": q })).await;
        assert_eq!(status, 200, "{q:?}: {r}");
    }
    for bad in [
        json!({"query": ""}),
        json!({"query": "   "}),
        json!({}),
        json!({"query": "x", "where": {"year": {"$gt": 1}}}),
        json!({"query": "x", "where": {"year": [1]}}),
        json!({"query": "x", "where": [1]}),
        json!({"query": "x", "n_results": -1}),
    ] {
        let (status, r) = query(&t, "langs", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {r}");
    }
    let (status, _) = query(&t, "nope", json!({"query": "rust"})).await;
    assert_eq!(status, 404);

    // Upsert by id replaces the text (and the index follows).
    let (status, _) = t.json(Method::POST, "/api/collections/langs/documents", json!({"ids": ["zoo"], "documents": ["Penguins only now"], "metadatas": [{"kind": "birds"}]}))
    .await;
    assert_eq!(status, 200);
    let (_, r) = query(&t, "langs", json!({"query": "zebras"})).await;
    assert!(ids(&r).is_empty(), "{r}");
    let (_, r) = query(
        &t,
        "langs",
        json!({"query": "penguins", "where": {"kind": "birds"}}),
    )
    .await;
    assert_eq!(ids(&r), ["zoo"]);
    let (_, info) = t.call(Method::GET, "/api/collections/langs").await;
    assert_eq!(info["count"], 4);

    // Add errors: mismatched lengths, bad ids, a missing collection.
    for bad in [
        json!({"ids": ["a"], "documents": []}),
        json!({"ids": ["a"]}),
        json!({"ids": ["a", "b"], "documents": ["x", "y"], "metadatas": [{}]}),
        json!({"ids": [""], "documents": ["x"]}),
        json!({"ids": ["a"], "documents": ["x"], "metadatas": ["not an object"]}),
        json!({"documents": ["x"]}),
    ] {
        let (status, r) = t
            .json(
                Method::POST,
                "/api/collections/langs/documents",
                bad.clone(),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {r}");
    }
    let (status, _) = t
        .json(
            Method::POST,
            "/api/collections/nope/documents",
            json!({"ids": [], "documents": []}),
        )
        .await;
    assert_eq!(status, 404);

    // Delete one document; ids with reserved characters travel percent-encoded.
    t.json(
        Method::POST,
        "/api/collections/langs/documents",
        json!({"ids": ["a b/c#d"], "documents": ["odd id"]}),
    )
    .await;
    let res = t
        .raw(
            Method::DELETE,
            "/api/collections/langs/documents/a%20b%2Fc%23d",
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = t
        .raw(Method::DELETE, "/api/collections/langs/documents/python")
        .await;
    assert_eq!(res.status(), 204);
    let (status, _) = t
        .call(Method::DELETE, "/api/collections/langs/documents/python")
        .await;
    assert_eq!(status, 404);
    let (_, r) = query(&t, "langs", json!({"query": "python"})).await;
    assert!(ids(&r).is_empty());
    let (_, info) = t.call(Method::GET, "/api/collections/langs").await;
    assert_eq!(info["count"], 3);
}

const GUIDE: &str = "# Guide

Platform server replaces two Python services with one binary.

## Install

Download the release archive and unpack it. Then run the installer script, which sets up a
systemd unit, a socket and an environment file with the settings it needs.

## Configure

Set SECRETS_MASTER_KEY before the first start. The AUTH_PROVIDER setting picks how callers
sign in: multi_user keeps accounts in the database, jwt trusts an external issuer.

## Troubleshooting

If the server does not start, read the journal. Every refusal names the setting to fix.
";

#[tokio::test]
async fn indexing_a_markdown_file_makes_searchable_chunks() {
    let server = server();
    let t = As::token(&server);
    t.json(Method::POST, "/api/collections", json!({"name": "docs"}))
        .await;
    let fields = [("chunk_size", "200"), ("chunk_overlap", "40")];
    let (status, body) = t
        .upload(
            "/api/collections/docs/index",
            "guide.md",
            GUIDE.as_bytes(),
            &fields,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "guide.md");
    assert_eq!(body["error"], Value::Null);
    let chunks = body["chunks"].as_u64().unwrap();
    assert!(chunks >= 4, "{body}");
    let (_, info) = t.call(Method::GET, "/api/collections/docs").await;
    assert_eq!(info["count"], chunks);

    let (status, r) = query(
        &t,
        "docs",
        json!({"query": "journal refusal", "where": {"source": "guide.md"}}),
    )
    .await;
    assert_eq!(status, 200);
    let metas = r["metadatas"].as_array().unwrap();
    assert!(!metas.is_empty());
    assert!(metas.iter().all(|m| m["source"] == "guide.md"), "{r}");
    assert!(
        metas.iter().any(|m| m["section"] == "Troubleshooting"),
        "{r}"
    );
    for (id, m) in ids(&r).iter().zip(metas) {
        let position = m["position"].as_u64().unwrap();
        assert_eq!(*id, format!("guide.md:{position}"));
        assert!(position > 0 && m["offset"].as_u64().unwrap() > 0, "{m}");
    }
    let (_, r) = query(&t, "docs", json!({"query": "systemd socket"})).await;
    assert_eq!(r["metadatas"][0]["section"], "Install", "{r}");
    let (_, r) = query(
        &t,
        "docs",
        json!({"query": "platform", "where": {"position": 0}}),
    )
    .await;
    assert_eq!(ids(&r), ["guide.md:0"], "{r}");
    assert_eq!(r["metadatas"][0]["section"], "Guide");
    assert_eq!(r["metadatas"][0]["offset"], 0);

    // Re-indexing the file replaces its chunks; other documents stay.
    t.json(
        Method::POST,
        "/api/collections/docs/documents",
        json!({"ids": ["mine"], "documents": ["hand written"]}),
    )
    .await;
    let (status, body) = t
        .upload(
            "/api/collections/docs/index",
            "guide.md",
            b"# Guide\n\nShort now.",
            &[],
        )
        .await;
    assert_eq!((status, body["chunks"].as_u64()), (200, Some(1)));
    let (_, info) = t.call(Method::GET, "/api/collections/docs").await;
    assert_eq!(info["count"], 2);
    let (_, r) = query(&t, "docs", json!({"query": "journal"})).await;
    assert!(ids(&r).is_empty());

    // A plain text file under the legacy worker route and the admin shape.
    let (status, body) = t
        .upload(
            "/collections/docs/index",
            "notes.txt",
            b"plain text about zebras",
            &[],
        )
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (200, Value::Null),
        "{body}"
    );
    let (status, body) = t
        .upload(
            "/admin/collections/docs/index",
            "more.txt",
            b"lions too",
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, r) = query(&t, "docs", json!({"query": "zebras lions"})).await;
    assert_eq!(ids(&r).len(), 2);

    // Errors: not UTF-8 (400 on /api, the old worker's 200 with an error on its shapes), no
    // file part, not multipart, bad chunk options, a missing collection.
    let (status, _) = t
        .upload(
            "/api/collections/docs/index",
            "x.bin",
            &[0xff, 0xfe, 0x00],
            &[],
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = t
        .upload("/collections/docs/index", "x.bin", &[0xff, 0xfe, 0x00], &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["path"], "x.bin");
    assert!(body["error"].is_string());
    let res = t
        .raw_body(
            Method::POST,
            "/api/collections/docs/index",
            "multipart/form-data; boundary=xyz",
            "--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--xyz--\r\n",
        )
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["detail"], "multipart field 'file' is required");
    let res = t
        .req(Method::POST, "/api/collections/docs/index")
        .json(&json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let bad_chunks = [
        (
            "/api/collections/docs/index",
            vec![("chunk_size", "5")],
            400,
        ),
        (
            "/api/collections/docs/index",
            vec![("chunk_overlap", "lots")],
            400,
        ),
        ("/api/collections/none/index", vec![], 404),
        ("/collections/bad%20name/index", vec![], 400),
    ];
    for (path, fields, want) in bad_chunks {
        let (status, _) = t.upload(path, "a.md", b"x", &fields).await;
        assert_eq!(status, want, "{path} {fields:?}");
    }
}

#[tokio::test]
async fn the_old_workers_shapes_answer_200_with_json() {
    let server = Server::builder().env("ADMIN_TOKEN", "admin-secret").start();
    let admin = |method: Method, path: &str| {
        client()
            .request(method, server.url(path))
            .bearer_auth(SERVER_TOKEN)
            .header("x-admin-token", "admin-secret")
            // What the old worker's clients send on every call.
            .header("accept", "application/json, text/event-stream")
    };
    let (status, body) = send(
        admin(Method::POST, "/admin/collections")
            .json(&json!({"name": "kb", "embedding_model": "nomic-embed-text"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "kb");
    assert_eq!(body["count"], 0);
    assert_eq!(body["metadata"]["embedding_model"], "nomic-embed-text");
    let (status, _) = send(
        admin(Method::POST, "/admin/collections")
            .json(&json!({"name": "kb", "embedding_model": "x"})),
    )
    .await;
    assert_eq!(status, 409);

    // Add with embeddings of any length, as the old clients send them.
    let (status, body) = send(
        admin(Method::POST, "/admin/collections/kb/add").json(&json!({
            "ids": ["1", "2"],
            "documents": ["alpha beta", "gamma delta"],
            "metadatas": [{"k": "v"}, {"k": "w"}],
            "embeddings": [vec![0.5_f64; 768], vec![0.25_f64; 3]],
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["message"],
        "Documents added to collection kb successfully"
    );

    let (status, body) = send(admin(Method::GET, "/admin/collections")).await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 1);
    assert_eq!(body["collections"][0]["name"], "kb");
    assert_eq!(body["collections"][0]["count"], 2);
    let (status, body) = send(admin(Method::GET, "/admin/collections/kb")).await;
    assert_eq!((status, body["count"].clone()), (200, json!(2)));
    let (status, body) = send(
        admin(Method::PUT, "/admin/collections/kb").json(&json!({"metadata": {"workflow": "w1"}})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["metadata"]["workflow"], "w1");
    let (status, body) = send(
        admin(Method::POST, "/admin/collections/kb/query")
            .json(&json!({"query": "gamma", "where": {"k": "w"}})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["ids"], json!(["2"]));
    let (status, body) = send(admin(Method::DELETE, "/admin/collections/kb/documents/2")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["message"].is_string());
    let (status, body) = send(admin(Method::DELETE, "/admin/collections/kb")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"message": "Collection kb deleted successfully"})
    );
    let (status, _) = send(admin(Method::GET, "/admin/collections/kb")).await;
    assert_eq!(status, 404);
    // The admin token layer guards these like every /admin route.
    let res = client()
        .get(server.url("/admin/collections"))
        .bearer_auth(SERVER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn users_see_only_their_own_collections() {
    let server = server();
    let ada = As::user(&server, "ada").await;
    let bob = As::user(&server, "bob").await;
    seed(&ada, "notes").await;

    let (status, list) = bob.call(Method::GET, "/api/collections").await;
    assert_eq!((status, list["count"].clone()), (200, json!(0)));
    for (method, path, body) in [
        (Method::GET, "/api/collections/notes", None),
        (
            Method::PUT,
            "/api/collections/notes",
            Some(json!({"name": "mine"})),
        ),
        (
            Method::POST,
            "/api/collections/notes/query",
            Some(json!({"query": "rust"})),
        ),
        (
            Method::POST,
            "/api/collections/notes/documents",
            Some(json!({"ids": ["x"], "documents": ["y"]})),
        ),
        (
            Method::DELETE,
            "/api/collections/notes/documents/rust",
            None,
        ),
        (Method::DELETE, "/api/collections/notes", None),
        (Method::GET, "/admin/collections/notes", None),
    ] {
        let (status, _) = bob.request(method.clone(), path, body).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    let (status, _) = bob
        .upload("/api/collections/notes/index", "a.txt", b"x", &[])
        .await;
    assert_eq!(status, 404);
    // Bob may have a collection of the same name; each sees only their own documents.
    let (status, _) = bob
        .json(Method::POST, "/api/collections", json!({"name": "notes"}))
        .await;
    assert_eq!(status, 201);
    let (_, r) = query(&bob, "notes", json!({"query": "rust"})).await;
    assert!(ids(&r).is_empty());
    let (_, r) = query(&ada, "notes", json!({"query": "rust"})).await;
    assert_eq!(ids(&r).len(), 2);
    // The server token is user "1": neither of them.
    let (_, list) = As::token(&server)
        .call(Method::GET, "/api/collections")
        .await;
    assert_eq!(list["count"], 0);
    let (_, info) = ada.call(Method::GET, "/api/collections/notes").await;
    assert_eq!(info["count"], 4);
}
