//! Deliveries: creating them (with the event that produced them), leasing due ones for an
//! attempt, and recording each attempt's outcome.

use super::super::sql::{Arg, Ctx, Row, Tx};
use super::super::writer::Op;
use super::super::{DeliveryOutcome, LeasedDelivery, NewDelivery, StoreError, millis};
use super::{json, json_list};
use std::time::Duration;

/// Inserts `deliveries` (a delivery already stored, by an earlier try of its event, is left
/// alone); the first `leased` are stored leased until `until`. Says which of those were new.
pub(super) fn insert_deliveries(
    tx: &mut dyn Tx,
    deliveries: &[NewDelivery],
    now: i64,
    leased: usize,
    until: i64,
) -> Result<Vec<bool>, StoreError> {
    let mut inserted = Vec::with_capacity(leased);
    for (i, d) in deliveries.iter().enumerate() {
        let headers = json(&d.headers)?;
        let (due, lease) = super::new_row_times(now, (i < leased).then_some(until));
        let n = tx.execute(
            "INSERT INTO deliveries (id, event_id, route, destination, body, headers, state, due_at_ms, lease_until_ms, created_at_ms, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9, ?9) ON CONFLICT (id) DO NOTHING",
            &[
                (&d.id).into(),
                (&d.event_id).into(),
                (&d.route).into(),
                (&d.destination).into(),
                (&d.body[..]).into(),
                (&headers).into(),
                due.into(),
                lease.into(),
                now.into(),
            ],
        )?;
        if i < leased {
            inserted.push(n == 1);
        }
    }
    Ok(inserted)
}

/// Leases up to `max` due deliveries, oldest first.
pub(crate) struct LeaseDeliveries {
    pub(crate) max: usize,
    pub(crate) lease: Duration,
}

impl Op for LeaseDeliveries {
    type Output = Vec<LeasedDelivery>;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Vec<LeasedDelivery>, StoreError> {
        let until = ctx.until(self.lease, ctx.max_delivery_lease);
        let mut leased = tx.rows(
            "UPDATE deliveries SET lease_until_ms = ?3, due_at_ms = ?3 WHERE id IN (
                SELECT id FROM deliveries WHERE state = 'pending' AND due_at_ms <= ?1
                ORDER BY due_at_ms LIMIT ?2 {skip_locked})
             RETURNING id, event_id, route, destination, body, headers, attempts, created_at_ms",
            &[ctx.now.into(), Arg::Int(self.max as i64), until.into()],
            leased_delivery,
        )?;
        leased.sort_by(|(x, a), (y, b)| (x, &a.delivery.id).cmp(&(y, &b.delivery.id)));
        Ok(leased.into_iter().map(|(_, d)| d).collect())
    }
}

/// A leased delivery and its creation time (the order deliveries are attempted in).
fn leased_delivery(row: &dyn Row) -> Result<(i64, LeasedDelivery), StoreError> {
    let delivery = NewDelivery {
        id: row.text(0)?,
        event_id: row.text(1)?,
        route: row.text(2)?,
        destination: row.text(3)?,
        body: row.blob(4)?.into(),
        headers: json_list(&row.text(5)?),
    };
    Ok((row.int(7)?, LeasedDelivery { delivery, attempts: row.int(6)?.clamp(0, u32::MAX.into()) as u32 }))
}

/// Records one attempt's outcome.
pub(crate) struct FinishDelivery {
    pub(crate) id: String,
    pub(crate) outcome: DeliveryOutcome,
}

impl Op for FinishDelivery {
    type Output = ();

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<(), StoreError> {
        let (id, now) = (self.id.as_str(), ctx.now);
        match &self.outcome {
            DeliveryOutcome::Delivered => tx.execute(
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, lease_until_ms = 0,
                 last_error = NULL, updated_at_ms = ?2 WHERE id = ?1",
                &[id.into(), now.into()],
            ),
            DeliveryOutcome::Retry { retry_in, error } => tx.execute(
                "UPDATE deliveries SET attempts = attempts + 1, due_at_ms = ?2, lease_until_ms = 0, last_error = ?3,
                 updated_at_ms = ?4 WHERE id = ?1",
                &[id.into(), now.saturating_add(millis(*retry_in)).into(), error.into(), now.into()],
            ),
            DeliveryOutcome::Dead { error } => tx.execute(
                "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, lease_until_ms = 0, last_error = ?2,
                 updated_at_ms = ?3 WHERE id = ?1",
                &[id.into(), error.into(), now.into()],
            ),
        }
        .map(drop)
    }
}
