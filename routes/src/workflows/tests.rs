//! Unit tests of validation and the engine, with fake services.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde_json::{json, Map, Value};
use tokio::sync::Barrier;
use tokio_util::sync::CancellationToken;

use super::engine::{self, Event, NodeStatus, Run, RunError};
use super::services::{NodeServices, ServiceFuture};
use super::Plan;

/// Chat echoes (or waits at a barrier, or hangs); storage is a map; a collection query
/// returns the query `n` times.
#[derive(Default)]
struct Fake {
    files: Mutex<HashMap<(String, String), String>>,
    barrier: Option<Barrier>,
    hang: bool,
}

impl NodeServices for Fake {
    fn chat<'a>(
        &'a self,
        model: &'a str,
        system: Option<&'a str>,
        prompt: &'a str,
    ) -> ServiceFuture<'a, String> {
        async move {
            if self.hang {
                std::future::pending::<()>().await;
            }
            if let Some(b) = &self.barrier {
                b.wait().await;
            }
            Ok(format!("{model}|{}|{prompt}", system.unwrap_or("-")))
        }
        .boxed()
    }

    fn query_collection<'a>(
        &'a self,
        user: &'a str,
        collection: &'a str,
        query: &'a str,
        n: usize,
    ) -> ServiceFuture<'a, Vec<String>> {
        let docs = vec![format!("{user}/{collection}:{query}"); n];
        async move { Ok(docs) }.boxed()
    }

    fn read_text<'a>(&'a self, user: &'a str, key: &'a str) -> ServiceFuture<'a, String> {
        let found = self
            .files
            .lock()
            .unwrap()
            .get(&(user.into(), key.into()))
            .cloned();
        async move { found.ok_or_else(|| format!("no such key: {key}")) }.boxed()
    }

    fn write_text<'a>(
        &'a self,
        user: &'a str,
        key: &'a str,
        text: &'a str,
    ) -> ServiceFuture<'a, ()> {
        self.files
            .lock()
            .unwrap()
            .insert((user.into(), key.into()), text.into());
        async { Ok(()) }.boxed()
    }
}

fn node(id: &str, kind: &str, data: Value) -> Value {
    json!({"id": id, "type": kind, "data": data})
}

fn edge(source: &str, sh: &str, target: &str, th: &str) -> Value {
    json!({"source": source, "sourceHandle": sh, "target": target, "targetHandle": th})
}

fn graph(nodes: Vec<Value>, edges: Vec<Value>) -> Value {
    json!({"nodes": nodes, "edges": edges})
}

fn invalid(g: Value) -> String {
    Plan::from_value(&g).unwrap_err()
}

async fn run_with(
    g: &Value,
    params: Value,
    fake: &Fake,
    timeout: Duration,
    cancel: &CancellationToken,
) -> (Result<Map<String, Value>, RunError>, Vec<Event>) {
    let plan = Plan::from_value(g).unwrap();
    let params = params.as_object().cloned().unwrap_or_default();
    let mut events = Vec::new();
    let run = Run {
        plan: &plan,
        user: "u1",
        params: &params,
        services: fake,
        cancel,
        node_timeout: timeout,
    };
    let result = engine::run(run, |e| events.push(e)).await;
    (result, events)
}

async fn run(g: &Value, params: Value) -> Result<Map<String, Value>, RunError> {
    let fake = Fake::default();
    run_with(
        g,
        params,
        &fake,
        Duration::from_secs(5),
        &CancellationToken::new(),
    )
    .await
    .0
}

fn greeting() -> Value {
    graph(
        vec![
            node(
                "who",
                "input.text",
                json!({"name": "who", "value": "world"}),
            ),
            node(
                "t",
                "text.template",
                json!({"template": "Hello {{ name }}!"}),
            ),
            node("out", "output", json!({"name": "greeting"})),
        ],
        vec![
            edge("who", "value", "t", "name"),
            edge("t", "text", "out", "value"),
        ],
    )
}

