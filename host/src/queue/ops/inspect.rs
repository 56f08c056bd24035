//! Reading what the store holds, for the admin API and the CLI: dead letters, recent events
//! with their deliveries, and the depth of the queues. Nothing here changes a row.

use super::super::sql::{Arg, Ctx, Row, Tx};
use super::super::writer::Op;
use super::super::{DeadLetter, DeliverySummary, Depth, EventSummary, StoreError};

/// Dead deliveries and events, newest first.
pub(crate) struct DeadLetters {
    pub(crate) limit: usize,
}

impl Op for DeadLetters {
    type Output = Vec<DeadLetter>;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, _ctx: &Ctx) -> Result<Vec<DeadLetter>, StoreError> {
        tx.rows(
            "SELECT d.id, d.event_id, 'delivery', d.route, d.destination, e.scope, d.attempts, d.last_error, d.updated_at_ms
               FROM deliveries d LEFT JOIN events e ON e.id = d.event_id WHERE d.state = 'dead'
             UNION ALL
             SELECT id, id, 'event', NULL, NULL, scope, attempts, last_error, updated_at_ms FROM events WHERE state = 'dead'
             ORDER BY 9 DESC LIMIT ?1",
            &[Arg::Int(self.limit as i64)],
            dead_letter,
        )
    }
}

fn dead_letter(row: &dyn Row) -> Result<DeadLetter, StoreError> {
    Ok(DeadLetter {
        id: row.text(0)?,
        event_id: row.text(1)?,
        kind: if row.text(2)? == "event" { "event" } else { "delivery" },
        route: row.opt_text(3)?,
        destination: row.opt_text(4)?,
        scope: row.opt_text(5)?,
        attempts: row.int(6)?.clamp(0, u32::MAX.into()) as u32,
        error: row.opt_text(7)?.unwrap_or_default(),
        updated_at_ms: row.int(8)?.max(0) as u64,
    })
}

/// The newest events (ids are time-ordered), each with its deliveries.
pub(crate) struct RecentEvents {
    pub(crate) limit: usize,
}

impl Op for RecentEvents {
    type Output = Vec<EventSummary>;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, _ctx: &Ctx) -> Result<Vec<EventSummary>, StoreError> {
        // Event ids are `evt_` + a UUIDv7, so the primary key orders them by time: no extra index.
        let mut events = tx.rows(
            "SELECT id, source, scope, state, attempts, received_at_ms, last_error FROM events ORDER BY id DESC LIMIT ?1",
            &[Arg::Int(self.limit as i64)],
            |row| {
                Ok(EventSummary {
                    id: row.text(0)?,
                    source: row.text(1)?,
                    scope: row.text(2)?,
                    state: row.text(3)?,
                    attempts: row.int(4)?.clamp(0, u32::MAX.into()) as u32,
                    received_at_ms: row.int(5)?.max(0) as u64,
                    last_error: row.opt_text(6)?,
                    deliveries: Vec::new(),
                })
            },
        )?;
        for event in &mut events {
            event.deliveries = tx.rows(
                "SELECT id, route, destination, state, attempts, last_error FROM deliveries
                 WHERE event_id = ?1 ORDER BY created_at_ms",
                &[(&event.id).into()],
                |row| {
                    Ok(DeliverySummary {
                        id: row.text(0)?,
                        route: row.text(1)?,
                        destination: row.text(2)?,
                        state: row.text(3)?,
                        attempts: row.int(4)?.clamp(0, u32::MAX.into()) as u32,
                        last_error: row.opt_text(5)?,
                    })
                },
            )?;
        }
        Ok(events)
    }
}

/// Counts for readiness, metrics and tests.
pub(crate) struct CountDepth;

impl Op for CountDepth {
    type Output = Depth;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Depth, StoreError> {
        let depth = tx.row(
            "SELECT
                (SELECT COUNT(*) FROM events WHERE state = 'pending'),
                (SELECT COUNT(*) FROM deliveries WHERE state = 'pending'),
                (SELECT COUNT(*) FROM deliveries WHERE state = 'dead') + (SELECT COUNT(*) FROM events WHERE state = 'dead'),
                (SELECT MIN(due) FROM (
                    SELECT MIN(due_at_ms) AS due FROM events WHERE state = 'pending' AND due_at_ms <= ?1
                    UNION ALL SELECT MIN(due_at_ms) FROM deliveries WHERE state = 'pending' AND due_at_ms <= ?1) AS due),
                (SELECT COUNT(*) FROM deliveries WHERE state = 'paused')
                    + (SELECT COUNT(*) FROM deliveries WHERE state = 'waiting' AND order_key IS NOT NULL)",
            &[ctx.now.into()],
            |row| {
                let count = |i| row.int(i).map(|n| n.max(0) as u64);
                Ok(Depth {
                    events_pending: count(0)?,
                    deliveries_pending: count(1)?,
                    deliveries_held: count(4)?,
                    dead: count(2)?,
                    oldest_due_ms: row.opt_int(3)?.map_or(0, |t| (ctx.now - t).max(0) as u64),
                })
            },
        )?;
        Ok(depth.unwrap_or_default())
    }
}
