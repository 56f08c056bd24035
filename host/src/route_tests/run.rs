//! Runs one case in process, as a serving gateway would handle its webhook, with nothing
//! outside: no listener, no store, no network. The request is built (a provider's sample or a
//! body of the case's own) and signed with the source's secret, verified by the source's real
//! provider, routed by the real table (`routing`), and each route taken runs its real plugin
//! and turns its actions into deliveries with dispatch's own code (`dispatch::run_route`).
//! Plugins read the case's kv state and get the case's recorded HTTP answers.
//!
//! What it observes is compared with the case's expectations in `compare.rs`.

use super::file::{Answer, Case, TestFile};
use crate::dispatch::{Ordering, PluginWorld, RouteResult, run_route};
use crate::event::Event;
use crate::metrics::Metrics;
use crate::plugin::{HttpFixture, KvReader, MemoryKv};
use crate::providers::Inbound;
use crate::reload::Snapshot;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// When every test webhook is sent and received (2023-11-14T22:13:20Z): outputs that carry a
/// time stay the same from run to run.
pub const NOW: i64 = 1_700_000_000;

/// Events one case may set off (its webhook and what plugins emit from it).
const MAX_EVENTS: usize = 100;

/// What the gateway made of one case's webhook.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub answer: Option<Answer>,
    pub status: u16,
    /// A refusal's label (`bad_signature`) and message.
    pub reason: Option<String>,
    pub message: Option<String>,
    pub scope: Option<String>,
    /// The routes the webhook took, with their parameters.
    pub routes: Vec<(String, BTreeMap<String, String>)>,
    pub deliveries: Vec<Delivered>,
    /// `(route, reason)`.
    pub drops: Vec<(String, String)>,
    pub dead_letters: Vec<(String, String)>,
    pub retries: Vec<(String, String)>,
}

/// One delivery the event made.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub destination: String,
    pub route: String,
    pub body: bytes::Bytes,
    pub headers: Vec<(String, String)>,
}

/// The case's state and answers, as its plugins see them.
struct CaseWorld {
    kv: HashMap<String, Arc<MemoryKv>>,
    fixture: Option<Arc<HttpFixture>>,
}

impl PluginWorld for CaseWorld {
    fn kv(&self, plugin: &str) -> Arc<dyn KvReader> {
        match self.kv.get(plugin) {
            Some(kv) => kv.clone(),
            None => Arc::new(MemoryKv::default()),
        }
    }

    fn http_fixture(&self) -> Option<Arc<HttpFixture>> {
        self.fixture.clone()
    }
}

/// Runs `case` against `snapshot`; `Err` when the case itself cannot run (an unknown source,
/// an unreadable file), which is a failure of its own.
pub async fn run_case(snapshot: &Arc<Snapshot>, file: &TestFile, case: &Case) -> Result<Observed, String> {
    let source = snapshot.config.sources.get(&case.source).ok_or_else(|| {
        let known: Vec<&str> = snapshot.config.sources.keys().map(String::as_str).collect();
        format!("no source `{}` in the config (defined: {})", case.source, known.join(", "))
    })?;
    let provider = snapshot.providers.get(&case.source).ok_or("the source has no provider")?;
    let (headers, body) = request(source, file, case)?;
    let mut observed = Observed::default();
    if body.len() > snapshot.config.server.max_body {
        observed.answer = Some(Answer::Refused);
        observed.status = 413;
        observed.reason = Some("too_large".into());
        return Ok(observed);
    }
    let map = header_map(&headers)?;
    let verified = match provider.verify(&Inbound { headers: &map, body: &body, now_unix: NOW }) {
        Ok(verified) => verified,
        Err(rejection) => {
            observed.answer = Some(Answer::Refused);
            observed.status = rejection.status();
            observed.reason = Some(rejection.reason().to_owned());
            observed.message = Some(rejection.to_string());
            return Ok(observed);
        }
    };
    observed.answer = Some(Answer::Accepted);
    observed.status = 200;
    observed.scope = Some(verified.scope.clone());
    let lower: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
    let mut webhook = Event::new(&case.source, verified.scope, lower, body.into());
    webhook.id = case_event_id(&case.name);
    webhook.received_at_ms = NOW as u64 * 1000;
    let world = world(file, case)?;
    route_all(snapshot, &world, webhook, &mut observed).await;
    Ok(observed)
}

