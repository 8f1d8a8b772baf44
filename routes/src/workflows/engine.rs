//! The engine: runs a [`Plan`]'s nodes as their inputs become ready, independent ones
//! concurrently (one task, many futures), each waiting node bounded by the node timeout. The
//! first failure ends the run with that node's id; a cancel ends it at once, dropping nodes
//! that are waiting on I/O.

use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::ops::Op;
use super::plan::{Plan, Step};
use super::services::NodeServices;
use super::template;

/// What a run reports as it goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Node {
        node_id: String,
        status: NodeStatus,
        error: Option<String>,
    },
    Output {
        node_id: String,
        output_name: String,
        value: Value,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    Running,
    Completed,
    Failed,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Running => "running",
            NodeStatus::Completed => "completed",
            NodeStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum RunError {
    /// The run parameters do not fit the input nodes.
    #[error("Invalid params: {0}")]
    Params(String),
    #[error("Node '{node_id}' failed: {error}")]
    Node { node_id: String, error: String },
    #[error("Job cancelled")]
    Cancelled,
}

/// Everything one run needs; borrowed, so the caller owns the plan and services.
pub struct Run<'a> {
    pub plan: &'a Plan,
    /// Whose storage and collections the nodes use.
    pub user: &'a str,
    pub params: &'a Map<String, Value>,
    pub services: &'a dyn NodeServices,
    pub cancel: &'a CancellationToken,
    pub node_timeout: Duration,
}

type Outputs = Vec<(&'static str, Value)>;
type Pending<'a> = BoxFuture<'a, (usize, Result<Outputs, String>)>;

/// Runs the plan to its results (`output` node name → value).
pub async fn run(
    run: Run<'_>,
    mut emit: impl FnMut(Event),
) -> Result<Map<String, Value>, RunError> {
    let steps = &run.plan.steps;
    let mut inputs = run
        .plan
        .input_values(run.params)
        .map_err(RunError::Params)?;
    let mut pending: Vec<usize> = steps.iter().map(|s| s.inputs.len()).collect();
    // Edges still to read each node's outputs; the last reader takes them instead of cloning.
    let mut readers: Vec<usize> = steps.iter().map(|s| s.feeds.len()).collect();
    let mut values: Vec<Outputs> = vec![Vec::new(); steps.len()];
    let mut ready: Vec<usize> = (0..steps.len())
        .rev()
        .filter(|&i| pending[i] == 0)
        .collect();
    let mut running: FuturesUnordered<Pending<'_>> = FuturesUnordered::new();
    let mut results = Map::new();
    loop {
        while let Some(i) = ready.pop() {
            if run.cancel.is_cancelled() {
                return Err(RunError::Cancelled);
            }
            let step = &steps[i];
            let args = gather(step, &mut values, &mut readers);
            emit(node(step, NodeStatus::Running, None));
            let fut = execute(&run, step, args, inputs[i].take());
            running.push(fut.map(move |r| (i, r)).boxed());
        }
        let next = tokio::select! {
            biased;
            () = run.cancel.cancelled() => return Err(RunError::Cancelled),
            next = running.next() => next,
        };
        let Some((i, result)) = next else {
            return Ok(results);
        };
        let step = &steps[i];
        let outputs = match result {
            Ok(outputs) => outputs,
            Err(error) => {
                emit(node(step, NodeStatus::Failed, Some(error.clone())));
                return Err(RunError::Node {
                    node_id: step.id.clone(),
                    error,
                });
            }
        };
        emit(node(step, NodeStatus::Completed, None));
        if let Op::Output { name } = &step.op {
            let value = outputs.into_iter().next().map_or(Value::Null, |(_, v)| v);
            emit(Event::Output {
                node_id: step.id.clone(),
                output_name: name.clone(),
                value: value.clone(),
            });
            results.insert(name.clone(), value);
            continue;
        }
        values[i] = outputs;
        for &t in &step.feeds {
            pending[t] -= 1;
            if pending[t] == 0 {
                ready.push(t);
            }
        }
    }
}

fn node(step: &Step, status: NodeStatus, error: Option<String>) -> Event {
    Event::Node {
        node_id: step.id.clone(),
        status,
        error,
    }
}

/// The node's inputs by handle, from the outputs of the nodes feeding it.
fn gather(step: &Step, values: &mut [Outputs], readers: &mut [usize]) -> Map<String, Value> {
    let mut args = Map::new();
    for wire in &step.inputs {
        readers[wire.source] -= 1;
        let outputs = &mut values[wire.source];
        let Some(at) = outputs.iter().position(|(h, _)| *h == wire.source_handle) else {
            continue;
        };
        let value = if readers[wire.source] == 0 {
            std::mem::take(&mut outputs[at].1)
        } else {
            outputs[at].1.clone()
        };
        args.insert(wire.handle.clone(), value);
    }
    args
}

/// One node's work. Nodes that wait are bounded by the node timeout; the others finish in
/// their first poll.
fn execute<'a>(
    run: &Run<'a>,
    step: &'a Step,
    args: Map<String, Value>,
    input: Option<Value>,
) -> BoxFuture<'a, Result<Outputs, String>> {
    let (services, user, limit) = (run.services, run.user, run.node_timeout);
    let work = async move { act(step, args, input, services, user).await };
    if !step.kind.waits() {
        return work.boxed();
    }
    async move {
        tokio::time::timeout(limit, work)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {limit:?} (NODE_TIMEOUT)")))
    }
    .boxed()
}

