//! `plugin run --http FIXTURE`: a plugin that calls an API, run against recorded answers with no
//! network. The answers never widen what the plugin may reach (its `allowed_hosts` are checked
//! first), and a request the file has no answer for fails the run, named.

use crate::support::child::run_cli;
use crate::support::wasm::BIGCOMMERCE_ENRICH;

const ORDER: &str = "https://api.bigcommerce.com/stores/sample/v2/orders/250";

/// The enrich example against `fixture` (TOML), with `args` added; exit status and output.
fn enrich(fixture: &str, args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fixture.toml");
    std::fs::write(&file, fixture).unwrap();
    let file = file.display().to_string();
    let mut all = vec![
        "plugin",
        "run",
        BIGCOMMERCE_ENRICH,
        "--sample",
        "bigcommerce:store/order/created",
        "--config",
        "access_token=t",
        "--http",
        &file,
    ];
    all.extend_from_slice(args);
    let (ok, lines) = run_cli(&all).unwrap();
    (ok, lines.join("\n"))
}

fn order_answer() -> String {
    format!("[[answer]]\nurl = \"{ORDER}\"\njson = {{ id = 250, status = \"Shipped\" }}\n")
}

#[test]
fn a_fixture_never_lets_a_plugin_reach_a_host_its_config_refuses() {
    let (ok, output) = enrich(&order_answer(), &[]);
    assert!(!ok, "no --allow-host: the request is refused before the fixture is asked:\n{output}");
    assert!(output.contains("Refused"), "{output}");
    assert!(!output.contains("Answered(200)"), "{output}");
}

#[test]
fn a_request_the_fixture_has_no_answer_for_fails_the_run_and_is_named() {
    let (ok, output) = enrich(&order_answer(), &["--allow-host", "https://api.bigcommerce.com"]);
    assert!(!ok, "{output}");
    let products = format!("{ORDER}/products?limit=250&page=1");
    assert!(output.contains(&format!("no answer in the fixture matches GET {products}")), "{output}");
}

#[test]
fn the_requests_made_are_part_of_what_expect_compares() {
    let dir = tempfile::tempdir().unwrap();
    let golden = dir.path().join("golden.json");
    let fixture = format!("{}\n[[answer]]\nurl = \"{ORDER}/products?limit=250&page=1\"\njson = []\n", order_answer());
    let want = |requests: serde_json::Value| {
        let body = serde_json::json!({ "order_id": 250, "status": "Shipped", "total": null, "customer_email": null, "items": [] });
        serde_json::json!({
            "actions": [{ "forward": { "destination": null, "headers": [["content-type", "application/json"]], "body": body } }],
            "requests": requests,
        })
    };
    let requests = serde_json::json!([
        { "method": "GET", "url": ORDER, "status": 200 },
        { "method": "GET", "url": format!("{ORDER}/products?limit=250&page=1"), "status": 200 },
    ]);
    std::fs::write(&golden, want(requests).to_string()).unwrap();
    let expect = golden.display().to_string();
    let (ok, output) = enrich(&fixture, &["--allow-host", "https://api.bigcommerce.com", "--expect", &expect]);
    assert!(ok, "{output}");
    std::fs::write(&golden, want(serde_json::json!([])).to_string()).unwrap();
    let (ok, output) = enrich(&fixture, &["--allow-host", "https://api.bigcommerce.com", "--expect", &expect]);
    assert!(!ok && output.contains("DIFFERS"), "a golden without the requests differs:\n{output}");
}
