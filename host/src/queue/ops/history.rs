//! An event's history, for the console: each delivery attempt recorded with its outcome
//! ([`record_attempt`], called by `FinishDelivery`), events found by source, state and time
//! ([`FindEvents`]), and one event in full with its deliveries and their attempts
//! ([`ReadEvent`]). Reading never changes a row.

use super::super::history::{AttemptLog, AttemptRecord, DeliveryRecord, EventQuery, EventRecord};
use super::super::sql::{Arg, Ctx, Row, Tx};
use super::super::writer::Op;
use super::super::{DeliveryOutcome, DeliverySummary, EventSummary, StoreError, millis};
use super::json_list;

/// Attempts shown at most per delivery (the newest); a delivery retried for days has ~18.
const MAX_ATTEMPTS_SHOWN: i64 = 100;

/// Deliveries shown at most per event (a fan-out to many destinations, many emits).
const MAX_DELIVERIES_SHOWN: i64 = 200;

/// Adds one attempt of delivery `id` to its history, after its row was updated (its
/// `attempts` already counts this one).
pub(super) fn record_attempt(
    tx: &mut dyn Tx,
    id: &str,
    now: i64,
    outcome: &DeliveryOutcome,
    log: AttemptLog,
) -> Result<(), StoreError> {
    let (label, error, next) = match outcome {
        DeliveryOutcome::Delivered => ("delivered", None, Arg::Null),
        DeliveryOutcome::Retry { retry_in, error } => {
            ("retry", Some(error.as_str()), Arg::Int(now.saturating_add(millis(*retry_in))))
        }
        DeliveryOutcome::Dead { error } => ("dead", Some(error.as_str()), Arg::Null),
    };
    let int = |n: Option<u64>| n.map_or(Arg::Null, |n| Arg::Int(i64::try_from(n).unwrap_or(i64::MAX)));
    tx.execute(
        "INSERT INTO delivery_attempts (delivery_id, attempt, at_ms, duration_ms, status, outcome, error, next_at_ms)
         VALUES (?1, COALESCE((SELECT attempts FROM deliveries WHERE id = ?1), 0), ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            id.into(),
            now.into(),
            int(log.duration_ms),
            int(log.status.map(u64::from)),
            label.into(),
            error.into(),
            next,
        ],
    )
    .map(drop)
}

/// Events matching a query, newest first (ids are time-ordered), each with its deliveries.
pub(crate) struct FindEvents {
    pub(crate) query: EventQuery,
}

impl Op for FindEvents {
    type Output = Vec<EventSummary>;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, _ctx: &Ctx) -> Result<Vec<EventSummary>, StoreError> {
        let q = &self.query;
        let time = |ms: u64, none: i64| if ms == 0 { none } else { i64::try_from(ms).unwrap_or(i64::MAX) };
        let mut events = tx.rows(
            "SELECT id, source, scope, state, attempts, received_at_ms, last_error FROM events
             WHERE (?1 = '' OR source = ?1) AND (?2 = '' OR state = ?2)
               AND received_at_ms >= ?3 AND received_at_ms < ?4 AND (?5 = '' OR id < ?5)
             ORDER BY id DESC LIMIT ?6",
            &[
                (&q.source).into(),
                (&q.state).into(),
                time(q.since_ms, 0).into(),
                time(q.until_ms, i64::MAX).into(),
                (&q.before_id).into(),
                Arg::Int(i64::try_from(q.scan).unwrap_or(i64::MAX)),
            ],
            summary,
        )?;
        for event in &mut events {
            event.deliveries = deliveries(tx, &event.id)?.into_iter().map(|(d, _)| d).collect();
        }
        Ok(events)
    }
}

/// An event's source and scope alone.
pub(crate) struct EventNames {
    pub(crate) id: String,
}

impl Op for EventNames {
    type Output = Option<(String, String)>;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, _ctx: &Ctx) -> Result<Option<(String, String)>, StoreError> {
        tx.row("SELECT source, scope FROM events WHERE id = ?1", &[(&self.id).into()], |row| {
            Ok((row.text(0)?, row.text(1)?))
        })
    }
}

