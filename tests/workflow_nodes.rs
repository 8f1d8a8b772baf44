//! The node kinds that reach other domains, against the real binary: `collection.query` over a
//! collection made through the API, `llm.chat` through the configured chat provider (a fake
//! Ollama on loopback), and `storage.write` / `storage.read` in the assets bucket.

mod common;
mod fakes;

use common::{client, Builder, TOKEN};
use serde_json::{json, Value};

fn node(id: &str, kind: &str, data: Value) -> Value {
    json!({"id": id, "type": kind, "data": data})
}

fn edge(source: &str, sh: &str, target: &str, th: &str) -> Value {
    json!({"source": source, "sourceHandle": sh, "target": target, "targetHandle": th})
}

/// question → search → prompt → chat → save → read back → outputs.
fn rag() -> Value {
    json!({
        "nodes": [
            node("q", "input.text", json!({"name": "q", "value": "how is ranking done"})),
            node("search", "collection.query", json!({"collection": "handbook", "n_results": 2})),
            node("prompt", "text.template",
                 json!({"template": "Context: {{ docs | join(' / ') }}\nQ: {{ q }}"})),
            node("chat", "llm.chat", json!({"model": "llama3.2:latest", "system": "Be brief."})),
            node("save", "storage.write", json!({"key": "answers/latest.txt"})),
            node("again", "storage.read", json!({})),
            node("answer", "output", json!({"name": "answer"})),
            node("docs", "output", json!({"name": "docs"})),
        ],
        "edges": [
            edge("q", "value", "search", "query"),
            edge("search", "documents", "prompt", "docs"),
            edge("q", "value", "prompt", "q"),
            edge("prompt", "text", "chat", "prompt"),
            edge("chat", "text", "save", "text"),
            edge("save", "key", "again", "key"),
            edge("again", "text", "answer", "value"),
            edge("search", "documents", "docs", "value"),
        ],
    })
}

async fn post(server: &common::Server, path: &str, body: Value) -> (u16, Value) {
    let res = client()
        .post(server.url(path))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A server whose chat provider is the fake Ollama.
fn with_ollama(ollama: &fakes::ollama::FakeOllama) -> common::Server {
    Builder::static_token()
        .env("CHAT_PROVIDER", "ollama")
        .env("OLLAMA_API_URL", &ollama.url())
        .spawn()
}

#[tokio::test]
async fn a_workflow_searches_asks_the_chat_provider_and_stores_the_answer() {
    let ollama = fakes::ollama::start().await;
    let server = with_ollama(&ollama);
    assert_eq!(
        post(&server, "/api/collections", json!({"name": "handbook"}))
            .await
            .0,
        201
    );
    let docs = json!({"ids": ["a", "b"],
                      "documents": ["Results use BM25 ranking", "The cafeteria opens at noon"]});
    let (status, body) = post(&server, "/api/collections/handbook/documents", docs).await;
    assert!(status < 300, "{status} {body}");
    let (status, wf) = post(
        &server,
        "/api/workflows",
        json!({"name": "rag", "graph": rag()}),
    )
    .await;
    assert_eq!(status, 200, "{wf}");
    let id = wf["id"].as_str().unwrap();

    let (status, results) = post(&server, &format!("/api/workflows/{id}/run"), json!({})).await;
    assert_eq!(status, 200, "{results}");
    assert_eq!(results["answer"], "Hello!", "{results}");
    assert_eq!(results["docs"], json!(["Results use BM25 ranking"]));

    // The provider got the system prompt and the rendered context.
    let asked = ollama.log.to("/api/chat");
    assert_eq!(asked.len(), 1);
    let messages = asked[0].json()["messages"].clone();
    assert_eq!(
        messages[0],
        json!({"role": "system", "content": "Be brief."})
    );
    let prompt = messages[1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("Results use BM25 ranking") && prompt.contains("Q: how is ranking done")
    );

    // The answer is in the assets bucket, where /api/storage finds it.
    let res = client()
        .get(server.url("/api/storage/answers/latest.txt"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "Hello!");
}

/// A graph of one node `id` whose `text` goes to an output.
fn into_output(id: &str, kind: &str, data: Value) -> Value {
    json!({
        "nodes": [node(id, kind, data), node("out", "output", json!({"name": "out"}))],
        "edges": [edge(id, "text", "out", "value")],
    })
}

#[tokio::test]
async fn a_failing_provider_or_missing_object_fails_the_node_by_name() {
    let ollama = fakes::ollama::start().await;
    let server = with_ollama(&ollama);
    let cases = [
        (
            "x",
            into_output(
                "chat",
                "llm.chat",
                json!({"model": "broken", "prompt": "hi"}),
            ),
            ["'chat'", "llama runner"],
        ),
        (
            "y",
            into_output("read", "storage.read", json!({"key": "nowhere.txt"})),
            ["'read'", "nowhere.txt"],
        ),
    ];
    for (name, graph, [node, cause]) in cases {
        let (_, wf) = post(
            &server,
            "/api/workflows",
            json!({"name": name, "graph": graph}),
        )
        .await;
        let id = wf["id"].as_str().unwrap();
        let (status, body) = post(&server, &format!("/api/workflows/{id}/run"), json!({})).await;
        assert_eq!(status, 500, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(node) && detail.contains(cause), "{detail}");
    }
}
