//! The store failing underneath a serving gateway: a disk that fills up under load, a
//! database file deleted while in use, and a PostgreSQL writer stuck behind a lock. The gateway says so — 503s that name storage, `/ready`
//! 503 — never acknowledges what it could not keep, and once space returns delivers every
//! webhook it did acknowledge within seconds.

use crate::support::{PATIENCE, TestDestination, TestGateway};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn table(dest: &TestDestination) -> String {
    format!(
        r#"
[storage]
url = "sqlite://store/sy.db"

[sources.shop]
provider = "generic"
scope_field = "scope"

[destinations.erp]
url = "{url}"
retry = {{ first_ms = 50, max_ms = 200 }}

[[routes]]
match = "order/*"
to = ["erp"]
"#,
        url = dest.url("/erp")
    )
}

/// A small tmpfs mounted at `dir`, unmounted when dropped. Needs root.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` with one file, until it is full.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 1 << 20];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.flush();
    path
}

async fn ready(gw: &TestGateway) -> u16 {
    match reqwest::get(gw.admin_url("/ready")).await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

#[derive(Default)]
struct Load {
    acknowledged: Mutex<BTreeSet<u64>>,
    storage_503s: AtomicU64,
    other: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// Posts uniquely numbered orders until stopped, remembering which were acknowledged.
async fn load(gw: Arc<TestGateway>, state: Arc<Load>, offset: u64) {
    let mut n = offset;
    while !state.stop.load(Ordering::Relaxed) {
        n += 1;
        let body = format!(r#"{{"scope": "order/created", "n": {n}}}"#);
        let answer = gw.post("shop", &body).await;
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        match status {
            200 => drop(state.acknowledged.lock().map(|mut a| a.insert(n))),
            503 if text.contains("storage") => drop(state.storage_503s.fetch_add(1, Ordering::Relaxed)),
            _ => drop(state.other.lock().map(|mut o| o.push(format!("{status} {text}")))),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disk_that_fills_under_load_is_reported_and_everything_acknowledged_is_delivered_after() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(&dir.path().join("store"), "48m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let dest = TestDestination::start().await;
    std::fs::write(dir.path().join("routes.toml"), table(&dest)).unwrap();
    let gw = Arc::new(TestGateway::start_in_with_admin(dir).await.unwrap());
    assert_eq!(ready(&gw).await, 200);

    let state = Arc::new(Load::default());
    let workers: Vec<_> = (0..8).map(|i| tokio::spawn(load(gw.clone(), state.clone(), i * 1_000_000_000))).collect();
    let acked = || state.acknowledged.lock().map(|a| a.len()).unwrap_or_default();
    while acked() < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let filler = fill(&tmpfs.0);
    let deadline = Instant::now() + PATIENCE;
    while state.storage_503s.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "a full disk never showed as 503s naming storage");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..5 {
        assert_eq!(ready(&gw).await, 503, "/ready says 503 while the disk is full");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    state.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let other = state.other.lock().map(|o| o.clone()).unwrap_or_default();
    assert!(other.is_empty(), "every answer was a 200 or a 503 naming storage: {other:?}");

    // Space returns: everything acknowledged arrives within 10 s.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    let want: BTreeSet<u64> = state.acknowledged.lock().map(|a| a.clone()).unwrap_or_default();
    loop {
        let got: BTreeSet<u64> = dest.received().iter().filter_map(|r| r.json()["n"].as_u64()).collect();
        let missing: Vec<&u64> = want.difference(&got).take(5).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            freed.elapsed() < Duration::from_secs(10),
            "{} acknowledged but not delivered, e.g. {missing:?}",
            want.len() - got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready(&gw).await, 200, "ready again once the store writes");
    drop(tmpfs);
}

#[tokio::test]
async fn a_deleted_database_turns_ready_and_ingest_to_503_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let dest = TestDestination::start().await;
    std::fs::write(dir.path().join("routes.toml"), table(&dest)).unwrap();
    let db = dir.path().join("store/sy.db");
    let gw = TestGateway::start_in_with_admin(dir).await.unwrap();
    assert_eq!(gw.post("shop", r#"{"scope": "order/created", "n": 1}"#).await.status(), 200);
    assert_eq!(ready(&gw).await, 200);

    std::fs::remove_file(&db).unwrap();
    let deleted = Instant::now();
    let mut n = 1;
    loop {
        n += 1;
        let answer = gw.post("shop", &format!(r#"{{"scope": "order/created", "n": {n}}}"#)).await;
        let ingest = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        if ingest == 503 && ready(&gw).await == 503 {
            assert!(text.contains("storage"), "{text}");
            break;
        }
        assert!(deleted.elapsed() < Duration::from_secs(2), "still {ingest} and ready after 2 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It stays so: a database that was deleted is not written again by this process.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(ready(&gw).await, 503);
    let body = reqwest::get(gw.admin_url("/ready")).await.map(|r| r.text());
    let body = match body {
        Ok(text) => text.await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    assert!(body.contains("is gone"), "{body}");
}

/// On PostgreSQL, reads have a connection of their own, so they answer while the writer is
/// stuck (here behind a lock that lets reads through): `/ready` must still say 503, and the
/// webhook waiting on the writer is stored once the lock goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_stuck_behind_a_lock_on_postgres_turns_ready_to_503() {
    let Some(schema) = crate::support::pg::TestSchema::create() else { return };
    let dest = TestDestination::start().await;
    let toml = table(&dest).replace("[storage]\nurl = \"sqlite://store/sy.db\"", &schema.storage());
    let gw = TestGateway::start_with_admin(&toml).await.unwrap();
    assert_eq!(ready(&gw).await, 200);

    // EXCLUSIVE blocks every write to `events` and no read of it.
    let (url, (locked, is_locked), (release, released)) =
        (schema.url(), tokio::sync::oneshot::channel(), std::sync::mpsc::channel::<()>());
    let holder = std::thread::spawn(move || -> Result<(), postgres::Error> {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        let mut tx = client.transaction()?;
        tx.batch_execute("LOCK TABLE events IN EXCLUSIVE MODE")?;
        let _ = locked.send(());
        // Bounded: the test releases it long before.
        let _ = released.recv_timeout(Duration::from_secs(60));
        tx.commit()
    });
    assert!(is_locked.await.is_ok(), "the lock was taken");
    let post = {
        let (client, url) = (reqwest::Client::new(), gw.url("/hooks/shop"));
        tokio::spawn(async move { client.post(url).body(r#"{"scope":"order/created","n":1}"#).send().await })
    };
    // Once the webhook's append waits on the lock, so does everything queued behind it.
    let mut answer = reqwest::get(gw.admin_url("/ready")).await.unwrap();
    for _ in 0..50 {
        if answer.status() == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        answer = reqwest::get(gw.admin_url("/ready")).await.unwrap();
    }
    assert_eq!(answer.status(), 503, "a stuck writer is not ready");
    let body = answer.text().await.unwrap_or_default();
    assert!(body.contains("did not answer"), "{body}");
    assert_eq!(gw.gateway.store.depth().await.map(|d| d.events_pending).ok(), Some(0), "reads still answer");

    let _ = release.send(());
    assert!(matches!(holder.join(), Ok(Ok(()))), "the lock was held and let go");
    let stored = post.await.map(|r| r.map(|r| r.status().as_u16()));
    assert!(matches!(stored, Ok(Ok(200))), "the webhook is stored once the lock goes: {stored:?}");
    assert_eq!(ready(&gw).await, 200, "ready again");
    dest.wait_for(1).await;
    gw.stop().await;
}
