//! The embedded backend: one thread owns the SQLite database (WAL, `synchronous = FULL`) and
//! runs the writer's batches on it, one transaction per batch — the group commit
//! (`writer.rs`); a second thread copies the WAL back (`checkpointer.rs`).
//!
//! This file opens the database, applies the schema, and lets the shared operations run on it
//! through `sql::Tx`. It classifies SQLite's errors: a full disk, an I/O error or a database
//! that turned read-only means the store cannot write ([`StoreError::Unavailable`]), anything
//! else fails only the operation that hit it. It notices the database file being deleted or
//! replaced underneath it ([`StoreError::Lost`]): SQLite would go on writing into the unlinked
//! file, acknowledging webhooks that no restart would find; and it says when the file system is
//! nearly full. It must never block on anything but the database.

use super::checkpointer;
use super::sql::{self, Arg, Backend, Ctx, Flow, Row, Tx};
use super::{Store, StoreError, writer};
use crate::event::now_ms;
use rusqlite::{Connection, ErrorCode, Transaction};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Opens (creating if needed) the database at `path` and starts its writer thread.
///
/// Leases left by an earlier process are released: one gateway serves one SQLite file (use
/// PostgreSQL to share a store), so any lease found at start belonged to a process that died.
pub fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
    let conn = connect(path)?;
    conn.execute_batch(
        "UPDATE events SET due_at_ms = 0, lease_until_ms = 0, lease_owner = NULL WHERE state = 'pending' AND lease_until_ms > 0;
         UPDATE deliveries SET due_at_ms = 0, lease_until_ms = 0, lease_owner = NULL WHERE state = 'pending' AND lease_until_ms > 0;",
    )
    .map_err(|e| open_error(path, &e))?;
    conn.pragma_update(None, "wal_autocheckpoint", checkpointer::WRITER_FALLBACK_PAGES)
        .map_err(|e| open_error(path, &e))?;
    spawn(conn, path, checkpointer::start(path))
}

/// Opens the database for a command-line tool while a gateway may be serving it: no lease is
/// touched.
pub fn open_sqlite_shared(path: &Path) -> Result<Store, StoreError> {
    spawn(connect(path)?, path, None)
}

fn open_error(path: &Path, e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Open { path: path.to_path_buf(), message: e.to_string() }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| open_error(path, &e))?;
    }
    let conn = Connection::open(path).map_err(|e| open_error(path, &e))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = OFF;",
    )
    .map_err(|e| open_error(path, &e))?;
    let applied: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| open_error(path, &e))?;
    if applied > MIGRATIONS.len() {
        let (found, known) = (applied as u64, MIGRATIONS.len() as u64);
        return Err(StoreError::NewerSchema { path: path.to_path_buf(), found, known });
    }
    migrate(&conn, applied).map_err(|e| open_error(path, &e))?;
    Ok(conn)
}

/// The schema, one step per file; `PRAGMA user_version` says how many steps a file has had.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/sqlite/0001_initial.sql"),
    include_str!("migrations/sqlite/0002_emits_and_probe.sql"),
    include_str!("migrations/sqlite/0003_kv.sql"),
    include_str!("migrations/sqlite/0004_delivery_control.sql"),
    include_str!("migrations/sqlite/0005_broker_names.sql"),
    include_str!("migrations/sqlite/0006_nodes_and_owned_leases.sql"),
    include_str!("migrations/sqlite/0007_delivery_attempts.sql"),
    include_str!("migrations/sqlite/0008_plugin_log.sql"),
];

/// Runs the steps after the first `applied`.
fn migrate(conn: &Connection, applied: usize) -> rusqlite::Result<()> {
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", step + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn spawn(conn: Connection, path: &Path, checkpointer: Option<checkpointer::Guard>) -> Result<Store, StoreError> {
    let name = format!("store:{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("db"));
    let file = FileId::of(path).map_err(|e| open_error(path, &e))?;
    let node = super::new_node_id();
    let backend = Sqlite { conn, path: path.to_path_buf(), file, node: node.clone(), _checkpointer: checkpointer };
    Ok(writer::spawn(name, backend, node))
}

/// Free space the database's file system must keep for the store to count as writable: room
/// for the WAL to grow to its restart size (`checkpointer::WRITER_FALLBACK_PAGES`, 16 MB) is
/// more than most bursts need; half of it is the floor.
const MIN_FREE_BYTES: u64 = 8 << 20;

/// Which file a path names: a deleted or replaced database has another (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        Ok(Self { device: meta.dev(), inode: meta.ino() })
    }
}

/// The connection the writer thread owns, the file it was opened on, and the checkpointer
/// that lives as long as it.
struct Sqlite {
    conn: Connection,
    path: PathBuf,
    file: FileId,
    node: std::sync::Arc<str>,
    _checkpointer: Option<checkpointer::Guard>,
}

impl Backend for Sqlite {
    fn ctx(&mut self) -> Result<Ctx, StoreError> {
        let node = self.node.clone();
        Ok(Ctx {
            now: now_ms() as i64,
            max_event_lease: Duration::MAX,
            max_delivery_lease: Duration::MAX,
            node,
            shared: false,
        })
    }

