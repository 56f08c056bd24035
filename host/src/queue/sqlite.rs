//! The embedded backend: one thread owns the SQLite database (WAL, `synchronous = FULL`) and
//! executes commands in batches, one transaction per batch — the group commit (`writer.rs`).
//!
//! Answers are sent only after the batch's commit returned, so an append's caller knows its
//! event is on disk. A failed commit fails every command of the batch. This file is the only
//! one that writes SQLite's SQL; it must never block on anything but the database.

use super::checkpointer;
use super::writer::{self, Batch, Reply, Woke, fail, reply};
use super::{
    Appended, Command, DeadLetter, Dedup, DeliveryOutcome, DeliverySummary, Depth, EventNext, EventOutcome,
    EventSummary, LeasedDelivery, LeasedEvent, NewDelivery, ReplaySelector, Store, StoreError, millis, new_row_times,
};
use crate::event::{Event, now_ms};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::path::Path;

/// Opens (creating if needed) the database at `path` and starts its writer thread.
///
/// Leases left by an earlier process are released: one gateway serves one SQLite file (use
/// PostgreSQL to share a store), so any lease found at start belonged to a process that died.
pub fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
    let conn = connect(path)?;
    conn.execute_batch(
        "UPDATE events SET due_at_ms = 0, lease_until_ms = 0 WHERE state = 'pending' AND lease_until_ms > 0;
         UPDATE deliveries SET due_at_ms = 0, lease_until_ms = 0 WHERE state = 'pending' AND lease_until_ms > 0;",
    )
    .map_err(db)?;
    conn.pragma_update(None, "wal_autocheckpoint", checkpointer::WRITER_FALLBACK_PAGES).map_err(db)?;
    Ok(spawn(conn, path, checkpointer::start(path)))
}

/// Opens the database for a command-line tool while a gateway may be serving it: no lease is
/// touched.
pub fn open_sqlite_shared(path: &Path) -> Result<Store, StoreError> {
    Ok(spawn(connect(path)?, path, None))
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |e: rusqlite::Error| StoreError::Open { path: path.to_path_buf(), message: e.to_string() };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Open { path: path.to_path_buf(), message: e.to_string() })?;
    }
    let conn = Connection::open(path).map_err(open_err)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = OFF;",
    )
    .map_err(open_err)?;
    conn.execute_batch(include_str!("schema.sql")).map_err(open_err)?;
    Ok(conn)
}

