//! A plugin's key–value state during one call: reads go through to the store (or, for
//! `plugin run`, to a map in memory), writes are kept here and handed back with the call's
//! outcome, to be committed with the event's (`queue::KvWrite`). A call that fails leaves
//! nothing behind.
//!
//! Reads see the committed value with this call's own writes on top. Writes are kept collapsed,
//! one per key: the last `set` or `delete` of a key wins and its `increment`s add up, so a call
//! that writes one key 20,000 times holds one value, and its commit writes one row. Caps are
//! checked when a write is made: `kv_max_value` bytes per value, `kv_max_keys` keys per plugin
//! (counted when a call creates a key; events handled at the same time can overshoot by the
//! keys they create together), and per call `kv_max_writes` keys written and `kv_max_pending`
//! bytes held. A call past either of the last two gets a kv error, and fails as a whole when it
//! returns (`finish`), whatever it made of the error: what one event commits stays small, so
//! its commit never holds the store's one writer for long. This file never writes to the store
//! itself.

use super::bindings::v2::switchyard::plugin::kv as kv2;
use super::bindings::v3::switchyard::plugin::kv::{self, Error};
use super::host::HostState;
use crate::queue::{KV_MAX_LIST, KvOp, KvWrite, Store};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

type Reading<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// Where committed values are read from, for one plugin.
pub trait KvReader: Send + Sync {
    fn get<'a>(&'a self, key: &'a str) -> Reading<'a, Option<Vec<u8>>>;
    fn list<'a>(&'a self, prefix: &'a str, limit: u32) -> Reading<'a, Vec<String>>;
    fn count(&self) -> Reading<'_, u64>;
}

/// A plugin's state in the gateway's store.
pub struct StoreKv {
    pub store: Store,
    pub plugin: String,
}

impl KvReader for StoreKv {
    fn get<'a>(&'a self, key: &'a str) -> Reading<'a, Option<Vec<u8>>> {
        Box::pin(async move { self.store.kv_get(&self.plugin, key).await.map_err(|e| e.to_string()) })
    }

    fn list<'a>(&'a self, prefix: &'a str, limit: u32) -> Reading<'a, Vec<String>> {
        Box::pin(async move {
            let entries = self.store.kv_list(&self.plugin, prefix, limit).await.map_err(|e| e.to_string())?;
            Ok(entries.into_iter().map(|e| e.key).collect())
        })
    }

    fn count(&self) -> Reading<'_, u64> {
        Box::pin(async move { self.store.kv_count(&self.plugin).await.map_err(|e| e.to_string()) })
    }
}

/// A plugin's state in memory (`switchyard plugin run --kv FILE`).
#[derive(Debug, Default)]
pub struct MemoryKv(pub BTreeMap<String, Vec<u8>>);

impl KvReader for MemoryKv {
    fn get<'a>(&'a self, key: &'a str) -> Reading<'a, Option<Vec<u8>>> {
        Box::pin(async move { Ok(self.0.get(key).cloned()) })
    }

    fn list<'a>(&'a self, prefix: &'a str, limit: u32) -> Reading<'a, Vec<String>> {
        let keys = self.0.keys().filter(|k| k.starts_with(prefix)).take(limit as usize).cloned().collect();
        Box::pin(async move { Ok(keys) })
    }

    fn count(&self) -> Reading<'_, u64> {
        let n = self.0.len() as u64;
        Box::pin(async move { Ok(n) })
    }
}

/// The caps a plugin's writes are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvLimits {
    /// Bytes of one value.
    pub max_value: u64,
    /// Keys the plugin keeps in all.
    pub max_keys: u64,
    /// Keys one call writes (set, delete or increment), each counted once.
    pub max_writes: u64,
    /// Bytes one call's writes hold until its commit: keys and values.
    pub max_pending: u64,
}

/// What an increment's pending sum counts for against `max_pending`, besides its key.
const ADDED_BYTES: u64 = 8;