async fn act(
    step: &Step,
    mut args: Map<String, Value>,
    input: Option<Value>,
    services: &dyn NodeServices,
    user: &str,
) -> Result<Outputs, String> {
    let mut arg = |name: &str| args.remove(name);
    Ok(match &step.op {
        Op::Input { .. } => vec![("value", input.unwrap_or(Value::Null))],
        Op::Output { .. } => vec![("value", arg("value").unwrap_or(Value::Null))],
        Op::Template { source, .. } => {
            vec![("text", Value::String(template::render(source, &args)?))]
        }
        Op::JsonGet { pointer, default } => {
            let value = arg("value").unwrap_or(Value::Null);
            let found = match value.pointer(pointer) {
                Some(v) => v.clone(),
                None => default
                    .clone()
                    .ok_or_else(|| format!("nothing at JSON pointer '{pointer}'"))?,
            };
            vec![("value", found)]
        }
        Op::Chat {
            model,
            system,
            prompt,
        } => {
            let prompt = text_or(arg("prompt"), prompt);
            let system = arg("system").map(as_text).or_else(|| system.clone());
            let reply = services.chat(model, system.as_deref(), &prompt).await?;
            vec![("text", Value::String(reply))]
        }
        Op::Query {
            collection,
            query,
            n_results,
        } => {
            let query = text_or(arg("query"), query);
            let docs = services
                .query_collection(user, collection, &query, *n_results)
                .await?;
            vec![("documents", Value::from(docs))]
        }
        Op::Read { key } => {
            let key = text_or(arg("key"), key);
            vec![("text", Value::String(services.read_text(user, &key).await?))]
        }
        Op::Write { key, text } => {
            let key = text_or(arg("key"), key);
            let text = text_or(arg("text"), text);
            services.write_text(user, &key, &text).await?;
            vec![("key", Value::String(key))]
        }
        Op::Delay { seconds } => {
            tokio::time::sleep(Duration::from_secs_f64(*seconds)).await;
            vec![("value", arg("value").unwrap_or(Value::Null))]
        }
    })
}

/// An input as text: strings as they are, `null` as empty, anything else as JSON.
pub fn as_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn text_or(arg: Option<Value>, data: &Option<String>) -> String {
    arg.map(as_text)
        .or_else(|| data.clone())
        .unwrap_or_default()
}
