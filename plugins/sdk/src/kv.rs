//! The plugin's own key–value state (`kv` in the contract). Reads see what is committed plus
//! this call's writes; the writes are committed with the event's outcome, so a call that fails
//! or asks to retry later leaves nothing behind. `?` turns a store that cannot be read into
//! `retry-later` and everything else into `fail`.

use crate::Error;
use crate::bindings::switchyard::plugin::kv as host;

pub use host::Error as KvError;

impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::Unavailable(why) => Error::RetryLater(format!("kv: {why}")),
            KvError::ValueTooLarge(max) => Error::Fail(format!(
                "kv: a value is larger than kv_max_value = {max} bytes, or the call's writes hold more than kv_max_pending"
            )),
            KvError::TooManyKeys(max) => Error::Fail(format!(
                "kv: the plugin already holds kv_max_keys = {max} keys, or the call wrote kv_max_writes keys"
            )),
            KvError::InvalidKey => Error::Fail("kv: keys are 1 to 512 bytes, without NUL".into()),
            KvError::NotANumber => Error::Fail("kv: increment of a value that is not a decimal integer".into()),
        }
    }
}

/// The bytes under `key`, or `None`.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
    host::get(key)
}

/// The value under `key` as text (`None` when absent or not UTF-8).
pub fn get_string(key: &str) -> Result<Option<String>, KvError> {
    Ok(host::get(key)?.and_then(|v| String::from_utf8(v).ok()))
}

/// Sets `key` to `value`.
pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<(), KvError> {
    host::set(key, value.as_ref(), None)
}

/// Sets `key` to `value`, forgotten after `ttl_ms` milliseconds.
pub fn set_with_ttl(key: &str, value: impl AsRef<[u8]>, ttl_ms: u64) -> Result<(), KvError> {
    host::set(key, value.as_ref(), Some(ttl_ms))
}

/// Removes `key`.
pub fn delete(key: &str) -> Result<(), KvError> {
    host::delete(key)
}

/// Adds `delta` to the integer under `key` (absent counts as 0) and returns the sum as this
/// call sees it; concurrent increments add up.
pub fn increment(key: &str, delta: i64) -> Result<i64, KvError> {
    host::increment(key, delta)
}

/// Keys that start with `prefix`, in byte order, at most `limit` (and at most 1000).
pub fn list(prefix: &str, limit: u32) -> Result<Vec<String>, KvError> {
    host::keys(prefix, limit)
}
