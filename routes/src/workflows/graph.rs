//! The graph as clients send it: `{"nodes":[{"id","type","data"}], "edges":[{"source",
//! "sourceHandle","target","targetHandle"}]}`. Extra fields (positions, UI state) are kept in
//! the stored JSON; only these are read.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Clone, Debug, Deserialize)]
pub struct Graph {
    #[serde(default)]
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub edges: Vec<Edge>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub data: Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Edge {
    pub source: String,
    #[serde(rename = "sourceHandle", default)]
    pub source_handle: Option<String>,
    pub target: String,
    #[serde(rename = "targetHandle", default)]
    pub target_handle: Option<String>,
}

impl Graph {
    /// Reads the graph out of a stored or submitted JSON value.
    pub fn from_value(value: &Value) -> Result<Graph, String> {
        if !value.is_object() {
            return Err("graph must be an object with nodes and edges".into());
        }
        Graph::deserialize(value).map_err(|e| format!("malformed graph: {e}"))
    }
}
