//! Delivery: lease due deliveries from the store, POST each to its destination, and record
//! the outcome — delivered, retry at backoff(attempt), or dead letter.
//!
//! The destination is looked up by name in the snapshot current at each attempt, so a fixed
//! URL in routes.toml applies to retries and replays. HTTPS uses rustls (`clients.rs`). Every
//! attempt of a delivery carries the same `webhook-id` (the delivery id), signed by
//! `crate::standard_webhooks` when the destination has a `signing_secret`, so receivers can
//! verify and deduplicate. The request's headers are built here, from the destination's and
//! the plugin's pairs. A broker destination (`brokers/`) gets the same headers on its
//! message, under a name rendered from the destination's template at each attempt.
//!
//! Before an attempt, the destination's limits (`control.rs`) may send the delivery back to
//! the store to wait, and a paused destination's deliveries are parked there; after it, the
//! attempt feeds the destination's breaker (`breaker.rs`), which pauses it after a run of
//! failures and probes it until it answers. This module knows nothing of plugins or routing.

mod breaker;
mod brokers;
mod clients;
pub mod retry;

pub use clients::Clients;

use crate::config::model::{Destination, NameVars, Target};
use crate::config::{ShownUrl, headers};
use crate::control::Admission;
use crate::feed::{Happening, Kind};
use crate::metrics::Metrics;
use crate::queue::{AttemptLog, DeliveryOutcome, LeasedDelivery, NewDelivery};
use crate::shared::Shared;
use crate::standard_webhooks;
use crate::telemetry::{Escaped, RateLimited, RateLimitedByKey};
use crate::workers::Work;
use brokers::{Brokers, Message, PublishError};
use http::{HeaderMap, HeaderName, HeaderValue};
use retry::Attempt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Concurrent outgoing requests.
const IN_FLIGHT: usize = 256;

/// How long a leased delivery stays hidden from other workers. SQLite frees a dead process's
/// leases at the next start; PostgreSQL caps leases at 11 minutes (see `queue/postgres.rs`).
const LEASE: Duration = Duration::from_secs(15 * 60);

/// How soon an attempt's outcome that could not be recorded is offered to the store again, at
/// first and at most (doubling in between), while the store cannot write.
const RECORD_FIRST: Duration = Duration::from_millis(100);
const RECORD_MAX: Duration = Duration::from_secs(1);

/// What every attempt needs; the worker loop runs leased deliveries through it.
struct Deliverer {
    shared: Shared,
    clients: Clients,
    brokers: Brokers,
    /// Outcomes that cannot be recorded are logged at a bounded rate (a full disk fails them all).
    store_errors: RateLimited,
    /// Failed attempts are logged at most once a second per destination (an outage without the
    /// breaker fails every attempt); the metrics and the console count each one.
    failures: RateLimitedByKey,
}

/// Runs until the gateway stops, then waits for requests in flight.
pub async fn run(shared: Shared, clients: Clients) {
    let handed = match shared.store.hand::<LeasedDelivery>(IN_FLIGHT, LEASE).await {
        Ok(handed) => handed,
        Err(e) => return tracing::error!(error = %e, "delivery cannot start: the store is closed"),
    };
    let shutdown = shared.shutdown.clone();
    let deliverer = Arc::new(Deliverer {
        shared,
        clients,
        brokers: Brokers::default(),
        store_errors: RateLimited::default(),
        failures: RateLimitedByKey::default(),
    });
    let probes = TaskTracker::new();
    let watch = tokio::spawn(breaker::watch(deliverer.clone(), probes.clone(), shutdown.clone()));
    crate::workers::run(deliverer, IN_FLIGHT, handed, shutdown).await;
    let _ = watch.await;
    probes.close();
    probes.wait().await;
}

impl Work for Deliverer {
    type Item = LeasedDelivery;

    async fn lease(&self, max: usize) -> Vec<LeasedDelivery> {
        self.shared.store.lease_deliveries(max, LEASE).await.unwrap_or_default()
    }

