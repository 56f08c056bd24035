//! A plugin's key–value state during one call: reads go through to the store (or, for
//! `plugin run`, to a map in memory), writes are kept here and handed back with the call's
//! outcome, to be committed with the event's (`queue::KvWrite`). A call that fails leaves
//! nothing behind.
//!
//! Reads see the committed value with this call's own writes on top. Caps are checked when a
//! write is made: `kv_max_value` bytes per value, `kv_max_keys` keys per plugin (counted when a
//! call creates a key; events handled at the same time can overshoot by the keys they create
//! together). This file never writes to the store itself.

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
    pub max_value: u64,
    pub max_keys: u64,
}

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

/// One call's view of its plugin's state.
pub struct KvSession {
    plugin: Arc<str>,
    reader: Option<Arc<dyn KvReader>>,
    limits: KvLimits,
    pending: BTreeMap<String, Pending>,
    /// Writes in the order they were made (replayed in that order at commit).
    writes: Vec<KvWrite>,
    /// Nanoseconds spent waiting for the store: not the plugin's compute.
    waited: std::sync::atomic::AtomicU64,
}

impl KvSession {
    pub fn new(plugin: Arc<str>, reader: Option<Arc<dyn KvReader>>, limits: KvLimits) -> Self {
        Self { plugin, reader, limits, pending: BTreeMap::new(), writes: Vec::new(), waited: Default::default() }
    }

    /// A session of no call (what a kept instance holds between events).
    pub fn idle() -> Self {
        Self::new("".into(), None, KvLimits { max_value: 0, max_keys: 0 })
    }

    /// Time this call spent waiting for the store.
    pub fn waited(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.waited.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Awaits a read, counting the wait.
    async fn timed<T>(&self, read: Reading<'_, T>) -> Result<T, Error> {
        let started = std::time::Instant::now();
        let result = read.await.map_err(Error::Unavailable);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.waited.fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// The writes to commit with the event's outcome.
    pub fn into_writes(self) -> Vec<KvWrite> {
        self.writes
    }

    fn reader(&self) -> Result<&Arc<dyn KvReader>, Error> {
        self.reader.as_ref().ok_or_else(|| Error::Unavailable("no store is attached to this call".into()))
    }

    async fn committed(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.timed(self.reader()?.get(key)).await
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
    async fn check_room(&self, key: &str) -> Result<(), Error> {
        if self.value(key).await?.is_some() {
            return Ok(());
        }
        let new_here = self.pending.iter().filter(|(k, p)| !matches!(p, Pending::Deleted) && k.as_str() != key).count();
        let committed = self.timed(self.reader()?.count()).await?;
        if committed + new_here as u64 >= self.limits.max_keys {
            return Err(Error::TooManyKeys(self.limits.max_keys));
        }
        Ok(())
    }

    fn record(&mut self, key: String, op: KvOp) {
        self.writes.push(KvWrite { plugin: self.plugin.to_string(), key, op });
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
        self.pending.insert(key.clone(), Pending::Set { value: value.clone(), ttl_ms });
        self.record(key, KvOp::Set { value, ttl_ms });
        Ok(())
    }

    pub async fn delete(&mut self, key: String) -> Result<(), Error> {
        check_key(&key)?;
        self.pending.insert(key.clone(), Pending::Deleted);
        self.record(key, KvOp::Delete);
        Ok(())
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
        self.pending.insert(key.clone(), next);
        self.record(key, KvOp::Add(delta));
        Ok(sum)
    }

    pub async fn list(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, Error> {
        let limit = limit.min(KV_MAX_LIST);
        let wanted = limit.saturating_add(self.pending.len() as u32);
        let mut keys: std::collections::BTreeSet<String> =
            self.timed(self.reader()?.list(&prefix, wanted)).await?.into_iter().collect();
        for (key, pending) in self.pending.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)) {
            match pending {
                Pending::Deleted => keys.remove(key),
                _ => keys.insert(key.clone()),
            };
        }
        Ok(keys.into_iter().take(limit as usize).collect())
    }
}

fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES { Err(Error::InvalidKey) } else { Ok(()) }
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

    const ROOMY: KvLimits = KvLimits { max_value: 16, max_keys: 3 };

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
        let ops: Vec<KvOp> = kv.into_writes().into_iter().map(|w| w.op).collect();
        assert_eq!(
            ops,
            vec![KvOp::Set { value: b"2".to_vec(), ttl_ms: None }, KvOp::Add(2), KvOp::Add(3), KvOp::Delete,]
        );
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
        assert_eq!(kv.into_writes().len(), 2);
    }

    #[tokio::test]
    async fn without_a_store_reads_are_unavailable() {
        let mut kv = KvSession::new("p".into(), None, ROOMY);
        assert!(matches!(kv.get("a".into()).await, Err(Error::Unavailable(_))));
    }
}
