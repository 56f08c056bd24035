//! The contract of an event's history (`history.rs`), run against every backend with the rest
//! of `contract.rs`: each attempt of a delivery is kept with its outcome, a replayed dead
//! letter's attempts follow its first ones, what the plugins logged is kept with the event, and
//! events are found by source, state and time.

use super::contract::{LEASE, event};
use super::{AttemptLog, DeliveryOutcome, EventOutcome, EventQuery, NewDelivery, PluginLogLine, ReplaySelector, Store};
use std::time::Duration;

pub(crate) async fn every_attempt_is_kept_and_an_event_is_read_in_full(store: Store) {
    let (first, other) = (event(1), event(2));
    for e in [&first, &other] {
        assert!(store.append(e.clone(), None).await.is_ok());
    }
    let _ = store.lease_events(10, LEASE).await;
    let d = NewDelivery {
        id: crate::event::new_id("dlv"),
        event_id: first.id.clone(),
        route: "r".into(),
        destination: "erp".into(),
        body: first.body.clone(),
        headers: vec![],
        order_key: None,
        vars: None,
        trace: None,
    };
    let line = PluginLogLine {
        route: "r".into(),
        plugin: "p".into(),
        level: "warn".into(),
        message: "a \"quoted\" line\nwith a newline, é".into(),
    };
    let outcome = EventOutcome { deliveries: vec![d.clone()], plugin_log: vec![line.clone()], ..Default::default() };
    assert!(store.finish_event(first.id.clone(), outcome).await.is_ok());
    // Each attempt is made by the gateway holding the delivery's lease, as the delivery loop does.
    let attempt = |status, outcome| {
        let (store, id) = (store.clone(), d.id.clone());
        async move {
            assert_eq!(store.lease_deliveries(10, LEASE).await.unwrap_or_default().len(), 1, "the delivery is due");
            let log = AttemptLog { duration_ms: Some(12), status: Some(status) };
            let held = store.finish_attempt(id, outcome, None, log).await.unwrap();
            assert!(held, "the attempt is recorded by the lease's holder");
        }
    };
    let retry = DeliveryOutcome::Retry { retry_in: Duration::from_secs(1), error: "answered 503".into() };
    attempt(503, retry).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    attempt(500, DeliveryOutcome::Dead { error: "answered 500".into() }).await;
    assert_eq!(store.replay(ReplaySelector::Id(d.id.clone())).await.ok(), Some(1));
    attempt(200, DeliveryOutcome::Delivered).await;

    let Ok(Some(record)) = store.event_record(&first.id).await else { panic!("the event is stored") };
    assert_eq!(record.body, first.body.to_vec());
    assert_eq!(record.headers, first.headers);
    assert_eq!(record.plugin_log, [line], "what the plugin logged is kept as it was");
    let [delivery] = record.deliveries.as_slice() else { panic!("one delivery: {:?}", record.deliveries) };
    assert_eq!(delivery.summary.state, "delivered");
    let seen: Vec<(u32, Option<u16>, &str)> =
        delivery.attempts.iter().map(|a| (a.attempt, a.status, a.outcome.as_str())).collect();
    assert_eq!(seen, [(1, Some(503), "retry"), (2, Some(500), "dead"), (1, Some(200), "delivered")]);
    let retried = &delivery.attempts[0];
    assert!(retried.next_at_ms.is_some_and(|next| next >= retried.at_ms + 900), "{retried:?}");
    assert_eq!(retried.error.as_deref(), Some("answered 503"));
    assert_eq!(retried.duration_ms, Some(12));
    assert!(store.event_record("evt_missing").await.is_ok_and(|r| r.is_none()));

    let find = |source: &str, state: &str| {
        let query = EventQuery { source: source.into(), state: state.into(), scan: 10, ..EventQuery::default() };
        let store = store.clone();
        async move { store.find_events(query).await.unwrap_or_default().into_iter().map(|e| e.id).collect::<Vec<_>>() }
    };
    assert_eq!(find("", "").await, [other.id.as_str(), first.id.as_str()], "newest first");
    assert_eq!(find("shop", "done").await, [first.id.as_str()]);
    assert!(find("elsewhere", "").await.is_empty());
    let older = EventQuery { before_id: other.id.clone(), scan: 10, ..EventQuery::default() };
    let page: Vec<String> = store.find_events(older).await.unwrap_or_default().into_iter().map(|e| e.id).collect();
    assert_eq!(page, [first.id.as_str()], "the next page starts below the id given");
}
