//! What every backend must do, written once over a [`Store`] and run against each:
//! `sqlite.rs` and `postgres.rs` instantiate these with [`contract_tests!`], handing it a
//! function that opens a fresh, empty store (and a guard that cleans it up).
//!
//! Backend-specific behaviour (what happens to leases at start, sharing one database) is
//! tested beside its backend, not here.

use super::{
    Appended, Dedup, DeliveryOutcome, EventOutcome, EventReplay, Finished, Hold, KvOp, KvWrite, NewDelivery, PausedBy,
    ReplaySelector, ReplayState, Store,
};
use crate::event::{Event, now_ms};

pub(crate) use super::contract_history::every_attempt_is_kept_and_an_event_is_read_in_full;
use std::time::Duration;

/// Generates one `#[tokio::test]` per contract test, each on a store from `$open`, a function
/// returning `Option<(Store, guard)>`: `None` skips the test (a backend that is not available).
macro_rules! contract_tests {
    ($open:path) => {
        $crate::queue::contract::contract_tests!(@ $open;
            appended_events_are_leased_once_until_finished,
            dead_deliveries_are_listed_and_replayed_by_destination,
            concurrent_appends_are_all_durable,
            pruning_removes_only_finished_work,
            a_repeat_within_the_window_is_a_duplicate_of_the_first_and_is_not_stored,
            concurrent_repeats_store_exactly_one_event,
            an_expired_key_is_taken_over_by_the_next_event,
            pruning_deletes_expired_keys_and_keeps_live_ones,
            events_without_a_key_are_never_duplicates,
            an_append_that_fails_fails_alone_and_leaves_no_key_behind,
            recent_events_come_newest_first_with_their_deliveries,
            fresh_work_is_handed_off_leased_and_never_leased_twice,
            a_full_handoff_stores_work_due_and_resumes_once_drained,
            derived_events_past_the_trees_limit_are_refused_and_the_event_is_dead,
            a_released_event_is_due_again_at_once,
            kv_writes_commit_with_their_event_and_increments_add_up,
            kv_writes_of_many_keys_and_of_successive_calls_apply_in_order,
            kv_keys_expire_after_their_ttl_and_are_pruned,
            ordered_deliveries_go_one_at_a_time_in_acceptance_order_per_lane,
            a_retrying_head_holds_its_lane_and_a_dead_one_lets_the_next_go,
            a_paused_destination_parks_its_deliveries_until_resumed_and_probes_one_at_a_time,
            a_deferred_delivery_waits_unattempted,
            finished_events_are_replayed_as_new_work_and_unknown_or_pending_ones_are_refused,
            a_broker_delivery_keeps_the_names_its_template_is_rendered_from,
            every_attempt_is_kept_and_an_event_is_read_in_full
        );
    };
    (@ $open:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((store, _guard)) = $open() else { return };
                $crate::queue::contract::$name(store).await;
            }
        )*
    };
}
pub(crate) use contract_tests;

pub(crate) const LEASE: Duration = Duration::from_secs(30);
const DAY: Duration = Duration::from_secs(86_400);

pub(crate) fn event(n: u32) -> Event {
    Event::new(
        "shop",
        format!("order/{n}"),
        vec![("x".into(), "y".into())],
        bytes::Bytes::from(format!("{{\"n\":{n}}}")),
    )
}

pub(crate) fn key(n: u8, window: Duration) -> Option<Dedup> {
    Some(Dedup { key: [n; 32], window })
}

pub(crate) fn delivery(event: &Event, destination: &str) -> NewDelivery {
    NewDelivery {
        trace: None,
        id: crate::event::new_id("dlv"),
        event_id: event.id.clone(),
        route: "r".into(),
        destination: destination.into(),
        body: event.body.clone(),
        headers: vec![],
        order_key: None,
        vars: None,
    }
}

fn done(deliveries: Vec<NewDelivery>) -> EventOutcome {
    EventOutcome { deliveries, ..Default::default() }
}

async fn stored(store: &Store, event: &Event, dedup: Option<Dedup>) -> Appended {
    store.append(event.clone(), dedup).await.expect("append")
}

