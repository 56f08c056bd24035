//! Publishing deliveries to message brokers: NATS JetStream, RabbitMQ (AMQP 0-9-1), Redis
//! Streams and MQTT 5, one file each.
//!
//! A publish counts as delivered only when the broker has taken responsibility for the
//! message: the stream's ack (NATS), a publisher confirm without a return (AMQP), the entry id
//! of an XADD (Redis), the PUBACK (MQTT). Every message carries the delivery's `webhook-id`
//! and Standard Webhooks headers as the broker allows, and the broker's own deduplication id
//! where it has one.
//!
//! Connections are pooled, one per destination URL, made on first use and shared by every
//! attempt, and dropped when a reload removes the URL. A connection that fails (or is not made
//! within the destination's timeout) is dropped, and the next one is tried after a backoff
//! (200 ms doubling to 30 s); meanwhile attempts fail at once, so a broker that is down costs
//! its own deliveries retries and nothing else. This module never touches the store.

mod amqp;
mod mqtt;
mod nats;
mod redis;

use crate::config::model::{Broker, Destination, Target};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections kept at most; past it the pool starts over (reloads that keep changing broker
/// URLs would otherwise grow it without bound).
const MAX_CONNECTIONS: usize = 64;
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// One message as every broker is given it.
#[derive(Debug)]
pub struct Message<'a> {
    /// The rendered subject, routing key, stream key or topic.
    pub name: &'a str,
    /// The delivery's id: the `webhook-id`, and the broker's deduplication id.
    pub id: &'a str,
    /// Headers in the order they apply (the destination's, the plugin's, then the gateway's,
    /// which win): each broker keeps the last of a name.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Message<'_> {
    /// The headers with repeated names reduced to the last one, in first-seen order.
    fn unique_headers(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(self.headers.len());
        for (name, value) in self.headers {
            match out.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some(slot) => slot.1 = value,
                None => out.push((name, value)),
            }
        }
        out
    }

    fn content_type(&self) -> Option<&str> {
        self.headers.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.as_str())
    }
}

/// Why a publish did not count as delivered.
#[derive(Debug)]
pub enum PublishError {
    /// The broker answered and refused the message (no stream for the subject, a nack, an
    /// unroutable return): the connection is fine, the attempt failed.
    Refused(String),
    /// The connection failed or did not answer in time: it is dropped and made again.
    Broken(String),
}

/// A live connection to one broker; cloning shares it.
#[derive(Clone)]
enum Connection {
    Nats(nats::Connection),
    Amqp(amqp::Connection),
    Redis(redis::Connection),
    Mqtt(mqtt::Connection),
}

impl Connection {
    async fn open(broker: Broker, url: &url::Url) -> Result<Self, String> {
        Ok(match broker {
            Broker::Nats => Self::Nats(nats::Connection::open(url).await?),
            Broker::Amqp => Self::Amqp(amqp::Connection::open(url).await?),
            Broker::Redis => Self::Redis(redis::Connection::open(url).await?),
            Broker::Mqtt => Self::Mqtt(mqtt::Connection::open(url).await?),
        })
    }

    async fn publish(&self, target: &Target, message: &Message<'_>) -> Result<(), PublishError> {
        match (self, target) {
            (Self::Nats(c), Target::Nats { .. }) => c.publish(message).await,
            (Self::Amqp(c), Target::Amqp { exchange, .. }) => c.publish(exchange, message).await,
            (Self::Redis(c), Target::Redis { maxlen, .. }) => c.publish(*maxlen, message).await,
            (Self::Mqtt(c), Target::Mqtt { .. }) => c.publish(message).await,
            _ => Err(PublishError::Refused("the destination's kind changed; the next attempt reconnects".into())),
        }
    }
}

/// One URL's connection, or when the next try to make one is due.
#[derive(Default)]
struct Slot {
    connection: Option<(u64, Connection)>,
    /// Connections made so far for this URL (tells a stale failure from the current one).
    made: u64,
    failures: u32,
    next_try: Option<Instant>,
    last_error: String,
}

/// A URL's slot, locked while a connection to it is made.
type SharedSlot = Arc<tokio::sync::Mutex<Slot>>;

/// The broker connections deliveries go out on, by broker and URL.
#[derive(Default)]
pub struct Brokers {
    slots: Mutex<HashMap<(Broker, String), SharedSlot>>,
}