/// What this call did to a key so far.
#[derive(Debug, Clone)]
enum Pending {
    Set {
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    },
    Deleted,
    /// Added to whatever is committed.
    Added(i64),
}

impl Pending {
    /// Bytes this write holds until the commit, with its key.
    fn bytes(&self, key: &str) -> u64 {
        let held = match self {
            Pending::Set { value, .. } => value.len() as u64,
            Pending::Deleted => 0,
            Pending::Added(_) => ADDED_BYTES,
        };
        key.len() as u64 + held
    }

    fn into_op(self) -> KvOp {
        match self {
            Pending::Set { value, ttl_ms } => KvOp::Set { value, ttl_ms },
            Pending::Deleted => KvOp::Delete,
            Pending::Added(delta) => KvOp::Add(delta),
        }
    }
}

/// One call's view of its plugin's state.
pub struct KvSession {
    plugin: Arc<str>,
    reader: Option<Arc<dyn KvReader>>,
    limits: KvLimits,
    /// This call's writes, one per key, committed in key order.
    pending: BTreeMap<String, Pending>,
    /// Bytes `pending` holds (`Pending::bytes`).
    pending_bytes: u64,
    /// Why a write passed `max_writes` or `max_pending`: the call fails with it.
    overflow: Option<String>,
    /// The plugin's committed keys, counted once per call when a key is first created.
    committed_keys: Option<u64>,
}

impl KvSession {
    pub fn new(plugin: Arc<str>, reader: Option<Arc<dyn KvReader>>, limits: KvLimits) -> Self {
        Self {
            plugin,
            reader,
            limits,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            overflow: None,
            committed_keys: None,
        }
    }

    /// A session of no call (what a kept instance holds between events).
    pub fn idle() -> Self {
        Self::new("".into(), None, KvLimits { max_value: 0, max_keys: 0, max_writes: 0, max_pending: 0 })
    }

    /// Awaits a read of the store.
    async fn read<T>(&self, read: Reading<'_, T>) -> Result<T, Error> {
        read.await.map_err(Error::Unavailable)
    }

    /// The writes to commit with the event's outcome, one per key in key order; or, when a
    /// write passed `kv_max_writes` or `kv_max_pending`, why the call fails.
    pub fn finish(self) -> Result<Vec<KvWrite>, String> {
        if let Some(why) = self.overflow {
            return Err(why);
        }
        let plugin = self.plugin.to_string();
        Ok(self.pending.into_iter().map(|(key, p)| KvWrite { plugin: plugin.clone(), key, op: p.into_op() }).collect())
    }

    /// Keeps `next` as this call's write of `key`, unless it would take the call past
    /// `max_writes` keys or `max_pending` bytes: then nothing is kept, the guest gets an
    /// error, and the call is marked to fail.
    fn put(&mut self, key: String, next: Pending) -> Result<(), Error> {
        let replaced = self.pending.get(&key).map(|p| p.bytes(&key));
        let bytes = self.pending_bytes - replaced.unwrap_or(0) + next.bytes(&key);
        let keys = self.pending.len() as u64 + u64::from(replaced.is_none());
        let (refusal, why) = if keys > self.limits.max_writes {
            let max = self.limits.max_writes;
            (Error::TooManyKeys(max), format!("kv: the call wrote more than kv_max_writes = {max} keys"))
        } else if bytes > self.limits.max_pending {
            let max = self.limits.max_pending;
            (Error::ValueTooLarge(max), format!("kv: the call's writes held more than kv_max_pending = {max} bytes"))
        } else {
            self.pending_bytes = bytes;
            self.pending.insert(key, next);
            return Ok(());
        };
        self.overflow.get_or_insert(why);
        Err(refusal)
    }

    fn reader(&self) -> Result<&Arc<dyn KvReader>, Error> {
        self.reader.as_ref().ok_or_else(|| Error::Unavailable("no store is attached to this call".into()))
    }

