//! Destinations as the store sees them: pausing one (its waiting deliveries parked, attempts
//! kept), resuming it, claiming the next probe of a breaker pause, and counting deliveries by
//! destination and state.
//!
//! A pause lives in `destination_pauses`, so every gateway sharing the store sees it; the
//! breaker that decides to pause runs in each gateway (`delivery/control.rs`).

use super::super::sql::{Arg, Ctx, Tx};
use super::super::writer::{Op, Wakeups};
use super::super::{DestinationCounts, DestinationPause, LeasedDelivery, PausedBy, StoreError, millis};
use super::deliveries::leased_delivery;
use std::collections::HashMap;
use std::time::Duration;

/// Pauses a destination and parks its deliveries that are not in flight. A breaker pause does
/// not replace an operator's; an operator's replaces a breaker's.
pub(crate) struct Pause {
    pub(crate) destination: String,
    pub(crate) by: PausedBy,
    pub(crate) reason: String,
    pub(crate) probe_every: Option<Duration>,
}

impl Op for Pause {
    /// Whether the destination was not paused before.
    type Output = bool;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<bool, StoreError> {
        let now = ctx.now;
        let dest = self.destination.as_str();
        let before =
            tx.row("SELECT paused_by FROM destination_pauses WHERE destination = ?1", &[dest.into()], |r| r.text(0))?;
        if before.as_deref() == Some("operator") && self.by == PausedBy::Breaker {
            return Ok(false);
        }
        let probe_at = match (self.by, self.probe_every) {
            (PausedBy::Breaker, Some(every)) => Arg::Int(now.saturating_add(millis(every))),
            _ => Arg::Null,
        };
        tx.execute(
            "INSERT INTO destination_pauses (destination, paused_by, reason, since_ms, probe_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (destination) DO UPDATE SET paused_by = excluded.paused_by, reason = excluded.reason,
                 probe_at_ms = excluded.probe_at_ms",
            &[dest.into(), self.by.as_str().into(), (&self.reason).into(), now.into(), probe_at],
        )?;
        tx.execute(
            "UPDATE deliveries SET state = 'paused', updated_at_ms = ?2
             WHERE destination = ?1 AND state = 'pending' AND lease_until_ms <= ?2",
            &[dest.into(), now.into()],
        )?;
        Ok(before.is_none())
    }
}

/// Resumes a destination: its pause is removed and its parked deliveries are due now.
pub(crate) struct Resume {
    pub(crate) destination: String,
    /// Only a breaker's pause (a probe succeeded): an operator's stays.
    pub(crate) breaker_only: bool,
}

impl Op for Resume {
    /// Whether it was paused.
    type Output = bool;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<bool, StoreError> {
        let dest = self.destination.as_str();
        let removed = if self.breaker_only {
            tx.execute(
                "DELETE FROM destination_pauses WHERE destination = ?1 AND paused_by = 'breaker'",
                &[dest.into()],
            )?
        } else {
            tx.execute("DELETE FROM destination_pauses WHERE destination = ?1", &[dest.into()])?
        };
        if removed == 0 {
            return Ok(false);
        }
        tx.execute(
            "UPDATE deliveries SET state = 'pending', due_at_ms = ?2, updated_at_ms = ?2
             WHERE destination = ?1 AND state = 'paused'",
            &[dest.into(), ctx.now.into()],
        )?;
        Ok(true)
    }

    fn committed(self, resumed: bool, wake: &mut Wakeups) -> bool {
        wake.deliveries |= resumed;
        resumed
    }
}

/// Every paused destination.
pub(crate) struct Pauses;

// Not READS_ONLY: the breaker applies this list over the pauses this gateway just wrote, so
// it must be read after them, in the writer's order.
impl Op for Pauses {
    type Output = Vec<DestinationPause>;

    fn run(&mut self, tx: &mut dyn Tx, _ctx: &Ctx) -> Result<Vec<DestinationPause>, StoreError> {
        tx.rows(
            "SELECT destination, paused_by, reason, since_ms, probe_at_ms FROM destination_pauses ORDER BY destination",
            &[],
            |r| {
                Ok(DestinationPause {
                    destination: r.text(0)?,
                    paused_by: if r.text(1)? == "operator" { PausedBy::Operator } else { PausedBy::Breaker },
                    reason: r.text(2)?,
                    since_ms: r.int(3)?.max(0) as u64,
                    probe_at_ms: r.opt_int(4)?.map(|t| t.max(0) as u64),
                })
            },
        )
    }
}

/// Takes the next probe of a breaker pause when it is due (moving the one after `every` on, so
/// one gateway probes at a time) and leases the destination's oldest parked delivery for it.
pub(crate) struct ClaimProbe {
    pub(crate) destination: String,
    pub(crate) every: Duration,
    pub(crate) lease: Duration,
}

impl Op for ClaimProbe {
    type Output = Option<LeasedDelivery>;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Option<LeasedDelivery>, StoreError> {
        let (dest, now) = (self.destination.as_str(), ctx.now);
        let claimed = tx.execute(
            "UPDATE destination_pauses SET probe_at_ms = ?2
             WHERE destination = ?1 AND paused_by = 'breaker' AND probe_at_ms <= ?3",
            &[dest.into(), now.saturating_add(millis(self.every)).into(), now.into()],
        )?;
        if claimed == 0 {
            return Ok(None);
        }
        let until = ctx.until(self.lease, ctx.max_delivery_lease);
        let leased = tx.row(
            "UPDATE deliveries SET state = 'pending', lease_until_ms = ?2, due_at_ms = ?2, lease_owner = ?3, leased_at_ms = ?4
             WHERE id IN (
                SELECT id FROM deliveries WHERE destination = ?1 AND state = 'paused'
                ORDER BY due_at_ms LIMIT 1 {skip_locked})
             RETURNING id, event_id, route, destination, body, headers, attempts, created_at_ms, order_key, vars, trace",
            &[dest.into(), until.into(), (&*ctx.node).into(), now.into()],
            leased_delivery,
        )?;
        Ok(leased.map(|(_, d)| d))
    }
}

/// Deliveries by destination and state, for the states that matter to an operator (those not
/// yet delivered); read through the partial indexes that hold them, not the whole history.
pub(crate) struct DestinationCountsOp;

impl Op for DestinationCountsOp {
    type Output = HashMap<String, DestinationCounts>;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, _ctx: &Ctx) -> Result<HashMap<String, DestinationCounts>, StoreError> {
        let rows = tx.rows(
            "SELECT destination, 'pending', COUNT(*) FROM deliveries WHERE state = 'pending' GROUP BY destination
             UNION ALL SELECT destination, 'paused', COUNT(*) FROM deliveries WHERE state = 'paused' GROUP BY destination
             UNION ALL SELECT destination, 'waiting', COUNT(*) FROM deliveries
                       WHERE state = 'waiting' AND order_key IS NOT NULL GROUP BY destination
             UNION ALL SELECT destination, 'dead', COUNT(*) FROM deliveries WHERE state = 'dead' GROUP BY destination",
            &[],
            |r| Ok((r.text(0)?, r.text(1)?, r.int(2)?.max(0) as u64)),
        )?;
        let mut counts: HashMap<String, DestinationCounts> = HashMap::new();
        for (destination, state, n) in rows {
            let c = counts.entry(destination).or_default();
            match state.as_str() {
                "pending" => c.pending = n,
                "paused" => c.paused = n,
                "waiting" => c.waiting = n,
                _ => c.dead = n,
            }
        }
        Ok(counts)
    }
}
