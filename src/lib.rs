//! platform-server: one process, one port, for the API, the worker routes, auth pages and the
//! browser UI. `main.rs` is the command line; this library is what it and the tests start.

pub mod app;
pub mod config;
pub mod drain;
mod first_bytes;
pub mod listeners;
pub mod logging;
pub mod metrics;
pub mod serve;
pub mod stack;
pub mod tls;
pub mod token;
pub mod users_cli;
