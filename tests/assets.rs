//! Assets end to end against the real binary: folders, multipart uploads, pages, moves,
//! subtree deletes, the worker's admin shapes and `/admin/db`, and isolation between two users
//! made with `platform-server user add` and signed in through `/auth/login`.

mod accounts_support;

use accounts_support::*;
use reqwest::Method;
use serde_json::{json, Value};

/// What the old clients send on every call.
const OLD_ACCEPT: &str = "application/json, text/event-stream";

async fn user<'a>(server: &'a Server, name: &str) -> As<'a> {
    As::user(server, name)
        .await
        .with_header("accept", OLD_ACCEPT)
}

fn token(server: &Server) -> As<'_> {
    As::token(server).with_header("accept", OLD_ACCEPT)
}

async fn upload_without_file(who: &As<'_>) -> (u16, Value) {
    let body = "--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--b--\r\n";
    let req = who
        .req(Method::POST, "/api/assets")
        .header("content-type", "multipart/form-data; boundary=b")
        .body(body);
    send(req).await
}

fn ids(list: &Value) -> Vec<String> {
    list["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn folders_uploads_pages_moves_and_subtree_deletes() {
    let server = Server::builder().user("ada", false).start();
    let ada = user(&server, "ada").await;
    let (status, folder) = ada
        .json(
            Method::POST,
            "/api/assets",
            json!({"name": "docs", "content_type": "folder"}),
        )
        .await;
    assert_eq!(status, 201, "{folder}");
    let user_id = folder["user_id"].as_str().unwrap().to_owned();
    assert_eq!(folder["parent_id"], user_id.as_str());
    assert_eq!(folder["get_url"], Value::Null);
    let docs = folder["id"].as_str().unwrap().to_owned();

    let (status, file) = ada
        .upload(
            "/api/assets",
            "notes.txt",
            b"some notes",
            &[("parent_id", &docs), ("metadata", r#"{"tag":"x"}"#)],
        )
        .await;
    assert_eq!(status, 201, "{file}");
    for field in [
        "id",
        "user_id",
        "parent_id",
        "name",
        "content_type",
        "size",
        "metadata",
        "created_at",
        "get_url",
    ] {
        assert!(file.get(field).is_some(), "{field} missing: {file}");
    }
    assert_eq!(
        (
            &file["name"],
            &file["content_type"],
            &file["size"],
            &file["parent_id"]
        ),
        (
            &json!("notes.txt"),
            &json!("text/plain"),
            &json!(10),
            &json!(docs)
        )
    );
    assert_eq!(file["metadata"], json!({"tag": "x"}));
    let url = file["get_url"].as_str().unwrap().to_owned();
    assert_eq!(ada.bytes(&url).await, (200, b"some notes".to_vec()));
    let file_id = file["id"].as_str().unwrap().to_owned();

    // The old client's form: a `json` part with the fields.
    let (status, other) = ada
        .upload(
            "/api/assets",
            "pic.png",
            b"\x89PNG",
            &[("json", r#"{"name":"picture","content_type":"image/png"}"#)],
        )
        .await;
    assert_eq!(status, 201, "{other}");
    assert_eq!(
        (&other["name"], &other["content_type"]),
        (&json!("picture"), &json!("image/png"))
    );
    assert!(other["get_url"].as_str().unwrap().ends_with(".png"));
    let (status, body) = ada
        .upload("/api/assets", "x.txt", b"x", &[("parent_id", "nope")])
        .await;
    assert_eq!(
        (status, &body["detail"]),
        (422, &json!("Parent folder not found"))
    );

    // Pages of the root folder.
    for name in ["a", "b", "c"] {
        ada.json(Method::POST, "/api/assets", json!({"name": name}))
            .await;
    }
    let (_, all) = ada.call(Method::GET, "/api/assets").await;
    assert_eq!(ids(&all).len(), 5);
    assert_eq!(all["next"], Value::Null);
    let mut seen = Vec::new();
    let mut path = "/api/assets?page_size=2".to_owned();
    loop {
        let (status, page) = ada.call(Method::GET, &path).await;
        assert_eq!(status, 200);
        assert!(ids(&page).len() <= 2);
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/assets?page_size=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ids(&all));
    let (_, in_docs) = ada
        .call(Method::GET, &format!("/api/assets?parent_id={docs}"))
        .await;
    assert_eq!(ids(&in_docs), [file_id.as_str()]);
    let (_, images) = ada
        .call(Method::GET, "/api/assets?content_type=image")
        .await;
    assert_eq!(ids(&images).len(), 1);
    assert_eq!(
        ada.call(Method::GET, "/api/assets?page_size=x").await.0,
        400
    );
    assert_eq!(ada.call(Method::GET, "/api/assets?cursor=x").await.0, 400);

    // Get, rename, move; a folder cannot go below itself.
    let (status, got) = ada
        .call(Method::GET, &format!("/api/assets/{file_id}"))
        .await;
    assert_eq!((status, &got["name"]), (200, &json!("notes.txt")));
    let (status, moved) = ada
        .json(
            Method::PUT,
            &format!("/api/assets/{file_id}"),
            json!({"name": "n.txt", "parent_id": user_id}),
        )
        .await;
    assert_eq!(
        (status, &moved["name"], &moved["parent_id"]),
        (200, &json!("n.txt"), &json!(user_id))
    );
    assert_eq!(moved["metadata"], json!({"tag": "x"}));
    let (_, sub) = ada
        .json(
            Method::POST,
            "/api/assets",
            json!({"name": "sub", "parent_id": docs}),
        )
        .await;
    let sub = sub["id"].as_str().unwrap().to_owned();
    let (status, _) = ada
        .json(
            Method::PUT,
            &format!("/api/assets/{docs}"),
            json!({"parent_id": sub}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = ada
        .json(
            Method::PUT,
            &format!("/api/assets/{file_id}"),
            json!({"parent_id": sub, "metadata": null}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        ada.json(Method::PUT, "/api/assets/nope", json!({"name": "x"}))
            .await
            .0,
        404
    );

    // Deleting the folder takes its subtree and the files.
    let (status, deleted) = ada
        .call(Method::DELETE, &format!("/api/assets/{docs}"))
        .await;
    assert_eq!(status, 200);
    let mut gone: Vec<String> = deleted["deleted_asset_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(gone.last(), Some(&docs));
    gone.sort();
    let mut want = vec![docs.clone(), sub.clone(), file_id.clone()];
    want.sort();
    assert_eq!(gone, want);
    assert_eq!(
        ada.call(Method::GET, &format!("/api/assets/{file_id}"))
            .await
            .0,
        404
    );
    assert_eq!(ada.bytes(&url).await.0, 404);
    assert_eq!(
        ada.call(Method::DELETE, &format!("/api/assets/{docs}"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn users_never_see_each_others_assets() {
    let server = Server::builder()
        .user("ada", false)
        .user("bob", false)
        .start();
    let ada = user(&server, "ada").await;
    let bob = user(&server, "bob").await;
    let (_, folder) = ada
        .json(Method::POST, "/api/assets", json!({"name": "private"}))
        .await;
    let folder = folder["id"].as_str().unwrap().to_owned();
    let (_, file) = ada
        .upload("/api/assets", "a.txt", b"ada's", &[("parent_id", &folder)])
        .await;
    let file = file["id"].as_str().unwrap().to_owned();
    let ada_id = ada.call(Method::GET, "/api/me").await.1["user_id"]
        .as_str()
        .unwrap()
        .to_owned();

    for id in [&folder, &file] {
        assert_eq!(
            bob.call(Method::GET, &format!("/api/assets/{id}")).await.0,
            404
        );
        assert_eq!(
            bob.json(
                Method::PUT,
                &format!("/api/assets/{id}"),
                json!({"name": "x"})
            )
            .await
            .0,
            404
        );
        assert_eq!(
            bob.call(Method::DELETE, &format!("/api/assets/{id}"))
                .await
                .0,
            404
        );
        // The worker's shape does not let a non-admin act as someone else.
        let path = format!("/admin/assets/{id}?user_id={ada_id}");
        assert_eq!(bob.call(Method::GET, &path).await.0, 404);
        assert_eq!(
            bob.call(Method::DELETE, &format!("/admin/assets/{id}"))
                .await
                .0,
            404
        );
    }
    let (_, list) = bob.call(Method::GET, "/api/assets").await;
    assert!(ids(&list).is_empty());
    let (_, list) = bob
        .call(Method::GET, &format!("/api/assets?parent_id={folder}"))
        .await;
    assert!(ids(&list).is_empty());
    let (_, list) = bob
        .call(Method::GET, &format!("/admin/assets?user_id={ada_id}"))
        .await;
    assert!(ids(&list).is_empty());
    // Nor put things in their folders.
    let (status, _) = bob
        .json(
            Method::POST,
            "/api/assets",
            json!({"name": "x", "parent_id": folder}),
        )
        .await;
    assert_eq!(status, 422);
    // Ada still has everything.
    let (_, list) = ada
        .call(Method::GET, &format!("/api/assets?parent_id={folder}"))
        .await;
    assert_eq!(ids(&list), [file.as_str()]);
    // An admin (the server token) reaches them through the worker's shape.
    let admin = token(&server);
    assert_eq!(
        admin
            .call(Method::GET, &format!("/admin/assets/{file}"))
            .await
            .0,
        200
    );
    let (_, list) = admin
        .call(Method::GET, &format!("/admin/assets?user_id={ada_id}"))
        .await;
    assert_eq!(ids(&list), [folder.as_str()]);
}

#[tokio::test]
async fn the_old_workers_admin_shapes_answer_200() {
    let server = Server::builder().user("bob", false).start();
    let admin = token(&server);
    let (status, asset) = admin
        .json(
            Method::POST,
            "/admin/assets",
            json!({"id": "abc", "user_id": "1", "name": "pic.png", "content_type": "image/png",
                   "workflow_id": "wf", "metadata": {"w": 1}}),
        )
        .await;
    assert_eq!(status, 200, "{asset}");
    assert_eq!(
        (&asset["id"], &asset["parent_id"], &asset["workflow_id"]),
        (&json!("abc"), &json!("1"), &json!("wf"))
    );
    assert_eq!(asset["get_url"], "/api/storage/abc.png");
    // The file comes by the worker's storage route, with its JSON content type.
    let res = admin
        .raw_body(
            Method::PUT,
            "/admin/storage/assets/abc.png",
            "application/json",
            &b"\x89PNG"[..],
        )
        .await;
    assert_eq!(res.status(), 200);
    let (_, list) = admin.call(Method::GET, "/admin/assets?user_id=1").await;
    assert_eq!(ids(&list), ["abc"]);
    let (status, got) = admin.call(Method::GET, "/admin/assets/abc?user_id=1").await;
    assert_eq!((status, &got["name"]), (200, &json!("pic.png")));
    let (status, home) = admin.call(Method::GET, "/admin/assets/1?user_id=1").await;
    assert_eq!(
        (status, &home["name"], &home["content_type"]),
        (200, &json!("Home"), &json!("folder"))
    );
    assert_eq!(admin.call(Method::GET, "/admin/assets/nope").await.0, 404);
    let (status, deleted) = admin.call(Method::DELETE, "/admin/assets/abc").await;
    assert_eq!(
        (status, deleted),
        (200, json!({"deleted_asset_ids": ["abc"]}))
    );
    assert_eq!(admin.bytes("/storage/assets/abc.png").await.0, 404);

    // /admin/db for the tables NodeTool syncs.
    let row = json!({"id": "z1", "user_id": "1", "name": "z", "content_type": "text/plain",
                     "size": 3, "created_at": "2024-05-01T10:00:00", "duration": null});
    let (status, body) = admin.json(Method::POST, "/admin/db/assets/save", row).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, got) = admin.call(Method::GET, "/admin/db/assets/z1").await;
    assert_eq!(status, 200);
    assert_eq!(
        (&got["name"], &got["size"], &got["created_at"]),
        (&json!("z"), &json!(3), &json!("2024-05-01T10:00:00"))
    );
    let (status, body) = admin.call(Method::DELETE, "/admin/db/assets/z1").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    assert_eq!(admin.call(Method::GET, "/admin/db/assets/z1").await.0, 404);
    // A synced workflow is stored as sent, node kinds this server does not run included.
    let graph = json!({"nodes": [{"id": "n1", "type": "nodetool.text.Concat", "data": {}}],
                       "edges": []});
    let row = json!({"id": "w1", "user_id": "1", "name": "synced", "access": "private",
                     "graph": graph, "created_at": "2024-05-01T10:00:00", "settings": null});
    let (status, body) = admin
        .json(Method::POST, "/admin/db/workflows/save", row)
        .await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, got) = admin.call(Method::GET, "/admin/db/workflows/w1").await;
    assert_eq!(status, 200);
    assert_eq!((&got["name"], &got["graph"]), (&json!("synced"), &graph));
    let (status, body) = admin.call(Method::DELETE, "/admin/db/workflows/w1").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    assert_eq!(
        admin.call(Method::GET, "/admin/db/workflows/w1").await.0,
        404
    );
    for table in ["users", "secrets", "sqlite_master"] {
        let (status, body) = admin
            .call(Method::GET, &format!("/admin/db/{table}/x"))
            .await;
        assert_eq!(status, 400, "{table}");
        assert!(body["detail"]
            .as_str()
            .unwrap()
            .contains("expected workflows or assets"));
        let (status, _) = admin
            .json(Method::POST, &format!("/admin/db/{table}/save"), json!({}))
            .await;
        assert_eq!(status, 400);
        assert_eq!(
            admin
                .call(Method::DELETE, &format!("/admin/db/{table}/x"))
                .await
                .0,
            400
        );
    }
    let (status, _) = admin
        .json(
            Method::POST,
            "/admin/db/assets/save",
            json!({"name": "no id"}),
        )
        .await;
    assert_eq!(status, 422);
    // Rows of any user are for admins only.
    let bob = user(&server, "bob").await;
    assert_eq!(bob.call(Method::GET, "/admin/db/assets/z1").await.0, 403);
}

#[tokio::test]
async fn uploads_over_the_limit_leave_nothing_behind() {
    let server = Server::builder()
        .user("ada", false)
        .env("MAX_UPLOAD_BYTES", "100")
        .start();
    let ada = user(&server, "ada").await;
    let (status, body) = ada.upload("/api/assets", "big.bin", &[7u8; 101], &[]).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["detail"], "Request body too large (limit 100 bytes)");
    let (status, _) = ada.upload("/api/assets", "ok.bin", &[7u8; 100], &[]).await;
    assert_eq!(status, 201);
    let (_, list) = ada.call(Method::GET, "/api/assets").await;
    assert_eq!(ids(&list).len(), 1);
    let files = std::fs::read_dir(server.data_dir().join("storage/assets"))
        .unwrap()
        .count();
    assert_eq!(files, 1);
    // No file part at all.
    let (status, body) = upload_without_file(&ada).await;
    assert_eq!(
        (status, &body["detail"]),
        (400, &json!("multipart upload needs a 'file' part"))
    );
}
