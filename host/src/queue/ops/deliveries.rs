//! Deliveries: creating them (with the event that produced them), leasing due ones for an
//! attempt, recording each attempt's outcome, and handing one back unattempted when a limit or
//! a pause holds it back.

use super::super::sql::{Arg, Ctx, Row, Tx};
use super::super::writer::{Op, Wakeups};
use super::super::{DeliveryOutcome, LeasedDelivery, NewDelivery, StoreError, millis};
use super::ordering;
use super::{json, json_list};
use std::time::Duration;

/// Inserts `deliveries` (a delivery already stored, by an earlier try of its event, is left
/// alone). An ordered one (`seqs[i]` is its seq) is stored `waiting` for its lane; of the
/// others, the first `leased` are stored leased to this gateway until `until`. Says which of
/// those were new. Each carries its event's trace, `trace`.
pub(super) fn insert_deliveries(
    tx: &mut dyn Tx,
    deliveries: &[NewDelivery],
    seqs: &[Option<i64>],
    ctx: &Ctx,
    leased: usize,
    until: i64,
) -> Result<Vec<bool>, StoreError> {
    let now = ctx.now;
    let mut inserted = Vec::with_capacity(leased);
    for (d, seq) in deliveries.iter().zip(seqs.iter().chain(std::iter::repeat(&None))) {
        let headers = json(&d.headers)?;
        let vars = d.vars.as_ref().map(json).transpose()?;
        let (state, due, lease) = match (seq, &d.order_key) {
            (Some(_), Some(_)) => ("waiting", now, 0),
            _ => {
                let (due, lease) = super::new_row_times(now, (inserted.len() < leased).then_some(until));
                ("pending", due, lease)
            }
        };
        let owner = (lease > 0).then_some(&*ctx.node);
        let n = tx.execute(
            "INSERT INTO deliveries (id, event_id, route, destination, body, headers, state, due_at_ms, lease_until_ms,
                                     created_at_ms, updated_at_ms, order_key, seq, vars, lease_owner, leased_at_ms, trace)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?10, ?15) ON CONFLICT (id) DO NOTHING",
            &[
                (&d.id).into(),
                (&d.event_id).into(),
                (&d.route).into(),
                (&d.destination).into(),
                (&d.body[..]).into(),
                (&headers).into(),
                state.into(),
                due.into(),
                lease.into(),
                now.into(),
                d.order_key.as_deref().filter(|_| seq.is_some()).into(),
                seq.map_or(Arg::Null, Arg::Int),
                vars.as_deref().into(),
                owner.into(),
                d.trace.as_deref().into(),
            ],
        )?;
        if state == "pending" && inserted.len() < leased {
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
            "UPDATE deliveries SET lease_until_ms = ?3, due_at_ms = ?3, lease_owner = ?4, leased_at_ms = ?1 WHERE id IN (
                SELECT id FROM deliveries WHERE state = 'pending' AND due_at_ms <= ?1
                ORDER BY due_at_ms LIMIT ?2 {skip_locked})
             RETURNING id, event_id, route, destination, body, headers, attempts, created_at_ms, order_key, vars, trace",
            &[ctx.now.into(), Arg::Int(self.max as i64), until.into(), (&*ctx.node).into()],
            leased_delivery,
        )?;
        leased.sort_by(|(x, a), (y, b)| (x, &a.delivery.id).cmp(&(y, &b.delivery.id)));
        Ok(leased.into_iter().map(|(_, d)| d).collect())
    }
}

/// A leased delivery and its creation time (the order deliveries are attempted in), from
/// `id, event_id, route, destination, body, headers, attempts, created_at_ms, order_key, vars, trace`.
pub(super) fn leased_delivery(row: &dyn Row) -> Result<(i64, LeasedDelivery), StoreError> {
    let delivery = NewDelivery {
        id: row.text(0)?,
        event_id: row.text(1)?,
        route: row.text(2)?,
        destination: row.text(3)?,
        body: row.blob(4)?.into(),
        headers: json_list(&row.text(5)?),
        order_key: row.opt_text(8)?,
        vars: row.opt_text(9)?.and_then(|text| serde_json::from_str(&text).ok()),
        trace: row.opt_text(10)?,
    };
    Ok((row.int(7)?, LeasedDelivery { delivery, attempts: row.int(6)?.clamp(0, u32::MAX.into()) as u32 }))
}

