//! RabbitMQ over AMQP 0-9-1: a persistent, mandatory publish with publisher confirms. It counts
//! once the broker acks it *without* returning it: an unroutable message comes back as a
//! return with the ack, and is a failed attempt, as is a nack. `message_id` is the delivery's
//! id; the headers go into the message's header table.
//!
//! A return carries no delivery tag, so it can only be matched to its publish when a channel
//! has one confirm outstanding: publishes take one of a few confirm-mode channels each, and a
//! closed channel (a missing exchange closes it) is replaced by the next publish that takes it.
//! A confirm that does not come within [`CONFIRM_TIMEOUT`] (a broker blocking publishers)
//! closes its channel, so at most one publish per channel is ever outstanding.

use super::{Message, PublishError};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, ConnectionProperties};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Mutex;

/// Confirm-mode channels per connection: publishes in flight to one broker at once.
const CHANNELS: usize = 8;
/// How long a publish waits for its confirm before its channel is given up.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone)]
pub struct Connection {
    connection: Arc<lapin::Connection>,
    channels: Arc<[Arc<Mutex<Channel>>]>,
    next: Arc<AtomicUsize>,
}

impl Connection {
    pub async fn open(url: &url::Url) -> Result<Self, String> {
        let properties = ConnectionProperties::default()
            .with_connection_name(concat!("switchyard/", env!("CARGO_PKG_VERSION")).into());
        let connection = lapin::Connection::connect(url.as_str(), properties).await.map_err(|e| e.to_string())?;
        let mut channels = Vec::with_capacity(CHANNELS);
        for _ in 0..CHANNELS {
            channels.push(Arc::new(Mutex::new(confirming(&connection).await?)));
        }
        Ok(Self { connection: Arc::new(connection), channels: channels.into(), next: Arc::default() })
    }

    pub async fn publish(&self, exchange: &str, message: &Message<'_>) -> Result<(), PublishError> {
        let refused = |what: &str| PublishError::Refused(format!("{what} is longer than AMQP's 255 bytes"));
        let message_id = ShortString::try_new(message.id).map_err(|_| refused("the delivery id"))?;
        let routing_key = ShortString::try_new(message.name).map_err(|_| refused("the routing key"))?;
        let exchange = ShortString::try_new(exchange).map_err(|_| refused("the exchange"))?;
        let mut table = FieldTable::default();
        for (name, value) in message.unique_headers() {
            let name = ShortString::try_new(name).map_err(|_| refused("a header name"))?;
            table.insert(name, AMQPValue::LongString(LongString::from(value.as_bytes())));
        }
        let mut properties = BasicProperties::default()
            .with_message_id(message_id)
            .with_delivery_mode(2)
            .with_timestamp(crate::event::now_ms() / 1000)
            .with_headers(table);
        if let Some(content_type) = message.content_type().and_then(|ct| ShortString::try_new(ct).ok()) {
            properties = properties.with_content_type(content_type);
        }
        let slot = self.channels[self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len()].clone();
        // Taken here, so a caller that gives up while waiting leaves nothing behind.
        let mut channel = slot.lock_owned().await;
        let connection = self.connection.clone();
        let body = message.body.to_vec();
        // Spawned with the channel held, so a caller that gives up (a timeout) cannot leave a
        // confirm outstanding on the channel for the next publish to receive.
        let task = tokio::spawn(async move {
            if !channel.status().connected() {
                if !connection.status().connected() {
                    return Err(PublishError::Broken("the connection is closed".into()));
                }
                *channel = confirming(&connection).await.map_err(PublishError::Broken)?;
            }
            let options = BasicPublishOptions { mandatory: true, ..Default::default() };
            let confirmed = tokio::time::timeout(CONFIRM_TIMEOUT, async {
                let published = channel.basic_publish(exchange, routing_key, options, &body, properties).await;
                published.map_err(|e| failed(&connection, e))?.await.map_err(|e| failed(&connection, e))
            })
            .await;
            let Ok(confirm) = confirmed else {
                let _ = tokio::time::timeout(CONFIRM_TIMEOUT, channel.close(200, "no confirm in time".into())).await;
                return Err(PublishError::Broken(format!("no publisher confirm within {CONFIRM_TIMEOUT:?}")));
            };
            match confirm? {
                Confirmation::Ack(None) => Ok(()),
                Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => Err(PublishError::Refused(
                    format!("returned unroutable: {} {}", returned.reply_code, returned.reply_text),
                )),
                Confirmation::Nack(None) => Err(PublishError::Refused("the broker nacked the message".into())),
                Confirmation::NotRequested => Err(PublishError::Broken("the channel is not in confirm mode".into())),
            }
        });
        task.await.unwrap_or_else(|e| Err(PublishError::Broken(format!("the publish task failed: {e}"))))
    }
}

/// A new channel in confirm mode.
async fn confirming(connection: &lapin::Connection) -> Result<Channel, String> {
    let channel = connection.create_channel().await.map_err(|e| e.to_string())?;
    channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| e.to_string())?;
    Ok(channel)
}

/// An error of a publish: the broker closing the channel (no such exchange, access refused)
/// is a refusal; a closed connection is broken.
fn failed(connection: &lapin::Connection, e: lapin::Error) -> PublishError {
    if connection.status().connected() {
        PublishError::Refused(e.to_string())
    } else {
        PublishError::Broken(e.to_string())
    }
}
