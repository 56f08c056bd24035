//! `switchyard send`: build a correctly signed sample webhook for one configured source, POST
//! it, print the answer. The local way to try a route, as the platforms' docs suggest
//! simulating events.
//!
//! The body takes each platform's documented shape (BigCommerce's envelope, a Stripe event, a
//! Big Cartel `{account_id, type, payload}`, …) around the user's `--data`; the signature comes
//! from the source's provider (`Provider::sign`, first secret), and the scope travels where
//! that platform puts it. This module never verifies anything and never prints a secret.

use crate::config::Config;
use crate::config::model::Source;
use crate::sources::provider::{self, GenericSpec, Location, ProviderKind};
use anyhow::Context;
use serde_json::{Map, Value, json};
use sha1::Digest as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `send` waits for the gateway's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What to send, as the command line says it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The `[sources.NAME]` to send to.
    pub source: String,
    /// The event type; each provider has a sample one.
    pub scope: Option<String>,
    /// The event's own data (the part inside the platform's envelope); a sample when `None`.
    pub data: Option<Value>,
    /// Where to POST; `http://{server.listen}/hooks/{source}` when `None`.
    pub url: Option<String>,
}

/// A webhook ready to POST.
#[derive(Debug, Clone)]
pub struct Sample {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub scope: String,
    /// Whether the source has a secret to sign with (else it accepts unsigned webhooks).
    pub signed: bool,
}

/// The gateway's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Why a sample cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// `--source` names no `[sources.NAME]`.
    #[error("no source named `{name}` in the config (sources: {known})")]
    UnknownSource { name: String, known: String },
    /// The scope or id must go into the body at a JSON pointer, but the data is not an object.
    #[error("the data must be a JSON object to put a value at `{pointer}`")]
    NotAnObject { pointer: String },
}

