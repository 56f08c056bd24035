//! What the binary's process tests (`signals`, `tail`, `crash`, `log_escaping`) share: a free
//! loopback port, a child process killed if a test ends early, and kill(1).
#![allow(dead_code)] // each test file uses its own subset

use std::process::{Child, Command};

/// A loopback port free at the moment of asking.
pub fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free loopback port: {e}"),
    }
}

/// A child process, killed if the test ends before it exits.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends signal `name` (`INT`, `TERM`, `HUP`) to `pid`.
pub fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -{name} {pid}");
}
