//! The plugins page: each plugin's file hash (SHA-256 of what is serving), contract version,
//! limits, and this gateway's calls, failures by kind and p99 call duration since start.
//! Config values are never shown (they may hold credentials), only their keys.

use super::view::quantile;
use crate::metrics::PLUGIN_FAILURE_KINDS;
use crate::shared::Shared;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

pub async fn fragment(State(shared): State<Shared>) -> Response {
    let snapshot = shared.live.snapshot();
    let m = &shared.metrics;
    html! {
        h2 { "Plugins" }
        @if snapshot.config.plugins.is_empty() {
            p.muted { "No plugin is configured: routes forward events as received." }
        } @else {
            p.muted { "Calls, failures and durations are this gateway's since it started." }
            table {
                caption.sr-only { "Plugins" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "SHA-256" } th scope="col" { "Contract" } th scope="col" { "Limits" }
                    th.num scope="col" { "Calls" } th scope="col" { "Failures" } th.num scope="col" { "p99" }
                } }
                tbody {
                    @for spec in snapshot.config.plugins.values() {
                        @let loaded = snapshot.plugins.get(&spec.name);
                        @let hash = loaded.map(|p| hex::encode(p.digest())).unwrap_or_default();
                        @let calls = m.plugin_seconds.with(&spec.name, |h| h.cumulative().1);
                        tr {
                            td { (spec.name) div.muted.mono { (spec.path.display().to_string()) } }
                            td.mono title=(hash) { (hash.get(..16).unwrap_or("-")) "…" }
                            td { (loaded.map(|p| p.contract().to_string()).unwrap_or_else(|| "-".into())) }
                            td {
                                div { "timeout " (spec.timeout.as_millis()) " ms, memory " (spec.memory_bytes >> 20) " MiB" }
                                div { "output " (spec.max_output) " B, emits " (spec.max_emits) }
                                div { "fetches " (spec.max_fetches) " × " (spec.fetch_timeout.as_millis()) " ms"
                                    @if !spec.allowed_hosts.is_empty() { " to " (spec.allowed_hosts.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) } }
                                div { "kv " (spec.kv_max_keys) " keys of ≤ " (spec.kv_max_value) " B" }
                                @if !spec.config.is_empty() {
                                    div.muted { "config keys: " (spec.config.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")) }
                                }
                            }
                            td.num { (calls) }
                            td {
                                @for kind in PLUGIN_FAILURE_KINDS {
                                    @let n = m.plugin_failures_by.get(&spec.name, kind);
                                    @if n > 0 { div { (kind) ": " (n) } }
                                }
                                @if PLUGIN_FAILURE_KINDS.iter().all(|k| m.plugin_failures_by.get(&spec.name, k) == 0) { "none" }
                            }
                            td.num { (quantile(m.plugin_seconds.with(&spec.name, |h| h.quantile(0.99)))) }
                        }
                    }
                }
            }
        }
    }
    .into_response()
}
