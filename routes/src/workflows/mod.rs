//! Workflows: the graph model, its validation into a plan, the engine that runs it, the node
//! kinds, and the SQL for stored workflows. Independent of HTTP.

pub mod engine;
pub mod graph;
pub mod kinds;
pub mod ops;
pub mod plan;
pub mod services;
pub mod store;
pub mod template;
pub mod wired;

pub use engine::{Event, NodeStatus, Run, RunError};
pub use plan::Plan;
pub use services::{NodeServices, Unavailable};

#[cfg(test)]
mod tests;
