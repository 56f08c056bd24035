//! Subscriptions against a fake BigCommerce v3 hooks API on loopback: `plan` then `apply`
//! registers exactly the scopes the routes need and a second `apply` changes nothing; a new
//! route shows in the next plan; a serving gateway reactivates a hook the platform deactivated;
//! 429s are waited out by the rate-limit headers; `--prune` deletes only what the plan lists.
//! An API that strays within its spec (bare answers, `meta: null`, no `is_active`, no
//! `total_pages`) is read; one beyond it (a wait for ever, endless pages) fails the command
//! quickly and with bounded memory; a refused scope fails alone; and `plan` says which route
//! patterns cannot be registered as written.

use crate::support::bigcommerce_hooks::{FakeHooksApi, Misbehaving};
use crate::support::child::run_cli;
use crate::support::{TestGateway, cli, eventually};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use switchyard::metrics::Metrics;
use switchyard::providers::bigcommerce::hooks::{self, plan::Change};

const PUBLIC: &str = "https://gw.example.com/hooks/bigcommerce";
const STORE: &str = "abc123";
const TOKEN: &str = "token-that-must-never-be-printed";

fn table(api: &FakeHooksApi, routes: &str, check_every: &str) -> String {
    format!(
        r#"
[sources.bigcommerce]
provider = "bigcommerce"
secrets = ["client-secret"]
required_headers = {{ "X-Hook-Key" = "k1" }}

[sources.bigcommerce.subscribe]
public_url = "{PUBLIC}"
stores = [{{ store_hash = "{STORE}", access_token = "{TOKEN}" }}]
headers = {{ "X-Hook-Key" = "k1" }}
api_base = "{}"
check_every = "{check_every}"

[sources.bigcartel]
provider = "bigcartel"
secrets = ["other"]

[destinations.erp]
url = "http://127.0.0.1:9/erp"

{routes}
"#,
        api.base()
    )
}

const ROUTES: &str = r#"
[[routes]]
match = "store/order/*"
source = "bigcommerce"
to = ["erp"]

[[routes]]
match = ["store/cart/created", "store/customer/{kind}"]
to = ["erp"]

[[routes]]
match = "order.created"
source = "bigcartel"
to = ["erp"]
"#;

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("routes.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn load(path: &Path) -> switchyard::config::Config {
    switchyard::config::load(path, &|_| None).unwrap()
}

/// A deadline as one command has.
fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + hooks::api::PATIENCE
}

/// `switchyard ARGS…` in a child process, while this test's runtime goes on serving the fake
/// API: its exit status and printed lines.
async fn cli_output(args: &[&str]) -> (bool, Vec<String>) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let run = tokio::task::spawn_blocking(move || run_cli(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    match run.await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("{e:#}"),
        Err(e) => panic!("{e}"),
    }
}

async fn changes(path: &Path, prune: bool) -> Vec<Change> {
    let (plans, _) = hooks::plan_all(&load(path), None, prune, deadline()).await.unwrap();
    assert_eq!(plans.len(), 1, "one store");
    plans.into_iter().next().map(|p| p.changes.unwrap()).unwrap_or_default()
}

fn scopes(api: &FakeHooksApi) -> BTreeSet<String> {
    api.hooks(STORE).into_iter().map(|h| h.scope).collect()
}

fn wanted() -> BTreeSet<String> {
    let mut scopes: BTreeSet<String> = ["store/order/*", "store/cart/created"].map(String::from).into();
    // `store/customer/{kind}`: the listed scopes it matches.
    scopes.extend(["store/customer/created", "store/customer/updated", "store/customer/deleted"].map(String::from));
    scopes
}

#[tokio::test]
async fn plan_then_apply_registers_exactly_what_the_routes_need_and_again_changes_nothing() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "10m"));
    let config = path.to_str().unwrap_or_default();

    let planned = changes(&path, false).await;
    let creates: BTreeSet<String> = planned
        .iter()
        .map(|c| match c {
            Change::Create { scope } => scope.clone(),
            other => panic!("an empty store gets only creates, not {other:?}"),
        })
        .collect();
    assert_eq!(creates, wanted());
    assert!(cli(&["subscriptions", "plan", "--config", config]).await);
    assert_eq!(api.writes(), 0, "plan changes nothing");

    assert!(cli(&["subscriptions", "apply", "--config", config]).await);
    assert_eq!(scopes(&api), wanted());
    for hook in api.hooks(STORE) {
        assert_eq!((hook.destination.as_str(), hook.is_active), (PUBLIC, true));
        assert_eq!(
            hook.headers.get("X-Hook-Key").map(String::as_str),
            Some("k1"),
            "the headers pair with required_headers"
        );
    }
    let writes = api.writes();
    assert!(changes(&path, false).await.iter().all(|c| !c.acts()), "applied: nothing left to do");
    assert!(cli(&["subscriptions", "apply", "--config", config]).await);
    assert_eq!(api.writes(), writes, "a second apply changes nothing");
    assert!(cli(&["subscriptions", "status", "--config", config]).await);
}