/// Leases every due event, as the dispatch loop does before it runs one: only the gateway
/// holding an event's lease may record its outcome.
async fn lease_due(store: &Store) {
    let _ = store.lease_events(1000, LEASE).await;
}

/// Stores `event` and leases it, as ingest and the dispatch loop would.
async fn taken(store: &Store, event: &Event) {
    stored(store, event, None).await;
    lease_due(store).await;
}

async fn pending(store: &Store) -> Option<u64> {
    store.depth().await.map(|d| d.events_pending).ok()
}

pub(crate) async fn appended_events_are_leased_once_until_finished(store: Store) {
    let e = event(1);
    assert_eq!(stored(&store, &e, None).await, Appended::Stored);
    let leased = store.lease_events(10, LEASE).await.unwrap_or_default();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].event.id, e.id);
    assert_eq!(leased[0].event.body, e.body);
    assert_eq!(leased[0].event.headers, e.headers);
    assert!(store.lease_events(10, LEASE).await.unwrap_or_default().is_empty(), "leased work is hidden");
    let d = delivery(&e, "erp");
    store.finish_event(e.id.clone(), done(vec![d.clone()])).await.unwrap();
    let leased = store.lease_deliveries(10, LEASE).await.unwrap_or_default();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].delivery.id, d.id);
    assert!(store.lease_deliveries(10, LEASE).await.unwrap_or_default().is_empty(), "leased work is hidden");
}

pub(crate) async fn a_broker_delivery_keeps_the_names_its_template_is_rendered_from(store: Store) {
    let e = event(1);
    taken(&store, &e).await;
    let vars = crate::config::model::NameVars {
        source: "shop".into(),
        scope: "store/channel/7/order/created".into(),
        route: "per channel".into(),
        params: vec![("channel_id".into(), "7".into())],
    };
    let d = NewDelivery { vars: Some(vars.clone()), ..delivery(&e, "bus") };
    let http = delivery(&e, "erp");
    store.finish_event(e.id.clone(), done(vec![d.clone(), http.clone()])).await.unwrap();
    let mut leased = store.lease_deliveries(10, LEASE).await.unwrap_or_default();
    leased.sort_by_key(|l| l.delivery.destination.clone());
    let kept: Vec<_> = leased.iter().map(|l| (l.delivery.destination.as_str(), l.delivery.vars.clone())).collect();
    assert_eq!(kept, [("bus", Some(vars)), ("erp", None)]);
}

pub(crate) async fn fresh_work_is_handed_off_leased_and_never_leased_twice(store: Store) {
    let mut events = store.hand::<super::LeasedEvent>(4, LEASE).await.unwrap();
    let old = event(1);
    stored(&store, &old, None).await;
    assert!(events.try_recv().is_none(), "a new handoff first lets the loop lease what may be due");
    assert_eq!(store.lease_events(10, LEASE).await.unwrap_or_default().len(), 1);
    events.drained();

    let e = event(2);
    stored(&store, &e, None).await;
    let handed = events.try_recv().unwrap_or_else(|| panic!("a fresh event is handed to the loop"));
    assert_eq!((handed.event.id.as_str(), handed.attempts), (e.id.as_str(), 0));
    assert_eq!(handed.event.body, e.body);
    assert!(store.lease_events(10, LEASE).await.unwrap_or_default().is_empty(), "a handed-off event is leased");

    let mut deliveries = store.hand::<super::LeasedDelivery>(4, LEASE).await.unwrap();
    deliveries.drained();
    let (a, b) = (delivery(&e, "a"), delivery(&e, "b"));
    store.finish_event(e.id.clone(), done(vec![a.clone(), b.clone()])).await.unwrap();
    let ids: Vec<String> = std::iter::from_fn(|| deliveries.try_recv()).map(|d| d.delivery.id).collect();
    assert_eq!(ids, vec![a.id.clone(), b.id.clone()]);
    assert!(store.lease_deliveries(10, LEASE).await.unwrap_or_default().is_empty(), "handed-off deliveries are leased");

    // The same event finished again (its first try's outcome was lost in a crash): its
    // deliveries exist already and must not be handed off a second time.
    store.finish_event(e.id.clone(), done(vec![a.clone()])).await.unwrap();
    assert!(deliveries.try_recv().is_none(), "a delivery already stored is not handed off again");
    let _ = store.finish_delivery(a.id.clone(), DeliveryOutcome::Delivered, None).await;
    assert_eq!(store.depth().await.map(|d| d.deliveries_pending).ok(), Some(1));
}

