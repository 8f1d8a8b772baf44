//! Each node's data, read and checked once at validation into what the engine runs.

use serde_json::{Map, Value};

use super::kinds::Kind;
use super::template;

/// The largest `n_results` a `collection.query` node may ask for.
pub const MAX_RESULTS: u64 = 1000;
/// The longest a `util.delay` node may wait (it is still bounded by `NODE_TIMEOUT`).
pub const MAX_DELAY_SECS: f64 = 86_400.0;

#[derive(Clone, Debug)]
pub enum Op {
    Input {
        name: String,
        default: Value,
    },
    Output {
        name: String,
    },
    /// `vars`: the names the template reads, which are its possible inputs.
    Template {
        source: String,
        vars: Vec<String>,
    },
    JsonGet {
        pointer: String,
        default: Option<Value>,
    },
    Chat {
        model: String,
        system: Option<String>,
        prompt: Option<String>,
    },
    Query {
        collection: String,
        query: Option<String>,
        n_results: usize,
    },
    Read {
        key: Option<String>,
    },
    Write {
        key: Option<String>,
        text: Option<String>,
    },
    Delay {
        seconds: f64,
    },
}

/// Reads `data` for a node of `kind`; the error names the field.
pub fn compile(kind: Kind, id: &str, data: &Map<String, Value>) -> Result<Op, String> {
    let name = || opt_str(data, "name").map(|n| n.unwrap_or_else(|| id.to_owned()));
    Ok(match kind {
        Kind::InputText | Kind::InputNumber | Kind::InputBoolean | Kind::InputJson => {
            let default = match data.get("value") {
                None | Some(Value::Null) => empty_value(kind),
                Some(v) => coerce(kind, v)
                    .ok_or_else(|| format!("data.value must be {}", expected(kind)))?,
            };
            Op::Input {
                name: name()?,
                default,
            }
        }
        Kind::Output => Op::Output { name: name()? },
        Kind::TextTemplate => {
            let source = req_str(data, "template")?;
            let vars = template::check(&source).map_err(|e| format!("data.template: {e}"))?;
            Op::Template { source, vars }
        }
        Kind::JsonGet => {
            let pointer = opt_str(data, "pointer")?.unwrap_or_default();
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(format!(
                    "data.pointer must be a JSON pointer such as /a/0 (got {pointer:?})"
                ));
            }
            Op::JsonGet {
                pointer,
                default: data.get("default").cloned(),
            }
        }
        Kind::LlmChat => Op::Chat {
            model: req_str(data, "model")?,
            system: opt_str(data, "system")?,
            prompt: opt_str(data, "prompt")?,
        },
        Kind::CollectionQuery => {
            let n = match data.get("n_results") {
                None | Some(Value::Null) => 10,
                Some(v) => v
                    .as_u64()
                    .filter(|n| (1..=MAX_RESULTS).contains(n))
                    .ok_or_else(|| format!("data.n_results must be 1-{MAX_RESULTS}"))?,
            };
            Op::Query {
                collection: req_str(data, "collection")?,
                query: opt_str(data, "query")?,
                n_results: n as usize,
            }
        }
        Kind::StorageRead => Op::Read {
            key: opt_str(data, "key")?,
        },
        Kind::StorageWrite => Op::Write {
            key: opt_str(data, "key")?,
            text: opt_str(data, "text")?,
        },
        Kind::Delay => {
            let seconds = match data.get("seconds") {
                None | Some(Value::Null) => 1.0,
                Some(v) => v
                    .as_f64()
                    .filter(|s| (0.0..=MAX_DELAY_SECS).contains(s))
                    .ok_or_else(|| format!("data.seconds must be 0-{MAX_DELAY_SECS}"))?,
            };
            Op::Delay { seconds }
        }
    })
}

impl Op {
    /// Whether the data supplies input `handle` when no edge does.
    pub fn supplies(&self, handle: &str) -> bool {
        match (self, handle) {
            (Op::Chat { prompt, .. }, "prompt") => prompt.is_some(),
            (Op::Query { query, .. }, "query") => query.is_some(),
            (Op::Read { key }, "key") | (Op::Write { key, .. }, "key") => key.is_some(),
            (Op::Write { text, .. }, "text") => text.is_some(),
            _ => false,
        }
    }
}

fn opt_str(data: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("data.{field} must be a string")),
    }
}

fn req_str(data: &Map<String, Value>, field: &str) -> Result<String, String> {
    opt_str(data, field)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("data.{field} is required"))
}

fn empty_value(kind: Kind) -> Value {
    match kind {
        Kind::InputText => Value::String(String::new()),
        Kind::InputNumber => Value::from(0),
        Kind::InputBoolean => Value::Bool(false),
        _ => Value::Null,
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::InputNumber => "a number",
        Kind::InputBoolean => "a boolean",
        _ => "a string",
    }
}

/// A run parameter or default as the input kind wants it: numbers and booleans may come as
/// strings (form fields), text may come as any scalar. `None` when it cannot be read so.
pub fn coerce(kind: Kind, v: &Value) -> Option<Value> {
    match (kind, v) {
        (Kind::InputJson, v) => Some(v.clone()),
        (Kind::InputText, Value::String(_)) => Some(v.clone()),
        (Kind::InputText, Value::Number(n)) => Some(Value::String(n.to_string())),
        (Kind::InputText, Value::Bool(b)) => Some(Value::String(b.to_string())),
        (Kind::InputNumber, Value::Number(_)) => Some(v.clone()),
        (Kind::InputNumber, Value::String(s)) => {
            let s = s.trim();
            s.parse::<i64>().map(Value::from).ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            })
        }
        (Kind::InputBoolean, Value::Bool(_)) => Some(v.clone()),
        (Kind::InputBoolean, Value::String(s)) => match s.trim() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
}

/// The error text for a parameter that [`coerce`] refused.
pub fn coerce_error(kind: Kind, name: &str) -> String {
    format!("input '{name}' must be {}", expected(kind))
}
