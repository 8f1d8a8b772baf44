//! Versioned schema migrations, applied in order at start-up. Append; never edit a released one.

use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../migrations/0001_settings.sql")),
        M::up(include_str!("../../migrations/0002_accounts.sql")),
        M::up(include_str!("../../migrations/0003_session_families.sql")),
        M::up(include_str!("../../migrations/0004_assets.sql")),
        M::up(include_str!("../../migrations/0005_collections.sql")),
        M::up(include_str!("../../migrations/0006_secrets.sql")),
        M::up(include_str!("../../migrations/0007_workflows.sql")),
    ])
}

/// The schema version the database is at (SQLite's `user_version`).
pub fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
