//! Redis Streams: an XADD (trimmed with `MAXLEN ~ n` when the destination sets `maxlen`) counts
//! once Redis answers with the entry's id. The entry's fields are the headers, each under its
//! name (`webhook-id`, `webhook-signature`, …), and the body under `body`. Redis streams have
//! no deduplication id: receivers use `webhook-id`.

use super::{Message, PublishError};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::StreamMaxlen;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Connection {
    manager: ConnectionManager,
}

impl Connection {
    pub async fn open(url: &url::Url) -> Result<Self, String> {
        let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(0);
        let manager = ConnectionManager::new_with_config(client, config).await.map_err(|e| e.to_string())?;
        Ok(Self { manager })
    }

    pub async fn publish(&self, maxlen: Option<u64>, message: &Message<'_>) -> Result<(), PublishError> {
        let headers = message.unique_headers();
        let mut fields: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        fields.push(("body", message.body));
        let mut manager = self.manager.clone();
        let added: redis::RedisResult<Option<String>> = match maxlen {
            Some(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                manager.xadd_maxlen(message.name, StreamMaxlen::Approx(n), "*", &fields).await
            }
            None => manager.xadd(message.name, "*", &fields).await,
        };
        match added {
            Ok(_) => Ok(()),
            Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() => {
                Err(PublishError::Broken(e.to_string()))
            }
            // WRONGTYPE (the key holds something else), OOM, NOPERM…: Redis answered and refused.
            Err(e) => Err(PublishError::Refused(e.to_string())),
        }
    }
}