/// `switchyard send …`: load the config, build, POST, print; `Ok(false)` on a non-2xx answer.
pub async fn run(config: &Path, request: Request, data: Option<String>, file: Option<PathBuf>) -> anyhow::Result<bool> {
    let config = crate::config::load(config, &crate::config::process_env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = match (data, file) {
        (Some(text), _) => Some(text),
        (None, Some(path)) => {
            Some(std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?)
        }
        (None, None) => None,
    };
    let data = text.map(|t| serde_json::from_str(&t).context("--data/--file is not JSON")).transpose()?;
    let sample = build(&config, &Request { data, ..request }, now_unix(), &uuid::Uuid::now_v7().to_string())?;
    let unsigned = if sample.signed { "" } else { ", unsigned: the source has no secrets" };
    eprintln!("POST {} (scope {}{unsigned})", sample.url, sample.scope);
    let answer = post(&sample).await?;
    println!("HTTP {}", answer.status);
    println!("{}", answer.body);
    Ok((200..300).contains(&answer.status))
}

/// Builds the webhook `request` describes, signed at `now_unix`; `id` makes it unique (it
/// becomes the delivery id, message id or event id, as the platform names it).
pub fn build(config: &Config, request: &Request, now_unix: i64, id: &str) -> Result<Sample, SendError> {
    let source = config.sources.get(&request.source).ok_or_else(|| SendError::UnknownSource {
        name: request.source.clone(),
        known: config.sources.keys().map(String::as_str).collect::<Vec<_>>().join(", "),
    })?;
    let kind = source.provider;
    let scope = request.scope.clone().unwrap_or_else(|| default_scope(kind).to_owned());
    let data = request.data.clone().unwrap_or_else(|| default_data(kind));
    let id = platform_id(kind, id);
    let (body, mut headers) = envelope(source, &scope, data, now_unix, &id)?;
    let body = body.to_string().into_bytes();
    let signer = provider::build(kind, source.settings.clone());
    headers.extend(signer.sign(&body, now_unix, &id));
    headers.push(("Content-Type".into(), "application/json".into()));
    let url = request.url.clone().unwrap_or_else(|| default_url(&config.server.listen, &request.source));
    Ok(Sample { url, headers, body, scope, signed: !source.settings.secrets.is_empty() })
}

/// POSTs a sample and reads the answer, whatever its status.
pub async fn post(sample: &Sample) -> anyhow::Result<Answer> {
    let client = reqwest::Client::builder().timeout(ANSWER_TIMEOUT).build().context("cannot build an HTTP client")?;
    let mut request = client.post(&sample.url).body(sample.body.clone());
    for (name, value) in &sample.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.with_context(|| format!("cannot POST to {}", sample.url))?;
    let status = response.status().as_u16();
    let body = response.text().await.context("cannot read the answer")?;
    Ok(Answer { status, body })
}

/// The body, in the platform's documented shape around `data`, and the headers that carry the
/// scope where the platform puts it in a header.
fn envelope(
    source: &Source,
    scope: &str,
    data: Value,
    now: i64,
    id: &str,
) -> Result<(Value, Vec<(String, String)>), SendError> {
    let mut headers = Vec::new();
    let body = match source.provider {
        ProviderKind::BigCommerce => bigcommerce(scope, data, now, id),
        ProviderKind::BigCartel => json!({ "account_id": "1000001", "type": scope, "payload": data }),
        ProviderKind::Shopify => {
            headers.push(("X-Shopify-Topic".into(), scope.to_owned()));
            headers.push(("X-Shopify-Shop-Domain".into(), "sample-shop.myshopify.com".into()));
            data
        }
        ProviderKind::Stripe => json!({
            "id": id, "object": "event", "api_version": "2024-06-20", "created": now,
            "livemode": false, "type": scope, "data": { "object": data },
        }),
        ProviderKind::Github => {
            // The gateway names GitHub events `event.action`; split them back apart.
            let (event, action) = scope.split_once('.').map_or((scope, None), |(e, a)| (e, Some(a)));
            headers.push(("X-GitHub-Event".into(), event.to_owned()));
            match (action, data) {
                (Some(action), Value::Object(mut map)) => {
                    map.entry("action").or_insert_with(|| Value::from(action));
                    Value::Object(map)
                }
                (_, data) => data,
            }
        }
        ProviderKind::StandardWebhooks => json!({ "type": scope, "timestamp": rfc3339(now), "data": data }),
        ProviderKind::Generic => match &source.settings.generic {
            Some(spec) => generic(spec, scope, data, id, &mut headers)?,
            None => data,
        },
    };
    Ok((body, headers))
}

/// BigCommerce's documented body. `hash` is unkeyed SHA-1 "of the payload" with an unknown
/// pre-image; the gateway dedups on it, so each sample gets its own.
fn bigcommerce(scope: &str, data: Value, now: i64, id: &str) -> Value {
    let producer = "stores/sample";
    let pre_image = json!({ "scope": scope, "data": data, "created_at": now, "producer": producer, "id": id });
    let hash = hex::encode(sha1::Sha1::digest(pre_image.to_string().as_bytes()));
    json!({
        "scope": scope, "store_id": "1000001", "data": data, "hash": hash,
        "created_at": now, "producer": producer,
    })
}

/// The generic provider's scope and id go where its config reads them from.
fn generic(
    spec: &GenericSpec,
    scope: &str,
    data: Value,
    id: &str,
    headers: &mut Vec<(String, String)>,
) -> Result<Value, SendError> {
    let mut body = data;
    match &spec.scope {
        Location::Header(name) => headers.push((name.clone(), scope.to_owned())),
        Location::JsonPointer(pointer) => put(&mut body, pointer, Value::from(scope))?,
    }
    // An id header is added by `Provider::sign`; an id field has to be in the body it signs.
    if let Some(Location::JsonPointer(pointer)) = &spec.id {
        put(&mut body, pointer, Value::from(id))?;
    }
    Ok(body)
}

/// Sets `value` at an RFC 6901 pointer, creating objects on the way.
fn put(target: &mut Value, pointer: &str, value: Value) -> Result<(), SendError> {
    let not_object = || SendError::NotAnObject { pointer: pointer.to_owned() };
    let tokens: Vec<String> = pointer.split('/').skip(1).map(|t| t.replace("~1", "/").replace("~0", "~")).collect();
    let Some((last, parents)) = tokens.split_last() else { return Err(not_object()) };
    let mut here = target;
    for token in parents {
        let map = here.as_object_mut().ok_or_else(not_object)?;
        here = map.entry(token.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    here.as_object_mut().ok_or_else(not_object)?.insert(last.clone(), value);
    Ok(())
}

fn default_scope(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::BigCommerce => "store/order/created",
        ProviderKind::BigCartel => "order.created",
        ProviderKind::Shopify => "orders/create",
        ProviderKind::Stripe => "payment_intent.succeeded",
        ProviderKind::Github => "pull_request.opened",
        ProviderKind::StandardWebhooks => "user.created",
        ProviderKind::Generic => "sample.created",
    }
}

fn default_data(kind: ProviderKind) -> Value {
    match kind {
        ProviderKind::BigCommerce => json!({ "type": "order", "id": 250 }),
        ProviderKind::BigCartel => json!({ "id": "SAMPLE-1001", "status": "completed" }),
        ProviderKind::Shopify => {
            json!({ "id": 820982911946154508u64, "email": "jon@example.com", "total_price": "10.00" })
        }
        ProviderKind::Stripe => {
            json!({ "id": "pi_sample", "object": "payment_intent", "amount": 1000, "currency": "usd" })
        }
        ProviderKind::Github => json!({ "number": 1, "pull_request": { "id": 1, "title": "Sample" } }),
        ProviderKind::StandardWebhooks => json!({ "id": "user_sample" }),
        ProviderKind::Generic => json!({ "id": "sample" }),
    }
}

/// `id` in the form the platform uses: `msg_…` message ids, `evt_…` Stripe events, GUIDs.
fn platform_id(kind: ProviderKind, id: &str) -> String {
    let compact: String = id.chars().filter(|c| *c != '-').collect();
    match kind {
        ProviderKind::StandardWebhooks | ProviderKind::BigCommerce => format!("msg_{compact}"),
        ProviderKind::Stripe => format!("evt_{compact}"),
        _ => id.to_owned(),
    }
}

/// Where a gateway listening on `listen` takes webhooks for `source`; an unspecified address
/// (all interfaces) is reached through loopback.
fn default_url(listen: &str, source: &str) -> String {
    let host = listen.replacen("0.0.0.0", "127.0.0.1", 1).replacen("[::]", "[::1]", 1);
    format!("http://{host}/hooks/{source}")
}

fn now_unix() -> i64 {
    i64::try_from(crate::event::now_ms() / 1000).unwrap_or(i64::MAX)
}

/// `2023-11-14T22:13:20Z` for Unix seconds (the Standard Webhooks payload's `timestamp`).
fn rfc3339(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::provider::Inbound;

    const NOW: i64 = 1_700_000_000;
    const ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

    fn config() -> Config {
        let text = "[server]\nlisten = \"0.0.0.0:8080\"\n\n[sources.bc]\nprovider = \"bigcommerce\"\nsecrets = [\"bc_secret\"]\n\n\
             [sources.cartel]\nprovider = \"bigcartel\"\nsecrets = [\"cartel_secret\"]\n\n\
             [sources.shop]\nprovider = \"shopify\"\nsecrets = [\"shpss_secret\"]\n\n\
             [sources.pay]\nprovider = \"stripe\"\nsecrets = [\"whsec_stripe\"]\n\n\
             [sources.gh]\nprovider = \"github\"\nsecrets = [\"gh_secret\"]\n\n\
             [sources.std]\nprovider = \"standard-webhooks\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n\n\
             [sources.custom]\nprovider = \"generic\"\nsecrets = [\"generic_secret\"]\nsignature_header = \"X-Signature\"\n\
             scope_field = \"event.kind\"\nid_field = \"event.id\"\n\n\
             [sources.custom-header]\nprovider = \"generic\"\nsecrets = [\"generic_secret\"]\n\
             signature_header = \"X-Signature\"\nscope_header = \"X-Kind\"\nid_header = \"X-Id\"\n\n\
             [sources.open]\nprovider = \"stripe\"\n";
        match crate::config::load_str(Path::new("routes.toml"), text, &|_| None) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn sample(source: &str, scope: Option<&str>, data: Option<Value>) -> Sample {
        let request = Request { source: source.into(), scope: scope.map(str::to_owned), data, url: None };
        build(&config(), &request, NOW, ID).unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    /// What the gateway's own provider makes of the sample at the time it was signed.
    fn verified(source: &str, sample: &Sample) -> provider::Verified {
        let source = &config().sources[source];
        let mut headers = http::HeaderMap::new();
        for (name, value) in &sample.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            headers.append(name, http::HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{value}: {e}")));
        }
        let p = provider::build(source.provider, source.settings.clone());
        p.verify(&Inbound { headers: &headers, body: &sample.body, now_unix: NOW })
            .unwrap_or_else(|e| panic!("{}: {e}", source.name))
    }

    fn body(sample: &Sample) -> Value {
        serde_json::from_slice(&sample.body).unwrap_or(Value::Null)
    }

    #[test]
    fn every_providers_sample_verifies_and_names_its_default_scope() {
        let expect = [
            ("bc", "store/order/created"),
            ("cartel", "order.created"),
            ("shop", "orders/create"),
            ("pay", "payment_intent.succeeded"),
            ("gh", "pull_request.opened"),
            ("std", "user.created"),
            ("custom", "sample.created"),
            ("custom-header", "sample.created"),
        ];
        for (source, scope) in expect {
            let s = sample(source, None, None);
            assert!(s.signed, "{source}");
            assert_eq!(verified(source, &s).scope, scope, "{source}");
        }
    }

    #[test]
    fn bigcommerce_gets_its_documented_envelope_with_a_fresh_hash() {
        let s = sample("bc", Some("store/cart/created"), Some(json!({"type": "cart", "id": "c1"})));
        let b = body(&s);
        let keys: Vec<&str> = b.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
        assert_eq!(keys, ["created_at", "data", "hash", "producer", "scope", "store_id"]);
        assert_eq!((b["scope"].as_str(), b["data"]["id"].as_str()), (Some("store/cart/created"), Some("c1")));
        assert_eq!(b["hash"].as_str().map(str::len), Some(40));
        assert_eq!(verified("bc", &s).event_id, b["hash"].as_str().map(str::to_owned), "dedup uses the hash");
        let other = build(&config(), &Request { source: "bc".into(), ..Request::default() }, NOW, "another-id");
        assert_ne!(other.map(|o| body(&o)["hash"].clone()).ok(), Some(b["hash"].clone()), "each send is new");
    }

    #[test]
    fn big_cartel_stripe_and_standard_webhooks_carry_the_scope_in_type() {
        let data = json!({"id": "x1"});
        let cartel = body(&sample("cartel", Some("product.updated"), Some(data.clone())));
        assert_eq!((cartel["type"].as_str(), &cartel["payload"]), (Some("product.updated"), &data));
        let pay = body(&sample("pay", Some("invoice.paid"), Some(data.clone())));
        assert_eq!((pay["type"].as_str(), &pay["data"]["object"]), (Some("invoice.paid"), &data));
        assert_eq!(pay["object"], "event");
        let std = body(&sample("std", Some("invoice.paid"), Some(data.clone())));
        assert_eq!((std["type"].as_str(), &std["data"]), (Some("invoice.paid"), &data));
        assert_eq!(std["timestamp"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn shopify_and_github_carry_the_scope_in_headers_and_the_data_as_the_body() {
        let data = json!({"id": 7});
        let shop = sample("shop", Some("products/update"), Some(data.clone()));
        assert_eq!(body(&shop), data);
        assert_eq!(verified("shop", &shop).scope, "products/update");
        let gh = sample("gh", Some("issues.closed"), Some(data));
        assert_eq!(body(&gh)["action"], "closed");
        assert_eq!(verified("gh", &gh).scope, "issues.closed");
        assert_eq!(verified("gh", &sample("gh", Some("push"), Some(json!({})))).scope, "push");
    }

    #[test]
    fn the_generic_provider_gets_scope_and_id_where_its_config_reads_them() {
        let fields = sample("custom", Some("invoice.paid"), Some(json!({"amount": 5})));
        let got = verified("custom", &fields);
        assert_eq!((got.scope.as_str(), got.event_id.as_deref()), ("invoice.paid", Some(ID)));
        assert_eq!(body(&fields)["amount"], 5);
        let in_headers = sample("custom-header", Some("invoice.paid"), None);
        let got = verified("custom-header", &in_headers);
        assert_eq!((got.scope.as_str(), got.event_id.as_deref()), ("invoice.paid", Some(ID)));
    }

    #[test]
    fn data_that_cannot_hold_a_generic_scope_field_is_an_error() {
        let request = Request { source: "custom".into(), data: Some(json!([1, 2])), ..Request::default() };
        let err = build(&config(), &request, NOW, ID).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("the data must be a JSON object to put a value at `/event/kind`"));
    }

    #[test]
    fn an_unknown_source_lists_the_configured_ones() {
        let request = Request { source: "nope".into(), ..Request::default() };
        let err = build(&config(), &request, NOW, ID).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with("no source named `nope` in the config (sources: bc, cartel, custom"), "{err}");
    }

    #[test]
    fn a_source_without_secrets_gets_an_unsigned_sample() {
        let s = sample("open", None, None);
        assert!(!s.signed);
        assert!(!s.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("stripe-signature")));
    }

    #[test]
    fn the_default_url_reaches_an_all_interfaces_listener_through_loopback() {
        assert_eq!(sample("pay", None, None).url, "http://127.0.0.1:8080/hooks/pay");
        assert_eq!(default_url("[::]:9000", "x"), "http://[::1]:9000/hooks/x");
        assert_eq!(default_url("10.0.0.5:80", "x"), "http://10.0.0.5:80/hooks/x");
        let request = Request { source: "pay".into(), url: Some("http://gw:1/h".into()), ..Request::default() };
        assert_eq!(build(&config(), &request, NOW, ID).map(|s| s.url).ok().as_deref(), Some("http://gw:1/h"));
    }

    #[test]
    fn rfc3339_renders_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