fn spawn(conn: Connection, path: &Path, checkpointer: Option<checkpointer::Guard>) -> Store {
    let name = format!("store:{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("db"));
    writer::spawn(name, Sqlite { conn, _checkpointer: checkpointer })
}

/// The connection the writer thread owns, and the checkpointer that lives as long as it.
struct Sqlite {
    conn: Connection,
    _checkpointer: Option<checkpointer::Guard>,
}

impl Batch for Sqlite {
    fn run(&mut self, batch: &mut Vec<Command>, replies: &mut Vec<Reply>, woke: &mut Woke) -> Result<(), String> {
        match self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
            Ok(tx) => {
                for command in batch.drain(..) {
                    replies.push(execute(&tx, command, woke));
                }
                tx.commit().map_err(|e| e.to_string())
            }
            Err(e) => {
                let e = e.to_string();
                replies.extend(batch.drain(..).map(|command| fail(command, &e)));
                Err(e)
            }
        }
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn execute(tx: &Transaction<'_>, command: Command, woke: &mut Woke) -> Reply {
    let now = now_ms() as i64;
    match command {
        Command::Append { event, dedup, lease, reply: r } => {
            let until = lease.as_ref().map(|l| now.saturating_add(millis(l.duration)));
            let result = append_once(tx, &event, dedup.as_ref(), now, until);
            writer::appended(r, result, event, lease, woke)
        }
        Command::LeaseEvents { max, lease, reply: r } => {
            reply(r, lease_events(tx, max, now, now + lease.as_millis() as i64))
        }
        Command::FinishEvent { id, outcome, leases, reply: r } => {
            let until = leases.first().map_or(now, |l| now.saturating_add(millis(l.duration)));
            let inserted = finish_event(tx, &id, &outcome, now, leases.len(), until);
            writer::finished(r, inserted, outcome, leases, woke)
        }
        Command::LeaseDeliveries { max, lease, reply: r } => {
            reply(r, lease_deliveries(tx, max, now, now + lease.as_millis() as i64))
        }
        Command::FinishDelivery { id, outcome, reply: r } => reply(r, finish_delivery(tx, &id, outcome, now)),
        Command::DeadLetters { limit, reply: r } => reply(r, dead_letters(tx, limit)),
        Command::RecentEvents { limit, reply: r } => reply(r, recent_events(tx, limit)),
        Command::Replay { selector, reply: r } => {
            woke.events = true;
            woke.deliveries = true;
            reply(r, replay(tx, &selector, now))
        }
        Command::Prune { older_than_ms, reply: r } => reply(r, prune(tx, older_than_ms as i64, now)),
        Command::Depth { reply: r } => reply(r, depth(tx, now)),
        Command::HandEvents(_) | Command::HandDeliveries(_) => Box::new(|_| {}),
    }
}

/// Appends `event` unless a live event holds its dedup key. The key and the event are written
/// under one savepoint, so a failure leaves neither (the batch's other commands stand). With
/// `leased_until`, the event is stored leased to this process (it is being handed off).
fn append_once(
    tx: &Transaction<'_>,
    event: &Event,
    dedup: Option<&Dedup>,
    now: i64,
    leased_until: Option<i64>,
) -> Result<Appended, StoreError> {
    let Some(dedup) = dedup else {
        return append(tx, event, now, leased_until).map(|()| Appended::Stored);
    };
    tx.execute_batch("SAVEPOINT append").map_err(db)?;
    let appended = claim(tx, dedup, &event.id, now).and_then(|claimed| match claimed {
        Some(original_id) => Ok(Appended::Duplicate { original_id }),
        None => append(tx, event, now, leased_until).map(|()| Appended::Stored),
    });
    let end = if appended.is_ok() { "RELEASE append" } else { "ROLLBACK TO append; RELEASE append" };
    tx.execute_batch(end).map_err(db)?;
    appended
}

/// Takes the dedup key for `event_id` unless a live event holds it; `Some(original)` names
/// that event. An expired key is taken over in place (prune deletes the rest).
fn claim(tx: &Transaction<'_>, dedup: &Dedup, event_id: &str, now: i64) -> Result<Option<String>, StoreError> {
    let expires = now.saturating_add(i64::try_from(dedup.window.as_millis()).unwrap_or(i64::MAX));
    let taken = tx
        .prepare_cached(
            "INSERT INTO dedup (key, event_id, expires_at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, expires_at_ms = excluded.expires_at_ms
             WHERE dedup.expires_at_ms <= ?4
             RETURNING event_id",
        )
        .and_then(|mut s| s.query_row(params![&dedup.key[..], event_id, expires, now], |_| Ok(())).optional())
        .map_err(db)?;
    if taken.is_some() {
        return Ok(None);
    }
    tx.query_row("SELECT event_id FROM dedup WHERE key = ?1", params![&dedup.key[..]], |r| r.get(0))
        .map(Some)
        .map_err(db)
}

/// Stores `e` due now, or leased until `leased_until` (a leased row is due when its lease ends).
fn append(tx: &Transaction<'_>, e: &Event, now: i64, leased_until: Option<i64>) -> Result<(), StoreError> {
    let headers = serde_json::to_string(&e.headers).map_err(|e| StoreError::Database(e.to_string()))?;
    let (due, lease) = new_row_times(now, leased_until);
    tx.prepare_cached(
        "INSERT INTO events (id, source, scope, headers, body, received_at_ms, depth, state, due_at_ms, lease_until_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?10)",
    )
    .and_then(|mut s| {
        s.execute(params![e.id, e.source, e.scope, headers, &e.body[..], e.received_at_ms as i64, e.depth, due, lease, now])
    })
    .map(drop)
    .map_err(db)
}

/// Leasing works like a visibility timeout: a leased row's `due_at_ms` moves to the lease's end,
/// so the due-work index (state, due_at_ms) never skips over work in flight, and an unfinished
/// lease simply becomes due again. `lease_until_ms > 0` marks rows in flight.
fn lease_events(tx: &Transaction<'_>, max: usize, now: i64, until: i64) -> Result<Vec<LeasedEvent>, StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "UPDATE events SET lease_until_ms = ?3, due_at_ms = ?3 WHERE id IN (
                SELECT id FROM events WHERE state = 'pending' AND due_at_ms <= ?1
                ORDER BY due_at_ms LIMIT ?2)
             RETURNING id, source, scope, headers, body, received_at_ms, depth, attempts, routes_done",
        )
        .map_err(db)?;
    let rows = stmt.query_map(params![now, max as i64, until], |row| {
        let headers: String = row.get(3)?;
        let routes_done: String = row.get(8)?;
        let body: Vec<u8> = row.get(4)?;
        Ok(LeasedEvent {
            event: Event {
                id: row.get(0)?,
                source: row.get(1)?,
                scope: row.get(2)?,
                headers: serde_json::from_str(&headers).unwrap_or_default(),
                body: body.into(),
                received_at_ms: row.get::<_, i64>(5)? as u64,
                depth: row.get(6)?,
            },
            attempts: row.get(7)?,
            routes_done: serde_json::from_str(&routes_done).unwrap_or_default(),
        })
    });
    let mut leased: Vec<LeasedEvent> = rows.and_then(|r| r.collect()).map_err(db)?;
    leased.sort_by(|x, y| (x.event.received_at_ms, &x.event.id).cmp(&(y.event.received_at_ms, &y.event.id)));
    Ok(leased)
}

