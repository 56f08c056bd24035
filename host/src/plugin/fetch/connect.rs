//! The connections of one plugin's pool: each new one resolved and checked against the policy
//! (every address the name resolves to must be allowed), made to an allowed address, refused
//! when it reached one of the gateway's own listeners, then wrapped in TLS for https. A pooled
//! connection is only ever to an address that was checked when it was made.

use super::outcome::{Failure, FetchOutcome};
use super::policy::{FetchPolicy, Target};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasmtime_wasi_http::Error as HttpError;

/// The addresses to connect to for `target`: every one the name resolves to must be allowed
/// (one internal address among public ones refuses the request: a rebinding answer cannot
/// slip through), and only those are connected to.
async fn resolve(policy: &FetchPolicy, target: &Target) -> Result<Vec<SocketAddr>, Failure> {
    let addrs: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| {
                let why = format!("cannot resolve {}: {e}", target.host);
                (HttpError::DnsError { rcode: Some(e.to_string()), info_code: None }, FetchOutcome::Failed(why))
            })?
            .collect(),
    };
    if addrs.is_empty() {
        let why = format!("{} resolves to no address", target.host);
        return Err((HttpError::DestinationNotFound, FetchOutcome::Failed(why)));
    }
    if let Some(internal) = addrs.iter().find(|a| !policy.may_connect(target, a.ip())) {
        let why = format!(
            "{} resolves to the internal address {}, which allowed_hosts does not name",
            target.host,
            internal.ip()
        );
        return Err((HttpError::DestinationIpProhibited, FetchOutcome::Refused(why)));
    }
    Ok(addrs)
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Makes the connections of one plugin's pool: the URL's host resolved and checked against the
/// policy (`resolve`), then TCP to an allowed address, and TLS with the URL's host name for
/// https. A refusal or failure travels to `exchange` inside a [`ConnectError`].
#[derive(Clone)]
pub(super) struct Connector {
    pub(super) policy: Arc<FetchPolicy>,
    pub(super) tls: Arc<rustls::ClientConfig>,
    pub(super) own: Arc<OwnListeners>,
}

/// The addresses the gateway itself listens on. A plugin's request never reaches them, whatever
/// its `allowed_hosts` say (`http://127.0.0.1:*` would otherwise reach the admin API, and with it
/// other plugins' state): each new connection is checked once it is made, before anything is
/// sent on it.
#[derive(Debug, Default)]
pub struct OwnListeners(std::sync::RwLock<Vec<SocketAddr>>);

impl OwnListeners {
    pub(in crate::plugin) fn set(&self, addrs: &[SocketAddr]) {
        if let Ok(mut own) = self.0.write() {
            *own = addrs.to_vec();
        }
    }

    /// Whether a connection from `local` to `peer` reaches one of the listeners: `peer` is on
    /// this machine (loopback, or the connection's own address) and its port is a listener's
    /// whose address is `peer`'s or unspecified (`0.0.0.0`, `::`).
    fn reached_by(&self, local: SocketAddr, peer: SocketAddr) -> Option<SocketAddr> {
        let (peer_ip, local_ip) = (peer.ip().to_canonical(), local.ip().to_canonical());
        let this_machine = peer_ip.is_loopback() || peer_ip == local_ip;
        let own = self.0.read().ok()?;
        own.iter().copied().find(|l| {
            let ip = l.ip().to_canonical();
            l.port() == peer.port() && (ip == peer_ip || (ip.is_unspecified() && this_machine))
        })
    }
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<Stream>, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let (policy, tls, own) = (self.policy.clone(), self.tls.clone(), self.own.clone());
        Box::pin(async move {
            let target = Target::of(&uri)
                .map_err(|why| ConnectError((HttpError::HttpRequestUriInvalid, FetchOutcome::Refused(why))))?;
            let addrs = resolve(&policy, &target).await.map_err(ConnectError)?;
            connect(&tls, &own, &target, &addrs).await.map(|io| TokioIo::new(Stream(io))).map_err(ConnectError)
        })
    }
}

/// Why the connector made no connection, as the guest sees it and as it is recorded.
#[derive(Debug)]
pub(super) struct ConnectError(pub(super) Failure);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.1 {
            FetchOutcome::Refused(why) | FetchOutcome::Failed(why) => f.write_str(why),
            other => write!(f, "{other:?}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// A connection to an upstream, plain or TLS.
pub(super) struct Stream(Box<dyn Io>);

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

/// A new connection to one of `addrs`, with TLS for https; refused, before anything is sent,
/// when it reached one of the gateway's own listeners.
async fn connect(
    tls: &Arc<rustls::ClientConfig>,
    own: &OwnListeners,
    target: &Target,
    addrs: &[SocketAddr],
) -> Result<Box<dyn Io>, Failure> {
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(tcp) = tcp else {
        let e = last.map_or_else(|| "no address".to_string(), |e| e.to_string());
        return Err((HttpError::ConnectionRefused, FetchOutcome::Failed(format!("cannot connect to {target}: {e}"))));
    };
    if let (Ok(local), Ok(peer)) = (tcp.local_addr(), tcp.peer_addr())
        && let Some(listener) = own.reached_by(local, peer)
    {
        let why = format!("{target} is the gateway's own listener on {listener}, which plugins never reach");
        return Err((HttpError::DestinationIpProhibited, FetchOutcome::Refused(why)));
    }
    let _ = tcp.set_nodelay(true);
    if !target.https {
        return Ok(Box::new(tcp));
    }
    let failed =
        |error: HttpError, what: &str, e: &dyn std::fmt::Display| (error, FetchOutcome::Failed(format!("{what}: {e}")));
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| failed(HttpError::HttpRequestUriInvalid, "not a TLS server name", &e))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| failed(HttpError::TlsCertificateError, "TLS", &e))?;
    Ok(Box::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateways_own_listeners_are_recognised_on_every_address_that_reaches_them() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap_or_else(|e| panic!("{s}: {e}"));
        let own = OwnListeners::default();
        own.set(&[addr("0.0.0.0:8080"), addr("127.0.0.1:9090")]);
        let from = addr("127.0.0.1:40000");
        assert_eq!(own.reached_by(from, addr("127.0.0.1:9090")), Some(addr("127.0.0.1:9090")));
        assert_eq!(own.reached_by(from, addr("127.0.0.1:8080")), Some(addr("0.0.0.0:8080")));
        assert_eq!(own.reached_by(from, addr("127.0.0.2:8080")), Some(addr("0.0.0.0:8080")), "all of 127/8");
        let lan = addr("10.0.0.5:41000");
        assert_eq!(
            own.reached_by(lan, addr("10.0.0.5:8080")),
            Some(addr("0.0.0.0:8080")),
            "this machine's LAN address"
        );
        assert_eq!(own.reached_by(lan, addr("10.0.0.6:8080")), None, "another machine");
        assert_eq!(own.reached_by(from, addr("127.0.0.1:9091")), None, "another port");
        assert_eq!(own.reached_by(lan, addr("10.0.0.5:9090")), None, "the admin listens on loopback only");
        let v6 = addr("[::1]:40000");
        own.set(&[addr("[::]:8080")]);
        assert_eq!(own.reached_by(v6, addr("[::1]:8080")), Some(addr("[::]:8080")));
        assert_eq!(own.reached_by(from, addr("[::ffff:127.0.0.1]:8080")), Some(addr("[::]:8080")));
    }
}
