//! Broker destinations against the machine's real NATS JetStream, RabbitMQ, Redis and
//! Mosquitto: each message carries its `webhook-id` and a signature that verifies; a broker
//! that cannot be reached (or refuses the message) fails attempts that are retried, and a
//! reload that fixes the URL delivers everything; a broker that takes connections and never
//! answers is backed off from rather than waited on by every attempt; a `kill -9` of the
//! gateway under load loses no acknowledged event, and a repeat carries the same `webhook-id`.

use crate::support::brokers::{Consumer, Kind, Received};
use crate::support::child::ChildGateway;
use crate::support::{PATIENCE, TestGateway, eventually, silent_listener};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard::metrics::Metrics;

/// `whsec_` of the 16 bytes `sixteen-byte-key`.
const SECRET: &str = "whsec_c2l4dGVlbi1ieXRlLWtleQ==";

fn table(consumer: &Consumer, url: &str) -> String {
    format!(
        "[sources.shop]\nprovider = \"generic\"\nscope_field = \"scope\"\n\n{}\n\
         [[routes]]\nname = \"orders\"\nmatch = \"order/*\"\nto = [\"bus\"]\n",
        consumer.destination("bus", url, SECRET)
    )
}

fn order(n: usize) -> String {
    format!(r#"{{"scope": "order/created", "n": {n}}}"#)
}

fn n_of(r: &Received) -> Option<u64> {
    r.json()["n"].as_u64()
}

async fn started(kind: Kind) -> Consumer {
    match Consumer::start(kind).await {
        Ok(consumer) => consumer,
        Err(e) => panic!("{kind:?}: cannot start a consumer on the local broker: {e:#}"),
    }
}

/// The name each broker gets for source `shop` and scope `order/created`.
fn expected_name(consumer: &Consumer) -> String {
    let p = &consumer.prefix;
    match consumer.kind {
        Kind::Nats | Kind::Amqp => format!("{p}.shop.order.created"),
        Kind::Redis => format!("{p}:order:created"),
        Kind::Mqtt => format!("{p}/shop/order/created"),
    }
}

async fn arrives_with_its_id_and_a_signature_that_verifies(kind: Kind) {
    let consumer = started(kind).await;
    let gw = TestGateway::start(&table(&consumer, kind.url())).await.unwrap();
    let body = order(1);
    assert_eq!(gw.post("shop", &body).await.status(), 200);
    let got = consumer.wait(1).await.remove(0);

    assert_eq!(got.name, expected_name(&consumer));
    assert_eq!(got.body, body.as_bytes(), "the body as received");
    assert_eq!(got.header("content-type"), Some("application/json"));
    let id = got.header("webhook-id").unwrap_or_else(|| panic!("{kind:?}: no webhook-id in {:?}", got.headers));
    assert!(id.starts_with("dlv_"), "{id}");
    if matches!(kind, Kind::Nats | Kind::Amqp) {
        assert_eq!(got.dedup_id.as_deref(), Some(id), "the broker's deduplication id is the webhook-id");
    }
    if kind == Kind::Amqp {
        assert_eq!(got.header("delivery-mode"), Some("2"), "persistent");
    }
    let mut headers = http::HeaderMap::new();
    for (k, v) in &got.headers {
        if let (Ok(k), Ok(v)) = (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(v)) {
            headers.insert(k, v);
        }
    }
    let keys = switchyard::signature::Keys::new(vec![b"sixteen-byte-key".to_vec()]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let verified = switchyard::standard_webhooks::verify(&keys, &headers, &got.body, now, 300);
    assert_eq!(verified.as_deref(), Ok(id), "{kind:?}: the signature verifies");
    gw.stop().await;
    consumer.finish().await;
}

async fn an_unreachable_broker_is_retried_until_a_reload_fixes_it(kind: Kind) {
    let consumer = started(kind).await;
    let gw = TestGateway::start(&table(&consumer, &kind.unreachable_url())).await.unwrap();
    for n in 0..3 {
        assert_eq!(gw.post("shop", &order(n)).await.status(), 200);
    }
    let metrics = gw.gateway.metrics.clone();
    eventually("attempts that fail and are retried", || Metrics::get(&metrics.delivery_failures) >= 6).await;
    assert_eq!(Metrics::get(&metrics.delivered), 0);

    std::fs::write(gw.config_path(), table(&consumer, kind.url())).unwrap();
    gw.gateway.reload.notify_one();
    let got = consumer.wait(3).await;
    let ns: BTreeSet<u64> = got.iter().filter_map(n_of).collect();
    assert_eq!(ns, BTreeSet::from([0, 1, 2]), "{kind:?}: every event, once the URL is fixed");
    assert_eq!(Metrics::get(&metrics.dead_letters), 0, "nothing was given up");
    gw.stop().await;
    consumer.finish().await;
}

async fn a_broker_that_never_answers_is_backed_off_from(kind: Kind) {
    const EVENTS: usize = 3;
    let consumer = started(kind).await;
    let (port, accepted, silent) = silent_listener().await;
    let hung = table(&consumer, &kind.url_with_port(port)).replace("timeout_ms = 2000", "timeout_ms = 300");
    let gw = TestGateway::start(&hung).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..EVENTS {
        let answer = gw.post("shop", &order(n)).await;
        assert_eq!(answer.status(), 200);
        let text = answer.text().await.unwrap();
        let accepted: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        ids.push(accepted["id"].as_str().unwrap_or_else(|| panic!("{accepted}")).to_string());
    }
    let metrics = gw.gateway.metrics.clone();
    eventually("attempts that fail and are retried", || Metrics::get(&metrics.delivery_failures) >= 20).await;
    let connections = accepted.load(Ordering::SeqCst);

    let mut errors = Vec::new();
    for id in &ids {
        let record = gw.gateway.store.event_record(id).await.unwrap();
        let record = record.unwrap_or_else(|| panic!("no event {id}"));
        errors.extend(record.deliveries.iter().flat_map(|d| d.attempts.iter()).filter_map(|a| a.error.clone()));
    }
    // An attempt during the backoff repeats the last connection error, with when the next try is.
    let backed_off = errors.iter().filter(|e| e.contains("next try in")).count();
    let timed_out = errors.len() - backed_off;
    assert!(errors.iter().all(|e| e.contains("no connection within")), "{kind:?}: {errors:?}");
    eprintln!(
        "{kind:?}: {} failed attempts recorded, {connections} connections made, {timed_out} timed out, \
         {backed_off} failed at once during the backoff",
        errors.len()
    );
    assert!(timed_out >= 1, "{kind:?}: a connection that never completes times out: {errors:?}");
    assert!(connections >= 2, "{kind:?}: the broker is tried again after the backoff");
    assert!(
        backed_off > 2 * connections,
        "{kind:?}: most attempts fail at once instead of waiting on a connection of their own \
         ({connections} connections): {errors:?}"
    );

    std::fs::write(gw.config_path(), table(&consumer, kind.url())).unwrap();
    gw.gateway.reload.notify_one();
    let got = consumer.wait(EVENTS).await;
    let ns: BTreeSet<u64> = got.iter().filter_map(n_of).collect();
    assert_eq!(ns, (0..EVENTS as u64).collect(), "{kind:?}: every event, once the URL is fixed");
    assert_eq!(Metrics::get(&metrics.dead_letters), 0, "nothing was given up");
    gw.stop().await;
    silent.abort();
    consumer.finish().await;
}

async fn a_kill_9_under_load_loses_no_acknowledged_event(kind: Kind) {
    const EVENTS: usize = 400;
    const KILL_AFTER: usize = 150;
    let consumer = started(kind).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.toml"), table(&consumer, kind.url())).unwrap();
    let child = ChildGateway::start(dir.path()).unwrap();
    let url = child.url("/hooks/shop");
    let child = Arc::new(Mutex::new(Some(child)));

    // Eight clients post until the gateway is gone; the first to see KILL_AFTER acks kills it.
    let acked: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let mut posters = Vec::new();
    for _ in 0..8 {
        let (acked, next, child, client, url) =
            (acked.clone(), next.clone(), child.clone(), client.clone(), url.clone());
        posters.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= EVENTS {
                    return;
                }
                let sent = client.post(&url).header("content-type", "application/json").body(order(n)).send().await;
                match sent {
                    Ok(r) if r.status() == 200 => {
                        let count = {
                            let mut acked = acked.lock().unwrap_or_else(|p| p.into_inner());
                            acked.insert(n as u64);
                            acked.len()
                        };
                        if count >= KILL_AFTER
                            && let Some(child) = child.lock().unwrap_or_else(|p| p.into_inner()).take()
                        {
                            child.kill();
                        }
                    }
                    Ok(r) => panic!("event {n}: {}", r.status()),
                    Err(_) => return, // the gateway is gone: this event was never acknowledged
                }
            }
        }));
    }
    for poster in posters {
        poster.await.unwrap();
    }
    if let Some(child) = child.lock().unwrap_or_else(|p| p.into_inner()).take() {
        child.kill();
    }
    let acked = acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(acked.len() >= KILL_AFTER, "{} acknowledged before the kill", acked.len());
    assert!(acked.len() < EVENTS, "the gateway was killed while events were still coming in");
    let before_restart = consumer.received().len();

    // A new gateway on the same store finishes the work.
    let child = ChildGateway::start(dir.path()).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE * 2;
    let missing = loop {
        let seen: BTreeSet<u64> = consumer.received().iter().filter_map(n_of).collect();
        let missing: Vec<u64> = acked.difference(&seen).copied().collect();
        if missing.is_empty() || tokio::time::Instant::now() >= deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill();
    eprintln!(
        "{kind:?}: {} acknowledged, {before_restart} published before the kill, {} after the restart",
        acked.len(),
        consumer.received().len()
    );
    assert!(missing.is_empty(), "{kind:?}: {} acknowledged events never arrived: {missing:?}", missing.len());

    let mut ids: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for r in consumer.received() {
        if let Some(n) = n_of(&r) {
            ids.entry(n).or_default().insert(r.header("webhook-id").unwrap_or_default().to_string());
        }
    }
    for (n, ids) in &ids {
        assert_eq!(ids.len(), 1, "{kind:?}: every copy of event {n} carries the same webhook-id: {ids:?}");
    }
    consumer.finish().await;
}

