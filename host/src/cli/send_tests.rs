//! Tests of `switchyard send` (cli/send.rs): a sample for every provider, built from a config
//! through `send::build`, verifies with the gateway's own provider and carries its scope where
//! the platform puts it.

use super::*;
use crate::providers::contract::Inbound;
use serde_json::json;

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
