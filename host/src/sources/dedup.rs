//! Deduplication of inbound webhooks: the [`DedupStore`] contract and [`MemoryDedup`], a
//! bounded, time-windowed set of keys per source held in memory.
//!
//! Platforms deliver the same event more than once (retries after a lost 200, "system
//! hiccups", redelivery from a dashboard). The ingest router derives a [`DedupKey`] from the
//! provider's event id, or from a SHA-256 of the raw body when the provider gives none, claims
//! it here before the event is stored, and releases the claim if the event could not be stored
//! (so the platform's retry is processed). A key is a duplicate only within its source's
//! window.
//!
//! This module decides nothing about what an id is (that is each provider's job) and never
//! does I/O; the in-memory store must never grow past its capacity, whatever the traffic.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Keys [`MemoryDedup`] holds by default before it evicts the oldest. An entry costs about
/// 150 bytes (a 16-byte fingerprint, the first event's id, its time and its place in the
/// eviction order), so a full set is about 150 MB; below ~11 events/s a day's window fits.
pub const DEFAULT_CAPACITY: usize = 1_000_000;

/// What makes two deliveries "the same event" within one source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupKey {
    /// The source (`/hooks/{source}`) the event came in on: ids are only unique per platform.
    pub source: String,
    /// `id:<provider id>` or `sha256:<hex of the raw body>`; the prefixes keep the two apart.
    pub key: String,
}

impl DedupKey {
    /// The provider's id when it has one, else a hash of the exact body bytes.
    pub fn new(source: &str, event_id: Option<&str>, body: &[u8]) -> Self {
        let key = match event_id {
            Some(id) => format!("id:{id}"),
            None => format!("sha256:{}", hex::encode(Sha256::digest(body))),
        };
        Self { source: source.to_owned(), key }
    }
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Not seen within the window; the key now belongs to the claiming event.
    New,
    /// Seen within the window; `original` is the id of the event that claimed it first.
    Duplicate { original: String },
}

/// Why a store could not answer. The in-memory store never fails; a durable one may.
#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    /// The backing store is down or overloaded: ingest answers 503 so the platform retries.
    #[error("the dedup store is unavailable: {0}")]
    Unavailable(String),
}

/// A boxed future, so that the trait stays usable as `Arc<dyn DedupStore>`.
pub type DedupFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DedupError>> + Send + 'a>>;

/// Where dedup keys live. Asynchronous because a durable implementation (the SQLite or
/// PostgreSQL store, shared by several gateways) answers after a round trip.
pub trait DedupStore: Send + Sync + fmt::Debug {
    /// Claims `key` for `event_id` at `now_ms` (Unix milliseconds): [`Claim::New`] if the key
    /// was not claimed within `window` before `now_ms`, else [`Claim::Duplicate`].
    fn claim<'a>(
        &'a self,
        key: &'a DedupKey,
        event_id: &'a str,
        now_ms: u64,
        window: Duration,
    ) -> DedupFuture<'a, Claim>;

    /// Forgets `key` if `event_id` still holds it: that event was not acknowledged (the store
    /// was full), so the platform's retry must be processed rather than called a duplicate.
    fn release<'a>(&'a self, key: &'a DedupKey, event_id: &'a str) -> DedupFuture<'a, ()>;
}

/// A fixed-size digest of a key, so that memory per entry does not depend on the id's length.
/// 128 bits: among a million keys the chance of any collision is about 2^-88.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Fingerprint([u8; 16]);

impl Fingerprint {
    fn of(key: &DedupKey) -> Self {
        let mut hash = Sha256::new();
        hash.update(key.source.as_bytes());
        hash.update([0]);
        hash.update(key.key.as_bytes());
        let digest = hash.finalize();
        let mut out = [0; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out)
    }
}

/// The event that first claimed a key.
#[derive(Debug)]
struct Entry {
    event_id: Box<str>,
    seen_at_ms: u64,
    /// Matches the entry's record in `order`; a record whose `seq` differs is stale.
    seq: u64,
}

/// One claim in the order it was made: what eviction and expiry walk from the front.
#[derive(Debug)]
struct Record {
    fingerprint: Fingerprint,
    seq: u64,
    /// When the claim lapses under the window it was made with.
    expires_at_ms: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Fingerprint, Entry>,
    /// Oldest claim first. Holds at most `capacity` records, stale ones included, so both
    /// collections stay bounded even when claims are released or re-made.
    order: VecDeque<Record>,
    next_seq: u64,
}