    async fn committed(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.read(self.reader()?.get(key)).await
    }

    /// The value as this call sees it.
    async fn value(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        match self.pending.get(key) {
            Some(Pending::Set { value, .. }) => Ok(Some(value.clone())),
            Some(Pending::Deleted) => Ok(None),
            Some(Pending::Added(delta)) => {
                let base = number(self.committed(key).await?.as_deref())?;
                Ok(Some(base.saturating_add(*delta).to_string().into_bytes()))
            }
            None => self.committed(key).await,
        }
    }

    /// Refuses a write that would create a key past `max_keys`.
    async fn check_room(&mut self, key: &str) -> Result<(), Error> {
        if self.exists(key).await? {
            return Ok(());
        }
        let new_here = self.pending.iter().filter(|(k, p)| !matches!(p, Pending::Deleted) && k.as_str() != key).count();
        let committed = match self.committed_keys {
            Some(n) => n,
            None => *self.committed_keys.insert(self.read(self.reader()?.count()).await?),
        };
        if committed + new_here as u64 >= self.limits.max_keys {
            return Err(Error::TooManyKeys(self.limits.max_keys));
        }
        Ok(())
    }

    /// Whether the key holds a value as this call sees it (without copying the value).
    async fn exists(&self, key: &str) -> Result<bool, Error> {
        match self.pending.get(key) {
            Some(Pending::Deleted) => Ok(false),
            Some(_) => Ok(true),
            None => Ok(self.committed(key).await?.is_some()),
        }
    }

    pub async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, Error> {
        check_key(&key)?;
        self.value(&key).await
    }

    pub async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), Error> {
        check_key(&key)?;
        if value.len() as u64 > self.limits.max_value {
            return Err(Error::ValueTooLarge(self.limits.max_value));
        }
        self.check_room(&key).await?;
        self.put(key, Pending::Set { value, ttl_ms })
    }

    pub async fn delete(&mut self, key: String) -> Result<(), Error> {
        check_key(&key)?;
        self.put(key, Pending::Deleted)
    }

    pub async fn increment(&mut self, key: String, delta: i64) -> Result<i64, Error> {
        check_key(&key)?;
        let current = self.value(&key).await?;
        let sum = number(current.as_deref())?.saturating_add(delta);
        if current.is_none() {
            self.check_room(&key).await?;
        }
        let next = match self.pending.get(&key) {
            Some(Pending::Set { ttl_ms, .. }) => Pending::Set { value: sum.to_string().into_bytes(), ttl_ms: *ttl_ms },
            Some(Pending::Deleted) => Pending::Set { value: sum.to_string().into_bytes(), ttl_ms: None },
            Some(Pending::Added(d)) => Pending::Added(d.saturating_add(delta)),
            None => Pending::Added(delta),
        };
        self.put(key, next)?;
        Ok(sum)
    }

    pub async fn list(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, Error> {
        let limit = limit.min(KV_MAX_LIST);
        let wanted = limit.saturating_add(self.pending.len() as u32);
        let mut keys: std::collections::BTreeSet<String> =
            self.read(self.reader()?.list(&prefix, wanted)).await?.into_iter().collect();
        for (key, pending) in self.pending.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)) {
            match pending {
                Pending::Deleted => keys.remove(key),
                _ => keys.insert(key.clone()),
            };
        }
        Ok(keys.into_iter().take(limit as usize).collect())
    }
}

/// A key is 1 to [`MAX_KEY_BYTES`] bytes without NUL: PostgreSQL's text cannot hold NUL, and a
/// key must mean the same on every store.
fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.contains('\0') { Err(Error::InvalidKey) } else { Ok(()) }
}

