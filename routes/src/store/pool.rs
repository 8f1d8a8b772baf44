//! Opening the database: pragmas on every connection, migrations once at start-up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use platform_middleware::body::BoxError;
use platform_middleware::scope::Pool;
use r2d2_sqlite::SqliteConnectionManager;

pub type Conn = r2d2::PooledConnection<SqliteConnectionManager>;

/// The pool; every call on it blocks, so it is only used from blocking threads.
pub struct Db {
    pool: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database directory {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: r2d2::Error },
    #[error("cannot migrate the database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: rusqlite_migration::Error,
    },
}

const POOL_SIZE: u32 = 8;
/// How long a request waits for a free connection before it gets a 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long SQLite waits on a locked database before failing a statement.
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// Opens (creating if needed) the database at `path` and migrates it to the latest schema.
/// Blocking: call it from a blocking thread or before the runtime serves.
pub fn open(path: &Path) -> Result<Db, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            dir: dir.to_owned(),
            source,
        })?;
    }
    let manager = SqliteConnectionManager::file(path).with_init(|c| {
        c.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};"
        ))
    });
    let pool = r2d2::Pool::builder()
        .max_size(POOL_SIZE)
        .min_idle(Some(1))
        .connection_timeout(ACQUIRE_TIMEOUT)
        // A SQLite connection to a local file does not go stale; r2d2's check ran an (empty)
        // statement on every checkout.
        .test_on_check_out(false)
        .build(manager)
        .map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
    let mut conn = pool.get().map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    super::migrations()
        .to_latest(&mut conn)
        .map_err(|source| StoreError::Migrate {
            path: path.to_owned(),
            source,
        })?;
    Ok(Db {
        pool,
        path: path.to_owned(),
    })
}

impl Db {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Connections open and idle, for metrics.
    pub fn usage(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }
}

impl Pool for Db {
    type Conn = Conn;

    fn get(&self) -> Result<Conn, BoxError> {
        self.pool.get().map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/platform.db");
        let db = open(&path).unwrap();
        let conn = db.get().unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let version = crate::store::schema_version(&conn).unwrap();
        assert!(version >= 1);
        drop(conn);
        drop(db);
        let again = open(&path).unwrap();
        assert_eq!(
            crate::store::schema_version(&again.get().unwrap()).unwrap(),
            version
        );
    }
}
