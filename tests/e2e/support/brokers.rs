//! Consumers on the machine's real brokers (NATS JetStream, RabbitMQ, Redis, Mosquitto on
//! 127.0.0.1), each reading what a gateway publishes under a name prefix of its own, so tests
//! running at once never see each other's messages.

use super::PATIENCE;
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The brokers a destination can publish to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nats,
    Amqp,
    Redis,
    Mqtt,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Nats, Kind::Amqp, Kind::Redis, Kind::Mqtt];

    /// The local broker's URL.
    pub fn url(self) -> &'static str {
        match self {
            Kind::Nats => "nats://127.0.0.1:4222",
            Kind::Amqp => "amqp://guest:guest@127.0.0.1:5672/%2f",
            Kind::Redis => "redis://127.0.0.1:6379/0",
            Kind::Mqtt => "mqtt://127.0.0.1:1883",
        }
    }

    /// The same broker on a port nothing listens on.
    pub fn unreachable_url(self) -> String {
        self.url_with_port(1)
    }

    /// The same URL with another port.
    pub fn url_with_port(self, port: u16) -> String {
        let default = match self {
            Kind::Nats => "4222",
            Kind::Amqp => "5672",
            Kind::Redis => "6379",
            Kind::Mqtt => "1883",
        };
        self.url().replace(default, &port.to_string())
    }
}

/// One message as a consumer saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The subject, routing key, stream key or topic it arrived on.
    pub name: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The broker's own deduplication id, where it has one (`Nats-Msg-Id`, AMQP `message_id`).
    pub dedup_id: Option<String>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A consumer of one broker, reading everything published under its prefix.
pub struct Consumer {
    pub kind: Kind,
    /// Unique to this consumer: the first level of every name it reads.
    pub prefix: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
    cleanup: Cleanup,
}

enum Cleanup {
    None,
    NatsStream(Box<async_nats::jetstream::Context>, String),
    RedisKey(String),
}

impl Consumer {
    /// Starts reading; returns once the consumer is subscribed (nothing published after is missed).
    pub async fn start(kind: Kind) -> anyhow::Result<Self> {
        let prefix = format!("swy{:016x}", rand_u64());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let sink = received.clone();
        let (task, cleanup) = match kind {
            Kind::Nats => nats(&prefix, sink).await?,
            Kind::Amqp => (amqp(&prefix, sink).await?, Cleanup::None),
            Kind::Redis => {
                let key = format!("{prefix}:order:created");
                (redis(&key, sink).await?, Cleanup::RedisKey(key))
            }
            Kind::Mqtt => (mqtt(&prefix, sink).await?, Cleanup::None),
        };
        Ok(Self { kind, prefix, received, task, cleanup })
    }