pub(crate) async fn a_full_handoff_stores_work_due_and_resumes_once_drained(store: Store) {
    let mut events = store.hand::<super::LeasedEvent>(1, LEASE).await.unwrap();
    events.drained();
    let (a, b, c) = (event(1), event(2), event(3));
    stored(&store, &a, None).await;
    stored(&store, &b, None).await; // the channel is full: b is stored due
    stored(&store, &c, None).await; // b waits in the store: c queues behind it, not ahead
    let leased: Vec<String> =
        store.lease_events(10, LEASE).await.unwrap_or_default().into_iter().map(|l| l.event.id).collect();
    assert_eq!(leased, vec![b.id.clone(), c.id.clone()]);
    assert_eq!(events.try_recv().map(|l| l.event.id), Some(a.id.clone()));
    assert!(events.backlog());
    events.drained();
    let d = event(4);
    stored(&store, &d, None).await;
    assert_eq!(events.try_recv().map(|l| l.event.id), Some(d.id.clone()), "handing off resumes once drained");
}

pub(crate) async fn dead_deliveries_are_listed_and_replayed_by_destination(store: Store) {
    let e = event(1);
    stored(&store, &e, None).await;
    let _ = store.lease_events(1, LEASE).await;
    let (a, b) = (delivery(&e, "a"), delivery(&e, "b"));
    let _ = store.finish_event(e.id.clone(), done(vec![a.clone(), b.clone()])).await;
    let _ = store.lease_deliveries(10, LEASE).await;
    for d in [&a, &b] {
        let _ = store.finish_delivery(d.id.clone(), DeliveryOutcome::Dead { error: "410 Gone".into() }, None).await;
    }
    let dead = store.dead_letters(10).await.unwrap_or_default();
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].error, "410 Gone");
    assert_eq!(store.replay(ReplaySelector::Destination("a".into())).await.ok(), Some(1));
    let again = store.lease_deliveries(10, LEASE).await.unwrap_or_default();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.destination, "a");
    assert_eq!(again[0].attempts, 0, "a replay starts the schedule over");
}

pub(crate) async fn concurrent_appends_are_all_durable(store: Store) {
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let s = store.clone();
            tokio::spawn(async move { s.append(event(n), None).await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await, Ok(Ok(Appended::Stored))));
    }
    assert_eq!(pending(&store).await, Some(200));
}

pub(crate) async fn pruning_removes_only_finished_work(store: Store) {
    let (finished, pending_one) = (event(1), event(2));
    stored(&store, &finished, None).await;
    stored(&store, &pending_one, None).await;
    lease_due(&store).await;
    let _ = store.finish_event(finished.id.clone(), done(vec![])).await;
    let removed = store.prune(now_ms() + 1).await.expect("prune");
    assert_eq!(removed, 1);
    assert_eq!(pending(&store).await, Some(1));
}

pub(crate) async fn a_repeat_within_the_window_is_a_duplicate_of_the_first_and_is_not_stored(store: Store) {
    let (first, repeat) = (event(1), event(1));
    assert_eq!(stored(&store, &first, key(1, DAY)).await, Appended::Stored);
    assert_eq!(stored(&store, &repeat, key(1, DAY)).await, Appended::Duplicate { original_id: first.id.clone() });
    assert_eq!(stored(&store, &event(2), key(2, DAY)).await, Appended::Stored, "another key is another event");
    assert_eq!(pending(&store).await, Some(2));
}

pub(crate) async fn concurrent_repeats_store_exactly_one_event(store: Store) {
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let s = store.clone();
            let e = event(n);
            let id = e.id.clone();
            tokio::spawn(async move { (id, s.append(e, key(7, DAY)).await) })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        match t.await {
            Ok((id, Ok(appended))) => answers.push((id, appended)),
            other => panic!("append failed: {other:?}"),
        }
    }
    let winners: Vec<&String> = answers.iter().filter(|(_, a)| *a == Appended::Stored).map(|(id, _)| id).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    let original = Appended::Duplicate { original_id: winners[0].clone() };
    assert!(answers.iter().all(|(id, a)| id == winners[0] || *a == original), "{answers:?}");
    assert_eq!(pending(&store).await, Some(1));
}

