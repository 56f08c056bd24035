//! A gateway in a child process, for tests that kill it with SIGKILL. The test binary runs
//! itself with only the ignored `child_gateway` test (in `main.rs`), which serves the
//! routes.toml in `SWITCHYARD_CHILD_DIR` and prints its address, until it is killed; or with
//! `child_serve`, which runs a whole `switchyard` command line as the binary does. The
//! processes themselves are `switchyard_test_harness`'s, as the host's binary tests' are.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use switchyard_test_harness::Process;

/// The variable naming the child's directory (its routes.toml, store and plugin cache).
pub const DIR_VAR: &str = "SWITCHYARD_CHILD_DIR";
/// What the child prints before its ingest address.
pub const LISTENING: &str = "child gateway listening on ";

/// This test binary, set to run only its ignored test `name` (a child process's entry point).
fn this_test_binary(name: &str) -> std::io::Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1", "-q"]);
    Ok(command)
}

pub struct ChildGateway {
    child: Process,
    pub addr: String,
}

impl ChildGateway {
    /// Starts a gateway on `dir/routes.toml` and waits until it listens.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let mut child = Process::spawn(
            this_test_binary("child_gateway")?.env(DIR_VAR, dir).stdout(Stdio::piped()).stderr(Stdio::null()),
        )?;
        let stdout = child.0.stdout.take().ok_or_else(|| anyhow::anyhow!("the child has no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let Some(line) = lines.next() else {
                let status = child.0.wait()?;
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
    pub fn kill(self) {
        self.child.signal("KILL");
    }
}

/// The variable carrying `switchyard` arguments, one per line, to the `child_serve` test.
pub const ARGS_VAR: &str = "SWITCHYARD_CHILD_ARGS";

/// A whole `switchyard serve` in a child process, as the binary runs it (`cli::main`: signal
/// handling, graceful stop, OTLP export), for tests that stop, freeze or kill it with signals.
pub struct ServeChild {
    child: Process,
    /// Its admin listener, `127.0.0.1:PORT`.
    pub admin: String,
}

impl ServeChild {
    /// Runs `switchyard serve --config CONFIG --no-watch` and waits (bounded) until its admin
    /// listener answers `/health`. `admin` is the `[server] admin` address the config names.
    pub async fn start(config: &Path, admin: &str) -> anyhow::Result<Self> {
        Self::launch(config, admin, Stdio::inherit()).await
    }

    /// [`ServeChild::start`], its log (warnings and worse) written to `log`.
    pub async fn start_logging(config: &Path, admin: &str, log: &Path) -> anyhow::Result<Self> {
        Self::launch(config, admin, Stdio::from(std::fs::File::create(log)?)).await
    }

    async fn launch(config: &Path, admin: &str, stderr: Stdio) -> anyhow::Result<Self> {
        let args = format!("serve\n--config\n{}\n--no-watch", config.display());
        let child = Process::spawn(
            this_test_binary("child_serve")?
                .env(ARGS_VAR, args)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(stderr),
        )?;
        let mut serving = Self { child, admin: admin.to_string() };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Some(status) = serving.child.ended() {
                anyhow::bail!("the gateway ended before it served ({status})");
            }
            let health = client.get(format!("http://{admin}/health")).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return Ok(serving);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        anyhow::bail!("the gateway did not answer /health on {admin} within 30 s")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`KILL`, `TERM`, `STOP`, `CONT`) with kill(1).
    pub fn signal(&self, signal: &str) {
        self.child.signal(signal);
    }

    /// Waits (bounded by `within`) for the process to end; its exit status, if it did.
    pub async fn wait(&mut self, within: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.ended() {
                return Some(status);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }
}

/// Runs `switchyard ARGS…` as the binary would (`cli::main`) in a child process; its exit
/// status and the lines it printed (the test harness's own lines left out).
pub fn run_cli(args: &[&str]) -> anyhow::Result<(bool, Vec<String>)> {
    let output = this_test_binary("child_serve")?
        .env(ARGS_VAR, args.join("\n"))
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let harness = |l: &&str| l.is_empty() || l.starts_with("running ") || l.starts_with("test result");
    Ok((output.status.success(), text.lines().filter(|l| !harness(l)).map(String::from).collect()))
}