impl Brokers {
    /// Publishes `message` to `destination` (a broker destination), within its timeout.
    pub async fn publish(&self, destination: &Destination, message: &Message<'_>) -> Result<(), PublishError> {
        let Some(broker) = destination.target.broker() else {
            return Err(PublishError::Refused("not a broker destination".into()));
        };
        let slot = self.slot(broker, &destination.url);
        // Bounded without a timeout here: whoever holds the slot connects within the timeout.
        let (made, connection) = connect(&slot, broker, destination).await?;
        let published = tokio::time::timeout(destination.timeout, connection.publish(&destination.target, message))
            .await
            .unwrap_or_else(|_| {
                Err(PublishError::Broken(format!("no acknowledgement within {:?}", destination.timeout)))
            });
        if let Err(PublishError::Broken(why)) = &published {
            let mut slot = slot.lock().await;
            if slot.connection.as_ref().is_some_and(|(n, _)| *n == made) {
                // Made again after the backoff, so a broker that breaks every publish is not
                // reconnected to at the rate attempts come in.
                slot.connection = None;
                slot.failed(why.clone());
            }
        }
        published
    }

    /// Drops the connections of URLs no destination has any more (after a reload).
    pub fn retain(&self, destinations: &std::collections::BTreeMap<String, Destination>) {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.retain(|(broker, url), _| {
            destinations.values().any(|d| d.target.broker() == Some(*broker) && d.url.as_str() == url)
        });
    }

    fn slot(&self, broker: Broker, url: &url::Url) -> SharedSlot {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (broker, url.as_str().to_owned());
        if let Some(slot) = slots.get(&key) {
            return slot.clone();
        }
        if slots.len() >= MAX_CONNECTIONS {
            slots.clear();
        }
        slots.entry(key).or_default().clone()
    }
}

impl Slot {
    /// Records a failed connection (or one that broke): the next try waits a backoff.
    fn failed(&mut self, why: String) {
        let wait = BACKOFF_FIRST.saturating_mul(1 << self.failures.min(16)).min(BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        self.next_try = Some(Instant::now() + wait);
        self.last_error = why;
    }
}

/// The slot's connection, made now if it has none and its backoff has passed. Holding the
/// slot's lock while connecting makes one connection attempt per URL at a time; a connection
/// not made within the destination's timeout is a failure like any other, so a broker that
/// does not answer is backed off from, not waited on by every attempt.
async fn connect(
    slot: &tokio::sync::Mutex<Slot>,
    broker: Broker,
    destination: &Destination,
) -> Result<(u64, Connection), PublishError> {
    let mut slot = slot.lock().await;
    if let Some((made, connection)) = &slot.connection {
        return Ok((*made, connection.clone()));
    }
    let now = Instant::now();
    if let Some(next) = slot.next_try.filter(|next| *next > now) {
        let why = format!("cannot connect: {}; next try in {} ms", slot.last_error, (next - now).as_millis());
        return Err(PublishError::Broken(why));
    }
    let opened = tokio::time::timeout(destination.timeout, Connection::open(broker, &destination.url)).await;
    match opened.unwrap_or_else(|_| Err(format!("no connection within {:?}", destination.timeout))) {
        Ok(connection) => {
            slot.made += 1;
            slot.failures = 0;
            slot.next_try = None;
            slot.connection = Some((slot.made, connection.clone()));
            Ok((slot.made, connection))
        }
        Err(why) => {
            slot.failed(why.clone());
            Err(PublishError::Broken(format!("cannot connect: {why}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_header_of_a_name_wins_and_passwords_are_not_shown() {
        let headers = [
            ("content-type".to_string(), "text/plain".to_string()),
            ("webhook-id".to_string(), "plugin".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
            ("webhook-id".to_string(), "dlv_1".to_string()),
        ];
        let message = Message { name: "n", id: "dlv_1", headers: &headers, body: b"{}" };
        assert_eq!(message.unique_headers(), [("content-type", "application/json"), ("webhook-id", "dlv_1")]);
        assert_eq!(message.content_type(), Some("application/json"));
        let url = url::Url::parse("amqp://guest:secret@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(crate::config::ShownUrl(&url).to_string(), "amqp://guest:***@127.0.0.1:5672/%2f");
    }
}
