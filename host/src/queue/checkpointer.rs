//! The SQLite backend's checkpointer: a thread with its own connection that copies the WAL
//! back into the database file every [`EVERY`], so the writer thread does not have to.
//!
//! Left to itself, SQLite checkpoints inside the commit that crosses 1,000 WAL pages, and
//! every acknowledgement waiting on that commit waits for the copy and its fsync too (at
//! ~10k WAL pages/s under load, several times a second). Here checkpoints are PASSIVE (they
//! never wait for, or block, the writer); the writer keeps a higher auto-checkpoint
//! ([`WRITER_FALLBACK_PAGES`]) only to restart the WAL file, which by then has less left to
//! copy. This thread must never write rows, and it stops when its writer does.

use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// How often the WAL is copied back.
const EVERY: Duration = Duration::from_millis(50);

/// WAL pages after which the writer checkpoints in its own commit (SQLite's default is 1,000).
pub(super) const WRITER_FALLBACK_PAGES: u32 = 4_000;

/// Keeps the checkpointer running; dropping it (with the writer thread) stops it.
pub(super) struct Guard {
    _alive: mpsc::Sender<()>,
}

/// Starts the checkpointer for the database at `path`. A failure to start is logged and the
/// writer's own fallback checkpoints take over.
pub(super) fn start(path: &Path) -> Option<Guard> {
    let conn = match Connection::open(path) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the checkpoint connection; the writer checkpoints instead");
            return None;
        }
    };
    let (alive, stopped) = mpsc::channel::<()>();
    let name = format!("checkpoint:{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("db"));
    let spawned = std::thread::Builder::new().name(name).spawn(move || run(&conn, &stopped));
    match spawned {
        Ok(_) => Some(Guard { _alive: alive }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the checkpoint thread; the writer checkpoints instead");
            None
        }
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "passive checkpoint failed; trying again shortly");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_wal_into_the_database_file_without_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (b BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
                 INSERT INTO t SELECT randomblob(2000) FROM n;",
            )
            .unwrap();
        let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or_default();
        assert!(size() < 100_000, "the rows are in the WAL only");
        let guard = start(&path);
        assert!(guard.is_some());
        for _ in 0..50 {
            if size() > 1_000_000 {
                break;
            }
            std::thread::sleep(EVERY);
        }
        assert!(size() > 1_000_000, "the checkpointer copied the WAL back: {} bytes", size());
    }
}
