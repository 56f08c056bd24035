//! What the store's operations need from a database, so each operation is written once for
//! both backends: statements with `?1`-style placeholders run in the batch's transaction, rows
//! read by column index, and the one place the SQL of SQLite and PostgreSQL differs.
//!
//! The dialect is small on purpose. Both databases take the same `INSERT … ON CONFLICT`,
//! `UPDATE … RETURNING` and `UNION ALL … ORDER BY` text; what differs is spelled once here:
//! placeholders (`?1` stays for SQLite, becomes `$1` for PostgreSQL) and row locks
//! (`{skip_locked}` is `FOR UPDATE SKIP LOCKED` on PostgreSQL, nothing on SQLite, whose one
//! writer never races another). "Now" and the longest lease come from the backend in [`Ctx`].
//! This file never names a table.

use super::StoreError;
use std::time::Duration;

/// One value bound to a statement. Integers adapt to the column's width (PostgreSQL's
/// SMALLINT, INTEGER, BIGINT); text with NUL bytes is stored with U+FFFD on PostgreSQL, whose
/// text type cannot hold NUL.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
    Null,
}

impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Int(n)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(s)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(s)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(b: &'a [u8]) -> Self {
        Arg::Blob(b)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Arg::Null, Arg::Text)
    }
}

/// One row of a result, read by column index.
pub(crate) trait Row {
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError>;
}

/// A transaction that is open on the backend's connection.
pub(crate) trait Tx {
    /// Runs `sql`; returns how many rows it changed.
    fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
    /// Runs `sql`, calling `each` with every row it returns.
    fn query(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

impl dyn Tx + '_ {
    /// Every row `sql` returns, mapped by `f`.
    pub(crate) fn rows<T>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        f: impl Fn(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.query(sql, args, &mut |row| {
            out.push(f(row)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row `sql` returns, mapped by `f`, or `None`.
    pub(crate) fn row<T>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        f: impl Fn(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut out = None;
        self.query(sql, args, &mut |row| {
            if out.is_none() {
                out = Some(f(row)?);
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// What a batch runs with besides its transaction.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The backend's clock, read once per batch (on PostgreSQL, the database's, so every
    /// gateway agrees), in Unix milliseconds.
    pub now: i64,
    /// The longest lease this backend grants, whatever a loop asks: leases on a shared
    /// database must expire for another gateway to take over work.
    pub max_event_lease: Duration,
    pub max_delivery_lease: Duration,
    /// This gateway's node id: the holder every lease it takes names.
    pub node: std::sync::Arc<str>,
    /// Whether other gateways may share the database: then leases expire unless renewed.
    pub shared: bool,
}

impl Ctx {
    /// `now` plus `lease`, capped at `cap`, in Unix milliseconds.
    pub(crate) fn until(&self, lease: Duration, cap: Duration) -> i64 {
        self.now.saturating_add(super::millis(lease.min(cap)))
    }
}

/// Whether a batch's transaction is to be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Commit,
    Rollback,
}

/// A database the writer thread runs batches on.
pub(crate) trait Backend: Send + 'static {
    /// The batch's clock and lease caps; also the batch's first contact with the database, so
    /// a dropped connection is re-opened here.
    fn ctx(&mut self) -> Result<Ctx, StoreError>;
    /// Opens a transaction, runs `body` in it, and commits or rolls back as it says. Says whether
    /// a committed transaction changed any row: only such a commit proves the database writes
    /// (on a full disk, a transaction that changed nothing still commits).
    fn transaction(&mut self, body: &mut dyn FnMut(&mut dyn Tx) -> Flow) -> Result<bool, StoreError>;
    /// A check between batches, at most every few hundred milliseconds: `Err` when the
    /// database can no longer be written (its file was deleted or replaced, its disk is full).
    fn check(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// `?1`-style SQL as PostgreSQL takes it: `$1`, and `{skip_locked}` spelled out.
pub(crate) fn for_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out.replace("{skip_locked}", "FOR UPDATE SKIP LOCKED").replace("{for_update}", "FOR UPDATE")
}

/// `?1`-style SQL as SQLite takes it: the row-lock markers are nothing. Most statements have
/// no marker and are used as they are.
pub(crate) fn for_sqlite(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.contains('{') { sql.replace("{skip_locked}", "").replace("{for_update}", "").into() } else { sql.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_row_locks_are_spelled_per_database() {
        let sql = "SELECT id FROM t WHERE a = ?1 AND b = ?12 LIMIT ?2 {skip_locked}";
        assert_eq!(for_postgres(sql), "SELECT id FROM t WHERE a = $1 AND b = $12 LIMIT $2 FOR UPDATE SKIP LOCKED");
        assert_eq!(for_sqlite(sql), "SELECT id FROM t WHERE a = ?1 AND b = ?12 LIMIT ?2 ");
    }
}
