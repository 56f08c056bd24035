//! A gateway in a child process, for tests that kill it with SIGKILL. The test binary runs
//! itself with only the ignored `child_gateway` test (in `main.rs`), which serves the
//! routes.toml in `SWITCHYARD_CHILD_DIR` and prints its address, until it is killed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The variable naming the child's directory (its routes.toml, store and plugin cache).
pub const DIR_VAR: &str = "SWITCHYARD_CHILD_DIR";
/// What the child prints before its ingest address.
pub const LISTENING: &str = "child gateway listening on ";

pub struct ChildGateway {
    child: Child,
    pub addr: String,
}

impl ChildGateway {
    /// Starts a gateway on `dir/routes.toml` and waits until it listens.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["--exact", "child_gateway", "--ignored", "--nocapture", "--test-threads=1", "-q"])
            .env(DIR_VAR, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("the child has no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let Some(line) = lines.next() else {
                let status = child.wait()?;
                anyhow::bail!("the child gateway ended before it listened ({status})");
            };
            if let Some(addr) = line?.strip_prefix(LISTENING) {
                // Keep reading its stdout in the background, so the child never blocks on a full pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return Ok(Self { child, addr: addr.trim().to_string() });
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: the gateway gets no chance to finish anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
