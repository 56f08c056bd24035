//! MQTT 5: a QoS 1 publish counts once the broker's PUBACK for it says success (or that no one
//! subscribes, which is the broker's to decide). The headers travel as user properties, the
//! content type as the content-type property; MQTT has no deduplication id, receivers use
//! `webhook-id`.
//!
//! The client library gives no handle per publish, so acks are matched here: publishes are
//! written in the order they are queued, each is announced with its packet id as it is
//! written, and the PUBACK names that id. A task polls the connection and does the matching;
//! when the connection fails every waiting publish fails with it, and the connection is made
//! again by the pool (never by the client library, which would replay publishes out of order).

use super::{Message, PublishError};
use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, PublishProperties};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Publishes queued to one connection at most; past it an attempt fails and is retried.
const QUEUE: usize = 1024;
const KEEP_ALIVE: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Ack = Result<PubAckReason, String>;

/// Waiters for acks: queued (not written yet) in order, then in flight by packet id.
struct Waiters {
    client: AsyncClient,
    queued: VecDeque<oneshot::Sender<Ack>>,
    in_flight: HashMap<u16, oneshot::Sender<Ack>>,
    /// Why the connection ended; new publishes fail at once with it.
    ended: Option<String>,
}

#[derive(Clone)]
pub struct Connection {
    waiters: Arc<Mutex<Waiters>>,
    /// The largest packet the broker takes (its CONNACK says); a larger message is refused
    /// here, since writing it would fail the whole connection.
    max_packet: Option<u32>,
    /// Stops the polling task when the last clone of this connection is dropped.
    _stop: Arc<DropGuard>,
}

impl Connection {
    pub async fn open(url: &url::Url) -> Result<Self, String> {
        static CONNECTIONS: AtomicU64 = AtomicU64::new(0);
        let host = url.host_str().ok_or("the URL has no host")?;
        let id = format!(
            "switchyard-{}-{}-{:08x}",
            std::process::id(),
            CONNECTIONS.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let mut options = MqttOptions::new(id, host, url.port().unwrap_or(1883));
        options.set_keep_alive(KEEP_ALIVE).set_clean_start(true);
        if !url.username().is_empty() {
            let password = url.password().unwrap_or_default();
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            options.set_credentials(decode(url.username()), decode(password));
        }
        let (client, mut events) = AsyncClient::new(options, QUEUE);
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        return Ok(ack.properties.and_then(|p| p.max_packet_size));
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        });
        let max_packet = connected.await.map_err(|_| format!("no CONNACK within {CONNECT_TIMEOUT:?}"))??;
        let waiters = Waiters { client, queued: VecDeque::new(), in_flight: HashMap::new(), ended: None };
        let waiters = Arc::new(Mutex::new(waiters));
        let stop = CancellationToken::new();
        tokio::spawn(drive(events, waiters.clone(), stop.clone()));
        Ok(Self { waiters, max_packet, _stop: Arc::new(stop.drop_guard()) })
    }

    pub async fn publish(&self, message: &Message<'_>) -> Result<(), PublishError> {
        let headers = message.unique_headers();
        let properties = PublishProperties {
            user_properties: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            content_type: message.content_type().map(str::to_owned),
            ..Default::default()
        };
        let size = message.name.len()
            + message.body.len()
            + properties.user_properties.iter().map(|(k, v)| k.len() + v.len() + 5).sum::<usize>()
            + 64;
        if let Some(max) = self.max_packet.filter(|max| size > *max as usize) {
            return Err(PublishError::Refused(format!(
                "the message ({size} bytes) is over the broker's maximum packet size ({max})"
            )));
        }
        let payload = bytes::Bytes::copy_from_slice(message.body);
        let (tx, rx) = oneshot::channel();
        {
            let mut w = lock(&self.waiters);
            if let Some(why) = &w.ended {
                return Err(PublishError::Broken(why.clone()));
            }
            // Queued and registered under one lock, with nothing awaited in between, so the
            // waiters stay in the order the publishes are written.
            let queued =
                w.client.try_publish_with_properties(message.name, QoS::AtLeastOnce, false, payload, properties);
            if let Err(e) = queued {
                return Err(PublishError::Refused(format!("cannot queue the publish: {e}")));
            }
            w.queued.push_back(tx);
        }
        match rx.await {
            Ok(Ok(PubAckReason::Success | PubAckReason::NoMatchingSubscribers)) => Ok(()),
            Ok(Ok(reason)) => Err(PublishError::Refused(format!("the broker answered PUBACK {reason:?}"))),
            Ok(Err(why)) => Err(PublishError::Broken(why)),
            Err(_) => Err(PublishError::Broken("the connection ended".into())),
        }
    }
}

/// Polls the connection, matching each PUBACK to its publish, until it fails or is dropped.
async fn drive(mut events: EventLoop, waiters: Arc<Mutex<Waiters>>, stop: CancellationToken) {
    let why = loop {
        let event = tokio::select! {
            event = events.poll() => event,
            _ = stop.cancelled() => break "the connection was closed".to_string(),
        };
        match event {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                let mut w = lock(&waiters);
                if let Some(tx) = w.queued.pop_front() {
                    w.in_flight.insert(pkid, tx);
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if let Some(tx) = lock(&waiters).in_flight.remove(&ack.pkid) {
                    let _ = tx.send(Ok(ack.reason));
                }
            }
            Ok(Event::Incoming(Packet::Disconnect(d))) => {
                break format!("the broker disconnected: {:?}", d.reason_code);
            }
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => break "the connection was closed".to_string(),
            Err(e) => break e.to_string(),
        }
    };
    let mut w = lock(&waiters);
    let w = &mut *w;
    for tx in w.queued.drain(..).chain(w.in_flight.drain().map(|(_, tx)| tx)) {
        let _ = tx.send(Err(why.clone()));
    }
    w.ended = Some(why);
}

fn lock(waiters: &Mutex<Waiters>) -> std::sync::MutexGuard<'_, Waiters> {
    waiters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