/// Records one attempt's outcome, unless this gateway no longer holds the delivery (another
/// took it over while this one was frozen or cut off): then nothing is written, and the answer
/// is `None`. When the delivery heads an ordered lane (`lane`) and is delivered or dead, the
/// lane's next delivery becomes due.
pub(crate) struct FinishDelivery {
    pub(crate) id: String,
    pub(crate) outcome: DeliveryOutcome,
    pub(crate) lane: Option<(String, String)>,
    /// What was measured of the attempt, kept in its history.
    pub(crate) log: super::super::AttemptLog,
}

impl Op for FinishDelivery {
    /// How many deliveries of the lane became due; `None` when the lease was lost.
    type Output = Option<u64>;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Option<u64>, StoreError> {
        let (id, now, node) = (self.id.as_str(), ctx.now, &*ctx.node);
        let written = match &self.outcome {
            DeliveryOutcome::Delivered => tx.execute(
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, lease_until_ms = 0,
                 lease_owner = NULL, last_error = NULL, updated_at_ms = ?2 WHERE id = ?1 AND lease_owner = ?3",
                &[id.into(), now.into(), node.into()],
            ),
            DeliveryOutcome::Retry { retry_in, error } => tx.execute(
                "UPDATE deliveries SET attempts = attempts + 1, due_at_ms = ?2, lease_until_ms = 0, lease_owner = NULL,
                 last_error = ?3, updated_at_ms = ?4 WHERE id = ?1 AND lease_owner = ?5",
                &[id.into(), now.saturating_add(millis(*retry_in)).into(), error.into(), now.into(), node.into()],
            ),
            DeliveryOutcome::Dead { error } => tx.execute(
                "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, lease_until_ms = 0, lease_owner = NULL,
                 last_error = ?2, updated_at_ms = ?3 WHERE id = ?1 AND lease_owner = ?4",
                &[id.into(), error.into(), now.into(), node.into()],
            ),
        }?;
        if written == 0 {
            return Ok(None);
        }
        super::history::record_attempt(tx, id, now, &self.outcome, self.log)?;
        match (&self.lane, &self.outcome) {
            (Some((route, key)), DeliveryOutcome::Delivered | DeliveryOutcome::Dead { .. }) => {
                ordering::take_seq(tx)?;
                ordering::promote(tx, route, key, now).map(Some)
            }
            _ => Ok(Some(0)),
        }
    }

    fn committed(self, promoted: Option<u64>, wake: &mut Wakeups) -> Option<u64> {
        wake.deliveries |= promoted.is_some_and(|n| n > 0);
        promoted
    }
}

/// Hands a leased delivery back without an attempt, due after `wait`: a rate or concurrency
/// limit held it back.
pub(crate) struct DeferDelivery {
    pub(crate) id: String,
    pub(crate) wait: Duration,
}

impl Op for DeferDelivery {
    type Output = ();

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<(), StoreError> {
        tx.execute(
            "UPDATE deliveries SET due_at_ms = ?2, lease_until_ms = 0, lease_owner = NULL
             WHERE id = ?1 AND state = 'pending' AND lease_owner = ?3",
            &[(&self.id).into(), ctx.now.saturating_add(millis(self.wait)).into(), (&*ctx.node).into()],
        )
        .map(drop)
    }
}

/// Parks a leased delivery of a paused destination, keeping its attempts: it waits, out of the
/// lease query, until the destination resumes. `error` records why a probe failed.
pub(crate) struct ParkDelivery {
    pub(crate) id: String,
    pub(crate) error: Option<String>,
}

impl Op for ParkDelivery {
    type Output = ();

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<(), StoreError> {
        tx.execute(
            "UPDATE deliveries SET state = 'paused', lease_until_ms = 0, lease_owner = NULL, due_at_ms = ?2,
             last_error = COALESCE(?3, last_error), updated_at_ms = ?2 WHERE id = ?1 AND state = 'pending' AND lease_owner = ?4",
            &[(&self.id).into(), ctx.now.into(), self.error.as_deref().into(), (&*ctx.node).into()],
        )
        .map(drop)
    }
}
