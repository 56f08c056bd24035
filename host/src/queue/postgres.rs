//! The shared backend: several gateways on one PostgreSQL database (`storage.url =
//! "postgres://…"`). Each gateway's writer thread owns one connection (the sync `postgres`
//! client) and runs the writer's batches on it, one transaction per batch — the same group
//! commit and the same operations as SQLite, over the same tables. A second connection, on a
//! thread of its own, runs the operations that only read, batched the same way, in read-only
//! transactions that each see one snapshot.
//!
//! What differs from SQLite, because the database is shared:
//! - Leases are taken with `… FOR UPDATE SKIP LOCKED` (`sql.rs`): two gateways never lease
//!   the same row, and rows another gateway's batch holds are skipped, not waited for.
//! - Nothing is released at start (a lease found then may belong to a live gateway): leases
//!   are short (`storage.lease_secs`, 15 s by default) and each gateway renews its own while it
//!   works (`ops/nodes.rs`), so when a gateway dies, freezes or loses the network, its work
//!   resumes on another one within one lease. Renewal stops [`EVENT_LEASE`](super::EVENT_LEASE) (2 min: twice the
//!   longest plugin timeout, 60 s) or [`DELIVERY_LEASE`](super::DELIVERY_LEASE) (11 min: one attempt, whose timeout is
//!   at most 600 s, with room) after a row was leased, so work lost inside a live gateway still
//!   comes back.
//! - "Now" is the database's clock, read once per batch, so leases, retries and dedup windows
//!   mean the same on every gateway whatever their own clocks say.
//! - A dropped connection (a database restart, an idle timeout) is re-opened when the next
//!   batch starts; a batch whose connection drops midway fails (ingest answers 503, the loops
//!   try again).
//!
//! - TLS as libpq reads it from the URL (`sslmode`, `sslrootcert`, `sslcert`/`sslkey`:
//!   `pg_tls.rs`); without `sslmode`, plain TCP.
//!
//! This file connects, applies the schema and binds values; the SQL lives with the operations.
//! It must never block on anything but the database.

use super::pg_tls;
use super::sql::{self, Arg, Backend, Ctx, Flow, Row, Tx};
use super::{Store, StoreError, writer};
use ::postgres::error::SqlState;
use ::postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use ::postgres::{Client, Error as PgError, IsolationLevel, NoTls, Statement, Transaction};
use std::collections::HashMap;
use std::time::Duration;

/// How long connecting may take unless the url says (`connect_timeout=SECONDS`): an
/// unreachable database fails the start, or one batch, instead of hanging on TCP's own timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Serializes schema changes between gateways starting at once (`CREATE … IF NOT EXISTS`
/// races on PostgreSQL's catalogs). An arbitrary constant: "Switch" in ASCII.
const SCHEMA_LOCK: i64 = 0x5377_6974_6368;

/// The schema, one step per file; the `switchyard_schema` table says how many steps ran.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_initial.sql"),
    include_str!("migrations/postgres/0002_emits_and_probe.sql"),
    include_str!("migrations/postgres/0003_kv.sql"),
    include_str!("migrations/postgres/0004_delivery_control.sql"),
    include_str!("migrations/postgres/0005_broker_names.sql"),
    include_str!("migrations/postgres/0006_nodes_and_owned_leases.sql"),
    include_str!("migrations/postgres/0007_delivery_attempts.sql"),
    include_str!("migrations/postgres/0008_plugin_log.sql"),
];

/// The database's clock in Unix milliseconds.
const NOW: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Connects to the database `url` names, applies the schema if needed and starts the store's
/// threads. Leases are left alone: other gateways may hold them.
///
/// Two connections: the writer's, and one for the operations that only read
/// ([`Op::READS_ONLY`](writer::Op::READS_ONLY): a plugin's `kv get`, the console's pages),
/// which on a thread of its own waits for none of the writer's commits. Its transactions are
/// read-only, so an operation marked wrongly fails instead of writing outside the writer's
/// batches.
pub fn open_postgres(url: &str, lease: Duration) -> Result<Store, StoreError> {
    let owned = url.to_string();
    // The sync client runs a small runtime of its own, which must not start inside tokio's
    // (where `Gateway::start` opens the store): connect on a thread of its own.
    let (writes, reads) = std::thread::spawn(move || Ok((connect(&owned, lease)?, connect_only(&owned, lease)?)))
        .join()
        .unwrap_or_else(|_| Err(open_error(url, "the connecting thread panicked".into())))?;
    let node = super::new_node_id();
    let backend = |client, role| Postgres {
        url: url.to_string(),
        role,
        client,
        prepared: HashMap::new(),
        lease,
        node: node.clone(),
    };
    let reader = writer::spawn("store:pg-reads".into(), backend(reads, Role::Reads), node.clone());
    Ok(writer::spawn("store:postgres".into(), backend(writes, Role::Writes), node.clone()).with_reader(reader))
}

