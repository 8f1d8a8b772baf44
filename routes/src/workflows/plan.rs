//! Validation: a graph becomes a [`Plan`] the engine runs, or an error naming what is wrong
//! and where (unknown type or handle, an edge to a missing node, a cycle, a missing input).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::graph::Graph;
use super::kinds::{Inputs, Kind, Need};
use super::ops::{self, Op};

/// A validated graph: nodes in the order given, each with its wiring.
#[derive(Clone, Debug)]
pub struct Plan {
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub id: String,
    pub kind: Kind,
    pub op: Op,
    /// Edges into this node: `(input handle, source step, source handle)`.
    pub inputs: Vec<Wire>,
    /// Steps fed by this one, once per edge.
    pub feeds: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct Wire {
    pub handle: String,
    pub source: usize,
    pub source_handle: &'static str,
}

impl Plan {
    /// Validates the graph in `value` (as stored or submitted).
    pub fn from_value(value: &Value) -> Result<Plan, String> {
        Plan::build(&Graph::from_value(value)?)
    }

    pub fn build(graph: &Graph) -> Result<Plan, String> {
        let mut index = HashMap::with_capacity(graph.nodes.len());
        let mut steps = Vec::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            if node.id.is_empty() {
                return Err("a node has an empty id".into());
            }
            if index.insert(node.id.as_str(), steps.len()).is_some() {
                return Err(format!("duplicate node id '{}'", node.id));
            }
            let kind = Kind::parse(&node.kind)
                .ok_or_else(|| format!("node '{}' has unknown type '{}'", node.id, node.kind))?;
            let op = ops::compile(kind, &node.id, &node.data)
                .map_err(|e| format!("node '{}' ({}): {e}", node.id, kind.name()))?;
            steps.push(Step {
                id: node.id.clone(),
                kind,
                op,
                inputs: Vec::new(),
                feeds: Vec::new(),
            });
        }
        for edge in &graph.edges {
            let find = |id: &str| {
                index.get(id).copied().ok_or_else(|| {
                    format!(
                        "edge from '{}' to '{}': node '{id}' does not exist",
                        edge.source, edge.target
                    )
                })
            };
            let (source, target) = (find(&edge.source)?, find(&edge.target)?);
            let source_handle = output_handle(&steps[source], edge.source_handle.as_deref())?;
            let handle = input_handle(&steps[target], edge.target_handle.as_deref())?;
            let step = &mut steps[target];
            if step.inputs.iter().any(|w| w.handle == handle) {
                return Err(format!(
                    "node '{}' ({}): input '{handle}' has more than one edge",
                    step.id,
                    step.kind.name()
                ));
            }
            step.inputs.push(Wire {
                handle,
                source,
                source_handle,
            });
            steps[source].feeds.push(target);
        }
        for step in &steps {
            check_required(step)?;
        }
        check_outputs(&steps)?;
        check_acyclic(&steps)?;
        Ok(Plan { steps })
    }

    /// Checks run parameters against the input nodes they name and returns each input node's
    /// value: the parameter of its name, else its default.
    pub fn input_values(&self, params: &Map<String, Value>) -> Result<Vec<Option<Value>>, String> {
        self.steps
            .iter()
            .map(|s| match &s.op {
                Op::Input { name, default } => match params.get(name) {
                    None => Ok(Some(default.clone())),
                    Some(v) => ops::coerce(s.kind, v)
                        .map(Some)
                        .ok_or_else(|| ops::coerce_error(s.kind, name)),
                },
                _ => Ok(None),
            })
            .collect()
    }
}

fn output_handle(step: &Step, handle: Option<&str>) -> Result<&'static str, String> {
    let outputs = step.kind.outputs();
    match handle {
        None if outputs.len() == 1 => Ok(outputs[0]),
        None => Err(format!(
            "node '{}' ({}): an edge leaves it without a sourceHandle",
            step.id,
            step.kind.name()
        )),
        Some(h) => outputs.iter().copied().find(|o| *o == h).ok_or_else(|| {
            format!(
                "node '{}' ({}) has no output '{h}' (outputs: {})",
                step.id,
                step.kind.name(),
                list(outputs)
            )
        }),
    }
}