/// Inserts `deliveries` (a delivery already stored, by an earlier try of its event, is left
/// alone); the first `leased` are stored leased until `until`. Says which of those were new.
fn insert_deliveries(
    tx: &Transaction<'_>,
    deliveries: &[NewDelivery],
    now: i64,
    leased: usize,
    until: i64,
) -> Result<Vec<bool>, StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO deliveries (id, event_id, route, destination, body, headers, state, due_at_ms, lease_until_ms, created_at_ms, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9, ?9)",
        )
        .map_err(db)?;
    let mut inserted = Vec::with_capacity(leased);
    for (i, d) in deliveries.iter().enumerate() {
        let headers = serde_json::to_string(&d.headers).map_err(|e| StoreError::Database(e.to_string()))?;
        let (due, lease) = new_row_times(now, (i < leased).then_some(until));
        let n = stmt
            .execute(params![d.id, d.event_id, d.route, d.destination, &d.body[..], headers, due, lease, now])
            .map_err(db)?;
        if i < leased {
            inserted.push(n == 1);
        }
    }
    Ok(inserted)
}

/// Records what dispatch made of event `id`; the first `leased` deliveries are stored leased
/// until `until`, and the answer says which of those were new (only those may be handed off).
fn finish_event(
    tx: &Transaction<'_>,
    id: &str,
    outcome: &EventOutcome,
    now: i64,
    leased: usize,
    until: i64,
) -> Result<Vec<bool>, StoreError> {
    let inserted = insert_deliveries(tx, &outcome.deliveries, now, leased, until)?;
    for event in &outcome.emitted {
        append(tx, event, now, None)?;
    }
    let done = serde_json::to_string(&outcome.routes_done).unwrap_or_else(|_| "[]".into());
    match &outcome.next {
        EventNext::Done => tx
            .prepare_cached(
                "UPDATE events SET state = 'done', lease_until_ms = 0, routes_done = ?2, updated_at_ms = ?3 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, done, now])),
        EventNext::Retry { retry_in, error } => tx
            .prepare_cached(
                "UPDATE events SET attempts = attempts + 1, due_at_ms = ?2, lease_until_ms = 0, routes_done = ?3,
                 last_error = ?4, updated_at_ms = ?5 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, now.saturating_add(millis(*retry_in)), done, error, now])),
        EventNext::Dead { error } => tx
            .prepare_cached(
                "UPDATE events SET state = 'dead', attempts = attempts + 1, lease_until_ms = 0, routes_done = ?2,
                 last_error = ?3, updated_at_ms = ?4 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, done, error, now])),
    }
    .map_err(db)?;
    Ok(inserted)
}

fn lease_deliveries(tx: &Transaction<'_>, max: usize, now: i64, until: i64) -> Result<Vec<LeasedDelivery>, StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "UPDATE deliveries SET lease_until_ms = ?3, due_at_ms = ?3 WHERE id IN (
                SELECT id FROM deliveries WHERE state = 'pending' AND due_at_ms <= ?1
                ORDER BY due_at_ms LIMIT ?2)
             RETURNING id, event_id, route, destination, body, headers, attempts, created_at_ms",
        )
        .map_err(db)?;
    let rows = stmt.query_map(params![now, max as i64, until], |row| {
        let headers: String = row.get(5)?;
        let body: Vec<u8> = row.get(4)?;
        Ok((
            row.get::<_, i64>(7)?,
            LeasedDelivery {
                delivery: NewDelivery {
                    id: row.get(0)?,
                    event_id: row.get(1)?,
                    route: row.get(2)?,
                    destination: row.get(3)?,
                    body: body.into(),
                    headers: serde_json::from_str(&headers).unwrap_or_default(),
                },
                attempts: row.get(6)?,
            },
        ))
    });
    let mut leased: Vec<(i64, LeasedDelivery)> = rows.and_then(|r| r.collect()).map_err(db)?;
    leased.sort_by(|(x, a), (y, b)| (x, &a.delivery.id).cmp(&(y, &b.delivery.id)));
    Ok(leased.into_iter().map(|(_, d)| d).collect())
}