async fn a_refused_message_is_a_failed_attempt(kind: Kind) {
    let consumer = started(kind).await;
    let p = &consumer.prefix;
    // No stream takes the subject; no queue is bound to the routing key.
    let target = match kind {
        Kind::Nats => format!(r#"subject = "nostream{p}.{{scope}}""#),
        Kind::Amqp => format!("exchange = \"amq.topic\"\nrouting_key = \"nobody{p}.{{scope}}\""),
        _ => unreachable!("only NATS and AMQP refuse a message they can take"),
    };
    let toml = format!(
        "[sources.shop]\nprovider = \"generic\"\nscope_field = \"scope\"\n\n[destinations.bus]\nurl = \"{}\"\n{target}\n\
         retry = {{ max_attempts = 3, first_ms = 50, max_ms = 100 }}\npause_after = 3\n\n\
         [[routes]]\nmatch = \"order/*\"\nto = [\"bus\"]\n",
        kind.url()
    );
    let gw = TestGateway::start(&toml).await.unwrap();
    assert_eq!(gw.post("shop", &order(1)).await.status(), 200);
    let metrics = gw.gateway.metrics.clone();
    eventually("refused attempts, retried, then dead", || Metrics::get(&metrics.dead_letters) == 1).await;
    assert_eq!(Metrics::get(&metrics.delivery_failures), 3, "three attempts");
    assert_eq!(Metrics::get(&metrics.delivered), 0, "a refused message is not delivered");
    let dead = gw.gateway.store.dead_letters(10).await.unwrap();
    let why =
        if kind == Kind::Nats { "no JetStream stream takes this subject" } else { "returned unroutable: 312 NO_ROUTE" };
    assert!(dead[0].error.contains(why), "{kind:?}: {}", dead[0].error);
    // A refusal is about the message, not the destination: three of them in a row (pause_after
    // = 3) do not pause it.
    assert!(gw.gateway.control.pause("bus").is_none(), "a refused message does not pause the destination");
    gw.stop().await;
    consumer.finish().await;
}

#[tokio::test]
async fn nats_messages_carry_their_id_and_a_signature_that_verifies() {
    arrives_with_its_id_and_a_signature_that_verifies(Kind::Nats).await
}

#[tokio::test]
async fn amqp_messages_carry_their_id_and_a_signature_that_verifies() {
    arrives_with_its_id_and_a_signature_that_verifies(Kind::Amqp).await
}

#[tokio::test]
async fn redis_entries_carry_their_id_and_a_signature_that_verifies() {
    arrives_with_its_id_and_a_signature_that_verifies(Kind::Redis).await
}

#[tokio::test]
async fn mqtt_messages_carry_their_id_and_a_signature_that_verifies() {
    arrives_with_its_id_and_a_signature_that_verifies(Kind::Mqtt).await
}

#[tokio::test]
async fn an_unreachable_nats_is_retried_until_a_reload_fixes_it() {
    an_unreachable_broker_is_retried_until_a_reload_fixes_it(Kind::Nats).await
}

#[tokio::test]
async fn an_unreachable_rabbitmq_is_retried_until_a_reload_fixes_it() {
    an_unreachable_broker_is_retried_until_a_reload_fixes_it(Kind::Amqp).await
}

#[tokio::test]
async fn an_unreachable_redis_is_retried_until_a_reload_fixes_it() {
    an_unreachable_broker_is_retried_until_a_reload_fixes_it(Kind::Redis).await
}

#[tokio::test]
async fn an_unreachable_mqtt_broker_is_retried_until_a_reload_fixes_it() {
    an_unreachable_broker_is_retried_until_a_reload_fixes_it(Kind::Mqtt).await
}

#[tokio::test]
async fn a_nats_server_that_never_answers_is_backed_off_from() {
    a_broker_that_never_answers_is_backed_off_from(Kind::Nats).await
}

#[tokio::test]
async fn a_rabbitmq_that_never_answers_is_backed_off_from() {
    a_broker_that_never_answers_is_backed_off_from(Kind::Amqp).await
}

#[tokio::test]
async fn a_redis_that_never_answers_is_backed_off_from() {
    a_broker_that_never_answers_is_backed_off_from(Kind::Redis).await
}

#[tokio::test]
async fn an_mqtt_broker_that_never_answers_is_backed_off_from() {
    a_broker_that_never_answers_is_backed_off_from(Kind::Mqtt).await
}

#[tokio::test]
async fn a_kill_9_publishing_to_nats_loses_no_acknowledged_event() {
    a_kill_9_under_load_loses_no_acknowledged_event(Kind::Nats).await
}

#[tokio::test]
async fn a_kill_9_publishing_to_rabbitmq_loses_no_acknowledged_event() {
    a_kill_9_under_load_loses_no_acknowledged_event(Kind::Amqp).await
}

#[tokio::test]
async fn a_kill_9_publishing_to_redis_loses_no_acknowledged_event() {
    a_kill_9_under_load_loses_no_acknowledged_event(Kind::Redis).await
}

#[tokio::test]
async fn a_kill_9_publishing_to_mqtt_loses_no_acknowledged_event() {
    a_kill_9_under_load_loses_no_acknowledged_event(Kind::Mqtt).await
}

#[tokio::test]
async fn a_subject_no_stream_takes_is_a_failed_attempt() {
    a_refused_message_is_a_failed_attempt(Kind::Nats).await
}

#[tokio::test]
async fn an_unroutable_amqp_message_is_a_failed_attempt() {
    a_refused_message_is_a_failed_attempt(Kind::Amqp).await
}
