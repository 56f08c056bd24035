//! The durable store: events, deliveries and dead letters, behind one handle.
//!
//! [`Store`] is a cheap, cloneable handle that sends operations to a writer thread, which runs
//! every operation waiting in one transaction — so many concurrent appends share one commit
//! and one fsync (group commit, `writer.rs`). On PostgreSQL the operations that only read go
//! to a second, read-only connection with a thread of its own, so they wait for no commit.
//! Each caller gets its answer through a oneshot, after the commit. Each operation (`ops/`) is written once, in SQL both backends take
//! (`sql.rs`); the backends connect and bind: the embedded one (`sqlite.rs`) for one gateway,
//! the shared one (`postgres.rs`) for several gateways on one database. [`Store::open`] picks
//! one by the url.
//!
//! The model is at-least-once: work is *leased* (hidden from other workers until the lease
//! expires) and completed explicitly; a crash leaves leases that expire, and the work is done
//! again with the same event and delivery ids. This module never speaks HTTP and never runs
//! plugins.
//!
//! Deduplication lives here too: an append may carry a [`Dedup`] key, and the backend checks
//! and records it in the same transaction as the event, so a key is held exactly when its event
//! is durable — a crash or a full backlog can neither lose a key of an acknowledged event nor
//! keep one for an event that was refused.

mod checkpointer;
#[cfg(test)]
mod contract;
#[cfg(test)]
mod contract_history;
mod handle;
pub mod handoff;
mod history;
mod ops;
mod pg_tls;
mod postgres;
mod sql;
mod sqlite;
mod work;
mod writer;

pub(crate) use handle::Shared;
pub use handle::Store;
pub use history::{
    AttemptLog, AttemptRecord, DeadLetter, DeliveryRecord, DeliverySummary, Depth, DestinationCounts, EventQuery,
    EventRecord, EventSummary, KvEntry,
};
pub use ops::{KV_MAX_LIST, Node, NodeInfo, Renewed};
pub use postgres::open_postgres;
pub use sqlite::{open_sqlite, open_sqlite_shared};
pub use work::{
    Appended, Dedup, DeliveryOutcome, DestinationPause, EventNext, EventOutcome, EventReplay, Finished, Hold, KvOp,
    KvWrite, LeasedDelivery, LeasedEvent, NewDelivery, PausedBy, PluginLogLine, ReplaySelector, ReplayState, Replayed,
};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Commands waiting for the backend at most; past this, ingest answers 503.
pub const BACKLOG: usize = 8192;

/// How long after leasing an event a gateway stops renewing it: the longest plugin call (60 s)
/// fits twice. Work lost inside a live gateway comes back after this.
pub const EVENT_LEASE: Duration = Duration::from_secs(2 * 60);

/// How long after leasing a delivery a gateway stops renewing it: one attempt (a destination
/// waits 600 s at most) fits.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(11 * 60);

/// A fresh node id for a gateway starting now: `node-` and 12 random hex digits. New at every
/// start, so a restarted gateway never mistakes its predecessor's leases for its own.
pub(crate) fn new_node_id() -> Arc<str> {
    Arc::from(format!("node-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff))
}

/// A duration in whole milliseconds, as the stores keep times (saturating, never wrapping).
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Why a store operation did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Too many writes are waiting: answer 503, do not buffer.
    #[error("the store is at capacity")]
    Busy,
    /// The backend has stopped (shutdown, or a fatal database error logged before).
    #[error("the store is closed")]
    Closed,
    /// The operation failed; the store itself works (a constraint, a value refused).
    #[error("database error: {0}")]
    Database(String),
    /// The database cannot be written at all right now (the disk is full, an I/O error, the
    /// connection is lost); every operation fails until it can again.
    #[error("the store cannot write: {0}")]
    Unavailable(String),
    /// The database file was deleted or replaced while the gateway was using it: nothing
    /// written from now on would survive a restart, so nothing is written.
    #[error("the store's database is gone: {0}")]
    Lost(String),
    #[error("cannot open the store at {path}: {message}")]
    Open { path: PathBuf, message: String },
    /// The database was migrated by a newer Switchyard; this one would misread it.
    #[error(
        "cannot open the store at {path}: its schema is version {found}, written by a newer Switchyard; \
         this binary ({}) knows versions up to {known}. Run the newer binary, or restore the backup \
         taken before the upgrade: a store is never migrated down",
        env!("CARGO_PKG_VERSION")
    )]
    NewerSchema { path: PathBuf, found: u64, known: u64 },
    #[error("unsupported storage url `{0}`: use sqlite://PATH or postgres://USER@HOST/DATABASE")]
    Url(String),
}

/// Whether `url` names a PostgreSQL database (`postgres://…` or `postgresql://…`).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The file a `sqlite://PATH` url names, relative paths resolved against `base`.
pub fn sqlite_path(url: &str, base: &std::path::Path) -> Result<PathBuf, StoreError> {
    let path = url.strip_prefix("sqlite://").ok_or_else(|| StoreError::Url(url.to_string()))?;
    if path.is_empty() {
        return Err(StoreError::Url(url.to_string()));
    }
    Ok(base.join(path))
}
