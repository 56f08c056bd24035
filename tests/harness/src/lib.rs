//! The one child-process harness of Switchyard's tests, shared by the end-to-end tests
//! (`tests/e2e`, which run the gateway as their own binary re-executed) and the host's
//! process tests (`host/tests`, which run the built `switchyard` binary itself).
//!
//! It knows nothing of Switchyard: a free loopback port, a child process that is killed if
//! its test ends first, signals sent with kill(1), and waits bounded by a deadline. Waiting
//! is always for an observable outcome, never a fixed sleep.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A loopback port free at the moment of asking.
pub fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free loopback port: {e}"),
    }
}

/// A child process, killed (after a SIGCONT, in case a test froze it) if the test ends
/// before it exits.
#[derive(Debug)]
pub struct Process(pub Child);

impl Process {
    /// Starts `command` (see [`busy_retry`]).
    pub fn spawn(command: &mut Command) -> std::io::Result<Self> {
        busy_retry(|| command.spawn()).map(Self)
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Sends `name` (`KILL`, `TERM`, `INT`, `HUP`, `STOP`, `CONT`) to the process.
    pub fn signal(&self, name: &str) {
        signal(self.id(), name);
    }

    /// Waits, at most `within`, for the process to end; its exit status if it did.
    pub fn wait_for(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it has ended (without waiting).
    pub fn ended(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill").arg("-CONT").arg(self.0.id().to_string()).status();
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Sends signal `name` to `pid` with kill(1); panics when it cannot.
pub fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -{name} {pid}");
}

/// Runs `start` again while it fails with "text file busy". A binary a test has just copied
/// can be held open for writing by a child another test thread forked at that moment (until
/// that child execs); starting the copy fails meanwhile. Bounded: a few hundred milliseconds.
pub fn busy_retry<T>(mut start: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    for _ in 0..50 {
        match start() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
    start()
}