fn finish_delivery(tx: &Transaction<'_>, id: &str, outcome: DeliveryOutcome, now: i64) -> Result<(), StoreError> {
    match outcome {
        DeliveryOutcome::Delivered => tx
            .prepare_cached(
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, lease_until_ms = 0, last_error = NULL,
                 updated_at_ms = ?2 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, now])),
        DeliveryOutcome::Retry { retry_in, error } => tx
            .prepare_cached(
                "UPDATE deliveries SET attempts = attempts + 1, due_at_ms = ?2, lease_until_ms = 0, last_error = ?3,
                 updated_at_ms = ?4 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, now.saturating_add(millis(retry_in)), error, now])),
        DeliveryOutcome::Dead { error } => tx
            .prepare_cached(
                "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, lease_until_ms = 0, last_error = ?2,
                 updated_at_ms = ?3 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, error, now])),
    }
    .map(drop)
    .map_err(db)
}

fn dead_letters(tx: &Transaction<'_>, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT d.id, d.event_id, 'delivery', d.route, d.destination, e.scope, d.attempts, d.last_error, d.updated_at_ms
               FROM deliveries d LEFT JOIN events e ON e.id = d.event_id WHERE d.state = 'dead'
             UNION ALL
             SELECT id, id, 'event', NULL, NULL, scope, attempts, last_error, updated_at_ms FROM events WHERE state = 'dead'
             ORDER BY 9 DESC LIMIT ?1",
        )
        .map_err(db)?;
    let rows = stmt.query_map(params![limit as i64], |row| {
        let kind: String = row.get(2)?;
        Ok(DeadLetter {
            id: row.get(0)?,
            event_id: row.get(1)?,
            kind: if kind == "event" { "event" } else { "delivery" },
            route: row.get(3)?,
            destination: row.get(4)?,
            scope: row.get(5)?,
            attempts: row.get(6)?,
            error: row.get::<_, Option<String>>(7)?.unwrap_or_default(),
            updated_at_ms: row.get::<_, i64>(8)? as u64,
        })
    });
    rows.and_then(|r| r.collect()).map_err(db)
}

fn recent_events(tx: &Transaction<'_>, limit: usize) -> Result<Vec<EventSummary>, StoreError> {
    // Event ids are `evt_` + a UUIDv7, so the primary key orders them by time: no extra index.
    let mut events = tx
        .prepare_cached(
            "SELECT id, source, scope, state, attempts, received_at_ms, last_error FROM events ORDER BY id DESC LIMIT ?1",
        )
        .map_err(db)?;
    let mut deliveries = tx
        .prepare_cached(
            "SELECT id, route, destination, state, attempts, last_error FROM deliveries WHERE event_id = ?1 ORDER BY created_at_ms",
        )
        .map_err(db)?;
    let rows = events.query_map(params![limit as i64], |row| {
        Ok(EventSummary {
            id: row.get(0)?,
            source: row.get(1)?,
            scope: row.get(2)?,
            state: row.get(3)?,
            attempts: row.get(4)?,
            received_at_ms: row.get::<_, i64>(5)?.max(0) as u64,
            last_error: row.get(6)?,
            deliveries: Vec::new(),
        })
    });
    let mut summaries: Vec<EventSummary> = rows.and_then(|r| r.collect()).map_err(db)?;
    for summary in &mut summaries {
        let rows = deliveries.query_map(params![summary.id], |row| {
            Ok(DeliverySummary {
                id: row.get(0)?,
                route: row.get(1)?,
                destination: row.get(2)?,
                state: row.get(3)?,
                attempts: row.get(4)?,
                last_error: row.get(5)?,
            })
        });
        summary.deliveries = rows.and_then(|r| r.collect()).map_err(db)?;
    }
    Ok(summaries)
}