/// Connects and applies the schema.
fn connect(url: &str, lease: Duration) -> Result<Client, StoreError> {
    let error = |e: PgError| open_error(url, with_causes(&e));
    let mut client = connect_only(url, lease)?;
    let mut tx = client.transaction().map_err(error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).map_err(error)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS switchyard_schema (version INTEGER NOT NULL)").map_err(error)?;
    let applied: i64 = tx
        .query_one("SELECT COALESCE(MAX(version), 0)::bigint FROM switchyard_schema", &[])
        .and_then(|r| r.try_get(0))
        .map_err(error)?;
    let known = MIGRATIONS.len() as u64;
    if u64::try_from(applied).unwrap_or(0) > known {
        let path = crate::config::without_password(url).into();
        return Err(StoreError::NewerSchema { path, found: applied as u64, known });
    }
    for (step, migration) in MIGRATIONS.iter().enumerate().skip(usize::try_from(applied).unwrap_or(0)) {
        tx.batch_execute(migration).map_err(error)?;
        let version = i32::try_from(step + 1).unwrap_or(i32::MAX);
        tx.execute("INSERT INTO switchyard_schema (version) VALUES ($1)", &[&version]).map_err(error)?;
    }
    tx.commit().map_err(error)?;
    Ok(client)
}

/// Connects, without touching the schema. A transaction of this connection left idle for
/// longer than `lease` is ended by the server: a gateway frozen mid-batch (SIGSTOP, a stalled
/// VM) must not keep the rows it locked from the gateways taking its work over.
fn connect_only(url: &str, lease: Duration) -> Result<Client, StoreError> {
    let error = |e: PgError| open_error(url, with_causes(&e));
    // Relative certificate paths are relative to the working directory, as libpq has them.
    let (client_url, tls) = pg_tls::split(url, std::path::Path::new("")).map_err(|e| open_error(url, e))?;
    let mut config: ::postgres::Config = client_url.parse().map_err(error)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let mut client = match tls.client_config().map_err(|e| open_error(url, e))? {
        None => config.connect(NoTls),
        Some(rustls) => config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(rustls)),
    }
    .map_err(error)?;
    let idle = super::millis(lease).max(1000);
    client.batch_execute(&format!("SET idle_in_transaction_session_timeout = {idle}")).map_err(error)?;
    Ok(client)
}

/// An error with its causes, where the reason is (a TLS failure's is in its source).
fn with_causes(e: &PgError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
        source = s.source();
    }
    text
}

fn open_error(url: &str, message: String) -> StoreError {
    StoreError::Open { path: crate::config::without_password(url).into(), message }
}

/// PostgreSQL's error as the store's: a lost connection means the store cannot write. The
/// server's own message is kept (the client's Display says only "db error").
fn error(e: PgError) -> StoreError {
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    };
    if e.is_closed() || e.code() == Some(&SqlState::ADMIN_SHUTDOWN) {
        StoreError::Unavailable(message)
    } else {
        StoreError::Database(message)
    }
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Writes,
    Reads,
}

/// A connection a store thread owns, how to get another, and the statements prepared on
/// it by their text: one parse per connection, not per operation.
struct Postgres {
    url: String,
    /// Which of the store's two connections this is (how to open it again).
    role: Role,
    client: Client,
    prepared: HashMap<&'static str, Statement>,
    /// How long a lease lasts unless renewed (`storage.lease_secs`).
    lease: Duration,
    node: std::sync::Arc<str>,
}

