//! Changing rows for operators and housekeeping: replaying dead letters, running stored events
//! again, and pruning work past its retention.

use super::super::sql::{Arg, Ctx, Tx};
use super::super::writer::{Op, Wakeups};
use super::super::{EventReplay, ReplaySelector, ReplayState, Replayed, StoreError};

/// Makes dead letters due again, attempts counted from zero. A replayed delivery leaves its
/// ordered lane (its order was broken when it died), so it never stands beside the lane's head.
pub(crate) struct Replay {
    pub(crate) selector: ReplaySelector,
}

impl Op for Replay {
    type Output = u64;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<u64, StoreError> {
        let now: Arg = ctx.now.into();
        Ok(match &self.selector {
            ReplaySelector::All => {
                tx.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, due_at_ms = ?1, lease_until_ms = 0,
                     order_key = NULL, updated_at_ms = ?1 WHERE state = 'dead'",
                    &[now],
                )? + tx.execute(
                    "UPDATE events SET state = 'pending', attempts = 0, due_at_ms = ?1, lease_until_ms = 0,
                     updated_at_ms = ?1 WHERE state = 'dead'",
                    &[now],
                )?
            }
            ReplaySelector::Destination(name) => tx.execute(
                "UPDATE deliveries SET state = 'pending', attempts = 0, due_at_ms = ?1, lease_until_ms = 0,
                 order_key = NULL, updated_at_ms = ?1 WHERE state = 'dead' AND destination = ?2",
                &[now, name.into()],
            )?,
            ReplaySelector::Id(id) => {
                tx.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, due_at_ms = ?1, lease_until_ms = 0,
                     order_key = NULL, updated_at_ms = ?1 WHERE state = 'dead' AND id = ?2",
                    &[now, id.into()],
                )? + tx.execute(
                    "UPDATE events SET state = 'pending', attempts = 0, due_at_ms = ?1, lease_until_ms = 0,
                     updated_at_ms = ?1 WHERE state = 'dead' AND id = ?2",
                    &[now, id.into()],
                )?
            }
        })
    }

    fn committed(self, replayed: u64, wake: &mut Wakeups) -> u64 {
        wake.events = true;
        wake.deliveries = true;
        replayed
    }
}

/// Makes finished events pending again, so dispatch runs them through the routes and plugins of
/// the config it serves now: their deliveries get new ids (the event's `replays` count is in
/// them), the event keeps its id. Only webhooks are taken by a time range (derived events are
/// made again by their plugins); one event by id may be any.
pub(crate) struct ReplayEvents {
    pub(crate) replay: EventReplay,
}

