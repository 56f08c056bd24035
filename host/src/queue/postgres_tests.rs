//! PostgreSQL-only behaviour, and the shared contract (`contract.rs`) run against a schema of
//! the test database (`SWITCHYARD_TEST_POSTGRES_URL`); without it every test says it skipped.

use super::*;
use crate::queue::contract::{LEASE, contract_tests, event, key};
use crate::queue::{Appended, DeliveryOutcome, EventNext, EventOutcome, Finished, NodeInfo, millis};

/// The lease the tests' stores grant (`storage.lease_secs`'s default).
const SHORT: Duration = Duration::from_secs(15);

/// A schema of its own in the test database (`SWITCHYARD_TEST_POSTGRES_URL`), so tests
/// running at once do not meet; dropped with the guard.
pub(crate) struct TestSchema {
    base: String,
    name: String,
}

impl TestSchema {
    /// `None`, said on stderr, when `SWITCHYARD_TEST_POSTGRES_URL` is not set.
    pub(crate) fn create() -> Option<Self> {
        let Ok(base) = std::env::var("SWITCHYARD_TEST_POSTGRES_URL") else {
            eprintln!("skipped: SWITCHYARD_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("sy_test_{}", uuid::Uuid::now_v7().simple());
        let schema = Self { base, name };
        schema.run(&format!("CREATE SCHEMA {}", schema.name));
        Some(schema)
    }

    /// The test database's url with this schema first on the search path.
    pub(crate) fn url(&self) -> String {
        let joiner = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{joiner}options=-csearch_path%3D{}", self.base, self.name)
    }

    /// Runs `sql` on a thread of its own (the sync client must not run inside tokio).
    fn run(&self, sql: &str) {
        let (base, owned) = (self.base.clone(), sql.to_string());
        let done = std::thread::spawn(move || Client::connect(&base, NoTls)?.batch_execute(&owned)).join();
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{sql}: {e}"),
            Err(_) => panic!("{sql}: the thread panicked"),
        }
    }
}

impl TestSchema {
    /// The count `sql` (`SELECT COUNT(*) …`) answers in this schema, on a thread of its own.
    fn count(&self, sql: &str) -> i64 {
        let (base, owned) = (self.url(), sql.to_string());
        let counted = std::thread::spawn(move || Client::connect(&base, NoTls)?.query_one(&owned, &[])?.try_get(0));
        match counted.join() {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => panic!("{sql}: {e}"),
            Err(_) => panic!("{sql}: the thread panicked"),
        }
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        self.run(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

fn open() -> Option<(Store, TestSchema)> {
    let schema = TestSchema::create()?;
    let store = open_postgres(&schema.url(), SHORT).unwrap();
    Some((store, schema))
}

contract_tests!(open);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_database_never_lease_the_same_event() {
    let Some((a, schema)) = open() else { return };
    let b = open_postgres(&schema.url(), SHORT).unwrap();
    for n in 0..300 {
        a.append(event(n), None).await.unwrap();
    }
    let take = |store: Store| {
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..100 {
                let leased = store.lease_events(7, LEASE).await.unwrap();
                ids.extend(leased.into_iter().map(|l| l.event.id));
            }
            ids
        })
    };
    let (from_a, from_b) = (take(a.clone()), take(b.clone()));
    let (from_a, from_b) = (from_a.await.unwrap_or_default(), from_b.await.unwrap_or_default());
    let mut all: Vec<&String> = from_a.iter().chain(&from_b).collect();
    assert!(!from_a.is_empty() && !from_b.is_empty(), "both nodes got work: {} and {}", from_a.len(), from_b.len());
    assert_eq!(all.len(), 300, "every event leased");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 300, "no event leased by both nodes");
}

#[tokio::test]
async fn a_new_node_leaves_live_leases_alone_and_takes_over_expired_ones() {
    let Some((a, schema)) = open() else { return };
    a.append(event(1), None).await.unwrap();
    a.append(event(2), None).await.unwrap();
    let held = a.lease_events(1, LEASE).await.unwrap_or_default();
    let lapsing = a.lease_events(1, Duration::from_millis(1)).await.unwrap_or_default();
    assert_eq!((held.len(), lapsing.len()), (1, 1));
    drop(a);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let b = open_postgres(&schema.url(), SHORT).unwrap();
    let taken = b.lease_events(10, LEASE).await.unwrap_or_default();
    let ids: Vec<&str> = taken.iter().map(|l| l.event.id.as_str()).collect();
    assert_eq!(ids, [lapsing[0].event.id.as_str()], "only the expired lease is taken over");
}

#[tokio::test]
async fn leases_are_bounded_whatever_the_caller_asks() {
    let Some((store, schema)) = open() else { return };
    store.append(event(1), None).await.unwrap();
    let _ = store.lease_events(1, Duration::from_secs(3600)).await;
    let url = schema.url();
    let longest = std::thread::spawn(move || {
        let mut client = Client::connect(&url, NoTls).ok()?;
        let row = client.query_one("SELECT MAX(lease_until_ms - updated_at_ms) FROM events", &[]).ok()?;
        row.try_get::<_, Option<i64>>(0).ok().flatten()
    })
    .join()
    .ok()
    .flatten();
    let longest = longest.unwrap_or(i64::MAX);
    assert!(longest <= millis(SHORT) + 5_000, "an event leased for {longest} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeat_sent_to_another_node_is_a_duplicate_of_the_first() {
    let Some((a, schema)) = open() else { return };
    let b = open_postgres(&schema.url(), SHORT).unwrap();
    let day = Duration::from_secs(86_400);
    let first = event(1);
    assert_eq!(a.append(first.clone(), key(1, day)).await.ok(), Some(Appended::Stored));
    let repeat = b.append(event(1), key(1, day)).await.ok();
    assert_eq!(repeat, Some(Appended::Duplicate { original_id: first.id }));
    // The same key at the same moment on both nodes: exactly one stores.
    let (x, y) = tokio::join!(a.append(event(2), key(2, day)), b.append(event(2), key(2, day)));
    let stored = [x, y].into_iter().filter(|r| matches!(r, Ok(Appended::Stored))).count();
    assert_eq!(stored, 1);
    assert_eq!(a.depth().await.map(|d| d.events_pending).ok(), Some(2));
}

#[tokio::test]
async fn nul_bytes_in_a_scope_or_an_error_are_stored_not_refused_forever() {
    let Some((store, _schema)) = open() else { return };
    let mut e = event(1);
    e.scope = "order/\0created".into();
    assert_eq!(store.append(e.clone(), None).await.ok(), Some(Appended::Stored));
    let leased = store.lease_events(1, LEASE).await.unwrap_or_default();
    assert_eq!(leased.first().map(|l| l.event.scope.as_str()), Some("order/\u{FFFD}created"));
    let dead = EventOutcome { next: EventNext::Dead { error: "bad\0byte".into() }, ..Default::default() };
    assert!(store.finish_event(e.id.clone(), dead).await.is_ok());
    let letters = store.dead_letters(1).await.unwrap_or_default();
    assert_eq!(letters.first().map(|d| d.error.as_str()), Some("bad\u{FFFD}byte"));
}

#[tokio::test]
async fn a_connection_dropped_while_idle_is_reopened_without_failing_a_call() {
    let Some(schema) = TestSchema::create() else { return };
    let url = format!("{}&application_name={}", schema.url(), schema.name);
    let store = open_postgres(&url, SHORT).unwrap();
    assert!(store.append(event(1), None).await.is_ok());
    let ours = format!("FROM pg_stat_activity WHERE application_name = '{}'", schema.name);
    schema.run(&format!("SELECT pg_terminate_backend(pid) {ours}"));
    for _ in 0..500 {
        if schema.count(&format!("SELECT COUNT(*) {ours}")) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The server is gone from under both connections: the next batch of each reconnects, unseen.
    assert!(store.depth().await.is_ok(), "the first read after the drop is answered");
    assert!(store.append(event(2), None).await.is_ok());
    assert_eq!(store.depth().await.map(|d| d.events_pending).ok(), Some(2));
    let refused = store.submit(WritesButSaysItReads).await.map_err(|e| e.to_string());
    assert!(refused.is_err_and(|e| e.contains("read-only transaction")), "reads stay read-only after a reconnect");
}

#[test]
fn an_unreachable_database_fails_the_open_with_the_url_but_not_its_password() {
    // Port 9 (discard) on loopback: nothing listens, so the connection is refused at once.
    let error = open_postgres("postgres://sy:secret@127.0.0.1:9/sy", SHORT).err().map(|e| e.to_string());
    let error = error.unwrap_or_default();
    assert!(error.starts_with("cannot open the store at postgres://sy:***@127.0.0.1:9/sy: "), "{error}");
    assert!(!error.contains("secret"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn increments_from_two_gateways_on_one_database_add_up() {
    let Some((a, schema)) = open() else { return };
    let b = open_postgres(&schema.url(), SHORT).unwrap();
    for n in 0..60 {
        a.append(event(n), None).await.unwrap();
    }
    // Each gateway finishes the events it leased, half each, at once.
    let at_a = a.lease_events(30, LEASE).await.unwrap_or_default();
    let at_b = b.lease_events(30, LEASE).await.unwrap_or_default();
    assert_eq!((at_a.len(), at_b.len()), (30, 30));
    let leased = at_a.into_iter().map(|l| (a.clone(), l)).chain(at_b.into_iter().map(|l| (b.clone(), l)));
    let finishes = leased.map(|(store, l)| {
        let add = crate::queue::contract::kv_write("p", "hits", crate::queue::KvOp::Add(1));
        let id = l.event.id;
        tokio::spawn(async move { store.finish_event(id, EventOutcome { kv: vec![add], ..Default::default() }).await })
    });
    for f in finishes.collect::<Vec<_>>() {
        assert!(matches!(f.await, Ok(Ok(Finished::Recorded))));
    }
    assert_eq!(a.kv_get("p", "hits").await.ok().flatten(), Some(b"60".to_vec()));
}

/// The test server's certificate file, when it serves TLS and the file can be read here (the
/// Debian default: `ssl = on` with the snakeoil certificate for `localhost`).
fn server_certificate(base: &str) -> Option<String> {
    let base = base.to_string();
    let found = std::thread::spawn(move || -> Option<String> {
        let mut client = Client::connect(&base, NoTls).ok()?;
        let on: String = client.query_one("SHOW ssl", &[]).ok()?.try_get(0).ok()?;
        let file: String = client.query_one("SHOW ssl_cert_file", &[]).ok()?.try_get(0).ok()?;
        (on == "on" && std::fs::read(&file).is_ok()).then_some(file)
    });
    let found = found.join().ok().flatten();
    if found.is_none() {
        eprintln!("skipped: the test server offers no TLS with a certificate this process can read");
    }
    found
}

/// Connects with `params` added to the test URL (its host replaced by `host`), and says
/// whether the connection is encrypted, or why it failed.
fn ssl_with(base: &str, host: &str, params: &str) -> Result<bool, String> {
    let url = format!("{}{}{params}", base.replace("127.0.0.1", host), if base.contains('?') { "&" } else { "?" });
    std::thread::spawn(move || {
        let mut client = connect(&url, SHORT).map_err(|e| e.to_string())?;
        let row = client
            .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
            .map_err(|e| e.to_string())?;
        row.try_get::<_, bool>(0).map_err(|e| e.to_string())
    })
    .join()
    .unwrap_or_else(|_| Err("the thread panicked".into()))
}

#[test]
fn sslmode_is_read_as_libpq_reads_it() {
    let Ok(base) = std::env::var("SWITCHYARD_TEST_POSTGRES_URL") else {
        return eprintln!("skipped: SWITCHYARD_TEST_POSTGRES_URL is not set");
    };
    if !base.contains("127.0.0.1") {
        return eprintln!("skipped: the TLS tests name the test server as 127.0.0.1 and localhost");
    }
    let Some(cert) = server_certificate(&base) else { return };
    assert_eq!(ssl_with(&base, "127.0.0.1", "sslmode=disable"), Ok(false));
    assert_eq!(ssl_with(&base, "127.0.0.1", "sslmode=require"), Ok(true), "require: encrypted, not verified");
    assert_eq!(ssl_with(&base, "127.0.0.1", ""), Ok(false), "without sslmode, plain, as before");
    assert_eq!(ssl_with(&base, "127.0.0.1", "sslmode=prefer"), Ok(true), "prefer takes the TLS offered");
    let root = format!("sslrootcert={cert}");
    assert_eq!(ssl_with(&base, "localhost", &format!("sslmode=verify-full&{root}")), Ok(true));
    assert_eq!(
        ssl_with(&base, "127.0.0.1", &format!("sslmode=verify-ca&{root}")),
        Ok(true),
        "verify-ca: no name check"
    );

    let wrong_name = ssl_with(&base, "127.0.0.1", &format!("sslmode=verify-full&{root}"));
    let why = wrong_name.err().unwrap_or_default();
    assert!(why.contains("NotValidForName") || why.contains("not valid for name"), "{why}");
    // A CA that did not sign the server's certificate (this machine's own roots may well hold
    // the snakeoil certificate, so they are not the test of an unknown CA).
    let other_ca = rcgen::KeyPair::generate()
        .and_then(|key| rcgen::CertificateParams::new(vec!["other-ca".to_string()])?.self_signed(&key))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, other_ca.pem()).unwrap();
    let unknown_ca = ssl_with(&base, "localhost", &format!("sslmode=verify-full&sslrootcert={}", other.display()));
    let why = unknown_ca.err().unwrap_or_default();
    assert!(why.contains("UnknownIssuer") || why.contains("unknown issuer"), "{why}");
    assert!(why.starts_with("cannot open the store at"), "{why}");
}

fn me() -> NodeInfo {
    NodeInfo { host: "test-host".into(), version: "0.0.0".into(), started_at_ms: crate::event::now_ms() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_lost_its_lease_commits_nothing_and_the_new_holder_does() {
    let Some(schema) = TestSchema::create() else { return };
    let lease = Duration::from_millis(300);
    let a = open_postgres(&schema.url(), lease).unwrap();
    let b = open_postgres(&schema.url(), lease).unwrap();
    a.append(event(1), None).await.unwrap();
    let at_a = a.lease_events(1, LEASE).await.unwrap_or_default();
    assert_eq!(at_a.len(), 1);
    // A freezes past its lease; B takes the event over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let at_b = b.lease_events(1, LEASE).await.unwrap_or_default();
    assert_eq!(at_b.len(), 1, "the lapsed lease is taken over");
    let id = at_a[0].event.id.clone();
    let with_delivery = |dest: &str| EventOutcome {
        deliveries: vec![crate::queue::contract::delivery(&at_a[0].event, dest)],
        ..EventOutcome::default()
    };
    // A wakes up: its outcome is refused, nothing of it written.
    let from_a = a.finish_event(id.clone(), with_delivery("from-a")).await.unwrap();
    assert_eq!(from_a, Finished::LeaseLost);
    assert_eq!(schema.count("SELECT COUNT(*) FROM deliveries WHERE destination = 'from-a'"), 0);
    let from_b = b.finish_event(id, with_delivery("from-b")).await.unwrap();
    assert_eq!(from_b, Finished::Recorded);
    assert_eq!(schema.count("SELECT COUNT(*) FROM deliveries WHERE destination = 'from-b'"), 1);

    // The same for a delivery: A's attempt outcome is dropped once B holds the delivery.
    let d = a.lease_deliveries(1, LEASE).await.unwrap_or_default();
    assert_eq!(d.len(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(b.lease_deliveries(1, LEASE).await.unwrap_or_default().len(), 1);
    let id = d[0].delivery.id.clone();
    let lost = a.finish_delivery(id.clone(), DeliveryOutcome::Delivered, None).await.unwrap();
    assert!(!lost, "a delivery held by another node is not written");
    assert_eq!(schema.count("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'"), 0);
    let kept = b.finish_delivery(id, DeliveryOutcome::Delivered, None).await.unwrap();
    assert!(kept);
    assert_eq!(schema.count("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renewal_keeps_every_lease_in_one_statement_per_table_until_it_stops() {
    let Some(schema) = TestSchema::create() else { return };
    let lease = Duration::from_millis(600);
    let a = open_postgres(&schema.url(), lease).unwrap();
    let b = open_postgres(&schema.url(), lease).unwrap();
    for n in 0..50 {
        a.append(event(n), None).await.unwrap();
    }
    assert_eq!(a.lease_events(50, LEASE).await.unwrap_or_default().len(), 50);
    // A renews for three leases' time: B finds nothing to take.
    for _ in 0..9 {
        let renewed = a.renew(me(), lease).await.unwrap();
        assert_eq!(renewed.events, 50);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(b.lease_events(50, LEASE).await.unwrap_or_default().is_empty(), "a renewed lease was taken");
    }
    let nodes = b.nodes(lease).await.unwrap();
    let node_a = nodes.iter().find(|n| n.id == a.node()).unwrap_or_else(|| panic!("A in {nodes:?}"));
    assert_eq!((node_a.state, node_a.events_leased, node_a.host.as_str()), ("live", 50, "test-host"));
    // A stops renewing (it died): within one lease B has all of it.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    assert_eq!(b.lease_events(50, LEASE).await.unwrap_or_default().len(), 50);
    let nodes = b.nodes(lease).await.unwrap();
    let node_a = nodes.iter().find(|n| n.id == a.node()).unwrap_or_else(|| panic!("A in {nodes:?}"));
    assert_eq!((node_a.state, node_a.events_leased), ("gone", 0));
    // A's renewal, when it comes back, does not take back what B holds.
    assert_eq!(a.renew(me(), lease).await.unwrap().events, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopping_node_hands_its_leases_back_at_once() {
    let Some(schema) = TestSchema::create() else { return };
    let a = open_postgres(&schema.url(), SHORT).unwrap();
    let b = open_postgres(&schema.url(), SHORT).unwrap();
    for n in 0..5 {
        a.append(event(n), None).await.unwrap();
    }
    a.renew(me(), SHORT).await.unwrap();
    assert_eq!(a.lease_events(5, LEASE).await.unwrap_or_default().len(), 5);
    assert!(b.lease_events(5, LEASE).await.unwrap_or_default().is_empty());
    assert_eq!(a.hand_back().await.unwrap(), 5);
    assert_eq!(b.lease_events(5, LEASE).await.unwrap_or_default().len(), 5, "taken without waiting for the lease");
    let nodes = b.nodes(SHORT).await.unwrap();
    assert_eq!(nodes.iter().find(|n| n.id == a.node()).map(|n| n.state), Some("stopped"));
}

/// An operation that says it only reads, and writes.
struct WritesButSaysItReads;

impl writer::Op for WritesButSaysItReads {
    type Output = u64;
    const READS_ONLY: bool = true;

    fn run(&mut self, tx: &mut dyn Tx, _ctx: &Ctx) -> Result<u64, StoreError> {
        tx.execute("DELETE FROM kv WHERE plugin = ?1", &[Arg::Text("p")])
    }
}

#[tokio::test]
async fn reads_run_on_a_read_only_connection_that_sees_every_commit() {
    let Some((store, _schema)) = open() else { return };
    store.append(event(1), None).await.unwrap();
    let leased = store.lease_events(1, LEASE).await.unwrap_or_default();
    assert_eq!(leased.len(), 1);
    let set = crate::queue::contract::kv_write("p", "k", crate::queue::KvOp::Add(7));
    let id = leased[0].event.id.clone();
    let finished = store.finish_event(id, EventOutcome { kv: vec![set], ..Default::default() }).await;
    assert!(matches!(finished, Ok(Finished::Recorded)), "{finished:?}");
    // Committed by the writer, read on the other connection at once.
    assert_eq!(store.kv_get("p", "k").await.ok().flatten(), Some(b"7".to_vec()));
    assert_eq!(store.kv_count("p").await.ok(), Some(1));

    let refused = store.submit(WritesButSaysItReads).await.map_err(|e| e.to_string());
    assert!(refused.as_ref().is_err_and(|e| e.contains("read-only transaction")), "{refused:?}");
    assert_eq!(store.kv_count("p").await.ok(), Some(1), "nothing was deleted");
}

#[test]
fn a_database_migrated_by_a_newer_gateway_is_refused_and_left_as_it_is() {
    let Some(schema) = TestSchema::create() else { return };
    drop(open_postgres(&schema.url(), SHORT).unwrap());
    let newer = MIGRATIONS.len() as i64 + 1;
    schema.run(&format!("INSERT INTO {}.switchyard_schema (version) VALUES ({newer})", schema.name));
    match open_postgres(&schema.url(), SHORT) {
        Err(StoreError::NewerSchema { found, known, .. }) => {
            assert_eq!((found, known), (newer as u64, newer as u64 - 1))
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    let versions = schema.count("SELECT MAX(version)::bigint FROM switchyard_schema");
    assert_eq!(versions, newer, "nothing was migrated down");
}
