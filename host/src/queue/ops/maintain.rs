//! Changing rows for operators and housekeeping: replaying dead letters and pruning work past
//! its retention.

use super::super::sql::{Arg, Ctx, Tx};
use super::super::writer::{Op, Wakeups};
use super::super::{ReplaySelector, StoreError};

/// Makes dead letters due again, attempts counted from zero.
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
                     updated_at_ms = ?1 WHERE state = 'dead'",
                    &[now],
                )? + tx.execute(
                    "UPDATE events SET state = 'pending', attempts = 0, due_at_ms = ?1, lease_until_ms = 0,
                     updated_at_ms = ?1 WHERE state = 'dead'",
                    &[now],
                )?
            }
            ReplaySelector::Destination(name) => tx.execute(
                "UPDATE deliveries SET state = 'pending', attempts = 0, due_at_ms = ?1, lease_until_ms = 0,
                 updated_at_ms = ?1 WHERE state = 'dead' AND destination = ?2",
                &[now, name.into()],
            )?,
            ReplaySelector::Id(id) => {
                tx.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, due_at_ms = ?1, lease_until_ms = 0,
                     updated_at_ms = ?1 WHERE state = 'dead' AND id = ?2",
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

/// Deletes delivered work last touched before `older_than_ms`, and dedup and kv keys expired
/// by now.
pub(crate) struct Prune {
    pub(crate) older_than_ms: u64,
}

impl Op for Prune {
    type Output = u64;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<u64, StoreError> {
        let cutoff: Arg = i64::try_from(self.older_than_ms).unwrap_or(i64::MAX).into();
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