impl Inner {
    /// Drops the front record, and its entry unless a later claim replaced it.
    fn pop_front(&mut self) {
        if let Some(record) = self.order.pop_front()
            && self.entries.get(&record.fingerprint).is_some_and(|e| e.seq == record.seq)
        {
            self.entries.remove(&record.fingerprint);
        }
    }

    /// Forgets claims that have lapsed. Windows differ per source, so a long-lived record at
    /// the front can keep shorter ones behind it in memory a while; lookups still check their
    /// age, and capacity still bounds them.
    fn expire(&mut self, now_ms: u64) {
        while self.order.front().is_some_and(|r| r.expires_at_ms <= now_ms) {
            self.pop_front();
        }
    }
}

/// The in-memory [`DedupStore`]: claims survive until their window ends, the capacity is
/// reached (oldest first), or the process exits.
#[derive(Debug)]
pub struct MemoryDedup {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Default for MemoryDedup {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl MemoryDedup {
    /// A store that holds at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), inner: Mutex::new(Inner::default()) }
    }

    /// How many keys are held now, lapsed ones not yet swept included.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A poisoned lock only means another claim panicked mid-way; every update leaves the
    /// maps consistent, so carrying on is safe.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The synchronous claim behind [`DedupStore::claim`].
    pub fn claim_now(&self, key: &DedupKey, event_id: &str, now_ms: u64, window: Duration) -> Claim {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let fingerprint = Fingerprint::of(key);
        let mut inner = self.lock();
        inner.expire(now_ms);
        if let Some(entry) = inner.entries.get(&fingerprint)
            && now_ms.saturating_sub(entry.seen_at_ms) < window_ms
        {
            return Claim::Duplicate { original: entry.event_id.to_string() };
        }
        while inner.order.len() >= self.capacity {
            inner.pop_front();
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.entries.insert(fingerprint, Entry { event_id: event_id.into(), seen_at_ms: now_ms, seq });
        inner.order.push_back(Record { fingerprint, seq, expires_at_ms: now_ms.saturating_add(window_ms) });
        Claim::New
    }

    /// The synchronous release behind [`DedupStore::release`].
    pub fn release_now(&self, key: &DedupKey, event_id: &str) {
        let fingerprint = Fingerprint::of(key);
        let mut inner = self.lock();
        if inner.entries.get(&fingerprint).is_some_and(|e| &*e.event_id == event_id) {
            inner.entries.remove(&fingerprint);
        }
    }
}

impl DedupStore for MemoryDedup {
    fn claim<'a>(
        &'a self,
        key: &'a DedupKey,
        event_id: &'a str,
        now_ms: u64,
        window: Duration,
    ) -> DedupFuture<'a, Claim> {
        Box::pin(std::future::ready(Ok(self.claim_now(key, event_id, now_ms, window))))
    }

