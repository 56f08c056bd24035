//! The shared backend: several gateways on one PostgreSQL database (`storage.url =
//! "postgres://…"`). Each gateway's writer thread owns one connection (the sync `postgres`
//! client) and executes the waiting commands in one transaction per batch — the same group
//! commit as SQLite (`writer.rs`), over the same tables (`schema_postgres.sql`).
//!
//! What differs from SQLite, because the database is shared:
//! - Leases are taken with `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`: two
//!   gateways never lease the same row, and rows another gateway's batch holds are skipped,
//!   not waited for.
//! - Nothing is released at start (a lease found then may belong to a live gateway): leases
//!   simply expire, so they are bounded, whatever the loops ask for. An event is leased for at
//!   most [`EVENT_LEASE`] (2 min: twice the longest plugin timeout, 60 s), a delivery for at
//!   most [`DELIVERY_LEASE`] (11 min: one attempt, whose timeout is at most 600 s, with room).
//!   When a gateway dies, the work it had leased resumes on another one once its lease has
//!   passed. Work that outlives its lease (an event whose routes' plugins together run past
//!   2 min) may be done again by another gateway, as at-least-once allows.
//! - "Now" is the database's clock, read once per batch, so leases, retries and dedup windows
//!   mean the same on every gateway whatever their own clocks say.
//! - In PostgreSQL one failed statement aborts the whole transaction, yet a command that fails
//!   (a deadlock between two gateways' batches, a value the database refuses) must fail only
//!   itself, as on SQLite: the batch is rolled back and run again without it.
//! - A dropped connection (a database restart, an idle timeout) is re-opened when the next
//!   batch starts; a batch whose connection drops midway fails (ingest answers 503, the loops
//!   try again).
//!
//! This file is the only one that writes PostgreSQL's SQL; it must never block on anything but
//! the database.

use super::writer::{self, Batch, Reply, Woke, fail, reply};
use super::{
    Appended, Command, DeadLetter, Dedup, DeliveryOutcome, DeliverySummary, Depth, EventNext, EventOutcome,
    EventSummary, LeasedDelivery, LeasedEvent, NewDelivery, ReplaySelector, Store, StoreError, millis, new_row_times,
};
use crate::event::Event;
use ::postgres::error::SqlState;
use ::postgres::{Client, Error as PgError, NoTls, Row, Statement, Transaction};
use std::collections::HashMap;
use std::time::Duration;

/// The longest an event stays leased: the longest plugin call (60 s) fits twice.
pub const EVENT_LEASE: Duration = Duration::from_secs(2 * 60);

/// The longest a delivery stays leased: one attempt (a destination waits 600 s at most) fits.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(11 * 60);

/// How long connecting may take unless the url says (`connect_timeout=SECONDS`): an
/// unreachable database fails the start, or one batch, instead of hanging on TCP's own timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Serializes schema creation between gateways starting at once (`CREATE … IF NOT EXISTS`
/// races on PostgreSQL's catalogs). An arbitrary constant: "Switch" in ASCII.
const SCHEMA_LOCK: i64 = 0x5377_6974_6368;

/// The database's clock in Unix milliseconds.
const NOW: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Connects to the database `url` names, creates the tables if needed and starts the writer
/// thread. Leases are left alone: other gateways may hold them.
pub fn open_postgres(url: &str) -> Result<Store, StoreError> {
    let owned = url.to_string();
    // The sync client runs a small runtime of its own, which must not start inside tokio's
    // (where `Gateway::start` opens the store): connect on a thread of its own.
    let client = std::thread::spawn(move || connect(&owned))
        .join()
        .unwrap_or_else(|_| Err(open_error(url, "the connecting thread panicked".into())))?;
    let backend = Postgres { url: url.to_string(), client, prepared: Prepared::default() };
    Ok(writer::spawn("store:postgres".into(), backend))
}

fn connect(url: &str) -> Result<Client, StoreError> {
    let error = |e: PgError| open_error(url, e.to_string());
    let mut config: ::postgres::Config = url.parse().map_err(error)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let mut client = config.connect(NoTls).map_err(error)?;
    let mut tx = client.transaction().map_err(error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).map_err(error)?;
    tx.batch_execute(include_str!("schema_postgres.sql")).map_err(error)?;
    tx.commit().map_err(error)?;
    Ok(client)
}

fn open_error(url: &str, message: String) -> StoreError {
    StoreError::Open { path: redacted(url).into(), message }
}

/// `url` without its password, for messages and logs.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_string() };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// `s` as PostgreSQL text can hold it: NUL becomes U+FFFD. A scope comes from the webhook's
/// body and an error from a plugin; refusing either would fail its command on every retry.
fn text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') { s.replace('\0', "\u{FFFD}").into() } else { s.into() }
}

