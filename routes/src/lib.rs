//! The route table of platform-server: handlers grouped by route set, the dispatch service, the
//! request context handlers receive, the error type they return, and the SQLite store.
//!
//! A route set is a module with a `SET` constant whose `register` function adds its routes; the
//! table is built from [`sets::ALL`] in one place, and a conflicting route fails start-up.

pub mod accounts;
pub mod assets;
pub mod chat;
pub mod collections;
pub mod ctx;
pub mod error;
pub mod jobs;
pub mod models;
pub mod pages;
pub mod reply;
pub mod router;
pub mod secrets;
pub mod sets;
pub mod state;
pub mod storage;
pub mod store;
pub mod table;
pub mod workflows;

pub use ctx::Ctx;
pub use error::ApiError;
pub use router::Router;
pub use state::AppState;
pub use table::{RouteSet, RouteSettings, Routes, Table, TableError};
