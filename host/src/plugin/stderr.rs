//! A plugin's stderr: kept up to a cap for the host's log and the error report, and past the
//! cap counted and dropped. Writing never fails, so a chatty plugin (or one that prints a long
//! panic message) never traps because of its stderr.
//!
//! It implements the WASI output stream traits for one instance and nothing else; it never
//! writes anywhere itself: `instance.rs` decides what to log.

use bytes::{Bytes, BytesMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// What a guest may write at once, as WASI's `check-write` reports it: any positive amount
/// works, since writes past the cap are accepted and dropped.
const WRITE_BUDGET: usize = 64 << 10;

/// The captured stderr of one instance; clones share it.
#[derive(Debug, Clone)]
pub struct CapturedStderr {
    cap: usize,
    inner: Arc<Mutex<Captured>>,
}

#[derive(Debug, Default)]
struct Captured {
    kept: BytesMut,
    dropped: usize,
}

impl CapturedStderr {
    /// Keeps the first `cap` bytes written.
    pub fn new(cap: usize) -> Self {
        Self { cap, inner: Arc::default() }
    }

    /// The bytes kept, and how many more were written and dropped.
    pub fn contents(&self) -> (Bytes, usize) {
        let inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        (inner.kept.clone().freeze(), inner.dropped)
    }

    /// Forgets what was kept (a reused instance's next call starts empty).
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.kept.clear();
        inner.dropped = 0;
    }

    fn keep(&self, bytes: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let room = self.cap.saturating_sub(inner.kept.len());
        let (kept, dropped) = bytes.split_at(room.min(bytes.len()));
        inner.kept.extend_from_slice(kept);
        inner.dropped += dropped.len();
    }
}

impl IsTerminal for CapturedStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedStderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedStderr {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_BUDGET)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedStderr {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CapturedStderr {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_past_the_cap_are_counted_and_dropped_never_refused() {
        let mut stderr = CapturedStderr::new(8);
        for _ in 0..3 {
            assert!(OutputStream::write(&mut stderr, Bytes::from_static(b"12345")).is_ok());
            assert_eq!(stderr.check_write().ok(), Some(WRITE_BUDGET));
        }
        assert_eq!(stderr.contents(), (Bytes::from_static(b"12345123"), 7));
    }
}