pub(crate) async fn an_expired_key_is_taken_over_by_the_next_event(store: Store) {
    let (first, second) = (event(1), event(1));
    assert_eq!(stored(&store, &first, key(1, Duration::from_millis(1))).await, Appended::Stored);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(stored(&store, &second, key(1, DAY)).await, Appended::Stored, "the window has passed");
    let third = stored(&store, &event(1), key(1, DAY)).await;
    assert_eq!(third, Appended::Duplicate { original_id: second.id }, "the key now names the second event");
}

pub(crate) async fn pruning_deletes_expired_keys_and_keeps_live_ones(store: Store) {
    let (short, long) = (event(1), event(2));
    stored(&store, &short, key(1, Duration::from_millis(1))).await;
    stored(&store, &long, key(2, DAY)).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(store.prune(0).await.ok(), Some(1), "only the expired key goes");
    assert_eq!(stored(&store, &event(2), key(2, DAY)).await, Appended::Duplicate { original_id: long.id });
    assert_eq!(stored(&store, &event(1), key(1, DAY)).await, Appended::Stored);
}

pub(crate) async fn events_without_a_key_are_never_duplicates(store: Store) {
    let e = event(1);
    stored(&store, &e, key(1, DAY)).await;
    assert_eq!(stored(&store, &event(1), None).await, Appended::Stored);
    assert_eq!(stored(&store, &event(1), None).await, Appended::Stored);
    assert_eq!(pending(&store).await, Some(3));
}

pub(crate) async fn an_append_that_fails_fails_alone_and_leaves_no_key_behind(store: Store) {
    let taken = event(0);
    stored(&store, &taken, None).await;
    // An event whose id is already stored cannot be inserted: that append fails, whatever
    // batch it shares with the others, and its dedup key is not kept.
    let tasks: Vec<_> = (1..=30)
        .map(|n| {
            let s = store.clone();
            let (e, dedup) = if n == 15 { (taken.clone(), key(9, DAY)) } else { (event(n), None) };
            tokio::spawn(async move { s.append(e, dedup).await.is_ok() })
        })
        .collect();
    let mut ok = Vec::new();
    for t in tasks {
        ok.push(t.await.unwrap_or(false));
    }
    assert_eq!(ok.iter().filter(|ok| !**ok).count(), 1, "{ok:?}");
    assert!(!ok[14], "the append of a stored id fails");
    assert_eq!(pending(&store).await, Some(30));
    assert_eq!(stored(&store, &event(99), key(9, DAY)).await, Appended::Stored, "the failed append held no key");
}

pub(crate) async fn recent_events_come_newest_first_with_their_deliveries(store: Store) {
    let (first, second) = (event(1), event(2));
    for e in [&first, &second] {
        assert!(store.append(e.clone(), None).await.is_ok());
    }
    let _ = store.lease_events(10, LEASE).await;
    let d = delivery(&first, "erp");
    let outcome = EventOutcome { deliveries: vec![d.clone()], ..Default::default() };
    assert!(store.finish_event(first.id.clone(), outcome).await.is_ok());
    let recent = store.recent_events(10).await.unwrap_or_default();
    assert_eq!(recent.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [second.id.as_str(), first.id.as_str()]);
    assert_eq!(recent[1].state, "done");
    assert_eq!(recent[1].deliveries.len(), 1);
    assert_eq!(recent[1].deliveries[0].id, d.id);
    assert_eq!(recent[1].deliveries[0].state, "pending");
    assert!(recent[0].deliveries.is_empty());
    assert_eq!(store.recent_events(1).await.map(|r| r.len()).ok(), Some(1));
}

/// Events derived from `parent` (as a plugin's `emit` makes them), `n` of them.
fn derived(parent: &Event, n: u32) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut e = event(100 + i);
            e.root = Some(parent.root.clone().unwrap_or_else(|| parent.id.clone()));
            e.depth = parent.depth + 1;
            e
        })
        .collect()
}

