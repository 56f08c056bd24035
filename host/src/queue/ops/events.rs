//! Events: appending a webhook with its dedup key, leasing due events for dispatch, and
//! recording what dispatch made of one (its deliveries, derived events and new state) in one
//! transaction.
//!
//! Leasing works like a visibility timeout: a leased row's `due_at_ms` moves to the lease's
//! end, so the due-work index never skips over work in flight, and an unfinished lease simply
//! becomes due again. `lease_until_ms > 0` marks rows in flight.

use super::super::handoff::Lease;
use super::super::sql::{Arg, Ctx, Row, Tx};
use super::super::writer::{Handoffs, Op, Wakeups};
use super::super::{
    Appended, Dedup, EventNext, EventOutcome, Finished, Hold, LeasedDelivery, LeasedEvent, NewDelivery, StoreError,
    millis,
};
use super::deliveries::insert_deliveries;
use super::ordering;
use super::{json, json_list};
use crate::event::Event;
use std::time::Duration;

/// Makes an event durable unless a live event holds its dedup key. With a handoff slot, the
/// event is stored leased and handed to the dispatch loop after the commit.
pub(crate) struct Append {
    pub(crate) event: Event,
    pub(crate) dedup: Option<Dedup>,
    /// Places the event takes in ordered lanes.
    pub(crate) holds: Vec<Hold>,
    pub(crate) lease: Option<Lease<LeasedEvent>>,
}

impl Op for Append {
    type Output = Appended;

    fn admit(&mut self, hands: &Handoffs) {
        self.lease = hands.event();
    }

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Appended, StoreError> {
        if let Some(dedup) = &self.dedup
            && let Some(original_id) = claim(tx, dedup, &self.event.id, ctx.now)?
        {
            return Ok(Appended::Duplicate { original_id });
        }
        let until = self.lease.as_ref().map(|l| ctx.until(l.duration, ctx.max_event_lease));
        insert(tx, &self.event, ctx, until)?;
        if !self.holds.is_empty() {
            let seq = ordering::take_seq(tx)?;
            ordering::hold(tx, &self.event.id, &self.holds, seq)?;
        }
        Ok(Appended::Stored)
    }

    fn committed(self, output: Appended, wake: &mut Wakeups) -> Appended {
        if output == Appended::Stored {
            let held = !self.holds.is_empty();
            match self.lease {
                Some(lease) => lease.hand(LeasedEvent {
                    event: self.event,
                    attempts: 0,
                    routes_done: Vec::new(),
                    held,
                    replays: 0,
                }),
                None => wake.events = true,
            }
        }
        output
    }
}

/// Takes the dedup key for `event_id` unless a live event holds it; `Some(original)` names
/// that event. An expired key is taken over in place (prune deletes the rest). One statement
/// decides: a gateway inserting the same key at the same moment waits for this transaction and
/// then sees the key taken.
fn claim(tx: &mut dyn Tx, dedup: &Dedup, event_id: &str, now: i64) -> Result<Option<String>, StoreError> {
    let expires = now.saturating_add(millis(dedup.window));
    let key: &[u8] = &dedup.key;
    let taken = tx.row(
        "INSERT INTO dedup (key, event_id, expires_at_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, expires_at_ms = excluded.expires_at_ms
         WHERE dedup.expires_at_ms <= ?4
         RETURNING event_id",
        &[key.into(), event_id.into(), expires.into(), now.into()],
        |_| Ok(()),
    )?;
    if taken.is_some() {
        return Ok(None);
    }
    let holder = tx.row("SELECT event_id FROM dedup WHERE key = ?1", &[key.into()], |r| r.text(0))?;
    holder
        .map(Some)
        .ok_or_else(|| StoreError::Database("the dedup key was pruned while being checked; try again".into()))
}

/// Stores `e` due now, or leased to this gateway until `leased_until` (a leased row is due
/// when its lease ends).
pub(super) fn insert(tx: &mut dyn Tx, e: &Event, ctx: &Ctx, leased_until: Option<i64>) -> Result<(), StoreError> {
    let headers = json(&e.headers)?;
    let now = ctx.now;
    let (due, lease) = super::new_row_times(now, leased_until);
    let owner = leased_until.map(|_| &*ctx.node);
    tx.execute(
        "INSERT INTO events (id, source, scope, headers, body, received_at_ms, depth, root_id, state, due_at_ms,
                             lease_until_ms, updated_at_ms, lease_owner, leased_at_ms, trace)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?11, ?12, ?11, ?13)",
        &[
            (&e.id).into(),
            (&e.source).into(),
            (&e.scope).into(),
            (&headers).into(),
            (&e.body[..]).into(),
            Arg::Int(e.received_at_ms as i64),
            Arg::Int(i64::from(e.depth)),
            e.root.as_deref().into(),
            due.into(),
            lease.into(),
            now.into(),
            owner.into(),
            e.trace.as_deref().into(),
        ],
    )?;
    Ok(())
}