    async fn ready(&self) {
        self.shared.store.deliveries_ready().await
    }

    async fn run(&self, leased: LeasedDelivery) {
        self.run_one(leased, false).await
    }
}

impl Deliverer {
    /// One leased delivery, in its span; a `probe` tests a paused destination.
    async fn run_one(&self, leased: LeasedDelivery, probe: bool) {
        let d = &leased.delivery;
        let span =
            tracing::info_span!("delivery", delivery_id = %d.id, event_id = %d.event_id, destination = %d.destination);
        crate::trace_export::continue_trace(&span, d.trace.as_deref(), self.shared.store.node());
        self.deliver(leased, probe).instrument(span).await
    }

    async fn deliver(&self, leased: LeasedDelivery, probe: bool) {
        let snapshot = self.shared.live.snapshot();
        let d = &leased.delivery;
        let Some(destination) = snapshot.config.destinations.get(&d.destination) else {
            let outcome =
                DeliveryOutcome::Dead { error: format!("destination `{}` is no longer configured", d.destination) };
            self.count(&d.destination, leased.attempts + 1, &outcome);
            return self.record(leased, outcome).await;
        };
        if !probe && self.shared.control.pause(&d.destination).is_some() {
            self.shared.metrics.delivery_waited(&d.destination, "paused");
            return self.hand_back(&d.id, None, None).await;
        }
        let gate = self.shared.control.gate(&d.destination);
        let ticket = if probe {
            None
        } else {
            match gate.admit(&d.id, &destination.limits).await {
                Admission::Go(ticket) => Some(ticket),
                Admission::Wait(wait, reason) => {
                    self.shared.metrics.delivery_waited(&d.destination, reason.label());
                    return self.hand_back(&d.id, Some(wait), None).await;
                }
            }
        };
        let started = Instant::now();
        let result = match destination.target {
            Target::Http => attempt(&self.clients, destination, d).await,
            _ => publish(&self.brokers, destination, d).await,
        };
        let took = started.elapsed();
        if let Attempt::Answered { retry_after: Some(wait), .. } = &result {
            // Asked of the destination, not of this delivery: nothing goes to it meanwhile,
            // starting before this request's slot is handed on.
            gate.hold((*wait).min(destination.retry.max));
        }
        drop(ticket);
        self.shared.metrics.delivery_seconds.with(&d.destination, |h| h.observe(took));
        let shown = ShownUrl(&destination.url);
        let outcome = retry::decide(&destination.retry, leased.attempts + 1, &result, &shown);
        let failures = gate.attempted(breaker::health(&result), took);
        if probe {
            return breaker::probed(self, destination, leased, outcome).await;
        }
        self.count(&d.destination, leased.attempts + 1, &outcome);
        let log = AttemptLog { duration_ms: Some(took.as_millis() as u64), status: result.status() };
        self.announce(d, leased.attempts + 1, &outcome, log);
        if destination.limits.pause_after.is_some_and(|limit| failures.in_a_row >= limit)
            && self.shared.control.pause(&d.destination).is_none()
        {
            let reason = match &outcome {
                DeliveryOutcome::Retry { error, .. } | DeliveryOutcome::Dead { error } => error.clone(),
                DeliveryOutcome::Delivered => String::new(),
            };
            breaker::trip(self, destination, failures, &reason).await;
        }
        self.record_attempt(leased, outcome, log).await
    }

    /// Tells the feed how an attempt ended.
    fn announce(&self, d: &NewDelivery, attempt: u32, outcome: &DeliveryOutcome, log: AttemptLog) {
        let (kind, error) = match outcome {
            DeliveryOutcome::Delivered => (Kind::Delivered, None),
            DeliveryOutcome::Retry { error, .. } => (Kind::Failed, Some(error)),
            DeliveryOutcome::Dead { error } => (Kind::Dead, Some(error)),
        };
        self.shared.feed.publish(kind, || {
            let happening = Happening {
                delivery_id: Some(d.id.clone()),
                route: Some(d.route.clone()),
                destination: Some(d.destination.clone()),
                attempt: Some(attempt),
                status: log.status,
                duration_ms: log.duration_ms,
                ..Happening::new(kind, &d.event_id)
            };
            match error {
                Some(error) => happening.with_error(error),
                None => happening,
            }
        });
    }