fn emitting(emitted: Vec<Event>, max_emits: u32) -> EventOutcome {
    EventOutcome { emitted, max_emits, ..Default::default() }
}

pub(crate) async fn derived_events_past_the_trees_limit_are_refused_and_the_event_is_dead(store: Store) {
    let root = event(1);
    stored(&store, &root, None).await;
    let _ = store.lease_events(10, LEASE).await;
    let children = derived(&root, 3);
    let first = store.finish_event(root.id.clone(), emitting(children.clone(), 5)).await;
    assert_eq!(first.ok(), Some(Finished::Recorded));
    assert_eq!(store.lease_events(10, LEASE).await.unwrap_or_default().len(), 3, "3 derived events stored");

    // A child emits 3 more: 6 would pass 5, so none is written and the child is dead.
    let over = store.finish_event(children[0].id.clone(), emitting(derived(&children[0], 3), 5)).await;
    let Ok(Finished::OverEmitLimit { error, first: true }) = over else { panic!("{over:?}") };
    assert!(error.contains("max_emits = 5") && error.contains(&root.id), "{error}");
    // Another child asks for one more: refused too, and not reported as the first refusal.
    let again = store.finish_event(children[1].id.clone(), emitting(derived(&children[1], 1), 5)).await;
    assert!(matches!(again, Ok(Finished::OverEmitLimit { first: false, .. })), "{again:?}");
    let done = store.finish_event(children[2].id.clone(), EventOutcome::default()).await;
    assert_eq!(done.ok(), Some(Finished::Recorded));

    assert_eq!(pending(&store).await, Some(0), "no derived event beyond the limit was written");
    let dead = store.dead_letters(10).await.unwrap_or_default();
    assert_eq!(dead.len(), 2);
    assert!(dead.iter().all(|d| d.error.starts_with("emit limit reached")), "{dead:?}");
}

pub(crate) async fn a_released_event_is_due_again_at_once(store: Store) {
    let e = event(1);
    stored(&store, &e, None).await;
    assert_eq!(store.lease_events(10, LEASE).await.unwrap_or_default().len(), 1);
    assert!(store.lease_events(10, LEASE).await.unwrap_or_default().is_empty());
    assert!(store.release_event(e.id.clone()).await.is_ok());
    let again = store.lease_events(10, LEASE).await.unwrap_or_default();
    assert_eq!(again.iter().map(|l| l.event.id.as_str()).collect::<Vec<_>>(), [e.id.as_str()]);
}

pub(crate) fn kv_write(plugin: &str, key: &str, op: KvOp) -> KvWrite {
    KvWrite { plugin: plugin.into(), key: key.into(), op }
}

fn set(value: &str) -> KvOp {
    KvOp::Set { value: value.as_bytes().to_vec(), ttl_ms: None }
}

pub(crate) async fn kv_writes_commit_with_their_event_and_increments_add_up(store: Store) {
    let (a, b) = (event(1), event(2));
    stored(&store, &a, None).await;
    stored(&store, &b, None).await;
    lease_due(&store).await;
    let first =
        vec![kv_write("p", "name", set("first")), kv_write("p", "n", KvOp::Add(2)), kv_write("q", "n", set("9"))];
    let outcome = EventOutcome { kv: first, ..Default::default() };
    assert!(store.finish_event(a.id.clone(), outcome).await.is_ok());
    let second = vec![kv_write("p", "n", KvOp::Add(3)), kv_write("p", "name", KvOp::Delete)];
    assert!(store.finish_event(b.id.clone(), EventOutcome { kv: second, ..Default::default() }).await.is_ok());
    assert_eq!(store.kv_get("p", "n").await.ok().flatten(), Some(b"5".to_vec()), "increments add up");
    assert_eq!(store.kv_get("p", "name").await.ok(), Some(None));
    assert_eq!(store.kv_get("q", "n").await.ok().flatten(), Some(b"9".to_vec()), "each plugin has its own keys");
    assert_eq!(store.kv_count("p").await.ok(), Some(1));
    let listed: Vec<String> = store.kv_list("p", "", 10).await.unwrap_or_default().into_iter().map(|e| e.key).collect();
    assert_eq!(listed, vec!["n".to_string()]);
    assert_eq!(store.kv_delete("p", "n").await.ok(), Some(true));
    assert_eq!(store.kv_get("p", "n").await.ok(), Some(None));

    // An outcome refused for its emits writes none of its kv either.
    let root = event(3);
    taken(&store, &root).await;
    let mut child = event(4);
    child.root = Some(root.id.clone());
    let over = EventOutcome {
        emitted: vec![child],
        max_emits: 0,
        kv: vec![kv_write("p", "x", set("1"))],
        ..Default::default()
    };
    assert!(matches!(store.finish_event(root.id.clone(), over).await, Ok(Finished::OverEmitLimit { .. })));
    assert_eq!(store.kv_get("p", "x").await.ok(), Some(None));
}

