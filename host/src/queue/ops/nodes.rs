//! The gateways sharing a store: each one's heartbeat, the renewal of its leases, handing them
//! all back when it stops, and the node list operators read.
//!
//! Every lease names its holder (`lease_owner`, the gateway's node id), so one round renews all
//! of a gateway's leases with one statement per table, however many rows it holds; the same
//! round writes its heartbeat. A round renews a row only within [`EVENT_LEASE`] /
//! [`DELIVERY_LEASE`] of when it was leased, so a row whose work was lost inside a live gateway
//! still comes back. Only a shared store's leases expire (`Ctx::shared`); on SQLite the round
//! writes the heartbeat alone. This file never decides when rounds happen.

use super::super::sql::{Ctx, Row, Tx};
use super::super::writer::{Op, Wakeups};
use super::super::{DELIVERY_LEASE, EVENT_LEASE, StoreError, millis};
use std::time::Duration;

/// How long a stopped or vanished gateway stays in the node list.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What a gateway says about itself in its heartbeat.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub host: String,
    pub version: String,
    pub started_at_ms: u64,
}

/// One renewal round: the heartbeat, and every lease this gateway holds extended to `lease`
/// from now.
pub(crate) struct Renew {
    pub(crate) me: NodeInfo,
    pub(crate) lease: Duration,
}

/// Extends this node's (`?1`) pending leases to `?2`, for rows leased after `?3`.
const RENEW_EVENTS: &str = "UPDATE events SET lease_until_ms = ?2, due_at_ms = ?2
    WHERE lease_owner = ?1 AND lease_until_ms > 0 AND state = 'pending' AND leased_at_ms > ?3";
const RENEW_DELIVERIES: &str = "UPDATE deliveries SET lease_until_ms = ?2, due_at_ms = ?2
    WHERE lease_owner = ?1 AND lease_until_ms > 0 AND state = 'pending' AND leased_at_ms > ?3";

/// What a renewal round extended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Renewed {
    pub events: u64,
    pub deliveries: u64,
}

impl Op for Renew {
    type Output = Renewed;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Renewed, StoreError> {
        let (now, node) = (ctx.now, &*ctx.node);
        let mut renewed = Renewed::default();
        if ctx.shared {
            let mut renew = |sql: &'static str, until: i64, longest: Duration| {
                tx.execute(sql, &[node.into(), until.into(), now.saturating_sub(millis(longest)).into()])
            };
            renewed.events = renew(RENEW_EVENTS, ctx.until(self.lease, ctx.max_event_lease), EVENT_LEASE)?;
            let until = ctx.until(self.lease, ctx.max_delivery_lease);
            renewed.deliveries = renew(RENEW_DELIVERIES, until, DELIVERY_LEASE)?;
        }
        tx.execute(
            "INSERT INTO nodes (id, host, version, started_at_ms, heartbeat_ms) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms",
            &[
                node.into(),
                (&self.me.host).into(),
                (&self.me.version).into(),
                (self.me.started_at_ms as i64).into(),
                now.into(),
            ],
        )?;
        tx.execute("DELETE FROM nodes WHERE heartbeat_ms < ?1", &[now.saturating_sub(millis(FORGET_AFTER)).into()])?;
        Ok(renewed)
    }
}

/// A stopping gateway's last word: every row it still holds is due again now, for any gateway
/// to take, and its node is marked stopped.
pub(crate) struct HandBack;

impl Op for HandBack {
    /// How many leases were handed back.
    type Output = u64;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<u64, StoreError> {
        let (now, node) = (ctx.now, &*ctx.node);
        let events = tx.execute(
            "UPDATE events SET lease_until_ms = 0, lease_owner = NULL, due_at_ms = ?2
             WHERE lease_owner = ?1 AND lease_until_ms > 0 AND state = 'pending'",
            &[node.into(), now.into()],
        )?;
        let deliveries = tx.execute(
            "UPDATE deliveries SET lease_until_ms = 0, lease_owner = NULL, due_at_ms = ?2
             WHERE lease_owner = ?1 AND lease_until_ms > 0 AND state = 'pending'",
            &[node.into(), now.into()],
        )?;
        tx.execute("UPDATE nodes SET stopped_at_ms = ?2, heartbeat_ms = ?2 WHERE id = ?1", &[node.into(), now.into()])?;
        Ok(events + deliveries)
    }

    fn committed(self, handed: u64, wake: &mut Wakeups) -> u64 {
        wake.events |= handed > 0;
        wake.deliveries |= handed > 0;
        handed
    }
}

/// One gateway as the node list shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Node {
    pub id: String,
    pub host: String,
    pub version: String,
    pub started_at_ms: u64,
    pub heartbeat_ms: u64,
    /// How long ago its heartbeat was written, by the store's clock.
    pub heartbeat_age_ms: u64,
    /// live | gone (no heartbeat within a lease) | stopped (it stopped cleanly)
    pub state: &'static str,
    pub events_leased: u64,
    pub deliveries_leased: u64,
}

/// The gateways that wrote a heartbeat within the last day, oldest first; one whose heartbeat
/// is older than `lease` is gone.
pub(crate) struct Nodes {
    pub(crate) lease: Duration,
}

impl Op for Nodes {
    type Output = Vec<Node>;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Vec<Node>, StoreError> {
        let (now, lease) = (ctx.now, millis(self.lease));
        tx.rows(
            "SELECT n.id, n.host, n.version, n.started_at_ms, n.heartbeat_ms, n.stopped_at_ms,
                    (SELECT COUNT(*) FROM events e WHERE e.lease_owner = n.id AND e.lease_until_ms > 0 AND e.state = 'pending'),
                    (SELECT COUNT(*) FROM deliveries d WHERE d.lease_owner = n.id AND d.lease_until_ms > 0 AND d.state = 'pending')
             FROM nodes n ORDER BY n.started_at_ms, n.id",
            &[],
            |row: &dyn Row| {
                let heartbeat = row.int(4)?;
                let age = now.saturating_sub(heartbeat).max(0);
                let state = match row.opt_int(5)? {
                    Some(_) => "stopped",
                    None if age > lease => "gone",
                    None => "live",
                };
                Ok(Node {
                    id: row.text(0)?,
                    host: row.text(1)?,
                    version: row.text(2)?,
                    started_at_ms: row.int(3)?.max(0) as u64,
                    heartbeat_ms: heartbeat.max(0) as u64,
                    heartbeat_age_ms: age as u64,
                    state,
                    events_leased: row.int(6)?.max(0) as u64,
                    deliveries_leased: row.int(7)?.max(0) as u64,
                })
            },
        )
    }
}
