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

/// Rows one statement sets or deletes at most, and the smaller sizes a remainder is cut into:
/// a call's thousand writes are about forty statements, not a thousand round trips to the
/// database on the writer's connection.
const CHUNKS: [usize; 3] = [32, 8, 1];

/// `INSERT … VALUES` for `rows` keys of one plugin: `?1` is the plugin, `?2` the time, then
/// key, value and expiry per row.
fn set_sql(rows: usize) -> &'static str {
    static SQL: std::sync::LazyLock<[String; 3]> = std::sync::LazyLock::new(|| {
        CHUNKS.map(|rows| {
            let values: Vec<String> =
                (0..rows).map(|r| format!("(?1, ?{}, ?{}, ?{}, ?2)", 3 * r + 3, 3 * r + 4, 3 * r + 5)).collect();
            format!(
                "INSERT INTO kv (plugin, key, value, expires_at_ms, updated_at_ms) VALUES {}
                 ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value,
                   expires_at_ms = excluded.expires_at_ms, updated_at_ms = excluded.updated_at_ms",
                values.join(", ")
            )
        })
    });
    let i = CHUNKS.iter().position(|n| *n == rows).unwrap_or(CHUNKS.len() - 1);
    &SQL[i]
}

/// `DELETE` of `rows` keys of one plugin: `?1` is the plugin, then the keys.
fn delete_sql(rows: usize) -> &'static str {
    static SQL: std::sync::LazyLock<[String; 3]> = std::sync::LazyLock::new(|| {
        CHUNKS.map(|rows| {
            let keys: Vec<String> = (0..rows).map(|r| format!("?{}", r + 2)).collect();
            format!("DELETE FROM kv WHERE plugin = ?1 AND key IN ({})", keys.join(", "))
        })
    });
    let i = CHUNKS.iter().position(|n| *n == rows).unwrap_or(CHUNKS.len() - 1);
    &SQL[i]
}

/// Cuts `items` into runs of the sizes in [`CHUNKS`], largest first.
fn chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = CHUNKS.iter().copied().find(|n| *n <= items.len())?;
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}

/// Applies the writes of an event's calls, in order. A call's writes are one per key (the
/// plugin runtime collapses them), so within a run of writes to distinct keys order does not
/// matter, and their sets and deletes go many keys to a statement; a key written again (by the
/// next call of the same plugin) starts the next run.
pub(super) fn apply(tx: &mut dyn Tx, writes: &[KvWrite], now: i64) -> Result<(), StoreError> {
    let mut start = 0;
    let mut seen = std::collections::HashSet::new();
    for (i, w) in writes.iter().enumerate() {
        if !seen.insert((&w.plugin, &w.key)) {
            apply_distinct(tx, &writes[start..i], now)?;
            (start, seen) = (i, std::collections::HashSet::from([(&w.plugin, &w.key)]));
        }
    }
    apply_distinct(tx, &writes[start..], now)
}

/// Applies writes to distinct keys.
fn apply_distinct(tx: &mut dyn Tx, writes: &[KvWrite], now: i64) -> Result<(), StoreError> {
    let mut sets: Vec<(&KvWrite, &[u8], i64)> = Vec::new();
    let mut deletes: Vec<&KvWrite> = Vec::new();
    for w in writes {
        match &w.op {
            KvOp::Set { value, ttl_ms } => {
                let expires = ttl_ms.map_or(0, |ttl| now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)));
                sets.push((w, value, expires));
            }
            KvOp::Delete => deletes.push(w),
            KvOp::Add(delta) => add(tx, &w.plugin, &w.key, *delta, now)?,
        }
    }
    // A statement names one plugin.
    sets.sort_by(|a, b| a.0.plugin.cmp(&b.0.plugin));
    for same in sets.chunk_by(|a, b| a.0.plugin == b.0.plugin) {
        for chunk in chunks(same) {
            let mut args: Vec<Arg> = vec![(&chunk[0].0.plugin).into(), now.into()];
            for (w, value, expires) in chunk {
                args.extend([Arg::from(&w.key), Arg::Blob(value), Arg::Int(*expires)]);
            }
            tx.execute(set_sql(chunk.len()), &args)?;
        }
    }
    deletes.sort_by(|a, b| a.plugin.cmp(&b.plugin));
    for same in deletes.chunk_by(|a, b| a.plugin == b.plugin) {
        for chunk in chunks(same) {
            let mut args: Vec<Arg> = vec![(&chunk[0].plugin).into()];
            args.extend(chunk.iter().map(|w| Arg::from(&w.key)));
            tx.execute(delete_sql(chunk.len()), &args)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_cut_into_statements_of_32_8_and_1_keys() {
        let sizes = |n: usize| chunks(&vec![0; n]).map(<[i32]>::len).collect::<Vec<_>>();
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(43), vec![32, 8, 1, 1, 1]);
        assert_eq!(sizes(1000).len(), 32, "31 of 32 keys and one of 8");
        assert!(set_sql(32).contains("?98, ?2)") && !set_sql(32).contains("?99"));
        assert!(delete_sql(8).ends_with("IN (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
        assert_eq!(set_sql(1).matches("(?1,").count(), 1);
    }
}