pub(crate) async fn kv_writes_of_many_keys_and_of_successive_calls_apply_in_order(store: Store) {
    let e = event(1);
    taken(&store, &e).await;
    let mut writes: Vec<KvWrite> = (0..1000).map(|i| kv_write("p", &format!("k{i:04}"), set(&i.to_string()))).collect();
    writes.extend((0..43).map(|i| kv_write("q", &format!("k{i:04}"), set("q"))));
    // A second call of the same plugin writes keys the first one wrote: it comes after it.
    writes.extend((0..10).map(|i| kv_write("p", &format!("k{i:04}"), KvOp::Delete)));
    writes.push(kv_write("p", "k0010", KvOp::Add(5)));
    writes.push(kv_write("p", "k0011", set("last")));
    assert!(store.finish_event(e.id.clone(), EventOutcome { kv: writes, ..Default::default() }).await.is_ok());
    assert_eq!(store.kv_count("p").await.ok(), Some(990));
    assert_eq!(store.kv_count("q").await.ok(), Some(43));
    assert_eq!(store.kv_get("p", "k0009").await.ok(), Some(None), "deleted by the later call");
    assert_eq!(store.kv_get("p", "k0010").await.ok().flatten(), Some(b"15".to_vec()), "added to the earlier set");
    assert_eq!(store.kv_get("p", "k0011").await.ok().flatten(), Some(b"last".to_vec()));
    assert_eq!(store.kv_get("p", "k0999").await.ok().flatten(), Some(b"999".to_vec()));
}

pub(crate) async fn kv_keys_expire_after_their_ttl_and_are_pruned(store: Store) {
    let e = event(1);
    taken(&store, &e).await;
    let writes = vec![
        kv_write("p", "short", KvOp::Set { value: b"v".to_vec(), ttl_ms: Some(1) }),
        kv_write("p", "long", KvOp::Set { value: b"v".to_vec(), ttl_ms: Some(86_400_000) }),
    ];
    assert!(store.finish_event(e.id.clone(), EventOutcome { kv: writes, ..Default::default() }).await.is_ok());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.kv_get("p", "short").await.ok(), Some(None), "expired");
    assert_eq!(store.kv_get("p", "long").await.ok().flatten(), Some(b"v".to_vec()));
    assert_eq!(store.kv_count("p").await.ok(), Some(1));
    assert_eq!(store.prune(0).await.ok(), Some(1), "the expired key is pruned");
}

fn ordered(event: &Event, destination: &str, key: &str) -> NewDelivery {
    NewDelivery { order_key: Some(key.into()), ..delivery(event, destination) }
}

async fn append_held(store: &Store, event: &Event, key: &str) {
    let holds = vec![Hold { route: "r".into(), key: key.into() }];
    store.append_held(event.clone(), None, holds).await.expect("append");
}

/// Finishes a leased event whose lease is `held` with `deliveries`.
async fn finish_held(store: &Store, event: &Event, deliveries: Vec<NewDelivery>) {
    let outcome = EventOutcome { deliveries, held: true, ..Default::default() };
    store.finish_event(event.id.clone(), outcome).await.unwrap();
}

async fn leased_ids(store: &Store) -> Vec<String> {
    let mut ids: Vec<String> =
        store.lease_deliveries(100, LEASE).await.unwrap_or_default().into_iter().map(|d| d.delivery.id).collect();
    ids.sort();
    ids
}