impl Backend for Postgres {
    /// Reads the database's clock. This is also the batch's first contact with the server, so
    /// a connection found dropped is re-opened here and the read tried once more: the callers
    /// never see it.
    fn ctx(&mut self) -> Result<Ctx, StoreError> {
        let read = |client: &mut Client| client.query_one(NOW, &[]).and_then(|row| row.try_get(0));
        let now = match read(&mut self.client) {
            Ok(now) => now,
            Err(e) if self.client.is_closed() || e.is_closed() || e.code() == Some(&SqlState::ADMIN_SHUTDOWN) => {
                tracing::warn!(error = %e, "the PostgreSQL connection was dropped; reconnecting");
                let again = match self.role {
                    Role::Writes => connect(&self.url, self.lease),
                    Role::Reads => connect_only(&self.url, self.lease),
                };
                self.client = again.map_err(|e| StoreError::Unavailable(e.to_string()))?;
                self.prepared.clear();
                read(&mut self.client).map_err(error)?
            }
            Err(e) => return Err(error(e)),
        };
        let (lease, node) = (self.lease, self.node.clone());
        Ok(Ctx { now, max_event_lease: lease, max_delivery_lease: lease, node, shared: true })
    }

    /// The read connection's transactions are read-only and see one snapshot (REPEATABLE
    /// READ), so a page made of several queries never shows half of a commit.
    fn transaction(&mut self, body: &mut dyn FnMut(&mut dyn Tx) -> Flow) -> Result<bool, StoreError> {
        let tx = match self.role {
            Role::Writes => self.client.transaction(),
            Role::Reads => {
                self.client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start()
            }
        }
        .map_err(error)?;
        let mut open = PgTx { tx, prepared: &mut self.prepared, changed: false };
        match body(&mut open) {
            Flow::Commit => open.tx.commit().map_err(error)?,
            Flow::Rollback => drop(open.tx.rollback()),
        }
        Ok(open.changed)
    }
}

struct PgTx<'c, 'p> {
    tx: Transaction<'c>,
    prepared: &'p mut HashMap<&'static str, Statement>,
    /// Whether a statement changed (or, with RETURNING, returned) a row.
    changed: bool,
}

impl PgTx<'_, '_> {
    /// The statement for `sql`, prepared once per connection (prepared statements outlive
    /// transactions, rolled back or not).
    fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(&sql::for_postgres(sql)).map_err(error)?;
        self.prepared.insert(sql, statement.clone());
        Ok(statement)
    }
}

impl Tx for PgTx<'_, '_> {
    fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let n = self.tx.execute(&statement, &params).map_err(error)?;
        self.changed |= n > 0;
        Ok(n)
    }

    fn query(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let rows = self.tx.query(&statement, &params).map_err(error)?;
        self.changed |= !rows.is_empty() && !sql.trim_start().starts_with("SELECT");
        for row in rows {
            each(&PgRow(row))?;
        }
        Ok(())
    }
}

/// An [`Arg`] bound to whatever type PostgreSQL inferred for its parameter: integers to the
/// column's width, text without NUL bytes (which PostgreSQL's text cannot hold; they become
/// U+FFFD rather than failing the operation on every retry).
impl ToSql for Arg<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Arg::Int(n) if *ty == Type::INT2 => i16::try_from(n)?.to_sql(ty, out),
            Arg::Int(n) if *ty == Type::INT4 => i32::try_from(n)?.to_sql(ty, out),
            Arg::Int(n) => n.to_sql(ty, out),
            Arg::Text(s) if s.contains('\0') => s.replace('\0', "\u{FFFD}").to_sql(ty, out),
            Arg::Text(s) => s.to_sql(ty, out),
            Arg::Blob(b) => b.to_sql(ty, out),
            Arg::Null => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

struct PgRow(::postgres::Row);

impl Row for PgRow {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?.ok_or_else(|| StoreError::Database(format!("column {i} is NULL")))
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        let column = self.0.columns().get(i).map(|c| c.type_().clone());
        match column {
            Some(Type::INT2) => self.0.try_get::<_, Option<i16>>(i).map(|n| n.map(i64::from)),
            Some(Type::INT4) => self.0.try_get::<_, Option<i32>>(i).map(|n| n.map(i64::from)),
            _ => self.0.try_get::<_, Option<i64>>(i),
        }
        .map_err(error)
    }

    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.0.try_get(i).map_err(error)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.0.try_get(i).map_err(error)
    }

    fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.0.try_get(i).map_err(error)
    }
}

#[cfg(test)]
#[path = "postgres_tests.rs"]
mod tests;
