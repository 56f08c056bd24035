//! The sink of broker benchmarks (`bench/compare.py nats amqp redis mqtt`): consumes what a
//! gateway publishes to one of the local brokers and says how many messages it has seen at
//! `GET /count`, as `bare_axum` does for HTTP.
//!
//! It reads (and first empties) the names the benchmark's destinations use: the JetStream
//! stream `SWYBENCH` on `swybench.>`, a queue bound to `amq.topic` with `swybench.#`, the Redis
//! stream `swybench:store:order:created`, and the MQTT topics `swybench/#`.
//!
//! Run: `cargo run --release --example broker_sink -- nats|amqp|redis|mqtt 127.0.0.1:19000`

use axum::Router;
use axum::routing::get;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args.first().cloned().unwrap_or_default();
    let addr = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:19000".into());
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    match kind.as_str() {
        "nats" => nats(seen).await?,
        "amqp" => amqp(seen).await?,
        "redis" => redis(seen).await?,
        "mqtt" => mqtt(seen).await?,
        other => anyhow::bail!("`{other}`: say nats, amqp, redis or mqtt"),
    }
    let app = Router::new().route("/count", get(move || async move { count.load(Ordering::Relaxed).to_string() }));
    axum::serve(tokio::net::TcpListener::bind(&addr).await?, app).await?;
    Ok(())
}

async fn nats(seen: Arc<AtomicU64>) -> anyhow::Result<()> {
    use async_nats::jetstream::{self, consumer, stream};
    let js = jetstream::new(async_nats::connect("nats://127.0.0.1:4222").await?);
    let _ = js.delete_stream("SWYBENCH").await;
    let config = stream::Config {
        name: "SWYBENCH".into(),
        subjects: vec!["swybench.>".into()],
        storage: stream::StorageType::Memory,
        max_messages: 200_000,
        ..Default::default()
    };
    let stream = js.create_stream(config).await?;
    let consumer = stream.create_consumer(consumer::pull::OrderedConfig::default()).await?;
    let mut messages = consumer.messages().await?;
    tokio::spawn(async move {
        while let Some(Ok(_)) = messages.next().await {
            seen.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok(())
}

async fn amqp(seen: Arc<AtomicU64>) -> anyhow::Result<()> {
    use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let options = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
    let queue = channel.queue_declare("".into(), options, FieldTable::default()).await?;
    let bind = QueueBindOptions::default();
    channel
        .queue_bind(queue.name().clone(), "amq.topic".into(), "swybench.#".into(), bind, FieldTable::default())
        .await?;
    let options = BasicConsumeOptions { no_ack: true, ..Default::default() };
    let mut consumer =
        channel.basic_consume(queue.name().clone(), "bench".into(), options, FieldTable::default()).await?;
    tokio::spawn(async move {
        let _keep = (connection, channel);
        while let Some(Ok(_)) = consumer.next().await {
            seen.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok(())
}

async fn redis(seen: Arc<AtomicU64>) -> anyhow::Result<()> {
    use redis::AsyncCommands;
    use redis::streams::{StreamReadOptions, StreamReadReply};
    let key = "swybench:store:order:created";
    let mut conn = redis::Client::open("redis://127.0.0.1:6379/0")?.get_multiplexed_async_connection().await?;
    let _: () = conn.del(key).await?;
    tokio::spawn(async move {
        let mut last = "0".to_string();
        loop {
            let options = StreamReadOptions::default().count(1000).block(200);
            let read: Result<Option<StreamReadReply>, _> = conn.xread_options(&[key], &[&last], &options).await;
            let Ok(reply) = read else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            for stream in reply.into_iter().flat_map(|r| r.keys) {
                seen.fetch_add(stream.ids.len() as u64, Ordering::Relaxed);
                if let Some(entry) = stream.ids.last() {
                    last = entry.id.clone();
                }
            }
        }
    });
    Ok(())
}

async fn mqtt(seen: Arc<AtomicU64>) -> anyhow::Result<()> {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let (client, mut events) = AsyncClient::new(MqttOptions::new("swybench-sink", "127.0.0.1", 1883), 4096);
    client.subscribe("swybench/#", QoS::AtLeastOnce).await?;
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = events.poll().await? {
            break;
        }
    }
    tokio::spawn(async move {
        let _client = client;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(_))) => {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    Ok(())
}