/// Leases up to `max` due events, oldest first.
pub(crate) struct LeaseEvents {
    pub(crate) max: usize,
    pub(crate) lease: Duration,
}

impl Op for LeaseEvents {
    type Output = Vec<LeasedEvent>;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Vec<LeasedEvent>, StoreError> {
        let until = ctx.until(self.lease, ctx.max_event_lease);
        let mut leased = tx.rows(
            "UPDATE events SET lease_until_ms = ?3, due_at_ms = ?3, lease_owner = ?4, leased_at_ms = ?1 WHERE id IN (
                SELECT id FROM events WHERE state = 'pending' AND due_at_ms <= ?1
                ORDER BY due_at_ms LIMIT ?2 {skip_locked})
             RETURNING id, source, scope, headers, body, received_at_ms, depth, attempts, routes_done, root_id, held,
                       replays, trace",
            &[ctx.now.into(), Arg::Int(self.max as i64), until.into(), (&*ctx.node).into()],
            leased_event,
        )?;
        leased.sort_by(|x, y| (x.event.received_at_ms, &x.event.id).cmp(&(y.event.received_at_ms, &y.event.id)));
        Ok(leased)
    }
}

fn leased_event(row: &dyn Row) -> Result<LeasedEvent, StoreError> {
    Ok(LeasedEvent {
        event: Event {
            id: row.text(0)?,
            source: row.text(1)?,
            scope: row.text(2)?,
            headers: json_list(&row.text(3)?),
            body: row.blob(4)?.into(),
            received_at_ms: row.int(5)?.max(0) as u64,
            depth: u8::try_from(row.int(6)?).unwrap_or(u8::MAX),
            root: row.opt_text(9)?,
            trace: row.opt_text(12)?,
        },
        attempts: row.int(7)?.clamp(0, u32::MAX.into()) as u32,
        routes_done: json_list(&row.text(8)?),
        held: row.int(10)? != 0,
        replays: row.int(11)?.clamp(0, u32::MAX.into()) as u32,
    })
}

/// Records what dispatch made of event `id`. The first deliveries, as many as the delivery
/// loop has room for, are stored leased and handed to it after the commit (only those that
/// are new: a delivery stored by an earlier try of the event is left alone).
///
/// The key–value writes of the plugin calls that succeeded are applied in the same
/// transaction, so they happen exactly when the rest of the outcome does.
///
/// Derived events count against their webhook's tree: the root event's row keeps how many were
/// written under it, and a finish that would pass `max_emits` writes none of them, none of its
/// deliveries, and makes the event a dead letter instead. The count and the check are in the
/// same transaction as the writes, so concurrent branches of one tree cannot overshoot.
pub(crate) struct FinishEvent {
    pub(crate) id: String,
    pub(crate) outcome: EventOutcome,
    pub(crate) leases: Vec<Lease<LeasedDelivery>>,
}

/// What a finish did, for `committed`.
pub(crate) struct EventFinished {
    pub(crate) finished: Finished,
    /// Which of the deliveries stored leased were new.
    inserted: Vec<bool>,
    /// Ordered deliveries that became due (the heads of their lanes).
    promoted: u64,
}

impl Op for FinishEvent {
    type Output = EventFinished;