#[test]
fn validation_names_the_problem_and_the_node() {
    let cases = [
        (
            graph(vec![node("a", "nope.nope", json!({}))], vec![]),
            "node 'a' has unknown type 'nope.nope'",
        ),
        (
            graph(
                vec![
                    node("a", "input.text", json!({})),
                    node("b", "output", json!({})),
                ],
                vec![edge("a", "value", "b", "wrong")],
            ),
            "node 'b' (output) has no input 'wrong'",
        ),
        (
            graph(
                vec![
                    node("a", "input.text", json!({})),
                    node("b", "output", json!({})),
                ],
                vec![edge("a", "nope", "b", "value")],
            ),
            "node 'a' (input.text) has no output 'nope'",
        ),
        (
            graph(
                vec![node("a", "input.text", json!({}))],
                vec![edge("a", "value", "ghost", "value")],
            ),
            "node 'ghost' does not exist",
        ),
        (
            graph(
                vec![
                    node("a", "json.get", json!({})),
                    node("b", "json.get", json!({})),
                ],
                vec![
                    edge("a", "value", "b", "value"),
                    edge("b", "value", "a", "value"),
                ],
            ),
            "cycle through node",
        ),
        (
            graph(vec![node("o", "output", json!({}))], vec![]),
            "node 'o' (output) is missing required input 'value'",
        ),
        (
            graph(vec![node("c", "llm.chat", json!({"model": "m"}))], vec![]),
            "node 'c' (llm.chat) is missing required input 'prompt'",
        ),
        (
            graph(vec![node("c", "llm.chat", json!({"prompt": "hi"}))], vec![]),
            "node 'c' (llm.chat): data.model is required",
        ),
        (
            graph(
                vec![node("t", "text.template", json!({"template": "{{ x"}))],
                vec![],
            ),
            "node 't' (text.template): data.template: syntax error",
        ),
        (
            graph(vec![node("j", "json.get", json!({"pointer": "a"}))], vec![]),
            "node 'j' (json.get): data.pointer must be a JSON pointer",
        ),
        (
            graph(
                vec![
                    node("a", "input.text", json!({})),
                    node("a", "input.text", json!({})),
                ],
                vec![],
            ),
            "duplicate node id 'a'",
        ),
        (json!({"nodes": [{"id": "x"}]}), "malformed graph"),
        (
            graph(
                vec![
                    node("a", "input.text", json!({})),
                    node("t", "text.template", json!({"template": "{{ name }}"})),
                ],
                vec![edge("a", "value", "t", "nmae")],
            ),
            "node 't' (text.template) has no input 'nmae': the template does not use it (it uses: name)",
        ),
    ];
    for (g, want) in cases {
        let got = invalid(g);
        assert!(got.contains(want), "{got:?} should contain {want:?}");
    }
    // A self-loop is a cycle too, named by its node.
    let g = graph(
        vec![node("s", "json.get", json!({}))],
        vec![edge("s", "value", "s", "value")],
    );
    assert_eq!(invalid(g), "the graph has a cycle through node 's'");
}

#[tokio::test]
async fn a_template_over_named_inputs_with_params_overriding_defaults() {
    let g = greeting();
    assert_eq!(
        run(&g, json!({})).await.unwrap(),
        *json!({"greeting": "Hello world!"}).as_object().unwrap()
    );
    let r = run(&g, json!({"who": "Ada"})).await.unwrap();
    assert_eq!(r["greeting"], "Hello Ada!");
    // An undefined variable fails the node instead of rendering nothing.
    let g = graph(
        vec![
            node("t", "text.template", json!({"template": "{{ missing }}"})),
            node("o", "output", json!({})),
        ],
        vec![edge("t", "text", "o", "value")],
    );
    let err = run(&g, json!({})).await.unwrap_err();
    assert!(
        matches!(&err, RunError::Node { node_id, .. } if node_id == "t"),
        "{err:?}"
    );
}

#[tokio::test]
async fn inputs_coerce_params_and_refuse_what_does_not_fit() {
    let g = graph(
        vec![
            node("n", "input.number", json!({"name": "n"})),
            node("b", "input.boolean", json!({"name": "b"})),
            node(
                "t",
                "text.template",
                json!({"template": "{{ n + 1 }} {{ b }}"}),
            ),
            node("o", "output", json!({"name": "r"})),
        ],
        vec![
            edge("n", "value", "t", "n"),
            edge("b", "value", "t", "b"),
            edge("t", "text", "o", "value"),
        ],
    );
    let r = run(&g, json!({"n": "41", "b": true})).await.unwrap();
    assert_eq!(r["r"], "42 True"); // Jinja spells booleans as Python does
    let err = run(&g, json!({"n": "many"})).await.unwrap_err();
    assert_eq!(err, RunError::Params("input 'n' must be a number".into()));
}

