//! The binary as an operator gets it: copied alone into an empty directory, with no repository,
//! no cargo and no `target/` on its `PATH`, it writes a starter project (`init`), serves it, and
//! delivers a signed BigCommerce webhook through the example plugin; under a service manager it
//! reports each state on `NOTIFY_SOCKET`.
//!
//! `SWITCHYARD_TEST_BINARY` names another build to test the same way (the static musl one).

#![allow(clippy::unwrap_used)] // a test that unwraps says what it expects (rust-clippy#13981)

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use switchyard_test_harness::{Process, free_port};

mod support;
use support::sink;

const PATIENCE: Duration = Duration::from_secs(30);

/// The binary under test: `SWITCHYARD_TEST_BINARY`, else the one cargo built.
fn built_binary() -> PathBuf {
    std::env::var_os("SWITCHYARD_TEST_BINARY")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_switchyard")), PathBuf::from)
}

/// An empty directory holding only a copy of the binary (`bin/`), a working directory
/// (`work/`) and a home (`home/`).
struct Alone {
    dir: tempfile::TempDir,
}

impl Alone {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["bin", "work", "home"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::copy(built_binary(), dir.path().join("bin/switchyard")).unwrap();
        Self { dir }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// `switchyard ARGS` from `work/`, found on a `PATH` of `bin/`, `/usr/bin` and `/bin` only,
    /// with nothing else from this process's environment but `vars`.
    fn command(&self, args: &[&str], vars: &[(&str, String)]) -> Command {
        let mut command = Command::new("switchyard");
        command
            .args(args)
            .current_dir(self.work())
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display()))
            .env("HOME", self.dir.path().join("home"))
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
        command
    }

    fn run(&self, args: &[&str], vars: &[(&str, String)]) -> Output {
        switchyard_test_harness::busy_retry(|| self.command(args, vars).output()).unwrap()
    }
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The environment the starter routes.toml reads: its listeners, the secret, the receivers.
fn starter_env(ingest: u16, admin: u16, sink: u16) -> Vec<(&'static str, String)> {
    vec![
        ("SWITCHYARD_LISTEN", format!("127.0.0.1:{ingest}")),
        ("SWITCHYARD_ADMIN_LISTEN", format!("127.0.0.1:{admin}")),
        ("BIGCOMMERCE_CLIENT_SECRET", "bc-client-secret".into()),
        ("ERP_URL", format!("http://127.0.0.1:{sink}/erp")),
        ("ARCHIVE_URL", format!("http://127.0.0.1:{sink}/archive")),
    ]
}

