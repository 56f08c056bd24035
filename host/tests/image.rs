//! The container image, run as its own filesystem: built by `dist/build-image.sh` and named by
//! `SWITCHYARD_TEST_IMAGE` (`.ci/run` sets it; without it this test says so and passes).
//!
//! Containers cannot start under this sandbox's cgroups, so the test does what a runtime would
//! without them: it exports the image's root filesystem (`podman create` + `podman export`),
//! then runs the image's own binary, config and environment inside it with `unshare --root`
//! as the image's non-root user (65532), in new mount and PID namespaces on the host's network.
//! There the gateway must answer `/ready`, pass the image's health check command, and deliver a
//! signed webhook to a receiver on loopback, keeping its database in `/data`.
//! Needs root (for the chroot) and podman.

#![allow(clippy::unwrap_used)] // a test that unwraps says what it expects (rust-clippy#13981)

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use switchyard_test_harness::{Process, free_port};

mod support;
use support::sink;

const PATIENCE: Duration = Duration::from_secs(30);
const USER: &str = "65532";

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{command:?} failed: {text}");
    output
}

fn podman() -> Command {
    let mut command = Command::new("podman");
    command.args(["--cgroup-manager=cgroupfs", "--events-backend=file"]);
    command
}

/// The image's root filesystem, extracted into `into`, and its `Env`.
fn extract(image: &str, into: &Path) -> Vec<(String, String)> {
    let created = run(podman().args(["create", image]));
    let container = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    let tar = into.with_extension("tar");
    run(podman().args(["export", "-o"]).arg(&tar).arg(&container));
    run(podman().args(["rm", &container]));
    std::fs::create_dir_all(into).unwrap();
    run(Command::new("tar").arg("-C").arg(into).args(["--same-owner", "-xpf"]).arg(&tar));
    let inspected = run(podman().args(["image", "inspect", "--format", "{{json .Config.Env}}", image]));
    let env: Vec<String> = serde_json::from_slice(&inspected.stdout).unwrap();
    env.iter().filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// The image's binary run inside `root` as its user, with the image's environment plus `vars`.
fn inside(root: &Path, env: &[(String, String)], vars: &[(&str, String)], args: &[&str]) -> Command {
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--pid", "--fork", "--kill-child", "--root"])
        .arg(root)
        .args(["--wd", "/data", "--setuid", USER, "--setgid", USER, "/usr/local/bin/switchyard"])
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_filesystem_serves_as_its_user_and_delivers_a_webhook() {
    let Ok(image) = std::env::var("SWITCHYARD_TEST_IMAGE") else {
        eprintln!("skipped: SWITCHYARD_TEST_IMAGE is not set (bash dist/build-image.sh builds one)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    let env = extract(&image, &root);
    let binary = root.join("usr/local/bin/switchyard");
    let ldd = Command::new("ldd").arg(&binary).output().unwrap();
    let linked = format!("{}{}", String::from_utf8_lossy(&ldd.stdout), String::from_utf8_lossy(&ldd.stderr));
    eprintln!("the image carries {} ({})", binary.display(), linked.trim());
    assert!(linked.contains("not a dynamic executable") || linked.contains("statically linked"), "static: {linked}");

    let (sink_port, received) = sink().await;
    let (ingest, admin) = (free_port(), free_port());
    let vars = [
        ("SWITCHYARD_LISTEN", format!("0.0.0.0:{ingest}")),
        ("SWITCHYARD_ADMIN_LISTEN", format!("0.0.0.0:{admin}")),
        ("SWITCHYARD_ADMIN_TOKEN", "image-test-token".to_owned()),
        ("BIGCOMMERCE_CLIENT_SECRET", "bc-client-secret".to_owned()),
        ("ERP_URL", format!("http://127.0.0.1:{sink_port}/erp")),
    ];
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut serving = Process::spawn(inside(&root, &env, &vars, &["serve"]).stdout(Stdio::null()).stderr(log)).unwrap();

    let deadline = Instant::now() + PATIENCE;
    let client = reqwest::Client::new();
    loop {
        let ready = client.get(format!("http://127.0.0.1:{admin}/ready")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
        assert!(serving.ended().is_none() && Instant::now() < deadline, "not ready:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = inside(&root, &env, &vars, &["health"]).output().unwrap();
    assert!(health.status.success(), "the image's health check: {}", String::from_utf8_lossy(&health.stdout));

    let sent = inside(&root, &env, &vars, &["send", "--source", "bigcommerce", "--scope", "store/order/created"])
        .output()
        .unwrap();
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let deadline = Instant::now() + PATIENCE;
    let record = loop {
        if let Some(record) = received.lock().unwrap().first().cloned() {
            break record;
        }
        let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "nothing delivered:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(record["record_type"], "sales_order", "{record}");

    let db = std::fs::metadata(root.join("data/switchyard.db")).unwrap();
    assert_eq!(db.uid().to_string(), USER, "the store lives in /data, written as the image's user");
    // `unshare` forks the gateway into its PID namespace: the signal goes to the gateway.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", serving.id())).unwrap();
    let gateway: u32 = children.split_whitespace().next().and_then(|pid| pid.parse().ok()).unwrap();
    switchyard_test_harness::signal(gateway, "TERM");
    assert!(serving.wait_for(PATIENCE).is_some_and(|s| s.success()), "serve stops cleanly on SIGTERM");
}
