//! What makes two inbound webhooks "the same event": the [`DedupKey`] of a source's delivery.
//!
//! Platforms deliver the same event more than once (retries after a lost 200, "system
//! hiccups", redelivery from a dashboard). The ingest router derives a key from the provider's
//! event id, or from a SHA-256 of the raw body when the provider gives none, and hands its
//! [`DedupKey::digest`] to the store with the event: the store checks and records it in the
//! event's own transaction (see `queue::Dedup`), so keys are durable, survive restarts and are
//! shared by every gateway on one database. A key is a duplicate only within its source's window.
//!
//! This module decides nothing about what an id is (that is each provider's job) and never
//! does I/O.

use sha2::{Digest, Sha256};

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

    /// A fixed-size fingerprint, so what the store indexes does not grow with the id's length.
    /// The NUL between source and key keeps (`a`, `bc`) and (`ab`, `c`) apart: source names
    /// are kebab-case and cannot hold one.
    pub fn digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.source.as_bytes());
        hash.update([0]);
        hash.update(self.key.as_bytes());
        hash.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_id_on_two_sources_is_two_events() {
        let (eu, us) = (DedupKey::new("shop-eu", Some("42"), b""), DedupKey::new("shop-us", Some("42"), b""));
        assert_ne!(eu.digest(), us.digest());
        assert_eq!(eu.digest(), DedupKey::new("shop-eu", Some("42"), b"another body").digest());
    }

    #[test]
    fn without_an_id_identical_bodies_share_a_key_and_different_ones_do_not() {
        let body = br#"{"type":"order.created"}"#;
        assert_eq!(DedupKey::new("bc", None, body).digest(), DedupKey::new("bc", None, body).digest());
        let other = br#"{"type":"order.updated"}"#;
        assert_ne!(DedupKey::new("bc", None, body).digest(), DedupKey::new("bc", None, other).digest());
    }

    #[test]
    fn an_id_that_looks_like_a_body_hash_does_not_collide_with_one() {
        let body = b"{}";
        let hashed = DedupKey::new("s", None, body);
        let id = hashed.key.trim_start_matches("sha256:").to_owned();
        assert_ne!(DedupKey::new("s", Some(&id), body).digest(), hashed.digest());
    }
}
