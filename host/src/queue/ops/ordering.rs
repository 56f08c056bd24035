//! Ordered lanes: deliveries of one route to one destination that share an order key go out one
//! at a time, in their events' acceptance order.
//!
//! A lane's head is the one delivery of it that is `pending` (or `paused`); the others are
//! `waiting`, out of the lease query's index. An event accepted for an ordered route holds its
//! place in that route's lanes for its key (`order_holds`) until its dispatch of the route ends,
//! so a later event's delivery cannot overtake it while its plugin runs or retries. A head that
//! is delivered or dead, and a hold that is released, promote the next delivery of the lane.
//!
//! Every transaction that touches lanes first takes a value of the `order` counter: that locks
//! the counter's row until the commit, so on a shared PostgreSQL such transactions run one at a
//! time across gateways and a lane never has two heads. Only ordered work pays for it.

use super::super::sql::Tx;
use super::super::{Hold, StoreError};

/// Seqs one event's ordered deliveries may take after its own: the event holds `seq`, its
/// deliveries in one lane take `seq`, `seq + 1`…, so no two deliveries share a seq.
pub(super) const STEP: i64 = 1024;

/// The next value of the `order` counter, times [`STEP`] (the acceptance order of ordered
/// work). Taking it locks the counter until the commit: call it before reading any lane.
pub(super) fn take_seq(tx: &mut dyn Tx) -> Result<i64, StoreError> {
    let seq = tx.row(
        "INSERT INTO counters (name, value) VALUES ('order', 1)
         ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
        &[],
        |r| r.int(0),
    )?;
    seq.map(|n| n.saturating_mul(STEP))
        .ok_or_else(|| StoreError::Database("the order counter returned no value".into()))
}

/// Writes an accepted event's holds, all at `seq`, and marks the event as holding some.
pub(super) fn hold(tx: &mut dyn Tx, event_id: &str, holds: &[Hold], seq: i64) -> Result<(), StoreError> {
    for h in holds {
        tx.execute(
            "INSERT INTO order_holds (route, order_key, seq, event_id) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            &[(&h.route).into(), (&h.key).into(), seq.into(), event_id.into()],
        )?;
    }
    tx.execute("UPDATE events SET held = 1 WHERE id = ?1", &[event_id.into()])?;
    Ok(())
}

/// The seq event `event_id` holds in lane (`route`, `key`), if it holds one.
pub(super) fn held_seq(tx: &mut dyn Tx, event_id: &str, route: &str, key: &str) -> Result<Option<i64>, StoreError> {
    tx.row(
        "SELECT seq FROM order_holds WHERE event_id = ?1 AND route = ?2 AND order_key = ?3",
        &[event_id.into(), route.into(), key.into()],
        |r| r.int(0),
    )
}

/// Releases the holds of `event_id` on `routes` (every route when `None`); returns the lanes
/// they were in, so the caller can promote them.
pub(super) fn release(
    tx: &mut dyn Tx,
    event_id: &str,
    routes: Option<&[String]>,
) -> Result<Vec<(String, String)>, StoreError> {
    let held = tx.rows("SELECT route, order_key FROM order_holds WHERE event_id = ?1", &[event_id.into()], |r| {
        Ok((r.text(0)?, r.text(1)?))
    })?;
    let mut released = Vec::new();
    for (route, key) in held {
        if routes.is_some_and(|done| !done.contains(&route)) {
            continue;
        }
        tx.execute(
            "DELETE FROM order_holds WHERE event_id = ?1 AND route = ?2 AND order_key = ?3",
            &[event_id.into(), (&route).into(), (&key).into()],
        )?;
        released.push((route, key));
    }
    Ok(released)
}

/// Makes the next delivery of each lane of (`route`, `key`) its head, where the lane has none
/// and no earlier event still holds a place in it. Returns how many became due.
pub(super) fn promote(tx: &mut dyn Tx, route: &str, key: &str, now: i64) -> Result<u64, StoreError> {
    tx.execute(
        "UPDATE deliveries SET state = 'pending', due_at_ms = ?3, updated_at_ms = ?3 WHERE id IN (
            SELECT w.id FROM deliveries w
            WHERE w.route = ?1 AND w.order_key = ?2 AND w.state = 'waiting'
              AND w.seq = (SELECT MIN(x.seq) FROM deliveries x
                           WHERE x.route = w.route AND x.order_key = w.order_key
                             AND x.destination = w.destination
                             AND x.state IN ('waiting', 'pending', 'paused'))
              AND NOT EXISTS (SELECT 1 FROM order_holds h
                              WHERE h.route = w.route AND h.order_key = w.order_key AND h.seq < w.seq))",
        &[route.into(), key.into(), now.into()],
    )
}