    fn count(&self, destination: &str, attempt: u32, outcome: &DeliveryOutcome) {
        let metrics = &self.shared.metrics;
        let label = match outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retry { .. } => "retry",
            DeliveryOutcome::Dead { .. } => "dead",
        };
        metrics.delivery_attempted(destination, label);
        match outcome {
            DeliveryOutcome::Delivered => {
                Metrics::inc(&metrics.delivered);
                tracing::debug!(attempt, "delivered");
            }
            DeliveryOutcome::Retry { retry_in, error } => {
                Metrics::inc(&metrics.delivery_failures);
                let retry_in_ms = retry_in.as_millis() as u64;
                self.failures.log(destination, |suppressed| {
                    tracing::warn!(attempt, retry_in_ms, suppressed, "delivery failed, will retry: {}", Escaped(error));
                });
            }
            DeliveryOutcome::Dead { error } => {
                Metrics::inc(&metrics.delivery_failures);
                Metrics::inc(&metrics.dead_letters);
                self.failures.log(destination, |suppressed| {
                    tracing::error!(attempt, suppressed, "delivery dead-lettered: {}", Escaped(error));
                });
            }
        }
    }

    /// Records an attempt's outcome. When the store cannot write it, the same outcome is offered
    /// again until it can (the attempt is not repeated: a delivered webhook is not sent twice
    /// for it), or until shutdown, after which the lease lapses and the delivery is tried again.
    async fn record(&self, leased: LeasedDelivery, outcome: DeliveryOutcome) {
        self.record_attempt(leased, outcome, AttemptLog::default()).await
    }

    /// [`Deliverer::record`], with what was measured of the attempt for its history.
    async fn record_attempt(&self, leased: LeasedDelivery, outcome: DeliveryOutcome, log: AttemptLog) {
        let d = leased.delivery;
        if let (Some(key), DeliveryOutcome::Dead { .. }) = (&d.order_key, &outcome) {
            tracing::warn!(route = %d.route, order_key = %Escaped(key), "order broken for this key: a delivery died, the next one goes");
        }
        let lane = d.order_key.map(|key| (d.route, key));
        let mut wait = RECORD_FIRST;
        loop {
            let e = match self.shared.store.finish_attempt(d.id.clone(), outcome.clone(), lane.clone(), log).await {
                Ok(true) => return,
                Ok(false) => {
                    Metrics::inc(&self.shared.metrics.leases_lost);
                    tracing::warn!(delivery_id = %d.id, "another gateway took this delivery over while it ran here; its outcome here is dropped");
                    return;
                }
                Err(e) => e,
            };
            self.store_errors.log(|suppressed| {
                tracing::error!(error = %e, suppressed, "cannot record a delivery's outcome; trying again until the store writes")
            });
            if !self.pause_before_retry(&mut wait).await {
                return;
            }
        }
    }

    /// Hands a leased delivery back to the store unattempted: due after `wait` (a limit), or
    /// parked (`wait` = `None`: its destination is paused; `error` says why a probe failed).
    /// If the store cannot take it now, its lease runs out and it comes back anyway.
    async fn hand_back(&self, id: &str, wait: Option<Duration>, error: Option<String>) {
        let handed = match wait {
            Some(wait) => self.shared.store.defer_delivery(id.to_owned(), wait).await,
            None => self.shared.store.park_delivery(id.to_owned(), error).await,
        };
        if let Err(e) = handed {
            self.store_errors.log(|suppressed| {
                tracing::error!(error = %e, suppressed, "cannot hand a delivery back to the store; it returns when its lease ends")
            });
        }
    }

    /// Waits before trying the store again (doubling `wait`); `false` at shutdown.
    async fn pause_before_retry(&self, wait: &mut Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(*wait) => {}
            _ = self.shared.shutdown.cancelled() => return false,
        }
        *wait = (*wait * 2).min(RECORD_MAX);
        true
    }
}

