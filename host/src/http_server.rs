//! The listeners' connection loop, shared by ingest and admin: HTTP/1.1 with a deadline for
//! each request head, over plain TCP or TLS (rustls, HTTP/2 or HTTP/1.1 by ALPN).
//!
//! A client that connects and sends nothing, drips its headers a byte at a time, idles on a
//! kept-alive connection or stalls its TLS handshake is disconnected instead of holding a
//! connection forever. `axum::serve` (0.8) gives hyper no timer, and without one hyper
//! enforces no header read timeout, so this loop drives hyper's connections itself with the
//! timer and timeouts set. The body has its own deadline in the ingest router
//! ([`BODY_READ_TIMEOUT`], answered 408). The TLS certificate is chosen at each handshake
//! (see `tls.rs`), so a renewed one serves the next connection. This module owns accepting and
//! serving connections only: it must never look inside a request (that is the router's job)
//! and must not return while a connection is still open.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client has to send a request's line and headers, from the moment the connection
/// is ready for one (so it also closes kept-alive connections idle this long), and to finish
/// a TLS handshake. Platforms send their headers in one packet; 15 s is generous for them and
/// short for a slowloris.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a client has to send a whole body once its headers are in. At the default 1 MiB
/// `max_body`, 30 s still admits a sender as slow as ~35 KB/s. Past it: 408.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP/2 connection is pinged after this long without a frame, and closed when the ping is
/// not answered within [`H2_PING_TIMEOUT`]: the HTTP/2 counterpart of the head deadline.
const H2_PING_EVERY: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(15);

/// Pause after an accept error that is not about one connection (out of file descriptors),
/// so the loop does not spin; the same back-off `axum::serve` uses.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// How one listener serves: its router, TLS (or not), and the head deadline.
#[derive(Clone)]
pub struct Serving {
    pub router: Router,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub header_timeout: Duration,
}

/// Serves on `listener` until `shutdown` fires, then stops accepting, lets each open
/// connection finish the request it is in, and returns once every connection has closed.
pub async fn serve(listener: TcpListener, serving: Serving, shutdown: CancellationToken) {
    let connections = TaskTracker::new();
    let acceptor = serving.tls.clone().map(TlsAcceptor::from);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let (serving, shutdown) = (serving.clone(), shutdown.clone());
                match acceptor.clone() {
                    None => connections.spawn(plain(stream, serving, shutdown)),
                    Some(acceptor) => connections.spawn(secure(stream, acceptor, serving, shutdown)),
                };
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                tracing::warn!(error = %e, "listener cannot accept; pausing");
                tokio::select! {
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
    }
    connections.close();
    connections.wait().await;
}

async fn plain(stream: TcpStream, serving: Serving, shutdown: CancellationToken) {
    // Small answers go out at once rather than waiting for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    http1_connection(stream, serving, shutdown).await;
}

/// A TLS connection: the handshake within the head deadline, then HTTP/2 when the client chose
/// it by ALPN, else HTTP/1.1.
async fn secure(stream: TcpStream, acceptor: TlsAcceptor, serving: Serving, shutdown: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let handshake = tokio::time::timeout(serving.header_timeout, acceptor.accept(stream));
    let stream = match handshake.await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return tracing::debug!(error = %e, "TLS handshake failed"),
        Err(_) => return tracing::debug!("TLS handshake did not finish within the head deadline"),
    };
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        http2_connection(stream, serving, shutdown).await;
    } else {
        http1_connection(stream, serving, shutdown).await;
    }
}

/// One HTTP/1.1 connection, closed by hyper when the head deadline passes, and gracefully
/// (after the request in flight) when `shutdown` fires.
async fn http1_connection<I>(io: I, serving: Serving, shutdown: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(serving.header_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(serving.router));
    drain(conn, shutdown, "HTTP/1.1").await;
}

/// One HTTP/2 connection, pinged when idle, drained gracefully when `shutdown` fires.
async fn http2_connection<I>(io: I, serving: Serving, shutdown: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder.timer(TokioTimer::new()).keep_alive_interval(H2_PING_EVERY).keep_alive_timeout(H2_PING_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(serving.router));
    drain(conn, shutdown, "HTTP/2").await;
}

/// Serves `conn` to its end; when `shutdown` fires first, lets the requests in flight finish.
async fn drain<C>(conn: C, shutdown: CancellationToken, protocol: &'static str)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Header timeouts, resets and clients hanging up mid-request: routine at the edge.
        tracing::debug!(error = %e, protocol, "connection ended with an error");
    }
}

/// Errors that concern only the connection being accepted (as `axum::serve` classifies them).
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const PATIENCE: Duration = Duration::from_secs(10);

    async fn start(header_timeout: Duration) -> (std::net::SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = Router::new().route("/", post(|| async { "ok" }));
        let stop = CancellationToken::new();
        let serving = Serving { router, tls: None, header_timeout };
        let task = tokio::spawn(serve(listener, serving, stop.clone()));
        (addr, stop, task)
    }

    /// Everything the server sends until it closes the connection (or PATIENCE runs out).
    async fn read_to_close(stream: &mut TcpStream) -> Option<String> {
        let mut out = Vec::new();
        match tokio::time::timeout(PATIENCE, stream.read_to_end(&mut out)).await {
            Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
            Err(_) => None,
        }
    }

    #[tokio::test]
    async fn a_request_whose_head_arrives_in_time_is_answered() {
        let (addr, stop, task) = start(Duration::from_secs(5)).await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        stream.write_all(request.as_bytes()).await.expect("write");
        let answer = read_to_close(&mut stream).await.unwrap_or_default();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        stop.cancel();
        assert!(tokio::time::timeout(PATIENCE, task).await.is_ok(), "serve returns after shutdown");
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_disconnected() {
        let (addr, stop, _task) = start(Duration::from_millis(300)).await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n").await.expect("write");
        let answer = read_to_close(&mut stream).await;
        assert_eq!(answer.as_deref(), Some(""), "closed without an answer");
        stop.cancel();
    }

    #[tokio::test]
    async fn an_idle_kept_alive_connection_is_closed_after_the_head_deadline() {
        let (addr, stop, _task) = start(Duration::from_secs(1)).await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n";
        stream.write_all(request.as_bytes()).await.expect("write");
        let answer = read_to_close(&mut stream).await.unwrap_or_default();
        assert!(answer.starts_with("HTTP/1.1 200"), "answered, then closed when idle: {answer}");
        stop.cancel();
    }

    #[tokio::test]
    async fn shutdown_closes_idle_connections_and_serve_returns() {
        let (addr, stop, task) = start(Duration::from_secs(60)).await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n";
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await.expect("read");
        stop.cancel();
        assert!(tokio::time::timeout(PATIENCE, task).await.is_ok(), "serve returns after shutdown");
        assert!(read_to_close(&mut stream).await.is_some(), "the kept-alive connection is closed");
    }
}