    /// A `[destinations.NAME]` table publishing to this consumer at `url`; events of scope
    /// `order/created` land where it reads.
    pub fn destination(&self, name: &str, url: &str, secret: &str) -> String {
        let p = &self.prefix;
        let target = match self.kind {
            Kind::Nats => format!(r#"subject = "{p}.{{source}}.{{scope}}""#),
            Kind::Amqp => format!("exchange = \"amq.topic\"\nrouting_key = \"{p}.{{source}}.{{scope}}\""),
            Kind::Redis => format!(r#"stream = "{p}:{{scope}}""#),
            Kind::Mqtt => format!(r#"topic = "{p}/{{source}}/{{scope}}""#),
        };
        format!(
            "[destinations.{name}]\nurl = \"{url}\"\n{target}\nsigning_secret = \"{secret}\"\ntimeout_ms = 2000\n\
             retry = {{ max_attempts = 1000, first_ms = 50, max_ms = 200 }}\npause_after = 0\n"
        )
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until at least `n` messages arrived, within `patience`.
    pub async fn wait_for(&self, n: usize, patience: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("{:?}: {} of {n} messages within {patience:?}", self.kind, got.len());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Like `wait_for`, within the usual patience.
    pub async fn wait(&self, n: usize) -> Vec<Received> {
        self.wait_for(n, PATIENCE).await
    }

    /// Stops reading and removes what the consumer made on the broker.
    pub async fn finish(self) {
        self.task.abort();
        match self.cleanup {
            Cleanup::None => {}
            Cleanup::NatsStream(js, name) => {
                let _ = js.delete_stream(&name).await;
            }
            Cleanup::RedisKey(key) => {
                if let Ok(client) = ::redis::Client::open(Kind::Redis.url())
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                {
                    let _: Result<(), _> = ::redis::cmd("DEL").arg(&key).query_async(&mut conn).await;
                }
            }
        }
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

fn push(sink: &Mutex<Vec<Received>>, r: Received) {
    sink.lock().unwrap_or_else(|p| p.into_inner()).push(r);
}

async fn nats(prefix: &str, sink: Arc<Mutex<Vec<Received>>>) -> anyhow::Result<(JoinHandle<()>, Cleanup)> {
    use async_nats::jetstream::{self, consumer, stream};
    let client = async_nats::connect(Kind::Nats.url()).await?;
    let js = jetstream::new(client);
    let name = format!("SWY_{prefix}");
    let config = stream::Config {
        name: name.clone(),
        subjects: vec![format!("{prefix}.>")],
        storage: stream::StorageType::Memory,
        max_age: Duration::from_secs(600),
        ..Default::default()
    };
    let stream = js.create_stream(config).await?;
    let ordered = consumer::pull::OrderedConfig { filter_subject: format!("{prefix}.>"), ..Default::default() };
    let consumer = stream.create_consumer(ordered).await?;
    let mut messages = consumer.messages().await?;
    let task = tokio::spawn(async move {
        while let Some(Ok(m)) = messages.next().await {
            let mut headers = Vec::new();
            if let Some(h) = &m.headers {
                for (name, values) in h.iter() {
                    for v in values {
                        headers.push((name.to_string(), v.to_string()));
                    }
                }
            }
            let dedup_id = m.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.to_string());
            push(&sink, Received { name: m.subject.to_string(), headers, body: m.payload.to_vec(), dedup_id });
        }
    });
    Ok((task, Cleanup::NatsStream(Box::new(js), name)))
}

async fn amqp(prefix: &str, sink: Arc<Mutex<Vec<Received>>>) -> anyhow::Result<JoinHandle<()>> {
    use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
    use lapin::types::{AMQPValue, FieldTable};
    let connection = lapin::Connection::connect(Kind::Amqp.url(), lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let options = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
    let queue = channel.queue_declare("".into(), options, FieldTable::default()).await?;
    let binding = format!("{prefix}.#");
    channel
        .queue_bind(
            queue.name().clone(),
            "amq.topic".into(),
            binding.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let options = BasicConsumeOptions { no_ack: true, ..Default::default() };
    let mut consumer =
        channel.basic_consume(queue.name().clone(), "tests".into(), options, FieldTable::default()).await?;
    Ok(tokio::spawn(async move {
        let _keep = (connection, channel);
        while let Some(Ok(d)) = consumer.next().await {
            let p = &d.properties;
            let mut headers = Vec::new();
            if let Some(table) = p.headers() {
                for (k, v) in table {
                    if let AMQPValue::LongString(s) = v {
                        headers.push((k.to_string(), String::from_utf8_lossy(s.as_bytes()).into_owned()));
                    }
                }
            }
            headers.push(("delivery-mode".into(), p.delivery_mode().map_or(0, |m| m).to_string()));
            let dedup_id = p.message_id().as_ref().map(|s| s.to_string());
            push(&sink, Received { name: d.routing_key.to_string(), headers, body: d.data.clone(), dedup_id });
        }
    }))
}

async fn redis(key: &str, sink: Arc<Mutex<Vec<Received>>>) -> anyhow::Result<JoinHandle<()>> {
    use ::redis::AsyncCommands;
    use ::redis::streams::{StreamReadOptions, StreamReadReply};
    let client = ::redis::Client::open(Kind::Redis.url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let key = key.to_string();
    Ok(tokio::spawn(async move {
        let mut last = "0".to_string();
        loop {
            let options = StreamReadOptions::default().count(500).block(200);
            let read: Result<Option<StreamReadReply>, _> = conn.xread_options(&[&key], &[&last], &options).await;
            let Ok(reply) = read else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            for stream in reply.into_iter().flat_map(|r| r.keys) {
                for entry in stream.ids {
                    let mut headers = Vec::new();
                    let mut body = Vec::new();
                    for (field, value) in &entry.map {
                        let bytes = match value {
                            ::redis::Value::BulkString(b) => b.clone(),
                            _ => Vec::new(),
                        };
                        if field == "body" {
                            body = bytes;
                        } else {
                            headers.push((field.clone(), String::from_utf8_lossy(&bytes).into_owned()));
                        }
                    }
                    last = entry.id.clone();
                    push(&sink, Received { name: stream.key.clone(), headers, body, dedup_id: None });
                }
            }
        }
    }))
}

async fn mqtt(prefix: &str, sink: Arc<Mutex<Vec<Received>>>) -> anyhow::Result<JoinHandle<()>> {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let mut options = MqttOptions::new(format!("{prefix}-tests"), "127.0.0.1", 1883);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 1024);
    client.subscribe(format!("{prefix}/#"), QoS::AtLeastOnce).await?;
    let subscribed = tokio::time::timeout(PATIENCE, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(anyhow::anyhow!("MQTT subscriber: {e}")),
            }
        }
    });
    subscribed.await??;
    Ok(tokio::spawn(async move {
        let _client = client;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let headers = p.properties.map(|pp| pp.user_properties).unwrap_or_default();
                    let name = String::from_utf8_lossy(&p.topic).into_owned();
                    push(&sink, Received { name, headers, body: p.payload.to_vec(), dedup_id: None });
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }))
}