/// One HTTP attempt of one delivery. Headers, in the order they win: the destination's own,
/// the plugin's (those the gateway owns left out, as dispatch already did), then the gateway's
/// `webhook-id`, `webhook-timestamp` and signature, which replace any of the same name.
/// Errors name the URL without its password, as every message about a destination does.
pub async fn attempt(clients: &Clients, destination: &Destination, delivery: &NewDelivery) -> Attempt {
    let d = destination;
    let client = match clients.for_destination(d) {
        Ok(client) => client,
        Err(e) => return Attempt::NoAnswer(format!("{}: cannot set up TLS: {e}", ShownUrl(&d.url))),
    };
    let now = crate::event::now_ms() / 1000;
    let mut headers = HeaderMap::new();
    // The destination's were checked by the config stage, so none is skipped here.
    let plugins = delivery.headers.iter().filter(|(k, _)| !headers::gateway_owned(k));
    for (k, v) in d.headers.iter().chain(plugins) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            headers.append(name, value);
        }
    }
    let signed_at = i64::try_from(now).unwrap_or(i64::MAX);
    for (name, value) in gateway_headers(d, &delivery.id, signed_at, &delivery.body) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    let request = client.post(d.url.clone()).timeout(d.timeout).headers(headers).body(delivery.body.clone());
    match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = (status == 429 || status == 503)
                .then(|| {
                    r.headers()
                        .get(reqwest::header::RETRY_AFTER)?
                        .to_str()
                        .ok()
                        .and_then(|v| retry::parse_retry_after(v, now))
                })
                .flatten();
            Attempt::Answered { status, retry_after }
        }
        Err(e) if e.is_timeout() => {
            Attempt::TimedOut(format!("{} did not answer within {:?}", ShownUrl(&d.url), d.timeout))
        }
        Err(e) => Attempt::NoAnswer(format!("{}: {}", ShownUrl(&d.url), error_chain(&e))),
    }
}

/// One attempt of one delivery to a broker: its name rendered from the event's, and the same
/// headers an HTTP attempt has, the gateway's last.
async fn publish(brokers: &Brokers, destination: &Destination, delivery: &NewDelivery) -> Attempt {
    let d = destination;
    let url = ShownUrl(&d.url);
    let Some(template) = d.target.template() else {
        return Attempt::Unsendable(format!("{url}: not a broker destination"));
    };
    // A delivery made while the destination was HTTP kept no names: only a template that needs
    // none of the event's can name it.
    let vars = match &delivery.vars {
        Some(vars) => vars.clone(),
        None if template.uses_event() => {
            let why = "this delivery was made before the destination published to a broker, and kept no event names for its template; replay the event";
            return Attempt::Unsendable(format!("{url}: {why}"));
        }
        None => NameVars { route: delivery.route.clone(), ..Default::default() },
    };
    let name = match template.render(&vars) {
        Ok(name) => name,
        Err(e) => return Attempt::Unsendable(format!("{url}: {e}")),
    };
    let plugins = delivery.headers.iter().filter(|(k, _)| !headers::gateway_owned(k));
    let mut pairs: Vec<(String, String)> = d.headers.iter().chain(plugins).cloned().collect();
    let now = i64::try_from(crate::event::now_ms() / 1000).unwrap_or(i64::MAX);
    pairs.extend(gateway_headers(d, &delivery.id, now, &delivery.body).into_iter().map(|(k, v)| (k.to_owned(), v)));
    let message = Message { name: &name, id: &delivery.id, headers: &pairs, body: &delivery.body };
    match brokers.publish(d, &message).await {
        Ok(()) => Attempt::Published,
        Err(PublishError::Refused(why)) => Attempt::Refused(format!("{url} ({name}): {why}")),
        Err(PublishError::Broken(why)) => Attempt::NoAnswer(format!("{url} ({name}): {why}")),
    }
}