    fn transaction(&mut self, body: &mut dyn FnMut(&mut dyn Tx) -> Flow) -> Result<bool, StoreError> {
        let before = self.conn.total_changes();
        {
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(error)?;
            let mut open = SqliteTx(tx);
            match body(&mut open) {
                Flow::Commit => open.0.commit().map_err(error)?,
                // A failed statement may have ended the transaction already (SQLite rolls back by
                // itself on a full disk); the failure itself is what the writer reports.
                Flow::Rollback => drop(open.0.rollback()),
            }
        }
        Ok(self.conn.total_changes() > before)
    }

    fn check(&mut self) -> Result<(), StoreError> {
        match FileId::of(&self.path) {
            Ok(now) if now == self.file => {}
            Ok(_) => return Err(StoreError::Lost(format!("{} was replaced by another file", self.path.display()))),
            Err(e) => return Err(StoreError::Lost(format!("{} is gone: {e}", self.path.display()))),
        }
        // A nearly full disk still takes small writes into space the WAL already holds, so
        // commits alone would make readiness flap; the free space says it plainly.
        let free = rustix::fs::statvfs(&self.path).map(|v| v.f_bavail.saturating_mul(v.f_frsize));
        match free {
            Ok(bytes) if bytes < MIN_FREE_BYTES => Err(StoreError::Unavailable(format!(
                "the file system of {} has {} KiB free, under the {} MiB the store needs",
                self.path.display(),
                bytes >> 10,
                MIN_FREE_BYTES >> 20
            ))),
            _ => Ok(()),
        }
    }
}

/// SQLite's error as the store's: the database itself failing is [`StoreError::Unavailable`].
fn error(e: rusqlite::Error) -> StoreError {
    let fatal = matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
                | ErrorCode::NotADatabase
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::OutOfMemory
        )
    );
    if fatal { StoreError::Unavailable(e.to_string()) } else { StoreError::Database(e.to_string()) }
}

struct SqliteTx<'c>(Transaction<'c>);

impl Tx for SqliteTx<'_> {
    fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let mut statement = self.0.prepare_cached(&sql::for_sqlite(sql)).map_err(error)?;
        let n = statement.execute(rusqlite::params_from_iter(args.iter().map(Bind))).map_err(error)?;
        Ok(n as u64)
    }

    fn query(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut statement = self.0.prepare_cached(&sql::for_sqlite(sql)).map_err(error)?;
        let mut rows = statement.query(rusqlite::params_from_iter(args.iter().map(Bind))).map_err(error)?;
        while let Some(row) = rows.next().map_err(error)? {
            each(&SqliteRow(row))?;
        }
        Ok(())
    }
}

/// An [`Arg`] bound as SQLite's own value.
struct Bind<'a, 'b>(&'a Arg<'b>);

impl rusqlite::ToSql for Bind<'_, '_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self.0 {
            Arg::Int(n) => ValueRef::Integer(n),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::Blob(b) => ValueRef::Blob(b),
            Arg::Null => ValueRef::Null,
        }))
    }
}

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Row for SqliteRow<'_, '_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.0.get(i).map_err(error)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.0.get(i).map_err(error)
    }

    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.0.get(i).map_err(error)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.0.get(i).map_err(error)
    }

    fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.0.get(i).map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Appended;
    use crate::queue::contract::{LEASE, contract_tests, event, key};

    /// A fresh database in its own temporary directory (removed with the guard).
    fn open() -> Option<(Store, tempfile::TempDir)> {
        let dir = tempfile::tempdir().unwrap();
        let store = open_sqlite(&dir.path().join("s.db")).unwrap();
        Some((store, dir))
    }

    contract_tests!(open);

    #[test]
    fn a_file_migrated_by_a_newer_gateway_is_refused_with_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(open_sqlite(&path).unwrap());
        let newer = MIGRATIONS.len() + 1;
        Connection::open(&path).unwrap().pragma_update(None, "user_version", newer).unwrap();
        let refused = open_sqlite(&path).map(|_| ()).unwrap_err();
        let text = refused.to_string();
        assert!(matches!(refused, StoreError::NewerSchema { found, .. } if found == newer as u64), "{text}");
        assert!(text.contains(&format!("version {newer}")) && text.contains("newer Switchyard"), "{text}");
    }

    #[tokio::test]
    async fn a_reopened_store_releases_the_leases_of_a_dead_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = open_sqlite(&path).unwrap();
        store.append(event(1), None).await.unwrap();
        assert_eq!(store.lease_events(10, LEASE).await.unwrap_or_default().len(), 1);
        drop(store);
        let again = open_sqlite(&path).unwrap();
        assert_eq!(again.lease_events(10, LEASE).await.unwrap_or_default().len(), 1, "the event is done again");
    }

    #[tokio::test]
    async fn a_dedup_key_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let first = event(1);
        let store = open_sqlite(&path).unwrap();
        let day = Duration::from_secs(86_400);
        assert_eq!(store.append(first.clone(), key(1, day)).await.ok(), Some(Appended::Stored));
        drop(store);
        let again = open_sqlite(&path).unwrap();
        let repeat = again.append(event(1), key(1, day)).await.ok();
        assert_eq!(repeat, Some(Appended::Duplicate { original_id: first.id }));
    }
}
