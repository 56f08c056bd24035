//! Plugins' key–value state: reading it during a call, applying a call's writes with the
//! event's outcome (`apply`, from `FinishEvent`), and what operators look at and delete.
//!
//! A key holds bytes; `increment` keeps a decimal integer's text. A row whose `expires_at_ms`
//! has passed reads as absent. Increments from events finished at the same time add up: the
//! row is locked (`{for_update}`) between reading and writing it, so two gateways on one
//! PostgreSQL cannot lose one. This file never decides what a plugin may do: caps are checked
//! by the plugin runtime before a write is accepted.

use super::super::sql::{Arg, Ctx, Row, Tx};
use super::super::writer::Op;
use super::super::{KvEntry, KvOp, KvWrite, StoreError};

/// Keys listed at most by one read.
pub const MAX_LIST: u32 = 1000;

fn live_value(row: &dyn Row) -> Result<Vec<u8>, StoreError> {
    row.blob(0)
}

/// The value under (`plugin`, `key`), unless absent or expired.
pub(crate) struct KvGet {
    pub(crate) plugin: String,
    pub(crate) key: String,
}

impl Op for KvGet {
    type Output = Option<Vec<u8>>;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Option<Vec<u8>>, StoreError> {
        tx.row(
            "SELECT value FROM kv WHERE plugin = ?1 AND key = ?2 AND (expires_at_ms = 0 OR expires_at_ms > ?3)",
            &[(&self.plugin).into(), (&self.key).into(), ctx.now.into()],
            live_value,
        )
    }
}

/// Keys (with their values) of `plugin` that start with `prefix`, in byte order.
pub(crate) struct KvList {
    pub(crate) plugin: String,
    pub(crate) prefix: String,
    pub(crate) limit: u32,
}

impl Op for KvList {
    type Output = Vec<KvEntry>;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Vec<KvEntry>, StoreError> {
        tx.rows(
            "SELECT key, value, expires_at_ms, updated_at_ms FROM kv
             WHERE plugin = ?1 AND key >= ?2 AND substr(key, 1, length(?2)) = ?2
               AND (expires_at_ms = 0 OR expires_at_ms > ?3)
             ORDER BY key LIMIT ?4",
            &[
                (&self.plugin).into(),
                (&self.prefix).into(),
                ctx.now.into(),
                Arg::Int(i64::from(self.limit.min(MAX_LIST))),
            ],
            |row| {
                let expires = row.int(2)?;
                Ok(KvEntry {
                    key: row.text(0)?,
                    value: row.blob(1)?,
                    expires_at_ms: (expires > 0).then_some(expires as u64),
                    updated_at_ms: row.int(3)?.max(0) as u64,
                })
            },
        )
    }
}

/// How many live keys `plugin` holds.
pub(crate) struct KvCount {
    pub(crate) plugin: String,
}

impl Op for KvCount {
    type Output = u64;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<u64, StoreError> {
        let n = tx.row(
            "SELECT COUNT(*) FROM kv WHERE plugin = ?1 AND (expires_at_ms = 0 OR expires_at_ms > ?2)",
            &[(&self.plugin).into(), ctx.now.into()],
            |row| row.int(0),
        )?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }
}

/// Deletes one key, for an operator; says whether it existed.
pub(crate) struct KvDelete {
    pub(crate) plugin: String,
    pub(crate) key: String,
}

impl Op for KvDelete {
    type Output = bool;

    fn run(&mut self, tx: &mut dyn Tx, _ctx: &Ctx) -> Result<bool, StoreError> {
        let n =
            tx.execute("DELETE FROM kv WHERE plugin = ?1 AND key = ?2", &[(&self.plugin).into(), (&self.key).into()])?;
        Ok(n > 0)
    }
}

/// Applies a call's writes, in the order the plugin made them.
pub(super) fn apply(tx: &mut dyn Tx, writes: &[KvWrite], now: i64) -> Result<(), StoreError> {
    for w in writes {
        let (plugin, key): (Arg, Arg) = ((&w.plugin).into(), (&w.key).into());
        match &w.op {
            KvOp::Set { value, ttl_ms } => {
                let expires = ttl_ms.map_or(0, |ttl| now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)));
                tx.execute(
                    "INSERT INTO kv (plugin, key, value, expires_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value,
                       expires_at_ms = excluded.expires_at_ms, updated_at_ms = excluded.updated_at_ms",
                    &[plugin, key, (&value[..]).into(), expires.into(), now.into()],
                )?;
            }
            KvOp::Delete => {
                tx.execute("DELETE FROM kv WHERE plugin = ?1 AND key = ?2", &[plugin, key])?;
            }
            KvOp::Add(delta) => add(tx, &w.plugin, &w.key, *delta, now)?,
        }
    }
    Ok(())
}

/// Adds `delta` to the integer under the key, the row locked from read to write.
fn add(tx: &mut dyn Tx, plugin: &str, key: &str, delta: i64, now: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO kv (plugin, key, value, expires_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, 0, ?4)
         ON CONFLICT (plugin, key) DO NOTHING",
        &[plugin.into(), key.into(), Arg::Blob(b"0"), now.into()],
    )?;
    let current = tx.row(
        "SELECT value, expires_at_ms FROM kv WHERE plugin = ?1 AND key = ?2 {for_update}",
        &[plugin.into(), key.into()],
        |row| Ok((row.blob(0)?, row.int(1)?)),
    )?;
    let (value, expires) = current.unwrap_or_default();
    let expired = expires > 0 && expires <= now;
    let base =
        if expired { Some(0) } else { std::str::from_utf8(&value).ok().and_then(|t| t.trim().parse::<i64>().ok()) };
    let base = base.unwrap_or_else(|| {
        tracing::warn!(plugin, key = %crate::telemetry::Escaped(key), "kv increment of a value that is not a number; counting from 0");
        0
    });
    let sum = base.saturating_add(delta).to_string();
    let expires = if expired { 0 } else { expires };
    tx.execute(
        "UPDATE kv SET value = ?3, expires_at_ms = ?4, updated_at_ms = ?5 WHERE plugin = ?1 AND key = ?2",
        &[plugin.into(), key.into(), Arg::Blob(sum.as_bytes()), expires.into(), now.into()],
    )?;
    Ok(())
}

/// Deletes expired keys (prune).
pub(super) fn prune_expired(tx: &mut dyn Tx, now: i64) -> Result<u64, StoreError> {
    tx.execute("DELETE FROM kv WHERE expires_at_ms > 0 AND expires_at_ms <= ?1", &[now.into()])
}