/// A value read as the integer `increment` keeps: absent is 0.
fn number(value: Option<&[u8]>) -> Result<i64, Error> {
    match value {
        None => Ok(0),
        Some(bytes) => std::str::from_utf8(bytes).ok().and_then(|t| t.trim().parse().ok()).ok_or(Error::NotANumber),
    }
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, Error> {
        self.call.kv.get(key).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), Error> {
        self.call.kv.set(key, value, ttl_ms).await
    }

    async fn delete(&mut self, key: String) -> Result<(), Error> {
        self.call.kv.delete(key).await
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, Error> {
        self.call.kv.increment(key, delta).await
    }

    async fn keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, Error> {
        self.call.kv.list(prefix, limit).await
    }
}

/// 0.2.0's `kv` is 0.3.0's under another name.
impl kv2::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, kv2::Error> {
        self.call.kv.get(key).await.map_err(to_v2)
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), kv2::Error> {
        self.call.kv.set(key, value, ttl_ms).await.map_err(to_v2)
    }

    async fn delete(&mut self, key: String) -> Result<(), kv2::Error> {
        self.call.kv.delete(key).await.map_err(to_v2)
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, kv2::Error> {
        self.call.kv.increment(key, delta).await.map_err(to_v2)
    }

    async fn keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, kv2::Error> {
        self.call.kv.list(prefix, limit).await.map_err(to_v2)
    }
}

fn to_v2(e: Error) -> kv2::Error {
    match e {
        Error::ValueTooLarge(n) => kv2::Error::ValueTooLarge(n),
        Error::TooManyKeys(n) => kv2::Error::TooManyKeys(n),
        Error::InvalidKey => kv2::Error::InvalidKey,
        Error::NotANumber => kv2::Error::NotANumber,
        Error::Unavailable(why) => kv2::Error::Unavailable(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(committed: &[(&str, &str)], limits: KvLimits) -> KvSession {
        let map = committed.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
        KvSession::new("p".into(), Some(Arc::new(MemoryKv(map))), limits)
    }

    const ROOMY: KvLimits = KvLimits { max_value: 16, max_keys: 3, max_writes: 100, max_pending: 1 << 20 };

    fn ops(kv: KvSession) -> Vec<(String, KvOp)> {
        kv.finish().unwrap().into_iter().map(|w| (w.key, w.op)).collect()
    }

    #[tokio::test]
    async fn reads_see_committed_values_with_the_calls_own_writes_on_top() {
        let mut kv = session(&[("a", "1"), ("n", "5")], ROOMY);
        assert_eq!(kv.get("a".into()).await, Ok(Some(b"1".to_vec())));
        assert_eq!(kv.set("a".into(), b"2".to_vec(), None).await, Ok(()));
        assert_eq!(kv.get("a".into()).await, Ok(Some(b"2".to_vec())));
        assert_eq!(kv.increment("n".into(), 2).await, Ok(7));
        assert_eq!(kv.increment("n".into(), 3).await, Ok(10));
        assert_eq!(kv.get("n".into()).await, Ok(Some(b"10".to_vec())));
        assert_eq!(kv.delete("a".into()).await, Ok(()));
        assert_eq!(kv.get("a".into()).await, Ok(None));
        assert_eq!(kv.list(String::new(), 10).await, Ok(vec!["n".to_string()]));
        assert_eq!(ops(kv), vec![("a".into(), KvOp::Delete), ("n".into(), KvOp::Add(5))]);
    }

    #[tokio::test]
    async fn writes_to_one_key_collapse_into_the_last_set_or_delete_and_the_sum_of_increments() {
        let mut kv = session(&[("n", "5")], KvLimits { max_keys: 100, ..ROOMY });
        for i in 0..20_000u32 {
            assert_eq!(kv.set("same".into(), i.to_string().into_bytes(), None).await, Ok(()));
        }
        assert_eq!(kv.set("gone".into(), b"x".to_vec(), Some(10)).await, Ok(()));
        assert_eq!(kv.delete("gone".into()).await, Ok(()));
        assert_eq!(kv.delete("back".into()).await, Ok(()));
        assert_eq!(kv.increment("back".into(), 4).await, Ok(4));
        assert_eq!(kv.set("t".into(), b"1".to_vec(), Some(60_000)).await, Ok(()));
        assert_eq!(kv.increment("t".into(), 1).await, Ok(2));
        assert_eq!(kv.increment("n".into(), 1).await, Ok(6));
        assert_eq!(kv.increment("n".into(), -3).await, Ok(3));
        assert_eq!(
            ops(kv),
            vec![
                ("back".into(), KvOp::Set { value: b"4".to_vec(), ttl_ms: None }),
                ("gone".into(), KvOp::Delete),
                ("n".into(), KvOp::Add(-2)),
                ("same".into(), KvOp::Set { value: b"19999".to_vec(), ttl_ms: None }),
                ("t".into(), KvOp::Set { value: b"2".to_vec(), ttl_ms: Some(60_000) }),
            ]
        );
    }

    #[tokio::test]
    async fn a_call_past_max_writes_gets_an_error_and_fails_whatever_it_does_next() {
        let limits = KvLimits { max_writes: 2, ..ROOMY };
        let mut kv = session(&[], KvLimits { max_keys: 100, ..limits });
        assert_eq!(kv.set("a".into(), b"1".to_vec(), None).await, Ok(()));
        assert_eq!(kv.increment("b".into(), 1).await, Ok(1));
        assert_eq!(kv.set("a".into(), b"2".to_vec(), None).await, Ok(()), "a key already written counts once");
        assert_eq!(kv.delete("c".into()).await, Err(Error::TooManyKeys(2)));
        assert_eq!(kv.get("c".into()).await, Ok(None), "the refused write was not kept");
        assert_eq!(kv.finish().map(|w| w.len()), Err("kv: the call wrote more than kv_max_writes = 2 keys".into()));
    }

    #[tokio::test]
    async fn a_call_past_max_pending_bytes_gets_an_error_and_fails() {
        let mut kv = session(&[], KvLimits { max_value: 64, max_pending: 100, ..ROOMY });
        assert_eq!(kv.set("a".into(), vec![0; 60], None).await, Ok(()));
        assert_eq!(kv.set("a".into(), vec![1; 64], None).await, Ok(()), "a replaced value no longer counts");
        assert_eq!(kv.set("b".into(), vec![2; 40], None).await, Err(Error::ValueTooLarge(100)));
        assert_eq!(kv.get("b".into()).await, Ok(None));
        assert!(kv.finish().is_err_and(|why| why.contains("kv_max_pending = 100")));
    }

    #[tokio::test]
    async fn caps_and_bad_keys_are_refused_without_a_write() {
        let mut kv = session(&[("a", "x"), ("b", "y")], ROOMY);
        assert_eq!(kv.set("c".into(), vec![0; 17], None).await, Err(Error::ValueTooLarge(16)));
        assert_eq!(kv.set("c".into(), b"ok".to_vec(), None).await, Ok(()));
        assert_eq!(kv.set("d".into(), b"no".to_vec(), None).await, Err(Error::TooManyKeys(3)));
        assert_eq!(kv.set("a".into(), b"replacing is fine".to_vec()[..5].to_vec(), None).await, Ok(()));
        assert_eq!(kv.increment("a".into(), 1).await, Err(Error::NotANumber));
        assert_eq!(kv.get(String::new()).await, Err(Error::InvalidKey));
        assert_eq!(kv.set("a\0b".into(), b"nul".to_vec(), None).await, Err(Error::InvalidKey));
        assert_eq!(kv.get("a\0b".into()).await, Err(Error::InvalidKey));
        assert_eq!(kv.finish().map(|w| w.len()), Ok(2), "caps and refused keys do not fail the call");
    }

    #[tokio::test]
    async fn without_a_store_reads_are_unavailable() {
        let mut kv = KvSession::new("p".into(), None, ROOMY);
        assert!(matches!(kv.get("a".into()).await, Err(Error::Unavailable(_))));
    }
}