#[tokio::test]
async fn json_get_follows_a_pointer_or_fails_without_a_default() {
    let g = |pointer: &str, default: Option<Value>| {
        let mut data = json!({"pointer": pointer});
        if let Some(d) = default {
            data["default"] = d;
        }
        graph(
            vec![
                node(
                    "doc",
                    "input.json",
                    json!({"name": "doc", "value": {"a": [1, {"b": "deep"}]}}),
                ),
                node("g", "json.get", data),
                node("o", "output", json!({"name": "v"})),
            ],
            vec![
                edge("doc", "value", "g", "value"),
                edge("g", "value", "o", "value"),
            ],
        )
    };
    assert_eq!(
        run(&g("/a/1/b", None), json!({})).await.unwrap()["v"],
        "deep"
    );
    assert_eq!(run(&g("", None), json!({})).await.unwrap()["v"]["a"][0], 1);
    assert_eq!(
        run(&g("/zz", Some(json!(7))), json!({})).await.unwrap()["v"],
        7
    );
    let err = run(&g("/zz", None), json!({})).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Node 'g' failed: nothing at JSON pointer '/zz'"
    );
}

#[tokio::test]
async fn service_nodes_go_through_the_services_as_the_job_user() {
    let g = graph(
        vec![
            node("q", "input.text", json!({"name": "q", "value": "cats"})),
            node(
                "search",
                "collection.query",
                json!({"collection": "docs", "n_results": 2}),
            ),
            node(
                "prompt",
                "text.template",
                json!({"template": "{{ docs | join(';') }}"}),
            ),
            node(
                "chat",
                "llm.chat",
                json!({"model": "m1", "system": "be brief"}),
            ),
            node("save", "storage.write", json!({"key": "out.txt"})),
            node("load", "storage.read", json!({})),
            node("o", "output", json!({"name": "answer"})),
        ],
        vec![
            edge("q", "value", "search", "query"),
            edge("search", "documents", "prompt", "docs"),
            edge("prompt", "text", "chat", "prompt"),
            edge("chat", "text", "save", "text"),
            edge("save", "key", "load", "key"),
            edge("load", "text", "o", "value"),
        ],
    );
    let fake = Fake::default();
    let (result, events) = run_with(
        &g,
        json!({}),
        &fake,
        Duration::from_secs(5),
        &CancellationToken::new(),
    )
    .await;
    let want = "m1|be brief|u1/docs:cats;u1/docs:cats";
    assert_eq!(result.unwrap()["answer"], want);
    assert_eq!(
        fake.files.lock().unwrap()[&("u1".into(), "out.txt".into())],
        want
    );
    // Each node reports running then completed; the output node reports its value.
    let completed = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Node {
                    status: NodeStatus::Completed,
                    ..
                }
            )
        })
        .count();
    assert_eq!(completed, 7);
    assert!(events.contains(&Event::Output {
        node_id: "o".into(),
        output_name: "answer".into(),
        value: json!(want),
    }));
}

#[tokio::test]
async fn unavailable_services_fail_the_node_with_a_clear_error() {
    let g = graph(
        vec![
            node("c", "llm.chat", json!({"model": "m", "prompt": "hi"})),
            node("o", "output", json!({})),
        ],
        vec![edge("c", "text", "o", "value")],
    );
    let plan = Plan::from_value(&g).unwrap();
    let run = Run {
        plan: &plan,
        user: "1",
        params: &Map::new(),
        services: &super::Unavailable,
        cancel: &CancellationToken::new(),
        node_timeout: Duration::from_secs(1),
    };
    let err = engine::run(run, |_| {}).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Node 'c' failed: llm.chat is not available: no chat provider configured"
    );
}

#[tokio::test]
async fn independent_nodes_run_concurrently() {
    // Both chats wait at a barrier for two: the run only finishes if they overlap.
    let g = graph(
        vec![
            node("a", "llm.chat", json!({"model": "m", "prompt": "a"})),
            node("b", "llm.chat", json!({"model": "m", "prompt": "b"})),
            node("oa", "output", json!({"name": "a"})),
            node("ob", "output", json!({"name": "b"})),
        ],
        vec![
            edge("a", "text", "oa", "value"),
            edge("b", "text", "ob", "value"),
        ],
    );
    let fake = Fake {
        barrier: Some(Barrier::new(2)),
        ..Fake::default()
    };
    let (result, _) = run_with(
        &g,
        json!({}),
        &fake,
        Duration::from_secs(2),
        &CancellationToken::new(),
    )
    .await;
    let r = result.unwrap();
    assert_eq!(
        (r["a"].as_str(), r["b"].as_str()),
        (Some("m|-|a"), Some("m|-|b"))
    );
}

