//! End-to-end tests: a real gateway on a loopback port, real plugins, real HTTP destinations.
//!
//! One test binary, one file per user-visible behaviour:
//! - `admin`: health, readiness, Prometheus metrics, the JSON API and its bearer token.
//! - `routing`: scopes reach the right routes and plugins, fan-out, no match, parameters.
//! - `plugins`: misbehaving plugins fail only their own event.
//! - `delivery`: retries, dead letters and replay.
//! - `delivery_control`: rate and concurrency limits, the breaker, ordered keys, filters, event replay.
//! - `ingest`: bad input is answered with the right status and never crashes anything.
//! - `providers`: each platform's genuine webhooks are accepted once, forgeries refused.
//! - `reload`: config and plugin changes apply live, broken ones change nothing, none loses an event.
//! - `storage`: dedup survives restarts; PostgreSQL serves one gateway or several sharing it.
//! - `https`: HTTPS destinations with a private CA, refused certificates, mutual TLS.
//! - `tls_ingest`: the ingest listener over TLS (HTTP/1.1 and HTTP/2), certificates renewed live.
//! - `hostile`: a plugin attacking the gateway from inside gets nowhere.
//! - `hardening`: bounded kv writes, fetch deadlines, what plugins' requests reach, an admin no
//!   web page can drive, and secrets that never show.
//! - `polyglot`: plugins in JavaScript, TypeScript and Python, built by the SDKs, run by the host.
//! - `capabilities`: plugins call APIs through the allow-list and keep state in kv; 0.1.0 plugins still run.
//! - `brokers`: NATS JetStream, RabbitMQ, Redis Streams and MQTT destinations, including a `kill -9`.
//! - `subscriptions`: BigCommerce's registered hooks kept in step, against a fake v3 hooks API.
//! - `storage_faults`: a full disk and a deleted database are reported, and nothing acknowledged is lost.
//! - `console`: the operator's console in a real headless Chromium: token, live events, attempts, replay, explain.
//! - `storage_tls`: TLS to a throwaway PostgreSQL cluster with its own CA, client certificates too.
//! - `cluster`: three gateways on one PostgreSQL: SIGKILL, SIGSTOP and a rolling SIGTERM restart
//!   under load, the node list, and one trace per event across gateways (OTLP).

#![allow(clippy::unwrap_used)] // a test that unwraps says what it expects (rust-clippy#13981)

mod adaptive;
mod admin;
mod brokers;
mod capabilities;
mod cluster;
mod console;
mod delivery;
mod delivery_control;
mod hardening;
mod hostile;
mod http_fixtures;
mod https;
mod ingest;
mod plugins;
mod polyglot;
mod providers;
mod reload;
mod routing;
mod storage;
mod storage_faults;
mod storage_tls;
mod subscriptions;
mod tls_ingest;

pub use switchyard_e2e::support;

/// Not a test of its own: the gateway `support::child` runs in a process of its own, so a test
/// can kill it with SIGKILL. Without `SWITCHYARD_CHILD_DIR` it returns at once.
#[tokio::test]
#[ignore = "run by support::child in a child process"]
async fn child_gateway() {
    let Some(dir) = std::env::var_os(support::child::DIR_VAR).map(std::path::PathBuf::from) else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = switchyard::app::Options {
        config: dir.join("routes.toml"),
        cache_dir: Some(dir.join("cache")),
        watch: false,
        admin: None,
    };
    let gateway = switchyard::app::Gateway::start(options, listener).await.unwrap();
    println!("{}{}", support::child::LISTENING, gateway.ingest_addr);
    std::future::pending::<()>().await;
}

/// Not a test of its own: `switchyard serve` as the binary runs it, in a process of its own
/// (`support::child::ServeChild`), so a test can stop, freeze or kill it with signals. Without
/// `SWITCHYARD_CHILD_ARGS` it returns at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by support::child in a child process"]
async fn child_serve() {
    let Ok(args) = std::env::var(support::child::ARGS_VAR) else { return };
    let args = std::iter::once("switchyard").chain(args.lines());
    let cli = <switchyard::cli::Cli as clap::Parser>::try_parse_from(args).unwrap();
    let status = switchyard::cli::main(cli).await;
    std::process::exit(if status == std::process::ExitCode::SUCCESS { 0 } else { 1 });
}