impl Op for ReplayEvents {
    type Output = Replayed;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Replayed, StoreError> {
        let r = &self.replay;
        let ids = match &r.event {
            Some(id) => {
                let state = tx.row("SELECT state FROM events WHERE id = ?1", &[id.into()], |row| row.text(0))?;
                match state.as_deref() {
                    None => {
                        let why = format!(
                            "event {id} is not stored: its body was pruned after storage.retention_hours, or it never arrived"
                        );
                        return Ok(Replayed { events: Vec::new(), refused: Some(why), not_stored: true });
                    }
                    Some("pending") => {
                        let why = format!("event {id} is still pending: it runs under the current routes anyway");
                        return Ok(Replayed { events: Vec::new(), refused: Some(why), not_stored: false });
                    }
                    Some(_) => vec![id.clone()],
                }
            }
            None => {
                // Event ids are time-ordered (UUIDv7: milliseconds first), so a time range is an id range.
                let from = format!("evt_{:012x}", r.since_ms.unwrap_or(0).min(0xffff_ffff_ffff));
                let to = format!("evt_{:012x}", r.until_ms.unwrap_or(u64::MAX).min(0xffff_ffff_ffff));
                let sql = match r.state {
                    ReplayState::Any => {
                        "SELECT id FROM events WHERE id >= ?1 AND id < ?2 AND (?3 = '' OR source = ?3) AND root_id IS NULL
                         AND state IN ('done', 'dead') ORDER BY id LIMIT ?4"
                    }
                    ReplayState::Dead => {
                        "SELECT id FROM events e WHERE id >= ?1 AND id < ?2 AND (?3 = '' OR source = ?3) AND root_id IS NULL
                         AND (state = 'dead' OR (state = 'done' AND EXISTS
                             (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.state = 'dead')))
                         ORDER BY id LIMIT ?4"
                    }
                    ReplayState::Delivered => {
                        "SELECT id FROM events e WHERE id >= ?1 AND id < ?2 AND (?3 = '' OR source = ?3) AND root_id IS NULL
                         AND state = 'done' AND NOT EXISTS
                             (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.state <> 'delivered')
                         ORDER BY id LIMIT ?4"
                    }
                };
                let source = r.source.as_deref().unwrap_or("");
                let limit = Arg::Int(r.limit.max(1) as i64);
                tx.rows(sql, &[(&from).into(), (&to).into(), source.into(), limit], |row| row.text(0))?
            }
        };
        if r.dry_run {
            return Ok(Replayed { events: ids, ..Replayed::default() });
        }
        let skip = serde_json::to_string(&r.skip_routes).map_err(|e| StoreError::Database(e.to_string()))?;
        for id in &ids {
            tx.execute(
                "UPDATE events SET state = 'pending', attempts = 0, due_at_ms = ?2, lease_until_ms = 0, routes_done = ?3,
                 replays = replays + 1, emits = 0, held = 0, last_error = NULL, updated_at_ms = ?2
                 WHERE id = ?1 AND state IN ('done', 'dead')",
                &[id.into(), ctx.now.into(), (&skip).into()],
            )?;
        }
        Ok(Replayed { events: ids, ..Replayed::default() })
    }

    fn committed(self, replayed: Replayed, wake: &mut Wakeups) -> Replayed {
        wake.events |= !replayed.events.is_empty() && !self.replay.dry_run;
        replayed
    }
}

/// When the oldest stored event was received (what a replay can still reach).
pub(crate) struct OldestEvent;

impl Op for OldestEvent {
    type Output = Option<u64>;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, _ctx: &Ctx) -> Result<Option<u64>, StoreError> {
        // Ids are time-ordered, so the first by id is the oldest, read from the primary key.
        let oldest = tx.row("SELECT received_at_ms FROM events ORDER BY id LIMIT 1", &[], |r| r.int(0))?;
        Ok(oldest.map(|t| t.max(0) as u64))
    }
}

/// Deletes delivered work last touched before `older_than_ms`, and dedup and kv keys expired
/// by now.
pub(crate) struct Prune {
    pub(crate) older_than_ms: u64,
}

impl Op for Prune {
    type Output = u64;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<u64, StoreError> {
        let cutoff: Arg = i64::try_from(self.older_than_ms).unwrap_or(i64::MAX).into();
        tx.execute(
            "DELETE FROM delivery_attempts WHERE delivery_id IN (
                SELECT id FROM deliveries WHERE state = 'delivered' AND updated_at_ms < ?1)",
            &[cutoff],
        )?;
        let deliveries =
            tx.execute("DELETE FROM deliveries WHERE state = 'delivered' AND updated_at_ms < ?1", &[cutoff])?;
        let events = tx.execute(
            "DELETE FROM events WHERE state = 'done' AND updated_at_ms < ?1
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
            &[cutoff],
        )?;
        let keys = tx.execute("DELETE FROM dedup WHERE expires_at_ms <= ?1", &[ctx.now.into()])?;
        let kv = super::kv::prune_expired(tx, ctx.now)?;
        Ok(deliveries + events + keys + kv)
    }
}

/// Nothing, in the writer's next batch: its answer says the writer runs batches now.
pub(crate) struct Ping;

impl Op for Ping {
    type Output = ();

    fn run(&mut self, _tx: &mut dyn Tx, _ctx: &Ctx) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Rewrites the probe row: a commit that changed it proves the store writes. Readiness sends it
/// while the store is failing, so it notices the store writing again without waiting for work.
pub(crate) struct Probe;

impl Op for Probe {
    type Output = ();

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO probe (id, at_ms) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms",
            &[ctx.now.into()],
        )
        .map(drop)
    }
}
