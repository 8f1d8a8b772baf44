//! Jobs: every workflow run is a row, run by the supervisor's tasks and streamed to the client
//! that started it as NDJSON or Server-Sent Events.

pub mod store;
pub mod stream;
pub mod supervisor;

pub use supervisor::{JobEvent, JobSettings, Jobs, Outcome, Started};

#[cfg(test)]
mod tests;