#[tokio::test]
async fn a_route_added_to_routes_toml_is_in_the_next_plan() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "10m"));
    assert!(cli(&["subscriptions", "apply", "--config", path.to_str().unwrap_or_default()]).await);

    let more = format!("{ROUTES}\n[[routes]]\nmatch = \"store/shipment/created\"\nto = [\"erp\"]\n");
    write(dir.path(), &table(&api, &more, "10m"));
    let acting: Vec<Change> = changes(&path, false).await.into_iter().filter(Change::acts).collect();
    assert_eq!(acting, [Change::Create { scope: "store/shipment/created".into() }]);
}

#[tokio::test]
async fn a_hook_the_platform_deactivates_is_reactivated_by_a_serving_gateway() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "200ms"));
    assert!(cli(&["subscriptions", "apply", "--config", path.to_str().unwrap_or_default()]).await);

    let gw = TestGateway::start_in(dir, false).await.unwrap();
    api.deactivate(STORE, "store/order/*");
    let metrics = gw.gateway.metrics.clone();
    eventually("the deactivated hook active again", || {
        api.hooks(STORE).iter().all(|h| h.is_active) && Metrics::get(&metrics.subscriptions_reactivated) == 1
    })
    .await;
    let last = gw.gateway.checks.last();
    let check = &last["bigcommerce"].stores[0];
    assert_eq!(check.store_hash, STORE);
    assert_eq!(check.hooks, wanted().len());
    assert_eq!(scopes(&api), wanted(), "reactivated, not re-created");
    gw.stop().await;
}

#[tokio::test]
async fn rate_limited_requests_wait_for_the_window_and_succeed() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    api.rate_limit(2, Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "10m"));
    assert!(cli(&["subscriptions", "apply", "--config", path.to_str().unwrap_or_default()]).await);
    assert_eq!(scopes(&api), wanted(), "every create went through");
    // Six requests (a list, five creates) through a limit of two per window: the client paced
    // itself by X-Rate-Limit-Requests-Left and waited out any 429 by X-Rate-Limit-Time-Reset-Ms.
    assert!(api.throttled() <= 1, "{} requests were throttled: the client did not pace itself", api.throttled());
}

#[tokio::test]
async fn a_429_is_waited_out_by_its_reset_header() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "10m"));
    let config = load(&path);
    let subscribe = config.sources["bigcommerce"].subscribe.clone().unwrap_or_else(|| panic!("subscribe"));
    let http = hooks::http_client().unwrap();
    // Another client of the same store used up the window: this one's first request is a 429.
    api.rate_limit(1, Duration::from_millis(400));
    let other = hooks::api(&http, &subscribe, &subscribe.stores[0], deadline());
    other.list().await.unwrap();
    let fresh = hooks::api(&http, &subscribe, &subscribe.stores[0], deadline());
    let listed = fresh.list().await;
    assert!(listed.is_ok(), "{listed:?}");
    assert_eq!(api.throttled(), 1, "one 429, waited out, then answered");
}

#[tokio::test]
async fn prune_deletes_only_what_the_plan_lists() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "10m"));
    let config = path.to_str().unwrap_or_default();
    assert!(cli(&["subscriptions", "apply", "--config", config]).await);
    let foreign = api.add(STORE, "store/product/updated", "https://other-app.example.com/hook", true);
    let stale = api.add(STORE, "store/sku/created", PUBLIC, true);

    let plan = changes(&path, false).await;
    assert!(plan.contains(&Change::Delete {
        id: stale,
        scope: "store/sku/created".into(),
        why: "no route needs this scope"
    }));
    assert!(plan.iter().any(|c| matches!(c, Change::Foreign { id, prune: false, .. } if *id == foreign)));
    assert!(cli(&["subscriptions", "apply", "--config", config]).await);
    let ids: BTreeSet<i64> = api.hooks(STORE).iter().map(|h| h.id).collect();
    assert!(ids.contains(&foreign) && !ids.contains(&stale), "without --prune, only this gateway's stale hook goes");

    let pruning: Vec<Change> = changes(&path, true).await.into_iter().filter(Change::acts).collect();
    assert_eq!(pruning.len(), 1);
    assert!(matches!(&pruning[0], Change::Foreign { id, prune: true, .. } if *id == foreign));
    assert!(cli(&["subscriptions", "apply", "--prune", "--config", config]).await);
    assert_eq!(scopes(&api), wanted(), "--prune removed the one hook it listed, and nothing else");
}

#[tokio::test]
async fn a_refused_token_names_the_store_and_never_the_token() {
    let api = FakeHooksApi::start(&[(STORE, "the-right-token")]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "10m"));
    let (plans, _) = hooks::plan_all(&load(&path), None, false, deadline()).await.unwrap();
    let error = plans[0].changes.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(error.contains(STORE) && error.contains("401"), "{error}");
    assert!(!error.contains(TOKEN));
    assert!(!format!("{:?}", load(&path)).contains(TOKEN), "the config's Debug leaves tokens out");
    assert!(
        !cli(&["subscriptions", "plan", "--config", path.to_str().unwrap_or_default()]).await,
        "a failed store fails the command"
    );
}

