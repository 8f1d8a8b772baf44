//! The SQLite store: one database file, WAL, a small pool, versioned migrations.

mod migrations;
mod pool;

pub use migrations::{migrations, schema_version};
pub use pool::{open, Conn, Db, StoreError};
