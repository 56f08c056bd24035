//! Telling a service manager how the gateway is, as systemd's `Type=notify` expects: `READY=1`
//! once it serves, `RELOADING=1` … `READY=1` around a reload, `STOPPING=1` when the drain
//! begins, and `WATCHDOG=1` while its loops are alive.
//!
//! The sd_notify protocol is one datagram per message to the Unix socket `NOTIFY_SOCKET` names
//! (a path, or `@name` for an abstract one), written here with std alone. With no
//! `NOTIFY_SOCKET` every call does nothing. A failed send is logged and never stops the gateway:
//! this module must never decide anything about serving.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The service manager the gateway reports to, if it was started under one.
#[derive(Debug)]
pub struct ServiceManager {
    socket: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl ServiceManager {
    /// The manager this process's environment names (`NOTIFY_SOCKET`, `WATCHDOG_USEC`,
    /// `WATCHDOG_PID`); none when unset or unusable (said once in the log).
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let socket = var("NOTIFY_SOCKET").and_then(|path| match connect(&path) {
            Ok(socket) => Some(socket),
            Err(e) => {
                tracing::warn!(error = %e, socket = %crate::telemetry::Escaped(&path), "cannot use NOTIFY_SOCKET; not reporting to the service manager");
                None
            }
        });
        let for_us = var("WATCHDOG_PID").is_none_or(|pid| pid.parse() == Ok(std::process::id()));
        let watchdog = var("WATCHDOG_USEC")
            .and_then(|usec| usec.parse::<u64>().ok())
            .filter(|usec| *usec > 0 && for_us)
            .map(Duration::from_micros);
        Self { socket, watchdog }
    }

    /// Serving: the listeners are bound and the store is open (or a reload has finished).
    pub fn ready(&self) {
        self.send("READY=1\nSTATUS=serving");
    }

    /// A reload has begun; [`ServiceManager::ready`] follows when it has finished.
    pub fn reloading(&self) {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let usec = now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000;
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading"));
    }

    /// The drain has begun: no new webhooks, work in flight finishing.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=draining");
    }

    /// The gateway is alive; sent every [`ServiceManager::watchdog_every`].
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// How often to send [`ServiceManager::watchdog`]: half the manager's `WatchdogSec`, as
    /// sd_watchdog_enabled(3) advises; `None` when the manager keeps no watchdog.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.socket.as_ref().and(self.watchdog).map(|period| period / 2)
    }

    fn send(&self, message: &str) {
        let Some((socket, addr)) = &self.socket else { return };
        if let Err(e) = socket.send_to_addr(message.as_bytes(), addr) {
            tracing::warn!(error = %e, message, "cannot notify the service manager");
        }
    }
}

/// An unbound datagram socket and the address `path` names (`@` for the abstract namespace).
fn connect(path: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
    let addr = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        }
        None => SocketAddr::from_pathname(path)?,
    };
    Ok((UnixDatagram::unbound()?, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening() -> (tempfile::TempDir, UnixDatagram, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (dir, socket, path.display().to_string())
    }

    fn received(socket: &UnixDatagram) -> String {
        let mut buffer = [0u8; 256];
        let n = socket.recv(&mut buffer).unwrap();
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }

    #[test]
    fn each_state_is_one_datagram_on_the_socket() {
        let (_dir, socket, path) = listening();
        let manager = ServiceManager { socket: Some(connect(&path).unwrap()), watchdog: None };
        manager.ready();
        assert_eq!(received(&socket), "READY=1\nSTATUS=serving");
        manager.reloading();
        let reloading = received(&socket);
        assert!(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{reloading}");
        manager.stopping();
        assert_eq!(received(&socket), "STOPPING=1\nSTATUS=draining");
        manager.watchdog();
        assert_eq!(received(&socket), "WATCHDOG=1");
    }

    #[test]
    fn an_abstract_socket_is_reached_by_its_at_name() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("switchyard-test-{}", std::process::id());
        let socket = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let manager = ServiceManager { socket: Some(connect(&format!("@{name}")).unwrap()), watchdog: None };
        manager.ready();
        assert_eq!(received(&socket), "READY=1\nSTATUS=serving");
    }

    #[test]
    fn without_a_socket_nothing_is_sent_and_no_watchdog_is_kept() {
        let manager = ServiceManager { socket: None, watchdog: Some(Duration::from_secs(10)) };
        manager.ready();
        assert_eq!(manager.watchdog_every(), None);
        let (_dir, _socket, path) = listening();
        let manager = ServiceManager { socket: Some(connect(&path).unwrap()), watchdog: Some(Duration::from_secs(10)) };
        assert_eq!(manager.watchdog_every(), Some(Duration::from_secs(5)));
    }
}