fn input_handle(step: &Step, handle: Option<&str>) -> Result<String, String> {
    let unknown = |h: &str, names: &[&str]| {
        format!(
            "node '{}' ({}) has no input '{h}' (inputs: {})",
            step.id,
            step.kind.name(),
            list(names)
        )
    };
    match (step.kind.inputs(), handle) {
        (Inputs::Named, Some(h)) => {
            let vars = match &step.op {
                Op::Template { vars, .. } => vars.as_slice(),
                _ => &[],
            };
            if vars.iter().any(|v| v == h) {
                Ok(h.to_owned())
            } else {
                let names: Vec<&str> = vars.iter().map(String::as_str).collect();
                Err(format!(
                    "node '{}' (text.template) has no input '{h}': the template does not use it (it uses: {})",
                    step.id,
                    list(&names)
                ))
            }
        }
        (Inputs::Fixed(inputs), h) => {
            let names: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
            match h {
                Some(h) if names.contains(&h) => Ok(h.to_owned()),
                Some(h) => Err(unknown(h, &names)),
                None if names.len() == 1 => Ok(names[0].to_owned()),
                None => Err(unknown("", &names)),
            }
        }
        (Inputs::Named, None) => Err(format!(
            "node '{}' (text.template): an edge reaches it without a targetHandle (the variable name)",
            step.id
        )),
    }
}

fn check_required(step: &Step) -> Result<(), String> {
    let Inputs::Fixed(inputs) = step.kind.inputs() else {
        return Ok(());
    };
    for (name, need) in inputs {
        let connected = step.inputs.iter().any(|w| w.handle == *name);
        let ok = match need {
            Need::Edge => connected,
            Need::EdgeOrData => connected || step.op.supplies(name),
            Need::Optional => true,
        };
        if !ok {
            let hint = if *need == Need::EdgeOrData {
                format!(" (connect it or set data.{name})")
            } else {
                String::new()
            };
            return Err(format!(
                "node '{}' ({}) is missing required input '{name}'{hint}",
                step.id,
                step.kind.name()
            ));
        }
    }
    Ok(())
}

fn check_outputs(steps: &[Step]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for step in steps {
        if let Op::Output { name } = &step.op {
            if !seen.insert(name.as_str()) {
                return Err(format!(
                    "node '{}' (output): another output node is also named '{name}'",
                    step.id
                ));
            }
        }
    }
    Ok(())
}

/// Kahn's algorithm; whatever never reaches in-degree zero lies on or behind a cycle.
fn check_acyclic(steps: &[Step]) -> Result<(), String> {
    let mut pending: Vec<usize> = steps.iter().map(|s| s.inputs.len()).collect();
    let mut ready: Vec<usize> = (0..steps.len()).filter(|&i| pending[i] == 0).collect();
    let mut done = 0;
    while let Some(i) = ready.pop() {
        done += 1;
        for &t in &steps[i].feeds {
            pending[t] -= 1;
            if pending[t] == 0 {
                ready.push(t);
            }
        }
    }
    if done == steps.len() {
        return Ok(());
    }
    // Name a node on the cycle itself: walk back along unfinished inputs until one repeats.
    let mut at = (0..steps.len()).find(|&i| pending[i] > 0).unwrap_or(0);
    let mut visited = HashSet::new();
    while visited.insert(at) {
        match steps[at].inputs.iter().find(|w| pending[w.source] > 0) {
            Some(w) => at = w.source,
            None => break,
        }
    }
    Err(format!(
        "the graph has a cycle through node '{}'",
        steps[at].id
    ))
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