async fn finish(store: &Store, d: &NewDelivery, outcome: DeliveryOutcome) {
    let lane = d.order_key.clone().map(|k| (d.route.clone(), k));
    store.finish_delivery(d.id.clone(), outcome, lane).await.unwrap();
}

pub(crate) async fn ordered_deliveries_go_one_at_a_time_in_acceptance_order_per_lane(store: Store) {
    let (e1, e2, e3) = (event(1), event(2), event(3));
    append_held(&store, &e1, "k").await;
    append_held(&store, &e2, "k").await;
    append_held(&store, &e3, "j").await;
    assert_eq!(store.lease_events(10, LEASE).await.unwrap_or_default().iter().filter(|e| e.held).count(), 3);
    // e2's plugin finishes first: its delivery waits behind e1, which still holds its place.
    let (d1, d2, d3) = (ordered(&e1, "erp", "k"), ordered(&e2, "erp", "k"), ordered(&e3, "erp", "j"));
    finish_held(&store, &e2, vec![d2.clone()]).await;
    finish_held(&store, &e3, vec![d3.clone()]).await;
    assert_eq!(leased_ids(&store).await, vec![d3.id.clone()], "another key does not wait");
    finish_held(&store, &e1, vec![d1.clone()]).await;
    assert_eq!(leased_ids(&store).await, vec![d1.id.clone()], "the lane's first goes, alone");
    finish(&store, &d1, DeliveryOutcome::Delivered).await;
    assert_eq!(leased_ids(&store).await, vec![d2.id.clone()], "then the next");
    assert_eq!(store.depth().await.map(|d| d.deliveries_held).ok(), Some(0));
}

pub(crate) async fn a_retrying_head_holds_its_lane_and_a_dead_one_lets_the_next_go(store: Store) {
    let (e1, e2) = (event(1), event(2));
    let (d1, d2) = (ordered(&e1, "erp", "k"), ordered(&e2, "erp", "k"));
    taken(&store, &e1).await;
    taken(&store, &e2).await;
    // Without holds (a plugin's key): the lane is ordered by when the deliveries were made.
    store.finish_event(e1.id.clone(), done(vec![d1.clone()])).await.unwrap();
    store.finish_event(e2.id.clone(), done(vec![d2.clone()])).await.unwrap();
    assert_eq!(leased_ids(&store).await, vec![d1.id.clone()]);
    assert_eq!(store.depth().await.map(|d| d.deliveries_held).ok(), Some(1));
    let retry = DeliveryOutcome::Retry { retry_in: Duration::ZERO, error: "503".into() };
    finish(&store, &d1, retry).await;
    assert_eq!(leased_ids(&store).await, vec![d1.id.clone()], "a retrying head holds back its lane");
    finish(&store, &d1, DeliveryOutcome::Dead { error: "gave up".into() }).await;
    assert_eq!(leased_ids(&store).await, vec![d2.id.clone()], "a dead head lets the next go");
}

pub(crate) async fn a_paused_destination_parks_its_deliveries_until_resumed_and_probes_one_at_a_time(store: Store) {
    let e = event(1);
    let (a, b, other) = (delivery(&e, "erp"), delivery(&e, "erp"), delivery(&e, "crm"));
    let paused = store.pause_destination("erp", PausedBy::Breaker, "500s", Some(Duration::ZERO)).await;
    assert_eq!(paused.ok(), Some(true));
    taken(&store, &e).await;
    store.finish_event(e.id.clone(), done(vec![a.clone(), b.clone(), other.clone()])).await.unwrap();
    let leased = store.lease_deliveries(10, LEASE).await.unwrap_or_default();
    assert_eq!(leased.len(), 3, "new deliveries are stored as usual; delivery parks them");
    for d in leased.iter().filter(|d| d.delivery.destination == "erp") {
        store.park_delivery(d.delivery.id.clone(), None).await.unwrap();
    }
    assert_eq!(store.depth().await.map(|d| d.deliveries_held).ok(), Some(2));
    let pauses = store.destination_pauses().await.unwrap_or_default();
    assert_eq!(
        pauses.iter().map(|p| (p.destination.as_str(), p.paused_by)).collect::<Vec<_>>(),
        vec![("erp", PausedBy::Breaker)]
    );
    // One probe at a time: the first claim leases one parked delivery and moves the next probe on.
    let probe = store.claim_probe("erp", Duration::from_secs(3600), LEASE).await.unwrap();
    assert!(probe.is_some_and(|p| p.delivery.destination == "erp" && p.attempts == 0));
    assert!(store.claim_probe("erp", Duration::from_secs(3600), LEASE).await.ok().flatten().is_none());
    // An operator's pause is not replaced by the breaker, and is not probed.
    assert_eq!(store.pause_destination("erp", PausedBy::Operator, "maintenance", None).await.ok(), Some(false));
    assert_eq!(store.pause_destination("erp", PausedBy::Breaker, "500s", None).await.ok(), Some(false));
    assert_eq!(
        store.resume_destination("erp", true).await.ok(),
        Some(false),
        "a probe does not end an operator's pause"
    );
    assert_eq!(store.resume_destination("erp", false).await.ok(), Some(true));
    assert_eq!(store.lease_deliveries(10, LEASE).await.unwrap_or_default().len(), 1, "the parked one is due again");
    assert!(store.destination_pauses().await.unwrap_or_default().is_empty());
}