/// Routes the webhook and every event its plugins emit, breadth first, within [`MAX_EVENTS`].
async fn route_all(snapshot: &Arc<Snapshot>, world: &CaseWorld, webhook: Event, observed: &mut Observed) {
    let metrics = Metrics::default();
    let mut pending = VecDeque::from([webhook]);
    let mut handled = 0;
    while let Some(event) = pending.pop_front() {
        handled += 1;
        if handled > MAX_EVENTS {
            observed.dead_letters.push(("-".into(), format!("more than {MAX_EVENTS} events emitted")));
            return;
        }
        for selected in snapshot.routes.select(Some(&event.source), &event.scope, Some(&event.body)) {
            if selected.other_source.is_some() || !selected.taken() {
                continue;
            }
            let route = selected.route;
            if event.depth == 0 {
                observed.routes.push((route.name.clone(), selected.params.iter().cloned().collect()));
            }
            let ordering = Ordering { key: selected.order_key, replays: 0 };
            let (result, _log) = run_route(snapshot, world, &event, route, selected.params, ordering, &metrics).await;
            match result {
                RouteResult::Done { deliveries, emitted, dropped, .. } => {
                    observed.deliveries.extend(deliveries.into_iter().map(|d| Delivered {
                        destination: d.destination,
                        route: d.route,
                        body: d.body,
                        headers: d.headers,
                    }));
                    observed.drops.extend(dropped.into_iter().map(|reason| (route.name.clone(), reason)));
                    pending.extend(emitted);
                }
                RouteResult::RetryLater(why) => observed.retries.push((route.name.clone(), why)),
                RouteResult::Failed(why) => observed.dead_letters.push((route.name.clone(), why)),
            }
        }
    }
}

/// A request's headers and body.
type Request = (Vec<(String, String)>, Vec<u8>);

/// The request as the platform would send it.
fn request(source: &crate::config::model::Source, file: &TestFile, case: &Case) -> Result<Request, String> {
    let mut settings = source.settings.clone();
    if case.unsigned {
        settings.secrets.clear();
    }
    let signer = crate::providers::build(source.provider, settings);
    let id = case_event_id(&case.name);
    let (mut headers, body) = match (&case.sample, &case.body, &case.body_file) {
        (Some(scope), _, _) => {
            let data = case.data.as_ref().map(serde_json::to_value).transpose().map_err(|e| e.to_string())?;
            let sample = signer.sample(Some(scope), data, NOW, &id).map_err(|e| e.to_string())?;
            (sample.headers, sample.body)
        }
        (None, Some(body), _) => with_signature(signer.as_ref(), body.clone().into_bytes(), &id),
        (None, None, Some(path)) => {
            let path = file.dir.join(path);
            let body = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            with_signature(signer.as_ref(), body, &id)
        }
        (None, None, None) => return Err("give one of sample, body and body_file".into()),
    };
    headers.extend(case.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok((headers, body))
}

fn with_signature(
    signer: &dyn crate::providers::Provider,
    body: Vec<u8>,
    id: &str,
) -> (Vec<(String, String)>, Vec<u8>) {
    let mut headers = signer.sign(&body, NOW, id);
    headers.push(("content-type".into(), "application/json".into()));
    (headers, body)
}

fn header_map(headers: &[(String, String)]) -> Result<http::HeaderMap, String> {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        let name =
            http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a header name"))?;
        let value = http::HeaderValue::from_str(value).map_err(|_| format!("the value of `{name}` cannot be sent"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// The case's plugins' state and recorded answers.
fn world(file: &TestFile, case: &Case) -> Result<CaseWorld, String> {
    let fixture = match &case.http {
        Some(path) => Some(Arc::new(HttpFixture::load(&file.dir.join(path)).map_err(|e| e.to_string())?)),
        None => None,
    };
    let text = |v: &toml::Value| match v {
        toml::Value::String(s) => s.clone().into_bytes(),
        other => serde_json::to_string(other).unwrap_or_default().into_bytes(),
    };
    let kv = case
        .kv
        .iter()
        .map(|(plugin, pairs)| {
            let state = pairs.iter().map(|(k, v)| (k.clone(), text(v))).collect();
            (plugin.clone(), Arc::new(MemoryKv(state)))
        })
        .collect();
    Ok(CaseWorld { kv, fixture })
}

/// The webhook's event id: the same for a case from run to run (a golden body may carry it),
/// different between cases.
fn case_event_id(name: &str) -> String {
    use sha2::Digest;
    format!("evt_{}", hex::encode(&sha2::Sha256::digest(name.as_bytes())[..16]))
}