fn replay(tx: &Transaction<'_>, selector: &ReplaySelector, now: i64) -> Result<u64, StoreError> {
    let reset = "state = 'pending', attempts = 0, due_at_ms = ?1, lease_until_ms = 0, updated_at_ms = ?1";
    let n = match selector {
        ReplaySelector::All => {
            tx.execute(&format!("UPDATE deliveries SET {reset} WHERE state = 'dead'"), params![now]).map_err(db)?
                + tx.execute(&format!("UPDATE events SET {reset} WHERE state = 'dead'"), params![now]).map_err(db)?
        }
        ReplaySelector::Destination(name) => tx
            .execute(
                &format!("UPDATE deliveries SET {reset} WHERE state = 'dead' AND destination = ?2"),
                params![now, name],
            )
            .map_err(db)?,
        ReplaySelector::Id(id) => {
            tx.execute(&format!("UPDATE deliveries SET {reset} WHERE state = 'dead' AND id = ?2"), params![now, id])
                .map_err(db)?
                + tx.execute(&format!("UPDATE events SET {reset} WHERE state = 'dead' AND id = ?2"), params![now, id])
                    .map_err(db)?
        }
    };
    Ok(n as u64)
}

/// Deletes delivered work last touched before `cutoff`, and dedup keys expired by `now`.
fn prune(tx: &Transaction<'_>, cutoff: i64, now: i64) -> Result<u64, StoreError> {
    let deliveries = tx
        .execute("DELETE FROM deliveries WHERE state = 'delivered' AND updated_at_ms < ?1", params![cutoff])
        .map_err(db)?;
    let events = tx
        .execute(
            "DELETE FROM events WHERE state = 'done' AND updated_at_ms < ?1
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
            params![cutoff],
        )
        .map_err(db)?;
    let keys = tx.execute("DELETE FROM dedup WHERE expires_at_ms <= ?1", params![now]).map_err(db)?;
    Ok((deliveries + events + keys) as u64)
}

fn depth(tx: &Transaction<'_>, now: i64) -> Result<Depth, StoreError> {
    let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n.max(0) as u64);
    let oldest = tx
        .query_row(
            "SELECT MIN(due) FROM (
                SELECT MIN(due_at_ms) AS due FROM events WHERE state = 'pending' AND due_at_ms <= ?1
                UNION ALL SELECT MIN(due_at_ms) FROM deliveries WHERE state = 'pending' AND due_at_ms <= ?1)",
            params![now],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()
        .map_err(db)?
        .flatten();
    Ok(Depth {
        events_pending: count("SELECT COUNT(*) FROM events WHERE state = 'pending'").map_err(db)?,
        deliveries_pending: count("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'").map_err(db)?,
        dead: count("SELECT (SELECT COUNT(*) FROM deliveries WHERE state = 'dead') + (SELECT COUNT(*) FROM events WHERE state = 'dead')")
            .map_err(db)?,
        oldest_due_ms: oldest.map_or(0, |t| (now - t).max(0) as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::contract::{LEASE, contract_tests, event, key};
    use std::time::Duration;

    /// A fresh database in its own temporary directory (removed with the guard).
    fn open() -> Option<(Store, tempfile::TempDir)> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = open_sqlite(&dir.path().join("s.db")).unwrap_or_else(|e| panic!("{e}"));
        Some((store, dir))
    }

    contract_tests!(open);

    #[tokio::test]
    async fn a_reopened_store_releases_the_leases_of_a_dead_process() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("s.db");
        let store = open_sqlite(&path).unwrap_or_else(|e| panic!("{e}"));
        store.append(event(1), None).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.lease_events(10, LEASE).await.unwrap_or_default().len(), 1);
        drop(store);
        let again = open_sqlite(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.lease_events(10, LEASE).await.unwrap_or_default().len(), 1, "the event is done again");
    }

    #[tokio::test]
    async fn a_dedup_key_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("s.db");
        let first = event(1);
        let store = open_sqlite(&path).unwrap_or_else(|e| panic!("{e}"));
        let day = Duration::from_secs(86_400);
        assert_eq!(store.append(first.clone(), key(1, day)).await.ok(), Some(Appended::Stored));
        drop(store);
        let again = open_sqlite(&path).unwrap_or_else(|e| panic!("{e}"));
        let repeat = again.append(event(1), key(1, day)).await.ok();
        assert_eq!(repeat, Some(Appended::Duplicate { original_id: first.id }));
    }
}
