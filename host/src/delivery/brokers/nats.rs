//! NATS JetStream: a publish counts once the stream that holds the subject acknowledges it.
//! `Nats-Msg-Id` is the delivery's id, so JetStream drops a repeat within its duplicate
//! window (a repeat is acknowledged as a duplicate: delivered). No stream for the subject is a
//! refusal, answered at once by the server.

use super::{Message, PublishError};
use async_nats::jetstream::{self, context::PublishErrorKind};
use std::time::Duration;

/// How long a connection may take to open, and a publish to be acknowledged, at most (the
/// destination's own timeout bounds both as well).
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Connection {
    jetstream: jetstream::Context,
}

impl Connection {
    pub async fn open(url: &url::Url) -> Result<Self, String> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(TIMEOUT)
            .name(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .connect(url.as_str())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self { jetstream: jetstream::ContextBuilder::new().timeout(TIMEOUT).build(client) })
    }

    pub async fn publish(&self, message: &Message<'_>) -> Result<(), PublishError> {
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in message.unique_headers() {
            headers.insert(name, value);
        }
        headers.insert("Nats-Msg-Id", message.id);
        let body = bytes::Bytes::copy_from_slice(message.body);
        let sent = self.jetstream.publish_with_headers(message.name.to_owned(), headers, body).await;
        match sent.map_err(classify)?.await {
            Ok(_ack) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }
}

/// A timeout or a broken pipe is the connection's; anything else is JetStream's answer about
/// this message (no stream, stream full, too large…), which a new connection would not change.
fn classify(e: jetstream::context::PublishError) -> PublishError {
    match e.kind() {
        PublishErrorKind::StreamNotFound => PublishError::Refused("no JetStream stream takes this subject".into()),
        PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => PublishError::Broken(e.to_string()),
        _ => PublishError::Refused(e.to_string()),
    }
}