    fn admit(&mut self, hands: &Handoffs) {
        self.leases = hands.deliveries(self.outcome.deliveries.len());
    }

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<EventFinished, StoreError> {
        let (id, outcome, now) = (self.id.as_str(), &self.outcome, ctx.now);
        if !holds_lease(tx, "SELECT 1 FROM events WHERE id = ?1 AND lease_owner = ?2 {for_update}", id, ctx)? {
            return Ok(EventFinished { finished: Finished::LeaseLost, inserted: Vec::new(), promoted: 0 });
        }
        let ordered =
            outcome.held || !outcome.holds.is_empty() || outcome.deliveries.iter().any(|d| d.order_key.is_some());
        // Taken before any lane is read: it serializes lane changes across gateways.
        let fresh_seq = if ordered { Some(ordering::take_seq(tx)?) } else { None };
        if let Some(root) = outcome.emitted.first().and_then(|e| e.root.as_deref()) {
            let n = outcome.emitted.len() as i64;
            if let Some(finished) = count_emits(tx, root, n, outcome.max_emits)? {
                let mut promoted = 0;
                if let Finished::OverEmitLimit { error, .. } = &finished {
                    let next = EventNext::Dead { error: error.clone() };
                    set_state(tx, id, &outcome.routes_done, &next, now)?;
                    if outcome.held {
                        promoted = settle_lanes(tx, id, None, Vec::new(), now)?;
                    }
                }
                return Ok(EventFinished { finished, inserted: Vec::new(), promoted });
            }
        }
        let mut seqs = Vec::new();
        let mut lanes = Vec::new();
        if let Some(fresh) = fresh_seq {
            seqs = lane_seqs(tx, id, &outcome.deliveries, fresh, outcome.held)?;
            lanes = outcome.deliveries.iter().filter_map(|d| Some((d.route.clone(), d.order_key.clone()?))).collect();
        }
        let until = self.leases.first().map_or(now, |l| ctx.until(l.duration, ctx.max_delivery_lease));
        let inserted = insert_deliveries(tx, &outcome.deliveries, &seqs, ctx, self.leases.len(), until)?;
        for (i, event) in outcome.emitted.iter().enumerate() {
            insert(tx, event, ctx, None)?;
            let holds: Vec<Hold> = outcome.holds.iter().filter(|(at, _)| *at == i).map(|(_, h)| h.clone()).collect();
            if !holds.is_empty() {
                let seq = ordering::take_seq(tx)?;
                ordering::hold(tx, &event.id, &holds, seq)?;
            }
        }
        super::kv::apply(tx, &outcome.kv, now)?;
        set_state(tx, id, &outcome.routes_done, &outcome.next, now)?;
        if !outcome.plugin_log.is_empty() {
            let log = json(&outcome.plugin_log)?;
            tx.execute("UPDATE events SET plugin_log = ?2 WHERE id = ?1", &[id.into(), (&log).into()])?;
        }
        let mut promoted = 0;
        if ordered {
            promoted = if outcome.held {
                // A retry keeps its holds on the routes still to run; an end releases them all.
                let routes = match outcome.next {
                    EventNext::Retry { .. } => Some(outcome.routes_done.as_slice()),
                    EventNext::Done | EventNext::Dead { .. } => None,
                };
                settle_lanes(tx, id, routes, lanes, now)?
            } else {
                promote_all(tx, lanes, now)?
            };
        }
        Ok(EventFinished { finished: Finished::Recorded, inserted, promoted })
    }

    fn committed(self, done: EventFinished, wake: &mut Wakeups) -> EventFinished {
        let FinishEvent { outcome, leases, .. } = self;
        wake.deliveries |= done.promoted > 0;
        if done.finished != Finished::Recorded {
            return done;
        }
        let unordered = outcome.deliveries.into_iter().filter(|d| d.order_key.is_none());
        wake.deliveries |= unordered.clone().count() > leases.len();
        wake.events |= !outcome.emitted.is_empty() || matches!(outcome.next, EventNext::Retry { .. });
        let handed = leases.into_iter().zip(unordered).zip(&done.inserted).filter(|(_, new)| **new);
        for ((lease, delivery), _) in handed {
            lease.hand(LeasedDelivery { delivery, attempts: 0 });
        }
        done
    }
}

/// The seq of each ordered delivery of event `id` (`None` for the others): the place the event
/// holds in the delivery's lane, or `fresh` when it holds none there, plus its rank among the
/// event's deliveries in that lane, so none shares a seq.
fn lane_seqs(
    tx: &mut dyn Tx,
    id: &str,
    deliveries: &[NewDelivery],
    fresh: i64,
    held: bool,
) -> Result<Vec<Option<i64>>, StoreError> {
    let mut seqs = Vec::with_capacity(deliveries.len());
    let mut ranks: std::collections::HashMap<(&str, &str, &str), i64> = std::collections::HashMap::new();
    for d in deliveries {
        let Some(key) = d.order_key.as_deref() else {
            seqs.push(None);
            continue;
        };
        let base = if held { ordering::held_seq(tx, id, &d.route, key)?.unwrap_or(fresh) } else { fresh };
        let rank = ranks.entry((&d.route, &d.destination, key)).or_default();
        seqs.push(Some(base + (*rank).min(ordering::STEP - 1)));
        *rank += 1;
    }
    Ok(seqs)
}