/// One event in full.
pub(crate) struct ReadEvent {
    pub(crate) id: String,
}

impl Op for ReadEvent {
    type Output = Option<EventRecord>;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, _ctx: &Ctx) -> Result<Option<EventRecord>, StoreError> {
        let found = tx.row(
            "SELECT id, source, scope, state, attempts, received_at_ms, last_error, headers, body, routes_done, root_id, replays,
                    plugin_log
             FROM events WHERE id = ?1",
            &[(&self.id).into()],
            |row| {
                Ok(EventRecord {
                    summary: summary(row)?,
                    headers: json_list(&row.text(7)?),
                    body: row.blob(8)?,
                    routes_done: json_list(&row.text(9)?),
                    root_id: row.opt_text(10)?,
                    replays: count(row.int(11)?),
                    plugin_log: row.opt_text(12)?.map(|text| json_list(&text)).unwrap_or_default(),
                    deliveries: Vec::new(),
                })
            },
        )?;
        let Some(mut event) = found else { return Ok(None) };
        for (summary, due) in deliveries(tx, &event.summary.id)? {
            let attempts = tx.rows(
                "SELECT attempt, at_ms, duration_ms, status, outcome, error, next_at_ms FROM (
                    SELECT * FROM delivery_attempts WHERE delivery_id = ?1 ORDER BY id DESC LIMIT ?2) AS newest
                 ORDER BY id",
                &[(&summary.id).into(), Arg::Int(MAX_ATTEMPTS_SHOWN)],
                attempt,
            )?;
            let due_at_ms = (summary.state == "pending").then_some(due);
            event.deliveries.push(DeliveryRecord { summary, due_at_ms, attempts });
        }
        Ok(Some(event))
    }
}

/// An event's deliveries in the order they were made, each with when it is due.
fn deliveries(tx: &mut dyn Tx, event_id: &str) -> Result<Vec<(DeliverySummary, u64)>, StoreError> {
    tx.rows(
        "SELECT id, route, destination, state, attempts, last_error, due_at_ms FROM deliveries
         WHERE event_id = ?1 ORDER BY created_at_ms, id LIMIT ?2",
        &[event_id.into(), Arg::Int(MAX_DELIVERIES_SHOWN)],
        |row| {
            let summary = DeliverySummary {
                id: row.text(0)?,
                route: row.text(1)?,
                destination: row.text(2)?,
                state: row.text(3)?,
                attempts: count(row.int(4)?),
                last_error: row.opt_text(5)?,
            };
            Ok((summary, row.int(6)?.max(0) as u64))
        },
    )
}

/// `id, source, scope, state, attempts, received_at_ms, last_error`.
fn summary(row: &dyn Row) -> Result<EventSummary, StoreError> {
    Ok(EventSummary {
        id: row.text(0)?,
        source: row.text(1)?,
        scope: row.text(2)?,
        state: row.text(3)?,
        attempts: count(row.int(4)?),
        received_at_ms: row.int(5)?.max(0) as u64,
        last_error: row.opt_text(6)?,
        deliveries: Vec::new(),
    })
}

/// `attempt, at_ms, duration_ms, status, outcome, error, next_at_ms`.
fn attempt(row: &dyn Row) -> Result<AttemptRecord, StoreError> {
    let opt = |i| row.opt_int(i).map(|n| n.map(|n| n.max(0) as u64));
    Ok(AttemptRecord {
        attempt: count(row.int(0)?),
        at_ms: row.int(1)?.max(0) as u64,
        duration_ms: opt(2)?,
        status: opt(3)?.and_then(|s| u16::try_from(s).ok()),
        outcome: row.text(4)?,
        error: row.opt_text(5)?,
        next_at_ms: opt(6)?,
    })
}

fn count(n: i64) -> u32 {
    n.clamp(0, u32::MAX.into()) as u32
}