/// The gateway's own headers on an attempt: the delivery's id and the time, signed with the
/// destination's `signing_secret` when it has one (Standard Webhooks, as receivers verify it).
fn gateway_headers(destination: &Destination, id: &str, now: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    match &destination.signing_secret {
        Some(key) => standard_webhooks::sign(key.bytes(), id, now, body).into(),
        None => vec![(standard_webhooks::ID, id.to_owned()), (standard_webhooks::TIMESTAMP, now.to_string())],
    }
}

/// An error and its causes on one line, without the repetitions reqwest and hyper stack up
/// ("error sending request for url (…): client error (Connect): invalid peer certificate:
/// UnknownIssuer" becomes "… connect: invalid peer certificate: UnknownIssuer").
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    let what = if e.is_connect() { "cannot connect" } else { "request failed" };
    if parts.is_empty() { what.to_string() } else { format!("{what}: {}", parts.join(": ")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{self as provider, Inbound};
    use crate::signature::Keys;
    use std::path::Path;

    /// base64 of `sixteen-byte-key` is `c2l4dGVlbi1ieXRlLWtleQ==`; written here without its
    /// padding, as the Python library accepts it.
    const UNPADDED: &str = "whsec_c2l4dGVlbi1ieXRlLWtleQ";
    const BODY: &[u8] = br#"{"type":"order.created","data":{"id":7}}"#;
    const NOW: i64 = 1_700_000_000;

    fn config() -> crate::config::Config {
        let text = format!(
            "[sources.std]\nprovider = \"standard-webhooks\"\nsecrets = [\"{UNPADDED}\"]\n\n\
             [destinations.erp]\nurl = \"http://127.0.0.1:9/erp\"\nsigning_secret = \"{UNPADDED}\"\n\n\
             [[routes]]\nmatch = \"**\"\nto = [\"erp\"]\n"
        );
        crate::config::load_str(Path::new("routes.toml"), &text, &|_| None).unwrap()
    }

    fn map(pairs: &[(impl AsRef<str>, String)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            let name = HeaderName::from_bytes(name.as_ref().as_bytes()).unwrap();
            map.insert(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_whsec_secret_without_padding_is_accepted_by_a_source_and_a_destination() {
        let config = config();
        let key = config.destinations["erp"].signing_secret.as_ref().map(|k| k.bytes().to_vec());
        assert_eq!(key.as_deref(), Some(&b"sixteen-byte-key"[..]));
        assert_eq!(config.sources["std"].settings.check(config.sources["std"].provider), Ok(()));
    }

    #[test]
    fn what_a_delivery_signs_a_standard_webhooks_source_verifies_and_the_other_way_round() {
        let config = config();
        let (source, destination) = (&config.sources["std"], &config.destinations["erp"]);
        let receiver = provider::build(source.provider, source.settings.clone());

        let sent = map(&gateway_headers(destination, "msg_delivery", NOW, BODY));
        let got = receiver.verify(&Inbound { headers: &sent, body: BODY, now_unix: NOW });
        assert_eq!(got.map(|v| (v.scope, v.event_id)), Ok(("order.created".into(), Some("msg_delivery".into()))));

        let signed_by_source = receiver.sign(BODY, NOW, "msg_source");
        let key = destination.signing_secret.as_ref().map(|k| k.bytes().to_vec()).unwrap_or_default();
        let got = standard_webhooks::verify(&Keys::new(vec![key]), &map(&signed_by_source), BODY, NOW, 300);
        assert_eq!(got, Ok("msg_source".to_owned()));
        let by_delivery = gateway_headers(destination, "msg_source", NOW, BODY);
        let by_delivery: Vec<(String, String)> = by_delivery.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
        assert_eq!(signed_by_source, by_delivery, "one scheme, one signature");
    }
}