fn db(e: PgError) -> StoreError {
    StoreError::Database(e.to_string())
}

/// Statements prepared on the connection, by their text: one parse per connection, not per
/// command. Prepared statements outlive transactions, rolled back or not.
#[derive(Default)]
struct Prepared(HashMap<&'static str, Statement>);

impl Prepared {
    fn get(&mut self, tx: &mut Transaction<'_>, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = tx.prepare(sql).map_err(db)?;
        self.0.insert(sql, statement.clone());
        Ok(statement)
    }
}

/// The connection the writer thread owns, and how to get another.
struct Postgres {
    url: String,
    client: Client,
    prepared: Prepared,
}

impl Postgres {
    /// The database's clock. This is also the batch's first contact with the server, so a
    /// connection found dropped (a database restart, an idle timeout) is re-opened here and the
    /// read tried once more: the callers never see it.
    fn now(&mut self) -> Result<i64, String> {
        let read = |client: &mut Client| client.query_one(NOW, &[]).and_then(|row| row.try_get(0));
        match read(&mut self.client) {
            Ok(now) => Ok(now),
            Err(e) if self.client.is_closed() || e.is_closed() || e.code() == Some(&SqlState::ADMIN_SHUTDOWN) => {
                tracing::warn!(error = %e, "the PostgreSQL connection was dropped; reconnecting");
                self.client = connect(&self.url).map_err(|e| e.to_string())?;
                self.prepared = Prepared::default();
                read(&mut self.client).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Batch for Postgres {
    /// Runs the batch in one transaction. A command that fails aborts the transaction (that is
    /// PostgreSQL), so the transaction is rolled back and the batch run again without it; it
    /// alone gets its error. Savepoints would do the same per command, but each writing one
    /// holds a subtransaction id until commit, and past 64 of those every other session's
    /// snapshots slow down (subxid overflow): a batch holds up to 512.
    fn run(&mut self, batch: &mut Vec<Command>, replies: &mut Vec<Reply>, woke: &mut Woke) -> Result<(), String> {
        let now = match self.now() {
            Ok(now) => now,
            Err(e) => return Err(fail_all(batch, replies, e)),
        };
        let mut answers: Vec<Option<Result<Answer, StoreError>>> = batch.iter().map(|_| None).collect();
        let committed = loop {
            let mut tx = match self.client.transaction() {
                Ok(tx) => tx,
                Err(e) => break Err(e.to_string()),
            };
            let mut failed = None;
            for (i, command) in batch.iter().enumerate() {
                if matches!(answers[i], Some(Err(_))) {
                    continue;
                }
                match run(&mut tx, &mut self.prepared, command, now) {
                    Ok(answer) => answers[i] = Some(Ok(answer)),
                    Err(e) => {
                        failed = Some((i, e));
                        break;
                    }
                }
            }
            let Some((i, error)) = failed else { break tx.commit().map_err(|e| e.to_string()) };
            drop(tx); // rolls back
            if self.client.is_closed() {
                break Err(error.to_string());
            }
            tracing::warn!(error = %error, "a store command failed; running its batch again without it");
            answers[i] = Some(Err(error));
            answers.iter_mut().filter(|a| matches!(a, Some(Ok(_)))).for_each(|a| *a = None);
        };
        let not_run = || Err(StoreError::Database(committed.clone().err().unwrap_or_default()));
        for (command, answer) in batch.drain(..).zip(answers) {
            replies.push(reply_with(command, answer.unwrap_or_else(not_run), woke));
        }
        committed
    }
}

fn fail_all(batch: &mut Vec<Command>, replies: &mut Vec<Reply>, error: String) -> String {
    replies.extend(batch.drain(..).map(|command| fail(command, &error)));
    error
}

/// A command's result, kept until its batch commits: a batch rolled back runs again.
enum Answer {
    Unit(()),
    Appended(Appended),
    /// Which of the deliveries stored leased were new.
    Inserted(Vec<bool>),
    Events(Vec<LeasedEvent>),
    Deliveries(Vec<LeasedDelivery>),
    DeadLetters(Vec<DeadLetter>),
    Recent(Vec<EventSummary>),
    Count(u64),
    Depth(Depth),
}

fn run(tx: &mut Transaction<'_>, sql: &mut Prepared, command: &Command, now: i64) -> Result<Answer, StoreError> {
    Ok(match command {
        Command::Append { event, dedup, lease, .. } => {
            let until = lease.as_ref().map(|l| now.saturating_add(millis(l.duration.min(EVENT_LEASE))));
            Answer::Appended(append_once(tx, sql, event, dedup.as_ref(), now, until)?)
        }
        Command::LeaseEvents { max, lease, .. } => {
            let until = now.saturating_add(millis((*lease).min(EVENT_LEASE)));
            Answer::Events(lease_events(tx, sql, *max, now, until)?)
        }
        Command::FinishEvent { id, outcome, leases, .. } => {
            let until = leases.first().map_or(now, |l| now.saturating_add(millis(l.duration.min(DELIVERY_LEASE))));
            Answer::Inserted(finish_event(tx, sql, id, outcome, now, leases.len(), until)?)
        }
        Command::LeaseDeliveries { max, lease, .. } => {
            let until = now.saturating_add(millis((*lease).min(DELIVERY_LEASE)));
            Answer::Deliveries(lease_deliveries(tx, sql, *max, now, until)?)
        }
        Command::FinishDelivery { id, outcome, .. } => Answer::Unit(finish_delivery(tx, sql, id, outcome, now)?),
        Command::DeadLetters { limit, .. } => Answer::DeadLetters(dead_letters(tx, *limit)?),
        Command::RecentEvents { limit, .. } => Answer::Recent(recent_events(tx, *limit)?),
        Command::Replay { selector, .. } => Answer::Count(replay(tx, selector, now)?),
        Command::Prune { older_than_ms, .. } => {
            Answer::Count(prune(tx, i64::try_from(*older_than_ms).unwrap_or(i64::MAX), now)?)
        }
        Command::Depth { .. } => Answer::Depth(depth(tx, now)?),
        Command::HandEvents(_) | Command::HandDeliveries(_) => Answer::Unit(()),
    })
}

/// The reply to `command` carrying `answer`, noting what it made due.
fn reply_with(command: Command, answer: Result<Answer, StoreError>, woke: &mut Woke) -> Reply {
    macro_rules! take {
        ($variant:path) => {
            answer.and_then(|a| match a {
                $variant(value) => Ok(value),
                _ => Err(StoreError::Database("internal: an answer of the wrong kind".into())),
            })
        };
    }
    match command {
        Command::Append { event, lease, reply: r, .. } => {
            writer::appended(r, take!(Answer::Appended), event, lease, woke)
        }
        Command::LeaseEvents { reply: r, .. } => reply(r, take!(Answer::Events)),
        Command::FinishEvent { outcome, leases, reply: r, .. } => {
            writer::finished(r, take!(Answer::Inserted), outcome, leases, woke)
        }
        Command::LeaseDeliveries { reply: r, .. } => reply(r, take!(Answer::Deliveries)),
        Command::FinishDelivery { reply: r, .. } => reply(r, take!(Answer::Unit)),
        Command::DeadLetters { reply: r, .. } => reply(r, take!(Answer::DeadLetters)),
        Command::RecentEvents { reply: r, .. } => reply(r, take!(Answer::Recent)),
        Command::Replay { reply: r, .. } => {
            woke.events = true;
            woke.deliveries = true;
            reply(r, take!(Answer::Count))
        }
        Command::Prune { reply: r, .. } => reply(r, take!(Answer::Count)),
        Command::Depth { reply: r } => reply(r, take!(Answer::Depth)),
        Command::HandEvents(_) | Command::HandDeliveries(_) => Box::new(|_| {}),
    }
}

/// Appends `event` unless a live event holds its dedup key; the key and the event commit or
/// roll back together with the batch. With `leased_until`, the event is stored leased to this
/// gateway (it is being handed off).
fn append_once(
    tx: &mut Transaction<'_>,
    sql: &mut Prepared,
    event: &Event,
    dedup: Option<&Dedup>,
    now: i64,
    leased_until: Option<i64>,
) -> Result<Appended, StoreError> {
    if let Some(dedup) = dedup
        && let Some(original_id) = claim(tx, sql, dedup, &event.id, now)?
    {
        return Ok(Appended::Duplicate { original_id });
    }
    append(tx, sql, event, now, leased_until).map(|()| Appended::Stored)
}

/// Takes the dedup key for `event_id` unless a live event holds it; `Some(original)` names
/// that event. A gateway inserting the same key at the same moment waits for this transaction
/// and then sees the key taken: one statement decides, so two gateways never both store.
fn claim(
    tx: &mut Transaction<'_>,
    sql: &mut Prepared,
    dedup: &Dedup,
    event_id: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let key: &[u8] = &dedup.key;
    let expires = now.saturating_add(millis(dedup.window));
    let take = sql.get(
        tx,
        "INSERT INTO dedup (key, event_id, expires_at_ms) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, expires_at_ms = excluded.expires_at_ms
         WHERE dedup.expires_at_ms <= $4
         RETURNING event_id",
    )?;
    if tx.query_opt(&take, &[&key, &event_id, &expires, &now]).map_err(db)?.is_some() {
        return Ok(None);
    }
    let holder = sql.get(tx, "SELECT event_id FROM dedup WHERE key = $1")?;
    match tx.query_opt(&holder, &[&key]).map_err(db)? {
        Some(row) => row.try_get(0).map(Some).map_err(db),
        None => Err(StoreError::Database("the dedup key was pruned while being checked; try again".into())),
    }
}

/// Stores `e` due now, or leased until `leased_until` (a leased row is due when its lease ends).
fn append(
    tx: &mut Transaction<'_>,
    sql: &mut Prepared,
    e: &Event,
    now: i64,
    leased_until: Option<i64>,
) -> Result<(), StoreError> {
    let headers = serde_json::to_string(&e.headers).map_err(|e| StoreError::Database(e.to_string()))?;
    let insert = sql.get(
        tx,
        "INSERT INTO events (id, source, scope, headers, body, received_at_ms, depth, state, due_at_ms, lease_until_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10)",
    )?;
    let (body, received, depth): (&[u8], i64, i16) = (&e.body, e.received_at_ms as i64, i16::from(e.depth));
    let scope: &str = &text(&e.scope);
    let (due, lease) = new_row_times(now, leased_until);
    tx.execute(&insert, &[&e.id, &e.source, &scope, &headers, &body, &received, &depth, &due, &lease, &now])
        .map(drop)
        .map_err(db)
}

/// Leasing works like a visibility timeout, as on SQLite: a leased row's `due_at_ms` moves to
/// the lease's end, so the due-work index (state, due_at_ms) never skips over work in flight,
/// and an unfinished lease simply becomes due again.
fn lease_events(
    tx: &mut Transaction<'_>,
    sql: &mut Prepared,
    max: usize,
    now: i64,
    until: i64,
) -> Result<Vec<LeasedEvent>, StoreError> {
    let lease = sql.get(
        tx,
        "UPDATE events SET lease_until_ms = $3, due_at_ms = $3 WHERE id IN (
            SELECT id FROM events WHERE state = 'pending' AND due_at_ms <= $1
            ORDER BY due_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, source, scope, headers, body, received_at_ms, depth, attempts, routes_done",
    )?;
    let rows = tx.query(&lease, &[&now, &(max as i64), &until]).map_err(db)?;
    let mut leased: Vec<LeasedEvent> = rows.iter().map(leased_event).collect::<Result<_, _>>().map_err(db)?;
    leased.sort_by(|x, y| (x.event.received_at_ms, &x.event.id).cmp(&(y.event.received_at_ms, &y.event.id)));
    Ok(leased)
}

fn leased_event(row: &Row) -> Result<LeasedEvent, PgError> {
    let headers: &str = row.try_get(3)?;
    let routes_done: &str = row.try_get(8)?;
    let body: Vec<u8> = row.try_get(4)?;
    Ok(LeasedEvent {
        event: Event {
            id: row.try_get(0)?,
            source: row.try_get(1)?,
            scope: row.try_get(2)?,
            headers: serde_json::from_str(headers).unwrap_or_default(),
            body: body.into(),
            received_at_ms: row.try_get::<_, i64>(5)?.max(0) as u64,
            depth: u8::try_from(row.try_get::<_, i16>(6)?).unwrap_or(u8::MAX),
        },
        attempts: row.try_get::<_, i32>(7)?.max(0) as u32,
        routes_done: serde_json::from_str(routes_done).unwrap_or_default(),
    })
}

/// Inserts `deliveries` (a delivery already stored, by an earlier try of its event, is left
/// alone); the first `leased` are stored leased until `until`. Says which of those were new.
fn insert_deliveries(
    tx: &mut Transaction<'_>,
    sql: &mut Prepared,
    deliveries: &[NewDelivery],
    now: i64,
    leased: usize,
    until: i64,
) -> Result<Vec<bool>, StoreError> {
    let insert = sql.get(
        tx,
        "INSERT INTO deliveries (id, event_id, route, destination, body, headers, state, due_at_ms, lease_until_ms, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $9) ON CONFLICT (id) DO NOTHING",
    )?;
    let mut inserted = Vec::with_capacity(leased);
    for (i, d) in deliveries.iter().enumerate() {
        let headers = serde_json::to_string(&d.headers).map_err(|e| StoreError::Database(e.to_string()))?;
        let body: &[u8] = &d.body;
        let (due, lease) = new_row_times(now, (i < leased).then_some(until));
        let n = tx
            .execute(&insert, &[&d.id, &d.event_id, &d.route, &d.destination, &body, &headers, &due, &lease, &now])
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
    tx: &mut Transaction<'_>,
    sql: &mut Prepared,
    id: &str,
    outcome: &EventOutcome,
    now: i64,
    leased: usize,
    until: i64,
) -> Result<Vec<bool>, StoreError> {
    let inserted = insert_deliveries(tx, sql, &outcome.deliveries, now, leased, until)?;
    for event in &outcome.emitted {
        append(tx, sql, event, now, None)?;
    }
    let done = serde_json::to_string(&outcome.routes_done).unwrap_or_else(|_| "[]".into());
    match &outcome.next {
        EventNext::Done => {
            let done_sql = sql.get(
                tx,
                "UPDATE events SET state = 'done', lease_until_ms = 0, routes_done = $2, updated_at_ms = $3 WHERE id = $1",
            )?;
            tx.execute(&done_sql, &[&id, &done, &now])
        }
        EventNext::Retry { retry_in, error } => tx.execute(
            "UPDATE events SET attempts = attempts + 1, due_at_ms = $2, lease_until_ms = 0, routes_done = $3,
             last_error = $4, updated_at_ms = $5 WHERE id = $1",
            &[&id, &now.saturating_add(millis(*retry_in)), &done, &&*text(error), &now],
        ),
        EventNext::Dead { error } => tx.execute(
            "UPDATE events SET state = 'dead', attempts = attempts + 1, lease_until_ms = 0, routes_done = $2,
             last_error = $3, updated_at_ms = $4 WHERE id = $1",
            &[&id, &done, &&*text(error), &now],
        ),
    }
    .map_err(db)?;
    Ok(inserted)
}

fn lease_deliveries(
    tx: &mut Transaction<'_>,
    sql: &mut Prepared,
    max: usize,
    now: i64,
    until: i64,
) -> Result<Vec<LeasedDelivery>, StoreError> {
    let lease = sql.get(
        tx,
        "UPDATE deliveries SET lease_until_ms = $3, due_at_ms = $3 WHERE id IN (
            SELECT id FROM deliveries WHERE state = 'pending' AND due_at_ms <= $1
            ORDER BY due_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, route, destination, body, headers, attempts, created_at_ms",
    )?;
    let rows = tx.query(&lease, &[&now, &(max as i64), &until]).map_err(db)?;
    let mut leased: Vec<(i64, LeasedDelivery)> =
        rows.iter().map(leased_delivery).collect::<Result<_, _>>().map_err(db)?;
    leased.sort_by(|(x, a), (y, b)| (x, &a.delivery.id).cmp(&(y, &b.delivery.id)));
    Ok(leased.into_iter().map(|(_, d)| d).collect())
}

fn leased_delivery(row: &Row) -> Result<(i64, LeasedDelivery), PgError> {
    let body: Vec<u8> = row.try_get(4)?;
    let headers: &str = row.try_get(5)?;
    let delivery = NewDelivery {
        id: row.try_get(0)?,
        event_id: row.try_get(1)?,
        route: row.try_get(2)?,
        destination: row.try_get(3)?,
        body: body.into(),
        headers: serde_json::from_str(headers).unwrap_or_default(),
    };
    Ok((row.try_get(7)?, LeasedDelivery { delivery, attempts: row.try_get::<_, i32>(6)?.max(0) as u32 }))
}

fn finish_delivery(
    tx: &mut Transaction<'_>,
    sql: &mut Prepared,
    id: &str,
    outcome: &DeliveryOutcome,
    now: i64,
) -> Result<(), StoreError> {
    match outcome {
        DeliveryOutcome::Delivered => {
            let delivered = sql.get(
                tx,
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, lease_until_ms = 0,
                 last_error = NULL, updated_at_ms = $2 WHERE id = $1",
            )?;
            tx.execute(&delivered, &[&id, &now])
        }
        DeliveryOutcome::Retry { retry_in, error } => tx.execute(
            "UPDATE deliveries SET attempts = attempts + 1, due_at_ms = $2, lease_until_ms = 0, last_error = $3,
             updated_at_ms = $4 WHERE id = $1",
            &[&id, &now.saturating_add(millis(*retry_in)), &&*text(error), &now],
        ),
        DeliveryOutcome::Dead { error } => tx.execute(
            "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, lease_until_ms = 0, last_error = $2,
             updated_at_ms = $3 WHERE id = $1",
            &[&id, &&*text(error), &now],
        ),
    }
    .map(drop)
    .map_err(db)
}

fn dead_letters(tx: &mut Transaction<'_>, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
    let rows = tx
        .query(
            "SELECT d.id, d.event_id, 'delivery', d.route, d.destination, e.scope, d.attempts, d.last_error, d.updated_at_ms
               FROM deliveries d LEFT JOIN events e ON e.id = d.event_id WHERE d.state = 'dead'
             UNION ALL
             SELECT id, id, 'event', NULL, NULL, scope, attempts, last_error, updated_at_ms FROM events WHERE state = 'dead'
             ORDER BY 9 DESC LIMIT $1",
            &[&(limit as i64)],
        )
        .map_err(db)?;
    rows.iter().map(dead_letter).collect::<Result<_, _>>().map_err(db)
}

fn dead_letter(row: &Row) -> Result<DeadLetter, PgError> {
    let kind: &str = row.try_get(2)?;
    Ok(DeadLetter {
        id: row.try_get(0)?,
        event_id: row.try_get(1)?,
        kind: if kind == "event" { "event" } else { "delivery" },
        route: row.try_get(3)?,
        destination: row.try_get(4)?,
        scope: row.try_get(5)?,
        attempts: row.try_get::<_, i32>(6)?.max(0) as u32,
        error: row.try_get::<_, Option<String>>(7)?.unwrap_or_default(),
        updated_at_ms: row.try_get::<_, i64>(8)?.max(0) as u64,
    })
}

fn recent_events(tx: &mut Transaction<'_>, limit: usize) -> Result<Vec<EventSummary>, StoreError> {
    // Event ids are `evt_` + a UUIDv7, so the primary key orders them by time: no extra index.
    let rows = tx
        .query(
            "SELECT id, source, scope, state, attempts, received_at_ms, last_error FROM events ORDER BY id DESC LIMIT $1",
            &[&(limit as i64)],
        )
        .map_err(db)?;
    let mut summaries = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get(0).map_err(db)?;
        let deliveries = tx
            .query(
                "SELECT id, route, destination, state, attempts, last_error FROM deliveries
                 WHERE event_id = $1 ORDER BY created_at_ms",
                &[&id],
            )
            .map_err(db)?
            .iter()
            .map(|d| {
                Ok(DeliverySummary {
                    id: d.try_get(0)?,
                    route: d.try_get(1)?,
                    destination: d.try_get(2)?,
                    state: d.try_get(3)?,
                    attempts: d.try_get::<_, i32>(4)?.max(0) as u32,
                    last_error: d.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, PgError>>()
            .map_err(db)?;
        summaries.push(EventSummary {
            id,
            source: row.try_get(1).map_err(db)?,
            scope: row.try_get(2).map_err(db)?,
            state: row.try_get(3).map_err(db)?,
            attempts: row.try_get::<_, i32>(4).map_err(db)?.max(0) as u32,
            received_at_ms: row.try_get::<_, i64>(5).map_err(db)?.max(0) as u64,
            last_error: row.try_get(6).map_err(db)?,
            deliveries,
        });
    }
    Ok(summaries)
}

fn replay(tx: &mut Transaction<'_>, selector: &ReplaySelector, now: i64) -> Result<u64, StoreError> {
    let reset = "state = 'pending', attempts = 0, due_at_ms = $1, lease_until_ms = 0, updated_at_ms = $1";
    let mut run = |sql: String, name: Option<&str>| match name {
        Some(name) => tx.execute(&sql, &[&now, &name]).map_err(db),
        None => tx.execute(&sql, &[&now]).map_err(db),
    };
    Ok(match selector {
        ReplaySelector::All => {
            run(format!("UPDATE deliveries SET {reset} WHERE state = 'dead'"), None)?
                + run(format!("UPDATE events SET {reset} WHERE state = 'dead'"), None)?
        }
        ReplaySelector::Destination(name) => {
            run(format!("UPDATE deliveries SET {reset} WHERE state = 'dead' AND destination = $2"), Some(name))?
        }
        ReplaySelector::Id(id) => {
            run(format!("UPDATE deliveries SET {reset} WHERE state = 'dead' AND id = $2"), Some(id))?
                + run(format!("UPDATE events SET {reset} WHERE state = 'dead' AND id = $2"), Some(id))?
        }
    })
}

/// Deletes delivered work last touched before `cutoff`, and dedup keys expired by `now`.
fn prune(tx: &mut Transaction<'_>, cutoff: i64, now: i64) -> Result<u64, StoreError> {
    let deliveries = tx
        .execute("DELETE FROM deliveries WHERE state = 'delivered' AND updated_at_ms < $1", &[&cutoff])
        .map_err(db)?;
    let events = tx
        .execute(
            "DELETE FROM events WHERE state = 'done' AND updated_at_ms < $1
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
            &[&cutoff],
        )
        .map_err(db)?;
    let keys = tx.execute("DELETE FROM dedup WHERE expires_at_ms <= $1", &[&now]).map_err(db)?;
    Ok(deliveries + events + keys)
}

fn depth(tx: &mut Transaction<'_>, now: i64) -> Result<Depth, StoreError> {
    let row = tx
        .query_one(
            "SELECT
                (SELECT COUNT(*) FROM events WHERE state = 'pending'),
                (SELECT COUNT(*) FROM deliveries WHERE state = 'pending'),
                (SELECT COUNT(*) FROM deliveries WHERE state = 'dead') + (SELECT COUNT(*) FROM events WHERE state = 'dead'),
                (SELECT MIN(due) FROM (
                    SELECT MIN(due_at_ms) AS due FROM events WHERE state = 'pending' AND due_at_ms <= $1
                    UNION ALL SELECT MIN(due_at_ms) FROM deliveries WHERE state = 'pending' AND due_at_ms <= $1) AS due)",
            &[&now],
        )
        .map_err(db)?;
    let count = |i: usize| row.try_get::<_, i64>(i).map(|n| n.max(0) as u64).map_err(db);
    let oldest: Option<i64> = row.try_get(3).map_err(db)?;
    Ok(Depth {
        events_pending: count(0)?,
        deliveries_pending: count(1)?,
        dead: count(2)?,
        oldest_due_ms: oldest.map_or(0, |t| (now - t).max(0) as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::contract::{LEASE, contract_tests, event, key};

    /// A schema of its own in the test database (`SWITCHYARD_TEST_POSTGRES_URL`), so tests
    /// running at once do not meet; dropped with the guard.
    pub(crate) struct TestSchema {
        base: String,
        name: String,
    }

    impl TestSchema {
        /// `None`, said on stderr, when `SWITCHYARD_TEST_POSTGRES_URL` is not set.
        pub(crate) fn create() -> Option<Self> {
            let Ok(base) = std::env::var("SWITCHYARD_TEST_POSTGRES_URL") else {
                eprintln!("skipped: SWITCHYARD_TEST_POSTGRES_URL is not set");
                return None;
            };
            let name = format!("sy_test_{}", uuid::Uuid::now_v7().simple());
            let schema = Self { base, name };
            schema.run(&format!("CREATE SCHEMA {}", schema.name));
            Some(schema)
        }

        /// The test database's url with this schema first on the search path.
        pub(crate) fn url(&self) -> String {
            let joiner = if self.base.contains('?') { '&' } else { '?' };
            format!("{}{joiner}options=-csearch_path%3D{}", self.base, self.name)
        }

        /// Runs `sql` on a thread of its own (the sync client must not run inside tokio).
        fn run(&self, sql: &str) {
            let (base, owned) = (self.base.clone(), sql.to_string());
            let done = std::thread::spawn(move || Client::connect(&base, NoTls)?.batch_execute(&owned)).join();
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("{sql}: {e}"),
                Err(_) => panic!("{sql}: the thread panicked"),
            }
        }
    }

    impl TestSchema {
        /// The count `sql` (`SELECT COUNT(*) …`) answers, on a thread of its own.
        fn count(&self, sql: &str) -> i64 {
            let (base, owned) = (self.base.clone(), sql.to_string());
            let counted = std::thread::spawn(move || Client::connect(&base, NoTls)?.query_one(&owned, &[])?.try_get(0));
            match counted.join() {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => panic!("{sql}: {e}"),
                Err(_) => panic!("{sql}: the thread panicked"),
            }
        }
    }

    impl Drop for TestSchema {
        fn drop(&mut self) {
            self.run(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }

    fn open() -> Option<(Store, TestSchema)> {
        let schema = TestSchema::create()?;
        let store = open_postgres(&schema.url()).unwrap_or_else(|e| panic!("{e}"));
        Some((store, schema))
    }

    contract_tests!(open);

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_stores_on_one_database_never_lease_the_same_event() {
        let Some((a, schema)) = open() else { return };
        let b = open_postgres(&schema.url()).unwrap_or_else(|e| panic!("{e}"));
        for n in 0..300 {
            a.append(event(n), None).await.unwrap_or_else(|e| panic!("{e}"));
        }
        let take = |store: Store| {
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..100 {
                    let leased = store.lease_events(7, LEASE).await.unwrap_or_else(|e| panic!("{e}"));
                    ids.extend(leased.into_iter().map(|l| l.event.id));
                }
                ids
            })
        };
        let (from_a, from_b) = (take(a.clone()), take(b.clone()));
        let (from_a, from_b) = (from_a.await.unwrap_or_default(), from_b.await.unwrap_or_default());
        let mut all: Vec<&String> = from_a.iter().chain(&from_b).collect();
        assert!(!from_a.is_empty() && !from_b.is_empty(), "both nodes got work: {} and {}", from_a.len(), from_b.len());
        assert_eq!(all.len(), 300, "every event leased");
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 300, "no event leased by both nodes");
    }

    #[tokio::test]
    async fn a_new_node_leaves_live_leases_alone_and_takes_over_expired_ones() {
        let Some((a, schema)) = open() else { return };
        a.append(event(1), None).await.unwrap_or_else(|e| panic!("{e}"));
        a.append(event(2), None).await.unwrap_or_else(|e| panic!("{e}"));
        let held = a.lease_events(1, LEASE).await.unwrap_or_default();
        let lapsing = a.lease_events(1, Duration::from_millis(1)).await.unwrap_or_default();
        assert_eq!((held.len(), lapsing.len()), (1, 1));
        drop(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let b = open_postgres(&schema.url()).unwrap_or_else(|e| panic!("{e}"));
        let taken = b.lease_events(10, LEASE).await.unwrap_or_default();
        let ids: Vec<&str> = taken.iter().map(|l| l.event.id.as_str()).collect();
        assert_eq!(ids, [lapsing[0].event.id.as_str()], "only the expired lease is taken over");
    }

    #[tokio::test]
    async fn leases_are_bounded_whatever_the_caller_asks() {
        let Some((store, schema)) = open() else { return };
        store.append(event(1), None).await.unwrap_or_else(|e| panic!("{e}"));
        let _ = store.lease_events(1, Duration::from_secs(3600)).await;
        let url = schema.url();
        let longest = std::thread::spawn(move || {
            let mut client = Client::connect(&url, NoTls).ok()?;
            let row = client.query_one("SELECT MAX(lease_until_ms - updated_at_ms) FROM events", &[]).ok()?;
            row.try_get::<_, Option<i64>>(0).ok().flatten()
        })
        .join()
        .ok()
        .flatten();
        let longest = longest.unwrap_or(i64::MAX);
        assert!(longest <= millis(EVENT_LEASE) + 5_000, "an event leased for {longest} ms");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_repeat_sent_to_another_node_is_a_duplicate_of_the_first() {
        let Some((a, schema)) = open() else { return };
        let b = open_postgres(&schema.url()).unwrap_or_else(|e| panic!("{e}"));
        let day = Duration::from_secs(86_400);
        let first = event(1);
        assert_eq!(a.append(first.clone(), key(1, day)).await.ok(), Some(Appended::Stored));
        let repeat = b.append(event(1), key(1, day)).await.ok();
        assert_eq!(repeat, Some(Appended::Duplicate { original_id: first.id }));
        // The same key at the same moment on both nodes: exactly one stores.
        let (x, y) = tokio::join!(a.append(event(2), key(2, day)), b.append(event(2), key(2, day)));
        let stored = [x, y].into_iter().filter(|r| matches!(r, Ok(Appended::Stored))).count();
        assert_eq!(stored, 1);
        assert_eq!(a.depth().await.map(|d| d.events_pending).ok(), Some(2));
    }

    #[tokio::test]
    async fn nul_bytes_in_a_scope_or_an_error_are_stored_not_refused_forever() {
        let Some((store, _schema)) = open() else { return };
        let mut e = event(1);
        e.scope = "order/\0created".into();
        assert_eq!(store.append(e.clone(), None).await.ok(), Some(Appended::Stored));
        let leased = store.lease_events(1, LEASE).await.unwrap_or_default();
        assert_eq!(leased.first().map(|l| l.event.scope.as_str()), Some("order/\u{FFFD}created"));
        let dead = EventOutcome { next: EventNext::Dead { error: "bad\0byte".into() }, ..Default::default() };
        assert!(store.finish_event(e.id.clone(), dead).await.is_ok());
        let letters = store.dead_letters(1).await.unwrap_or_default();
        assert_eq!(letters.first().map(|d| d.error.as_str()), Some("bad\u{FFFD}byte"));
    }

    #[tokio::test]
    async fn a_connection_dropped_while_idle_is_reopened_without_failing_a_call() {
        let Some(schema) = TestSchema::create() else { return };
        let url = format!("{}&application_name={}", schema.url(), schema.name);
        let store = open_postgres(&url).unwrap_or_else(|e| panic!("{e}"));
        assert!(store.append(event(1), None).await.is_ok());
        let ours = format!("FROM pg_stat_activity WHERE application_name = '{}'", schema.name);
        schema.run(&format!("SELECT pg_terminate_backend(pid) {ours}"));
        for _ in 0..500 {
            if schema.count(&format!("SELECT COUNT(*) {ours}")) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The server is gone from under the writer: its next batch reconnects, unseen.
        assert!(store.depth().await.is_ok(), "the first call after the drop is answered");
        assert!(store.append(event(2), None).await.is_ok());
        assert_eq!(store.depth().await.map(|d| d.events_pending).ok(), Some(2));
    }

    #[test]
    fn an_unreachable_database_fails_the_open_with_the_url_but_not_its_password() {
        // Port 9 (discard) on loopback: nothing listens, so the connection is refused at once.
        let error = open_postgres("postgres://sy:secret@127.0.0.1:9/sy").err().map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(error.starts_with("cannot open the store at postgres://sy:***@127.0.0.1:9/sy: "), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(redacted("postgres://sy:s3cr@t@db:5432/sy"), "postgres://sy:***@db:5432/sy");
        assert_eq!(redacted("postgres://sy@db/sy"), "postgres://sy@db/sy");
        assert_eq!(redacted("postgresql://db/sy?user=a"), "postgresql://db/sy?user=a");
    }
}