/// Runs `switchyard health` until it exits 0.
async fn until_ready(alone: &Alone, vars: &[(&str, String)], serving: &mut Process) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if alone.run(&["health"], vars).status.success() {
            return;
        }
        assert!(serving.ended().is_none(), "serve exited early");
        assert!(Instant::now() < deadline, "not ready: {}", text(&alone.run(&["health"], vars)));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_alone_inits_serves_and_delivers_a_signed_webhook_through_the_example_plugin() {
    let alone = Alone::new();
    let init = alone.run(&["init"], &[]);
    assert!(init.status.success(), "{}", text(&init));
    for file in ["routes.toml", "routes.test.toml", "routes.schema.json", "plugins/order_to_erp.wasm"] {
        assert!(alone.work().join(file).exists(), "init wrote {file}: {}", text(&init));
    }
    let tested = alone.run(&["test"], &[]);
    assert!(tested.status.success(), "the starter's route tests pass: {}", text(&tested));

    // Acknowledgements first, as an operator turns it on in the starter's [server] table.
    let routes = std::fs::read_to_string(alone.work().join("routes.toml")).unwrap();
    assert!(routes.contains("\n[server]\n"), "the starter has a [server] table");
    let routes = routes.replacen("\n[server]\n", "\n[server]\ningest_first = true\n", 1);
    std::fs::write(alone.work().join("routes.toml"), routes).unwrap();

    let (sink_port, received) = sink().await;
    let vars = starter_env(free_port(), free_port(), sink_port);
    let log = std::fs::File::create(alone.dir.path().join("serve.log")).unwrap();
    let mut serving = Process::spawn(alone.command(&["serve"], &vars).stdout(Stdio::null()).stderr(log)).unwrap();
    until_ready(&alone, &vars, &mut serving).await;

    let sent = alone.run(&["send", "--source", "bigcommerce", "--scope", "store/order/created"], &vars);
    assert!(sent.status.success(), "{}", text(&sent));
    let deadline = Instant::now() + PATIENCE;
    let record = loop {
        if let Some(record) = received.lock().unwrap().first().cloned() {
            break record;
        }
        let log = std::fs::read_to_string(alone.dir.path().join("serve.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "nothing delivered; the gateway's log:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(record["record_type"], "sales_order", "{record}");
    assert_eq!(record["change"], "created", "{record}");
    assert_eq!(record["currency"], "USD", "{record}");
    plugin_and_delivery_threads_run_below_the_rest(serving.id());

    let before = std::fs::read(alone.work().join("routes.toml")).unwrap();
    let again = alone.run(&["init"], &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("0 written"), "{}", text(&again));
    assert_eq!(std::fs::read(alone.work().join("routes.toml")).unwrap(), before, "nothing was overwritten");

    serving.signal("TERM");
    assert!(serving.wait_for(PATIENCE).is_some_and(|s| s.success()), "serve stops cleanly on SIGTERM");
}

/// `[server] ingest_first = true`: deliveries run niced 5 and plugin calls 10 below the
/// threads that answer webhooks, which keep the process's own priority.
#[cfg(target_os = "linux")]
fn plugin_and_delivery_threads_run_below_the_rest(pid: u32) {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
        let (head, tail) = stat.rsplit_once(')').unwrap();
        let name = head.split_once('(').unwrap().1.to_owned();
        // After the name: state is field 3 of proc(5)'s stat, nice is field 19.
        let nice: i32 = tail.split_whitespace().nth(16).unwrap().parse().unwrap();
        threads.push((name, nice));
    }
    let main = threads.iter().find(|(name, _)| name == "switchyard").map(|(_, nice)| *nice).unwrap();
    for (stage, below) in [("delivery", 5), ("dispatch", 10)] {
        let niced: Vec<i32> = threads.iter().filter(|(name, _)| name == stage).map(|(_, nice)| *nice).collect();
        assert!(!niced.is_empty(), "{stage} has threads of its own: {threads:?}");
        assert!(niced.iter().all(|nice| *nice == (main + below).min(19)), "{stage}: {threads:?}");
    }
    // Everything else (tokio's workers for ingest, the store's writer, the epoch ticker…) keeps it.
    let others = threads.iter().filter(|(name, _)| name != "delivery" && name != "dispatch");
    assert!(others.clone().count() > 1 && others.clone().all(|(_, nice)| *nice == main), "{threads:?}");
}

#[cfg(not(target_os = "linux"))]
fn plugin_and_delivery_threads_run_below_the_rest(_pid: u32) {}

#[test]
fn the_version_names_the_commit_the_toolchain_and_the_contracts() {
    let alone = Alone::new();
    let output = alone.run(&["--version"], &[]);
    let version = text(&output);
    assert!(output.status.success(), "{version}");
    for part in ["commit ", "rustc:", "wasmtime:", "0.1.0, 0.2.0, 0.3.0"] {
        assert!(version.contains(part), "{part} in {version}");
    }
    // Built from a git checkout (not SWITCHYARD_COMMIT or a tarball): the commit is HEAD's.
    let head =
        Command::new("git").args(["rev-parse", "--short", "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR")).output();
    if let Some(head) = head.ok().filter(|h| h.status.success())
        && std::env::var_os("SWITCHYARD_TEST_BINARY").is_none()
        && std::env::var_os("SWITCHYARD_COMMIT").is_none()
    {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
        assert!(version.contains(&format!("(commit {head})")), "HEAD {head} in {version}");
    }
}

/// Datagrams received on a socket, with a deadline per message.
struct Notifications(UnixDatagram);

impl Notifications {
    fn bind(path: &Path) -> Self {
        let socket = UnixDatagram::bind(path).unwrap();
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        Self(socket)
    }

    fn next(&self) -> String {
        let mut buffer = [0u8; 512];
        let n = self.0.recv(&mut buffer).unwrap_or_else(|e| panic!("no notification within {PATIENCE:?}: {e}"));
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }

    /// The next message that is not a watchdog ping.
    fn next_state(&self) -> String {
        loop {
            let message = self.next();
            if message != "WATCHDOG=1" {
                return message;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_manager_hears_ready_watchdog_reloading_and_stopping_in_order() {
    let alone = Alone::new();
    assert!(alone.run(&["init"], &[]).status.success());
    let socket = alone.dir.path().join("notify");
    let notifications = Notifications::bind(&socket);
    let (sink_port, _) = sink().await;
    let ingest = free_port();
    let mut vars = starter_env(ingest, free_port(), sink_port);
    vars.push(("NOTIFY_SOCKET", socket.display().to_string()));
    vars.push(("WATCHDOG_USEC", "400000".into()));
    let mut serving =
        Process::spawn(alone.command(&["serve"], &vars).stdout(Stdio::null()).stderr(Stdio::null())).unwrap();

    let ready = notifications.next();
    assert!(ready.starts_with("READY=1"), "{ready}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", ingest)).is_ok(),
        "the ingest port accepts once READY=1 is sent"
    );

    // WATCHDOG_USEC = 400 ms: a ping every 200 ms. Ten in a row, timed by when they arrive.
    let started = Instant::now();
    for _ in 0..10 {
        assert_eq!(notifications.next(), "WATCHDOG=1");
    }
    let period = started.elapsed() / 10;
    assert!(period >= Duration::from_millis(100) && period <= Duration::from_millis(600), "a ping every {period:?}");

    serving.signal("HUP");
    let reloading = notifications.next_state();
    assert!(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{reloading}");
    assert!(notifications.next_state().starts_with("READY=1"), "READY=1 once the reload is done");

    serving.signal("TERM");
    assert!(notifications.next_state().starts_with("STOPPING=1"), "STOPPING=1 when the drain begins");
    assert!(serving.wait_for(PATIENCE).is_some_and(|s| s.success()));
}