#[tokio::test]
async fn hooks_past_the_first_page_are_read() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "10m"));
    // 300 hooks of another app, more than one page of 250, and one of ours on the last page.
    for n in 0..300 {
        api.add(STORE, "store/product/updated", &format!("https://other-app.example.com/{n}"), true);
    }
    let ours = api.add(STORE, "store/order/*", PUBLIC, false);
    let plan = changes(&path, false).await;
    assert_eq!(plan.iter().filter(|c| matches!(c, Change::Foreign { .. })).count(), 300);
    assert!(plan.contains(&Change::Reactivate { id: ours, scope: "store/order/*".into() }), "the last page is read");
}

#[tokio::test]
async fn answers_as_loose_as_the_spec_allows_are_read_and_applied() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    api.misbehave(Misbehaving { loose: true, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "10m"));
    let config = path.to_str().unwrap_or_default();
    // More hooks than one page, listed without `is_active` and without `total_pages`.
    for n in 0..300 {
        api.add(STORE, "store/product/updated", &format!("https://other-app.example.com/{n}"), true);
    }
    assert!(cli(&["subscriptions", "apply", "--config", config]).await, "bare creates with meta: null are read");
    assert_eq!(scopes(&api).len(), wanted().len() + 1);
    let plan = changes(&path, false).await;
    assert_eq!(plan.iter().filter(|c| matches!(c, Change::Foreign { .. })).count(), 300, "every page was read");
    assert!(plan.iter().all(|c| !matches!(c, Change::Reactivate { .. })), "a hook without is_active is active");
    api.deactivate(STORE, "store/order/*");
    assert!(cli(&["subscriptions", "apply", "--config", config]).await, "an update answered with meta: null");
    assert!(api.hooks(STORE).iter().all(|h| h.is_active));
}

#[tokio::test]
async fn a_scope_the_platform_refuses_fails_alone_and_apply_reports_it() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    api.misbehave(Misbehaving { refused_scopes: vec!["store/cart/created".into()], ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "10m"));
    let (ok, lines) = cli_output(&["subscriptions", "apply", "--config", path.to_str().unwrap_or_default()]).await;
    assert!(!ok, "a failed change fails the command: {lines:#?}");
    let mut expected = wanted();
    expected.remove("store/cart/created");
    assert_eq!(scopes(&api), expected, "every other change was applied");
    let failed: Vec<&String> = lines.iter().filter(|l| l.contains("failed")).collect();
    assert_eq!(failed.len(), 1, "{lines:#?}");
    assert!(failed[0].contains("store/cart/created") && failed[0].contains("422"), "{failed:?}");
}

#[tokio::test]
async fn a_rate_limit_asking_to_wait_for_ever_fails_the_command_at_once_with_the_reason() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    api.misbehave(Misbehaving { throttle_for_ms: Some(999_999_999_999), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "10m"));
    let started = std::time::Instant::now();
    let (plans, _) = hooks::plan_all(&load(&path), None, false, deadline()).await.unwrap();
    let error = plans[0].changes.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(error.contains("rate limit") && error.contains(STORE), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10), "gave up at once, not after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_store_listing_endless_pages_of_hooks_is_refused_without_reading_them_all() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    api.misbehave(Misbehaving { endless: Some((12_000, 1_000_000)), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &table(&api, ROUTES, "10m"));
    let (plans, _) = hooks::plan_all(&load(&path), None, false, deadline()).await.unwrap();
    let error = plans[0].changes.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(error.contains("more than 10000 hooks"), "{error}");
}

#[tokio::test]
async fn plan_says_which_route_patterns_cannot_be_registered_as_written() {
    let api = FakeHooksApi::start(&[(STORE, TOKEN)]).await;
    let dir = tempfile::tempdir().unwrap();
    let routes = format!(
        "{ROUTES}\n[[routes]]\nname = \"channel carts\"\nmatch = \"store/channel/{{channel_id}}/cart/*\"\nto = [\"erp\"]\n"
    );
    let path = write(dir.path(), &table(&api, &routes, "10m"));
    let (ok, lines) = cli_output(&["subscriptions", "plan", "--config", path.to_str().unwrap_or_default()]).await;
    assert!(ok, "{lines:#?}");
    let notes: Vec<&String> = lines.iter().filter(|l| l.starts_with("note:")).collect();
    assert!(
        notes.iter().any(|n| n.contains("store/customer/{kind}") && n.contains("cannot be registered as written")),
        "{notes:#?}"
    );
    assert!(notes.iter().any(|n| n.contains("channel carts") && n.contains("channel ids")), "{notes:#?}");
}