#[tokio::test]
async fn a_waiting_node_times_out_with_its_id() {
    let g = graph(
        vec![node(
            "slow",
            "llm.chat",
            json!({"model": "m", "prompt": "x"}),
        )],
        vec![],
    );
    let fake = Fake {
        hang: true,
        ..Fake::default()
    };
    let start = Instant::now();
    let (result, events) = run_with(
        &g,
        json!({}),
        &fake,
        Duration::from_millis(50),
        &CancellationToken::new(),
    )
    .await;
    assert!(start.elapsed() < Duration::from_secs(2));
    let err = result.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Node 'slow' failed: timed out after 50ms"),
        "{err}"
    );
    assert!(events.iter().any(|e| matches!(e, Event::Node { status: NodeStatus::Failed, node_id, .. } if node_id == "slow")));
}

#[tokio::test]
async fn cancel_drops_nodes_waiting_on_io_at_once() {
    let g = graph(
        vec![node(
            "slow",
            "llm.chat",
            json!({"model": "m", "prompt": "x"}),
        )],
        vec![],
    );
    let fake = Fake {
        hang: true,
        ..Fake::default()
    };
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        trigger.cancel();
    });
    let start = Instant::now();
    let (result, _) = run_with(&g, json!({}), &fake, Duration::from_secs(60), &cancel).await;
    assert_eq!(result.unwrap_err(), RunError::Cancelled);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_failure_stops_the_run_before_later_nodes() {
    let g = graph(
        vec![
            node("bad", "json.get", json!({"pointer": "/missing"})),
            node("src", "input.json", json!({"value": {}})),
            node("after", "llm.chat", json!({"model": "m"})),
        ],
        vec![
            edge("src", "value", "bad", "value"),
            edge("bad", "value", "after", "prompt"),
        ],
    );
    let fake = Fake::default();
    let (result, events) = run_with(
        &g,
        json!({}),
        &fake,
        Duration::from_secs(1),
        &CancellationToken::new(),
    )
    .await;
    assert!(matches!(result, Err(RunError::Node { ref node_id, .. }) if node_id == "bad"));
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::Node { node_id, .. } if node_id == "after")));
}

/// A chain of `n` `json.get` nodes passing a document along.
pub fn chain(n: usize) -> Value {
    let mut nodes = vec![node(
        "in",
        "input.json",
        json!({"name": "doc", "value": {"a": 1}}),
    )];
    let mut edges = Vec::new();
    let mut prev = "in".to_owned();
    for i in 0..n {
        let id = format!("g{i}");
        nodes.push(node(&id, "json.get", json!({"pointer": ""})));
        edges.push(edge(&prev, "value", &id, "value"));
        prev = id;
    }
    nodes.push(node("out", "output", json!({"name": "doc"})));
    edges.push(edge(&prev, "value", "out", "value"));
    graph(nodes, edges)
}

#[tokio::test]
async fn a_long_chain_runs_in_order() {
    let r = run(&chain(200), json!({"doc": {"a": 2}})).await.unwrap();
    assert_eq!(r["doc"]["a"], 2);
}

/// Engine overhead per node: `cargo test -p platform-routes --release engine_overhead --
/// --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn engine_overhead_of_a_1000_node_chain() {
    let g = chain(1000);
    let plan = Plan::from_value(&g).unwrap();
    let fake = Fake::default();
    let cancel = CancellationToken::new();
    let params = Map::new();
    let rounds = 200;
    let start = Instant::now();
    for _ in 0..rounds {
        let run = Run {
            plan: &plan,
            user: "u",
            params: &params,
            services: &fake,
            cancel: &cancel,
            node_timeout: Duration::from_secs(5),
        };
        let mut events = 0usize;
        engine::run(run, |_| events += 1).await.unwrap();
        assert_eq!(events, 2 * 1002 + 1);
    }
    let per_run = start.elapsed() / rounds;
    let validate = Instant::now();
    for _ in 0..rounds {
        Plan::from_value(&g).unwrap();
    }
    let per_validation = validate.elapsed() / rounds;
    println!(
        "1000-node json.get chain: run {per_run:?} ({:?}/node), validation {per_validation:?} ({:?}/node)",
        per_run / 1002,
        per_validation / 1002
    );
}

#[test]
fn the_documented_example_graphs_are_valid() {
    let doc = include_str!("../../../docs/workflows.md");
    let mut found = 0;
    for block in doc.split("```json\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        if block.starts_with("{\"nodes\"") {
            let graph: Value = serde_json::from_str(block).unwrap();
            Plan::from_value(&graph).unwrap_or_else(|e| panic!("{e}\n{block}"));
            found += 1;
        }
    }
    assert_eq!(found, 2);
}