pub(crate) async fn a_deferred_delivery_waits_unattempted(store: Store) {
    let e = event(1);
    let d = delivery(&e, "erp");
    taken(&store, &e).await;
    store.finish_event(e.id.clone(), done(vec![d.clone()])).await.unwrap();
    assert_eq!(leased_ids(&store).await, vec![d.id.clone()]);
    store.defer_delivery(d.id.clone(), Duration::from_millis(300)).await.unwrap();
    assert!(leased_ids(&store).await.is_empty(), "it waits");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let again = store.lease_deliveries(10, LEASE).await.unwrap_or_default();
    assert_eq!(again.iter().map(|l| (l.delivery.id.clone(), l.attempts)).collect::<Vec<_>>(), vec![(d.id.clone(), 0)]);
    // Only the gateway holding a delivery hands it back: once it is handed back, another
    // deferral (a stale one) changes nothing.
    store.defer_delivery(d.id.clone(), Duration::from_secs(3600)).await.unwrap();
    store.defer_delivery(d.id.clone(), Duration::ZERO).await.unwrap();
    assert!(leased_ids(&store).await.is_empty(), "still deferred for an hour by its holder");
}

pub(crate) async fn finished_events_are_replayed_as_new_work_and_unknown_or_pending_ones_are_refused(store: Store) {
    let (e1, e2) = (event(1), event(2));
    stored(&store, &e1, None).await;
    stored(&store, &e2, None).await;
    store.lease_events(10, LEASE).await.unwrap_or_default();
    store.finish_event(e1.id.clone(), done(vec![])).await.unwrap();
    let one = |id: &str| EventReplay { event: Some(id.into()), limit: 10, ..EventReplay::default() };
    let pending = store.replay_events(one(&e2.id)).await.unwrap();
    assert!(pending.refused.is_some_and(|r| r.contains("still pending")) && !pending.not_stored);
    let unknown = store.replay_events(one("evt_0000")).await.unwrap();
    assert!(unknown.not_stored && unknown.refused.is_some_and(|r| r.contains("retention")));

    // By time: a dry run changes nothing; then only the finished event is replayed.
    let range = EventReplay { since_ms: Some(0), limit: 10, dry_run: true, ..EventReplay::default() };
    assert_eq!(store.replay_events(range.clone()).await.map(|r| r.events).ok(), Some(vec![e1.id.clone()]));
    let dead_only = EventReplay { state: ReplayState::Dead, ..range.clone() };
    assert_eq!(store.replay_events(dead_only).await.map(|r| r.events.len()).ok(), Some(0));
    let run = EventReplay { dry_run: false, skip_routes: vec!["old".into()], ..range };
    assert_eq!(store.replay_events(run).await.map(|r| r.events).ok(), Some(vec![e1.id.clone()]));
    let again = store.lease_events(10, LEASE).await.unwrap_or_default();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].event.id.as_str(), again[0].replays), (e1.id.as_str(), 1));
    assert_eq!(again[0].routes_done, vec!["old".to_string()]);
}