/// Releases event `id`'s holds on `routes` (all when `None`) and promotes those lanes and
/// `lanes`; returns how many deliveries became due.
fn settle_lanes(
    tx: &mut dyn Tx,
    id: &str,
    routes: Option<&[String]>,
    mut lanes: Vec<(String, String)>,
    now: i64,
) -> Result<u64, StoreError> {
    lanes.extend(ordering::release(tx, id, routes)?);
    promote_all(tx, lanes, now)
}

fn promote_all(tx: &mut dyn Tx, mut lanes: Vec<(String, String)>, now: i64) -> Result<u64, StoreError> {
    lanes.sort();
    lanes.dedup();
    let mut promoted = 0;
    for (route, key) in &lanes {
        promoted += ordering::promote(tx, route, key, now)?;
    }
    Ok(promoted)
}

/// Adds `n` derived events to `root`'s count unless that passes `max`; then marks the root as
/// over its limit (so only the first refusal is reported) and returns the refusal. A root
/// already pruned counts nothing.
fn count_emits(tx: &mut dyn Tx, root: &str, n: i64, max: u32) -> Result<Option<Finished>, StoreError> {
    let max = i64::from(max);
    let Some(count) = tx.row("SELECT emits FROM events WHERE id = ?1", &[root.into()], |r| r.int(0))? else {
        return Ok(None);
    };
    if count + n <= max {
        tx.execute("UPDATE events SET emits = emits + ?2 WHERE id = ?1", &[root.into(), n.into()])?;
        return Ok(None);
    }
    let first = count <= max;
    if first {
        tx.execute("UPDATE events SET emits = ?2 WHERE id = ?1", &[root.into(), (max + 1).into()])?;
    }
    let error = format!(
        "emit limit reached: webhook {root} has already caused {} derived events, and {n} more would pass \
         max_emits = {max}; none of this event's output was written",
        count.min(max)
    );
    Ok(Some(Finished::OverEmitLimit { error, first }))
}

/// Whether this gateway still holds the row `sql` selects by `?1` (the id) and `?2` (the
/// holder), locking it until the commit: a gateway that lost its lease, because it froze or
/// was cut off past it and another took the row over, must not write the row's outcome.
pub(super) fn holds_lease(tx: &mut dyn Tx, sql: &'static str, id: &str, ctx: &Ctx) -> Result<bool, StoreError> {
    Ok(tx.row(sql, &[id.into(), (&*ctx.node).into()], |_| Ok(()))?.is_some())
}

/// The event's new state after a try.
fn set_state(tx: &mut dyn Tx, id: &str, routes_done: &[String], next: &EventNext, now: i64) -> Result<(), StoreError> {
    let done = json(routes_done)?;
    match next {
        EventNext::Done => tx.execute(
            "UPDATE events SET state = 'done', lease_until_ms = 0, lease_owner = NULL, routes_done = ?2, updated_at_ms = ?3 WHERE id = ?1",
            &[id.into(), (&done).into(), now.into()],
        ),
        EventNext::Retry { retry_in, error } => tx.execute(
            "UPDATE events SET attempts = attempts + 1, due_at_ms = ?2, lease_until_ms = 0, lease_owner = NULL, routes_done = ?3,
             last_error = ?4, updated_at_ms = ?5 WHERE id = ?1",
            &[id.into(), now.saturating_add(millis(*retry_in)).into(), (&done).into(), error.into(), now.into()],
        ),
        EventNext::Dead { error } => tx.execute(
            "UPDATE events SET state = 'dead', attempts = attempts + 1, lease_until_ms = 0, lease_owner = NULL, routes_done = ?2,
             last_error = ?3, updated_at_ms = ?4 WHERE id = ?1",
            &[id.into(), (&done).into(), error.into(), now.into()],
        ),
    }
    .map(drop)
}

/// Gives a leased event back, due now: its outcome could not be committed (the store could not
/// write), so it is run again as soon as the store can, rather than when its lease runs out.
pub(crate) struct ReleaseEvent {
    pub(crate) id: String,
}

impl Op for ReleaseEvent {
    type Output = ();

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<(), StoreError> {
        tx.execute(
            "UPDATE events SET lease_until_ms = 0, lease_owner = NULL, due_at_ms = ?2
             WHERE id = ?1 AND state = 'pending' AND lease_owner = ?3",
            &[(&self.id).into(), ctx.now.into(), (&*ctx.node).into()],
        )
        .map(drop)
    }

    fn committed(self, output: (), wake: &mut Wakeups) {
        wake.events = true;
        output
    }
}