    fn release<'a>(&'a self, key: &'a DedupKey, event_id: &'a str) -> DedupFuture<'a, ()> {
        self.release_now(key, event_id);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn key(source: &str, id: &str) -> DedupKey {
        DedupKey::new(source, Some(id), b"")
    }

    fn duplicate_of(id: &str) -> Claim {
        Claim::Duplicate { original: id.to_owned() }
    }

    #[test]
    fn a_key_claimed_twice_within_the_window_is_a_duplicate_of_the_first_event() {
        let dedup = MemoryDedup::default();
        assert_eq!(dedup.claim_now(&key("stripe", "evt_1"), "evt_a", 1_000, DAY), Claim::New);
        assert_eq!(dedup.claim_now(&key("stripe", "evt_1"), "evt_b", 2_000, DAY), duplicate_of("evt_a"));
    }

    #[test]
    fn the_window_is_obeyed_up_to_its_last_millisecond_and_violated_after() {
        let dedup = MemoryDedup::default();
        let window = Duration::from_secs(10);
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_a", 0, window), Claim::New);
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_b", 9_999, window), duplicate_of("evt_a"));
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_c", 10_000, window), Claim::New);
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_d", 10_001, window), duplicate_of("evt_c"));
    }

    #[test]
    fn the_same_id_on_two_sources_is_two_events() {
        let dedup = MemoryDedup::default();
        assert_eq!(dedup.claim_now(&key("shop-eu", "42"), "evt_a", 0, DAY), Claim::New);
        assert_eq!(dedup.claim_now(&key("shop-us", "42"), "evt_b", 0, DAY), Claim::New);
    }

    #[test]
    fn without_an_id_identical_bodies_are_duplicates_and_different_ones_are_not() {
        let dedup = MemoryDedup::default();
        let body = br#"{"type":"order.created"}"#;
        assert_eq!(dedup.claim_now(&DedupKey::new("bc", None, body), "evt_a", 0, DAY), Claim::New);
        assert_eq!(dedup.claim_now(&DedupKey::new("bc", None, body), "evt_b", 1, DAY), duplicate_of("evt_a"));
        let other = br#"{"type":"order.updated"}"#;
        assert_eq!(dedup.claim_now(&DedupKey::new("bc", None, other), "evt_c", 2, DAY), Claim::New);
    }

    #[test]
    fn an_id_that_looks_like_a_body_hash_does_not_collide_with_one() {
        let body = b"{}";
        let hashed = DedupKey::new("s", None, body);
        let id = hashed.key.trim_start_matches("sha256:").to_owned();
        assert_ne!(DedupKey::new("s", Some(&id), body), hashed);
    }

    #[test]
    fn a_released_claim_lets_the_retry_through() {
        let dedup = MemoryDedup::default();
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_a", 0, DAY), Claim::New);
        dedup.release_now(&key("s", "1"), "evt_a");
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_b", 1, DAY), Claim::New);
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_c", 2, DAY), duplicate_of("evt_b"));
    }

    #[test]
    fn releasing_for_another_event_leaves_the_claim_alone() {
        let dedup = MemoryDedup::default();
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_a", 0, DAY), Claim::New);
        dedup.release_now(&key("s", "1"), "evt_other");
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_b", 1, DAY), duplicate_of("evt_a"));
    }

    #[test]
    fn at_capacity_the_oldest_key_is_evicted_first() {
        let dedup = MemoryDedup::new(3);
        for (i, id) in ["1", "2", "3", "4"].into_iter().enumerate() {
            assert_eq!(dedup.claim_now(&key("s", id), &format!("evt_{id}"), i as u64, DAY), Claim::New);
        }
        assert_eq!(dedup.len(), 3);
        assert_eq!(dedup.claim_now(&key("s", "2"), "evt_x", 10, DAY), duplicate_of("evt_2"));
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_y", 11, DAY), Claim::New, "1 was evicted");
    }

    #[test]
    fn released_and_reclaimed_keys_never_push_memory_past_capacity() {
        let dedup = MemoryDedup::new(4);
        for i in 0..1_000u64 {
            let k = key("s", &(i % 7).to_string());
            let id = format!("evt_{i}");
            if dedup.claim_now(&k, &id, i, Duration::from_millis(3)) == Claim::New && i % 2 == 0 {
                dedup.release_now(&k, &id);
            }
            let inner = dedup.lock();
            assert!(inner.order.len() <= 4 && inner.entries.len() <= 4, "at {i}");
        }
    }

    #[test]
    fn lapsed_keys_are_swept_on_the_next_claim() {
        let dedup = MemoryDedup::default();
        let window = Duration::from_secs(1);
        for i in 0..100u64 {
            dedup.claim_now(&key("s", &i.to_string()), "evt", i, window);
        }
        assert_eq!(dedup.len(), 100);
        dedup.claim_now(&key("s", "late"), "evt", 5_000, window);
        assert_eq!(dedup.len(), 1);
    }

    #[test]
    fn a_clock_that_steps_back_neither_panics_nor_forgets_a_fresh_key() {
        let dedup = MemoryDedup::default();
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_a", 5_000, DAY), Claim::New);
        assert_eq!(dedup.claim_now(&key("s", "1"), "evt_b", 0, DAY), duplicate_of("evt_a"));
        assert_eq!(dedup.claim_now(&key("s", "2"), "evt_c", u64::MAX, Duration::MAX), Claim::New);
    }

    #[tokio::test]
    async fn the_trait_object_answers_like_the_synchronous_calls() {
        let dedup: std::sync::Arc<dyn DedupStore> = std::sync::Arc::new(MemoryDedup::default());
        let k = key("s", "1");
        assert_eq!(dedup.claim(&k, "evt_a", 0, DAY).await.ok(), Some(Claim::New));
        assert_eq!(dedup.claim(&k, "evt_b", 1, DAY).await.ok(), Some(duplicate_of("evt_a")));
        assert!(dedup.release(&k, "evt_a").await.is_ok());
        assert_eq!(dedup.claim(&k, "evt_c", 2, DAY).await.ok(), Some(Claim::New));
    }
}
