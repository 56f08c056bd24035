//! `switchyard tail [--source S] [--scope PATTERN] [--failed]`: what happens to events, one
//! line each as they are accepted, routed, delivered or failed, read from the serving
//! gateway's admin listener (`GET /api/stream`, with `server.admin_token` from the config).
//!
//! Only I/O: the filter runs in the gateway, this prints. Lines are colored when stdout is a
//! terminal (and `NO_COLOR` is unset); values from webhooks are printed escaped, so a scope
//! cannot move the cursor. Ctrl-C ends it with status 0.

use super::ConfigArg;
use super::admin_http::AdminHttp;
use crate::feed::Happening;
use crate::telemetry::Escaped;
use anyhow::Context;
use std::io::IsTerminal;

/// Most bytes of one stream block kept while waiting for its end; a longer one is dropped.
const MAX_BLOCK: usize = 64 * 1024;

#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// Only events from this source.
    #[arg(long)]
    source: Option<String>,
    /// Only events whose scope matches this pattern (`*`, `**`, `{name}`, as routes match).
    #[arg(long)]
    scope: Option<String>,
    /// Only failed attempts and dead letters.
    #[arg(long)]
    failed: bool,
    /// The admin listener's base URL (default: `http://{server.admin}` from the config).
    #[arg(long)]
    admin_url: Option<String>,
    #[command(flatten)]
    config: ConfigArg,
}

pub async fn run(args: TailArgs) -> anyhow::Result<bool> {
    let config = crate::config::load(&args.config, &crate::config::process_env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let admin = AdminHttp::new(Some(&config), args.admin_url.as_deref(), "tail")?;
    let mut url = admin.url("/api/stream")?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(source) = &args.source {
            query.append_pair("source", source);
        }
        if let Some(scope) = &args.scope {
            query.append_pair("scope", scope);
        }
        if args.failed {
            query.append_pair("failed", "true");
        }
    }
    let request = admin.get(url);
    let colors = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tokio::select! {
        followed = follow(request, colors) => followed.with_context(|| format!("while following {}/api/stream", admin.base)),
        _ = tokio::signal::ctrl_c() => Ok(true),
    }
}

/// Prints every happening until the stream ends (the gateway stopped: an error).
async fn follow(request: reqwest::RequestBuilder, colors: bool) -> anyhow::Result<bool> {
    let mut response = request.send().await.context("cannot reach the admin listener")?;
    match response.status().as_u16() {
        200 => {}
        401 => anyhow::bail!("the admin listener refused the token: check `server.admin_token`"),
        status => {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("the admin listener answered {status}: {}", Escaped::cut(&body, 300));
        }
    }
    eprintln!("following events (Ctrl-C to stop)");
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.context("the stream broke")? {
        buffer.extend_from_slice(&chunk);
        while let Some(end) = find_block_end(&buffer) {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            if let Some(line) = render_block(&String::from_utf8_lossy(&block), colors) {
                println!("{line}");
            }
        }
        if buffer.len() > MAX_BLOCK {
            buffer.clear();
        }
    }
    anyhow::bail!("the gateway closed the stream (it is shutting down)")
}

fn find_block_end(buffer: &[u8]) -> Option<usize> {
    buffer.windows(2).position(|w| w == b"\n\n")
}

/// One stream block (`event:` and `data:` lines) as the line to print, if it is one.
fn render_block(block: &str, colors: bool) -> Option<String> {
    let (mut name, mut data) = ("", String::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim());
        }
    }
    match name {
        "lagged" => {
            return Some(format!("… {} event(s) skipped: this terminal fell behind", Escaped::cut(&data, 20)));
        }
        "unnamed" => {
            let n = Escaped::cut(&data, 20);
            return Some(format!("… {n} delivery happening(s) left out: their events could not be named"));
        }
        _ => {}
    }
    let happening: Happening = serde_json::from_str(&data).ok()?;
    Some(line(&happening, colors))
}

/// `17:33:39 delivered evt_… shop store/order/created → erp (orders) 200 in 12 ms`.
pub fn line(h: &Happening, colors: bool) -> String {
    let clock = i64::try_from(h.at_ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.strftime("%H:%M:%S").to_string())
        .unwrap_or_default();
    let kind = h.kind.as_str();
    let painted = if colors { format!("\x1b[{}m{kind:<9}\x1b[0m", color(h.kind)) } else { format!("{kind:<9}") };
    let mut out = format!("{clock} {painted} {}", Escaped::cut(&h.event_id, 80));
    if let (Some(source), Some(scope)) = (&h.source, &h.scope) {
        out.push_str(&format!(" {} {}", Escaped::cut(source, 80), Escaped::cut(scope, 200)));
    }
    if !h.routes.is_empty() {
        let routes: Vec<String> = h.routes.iter().map(|r| Escaped::cut(r, 120).to_string()).collect();
        out.push_str(&format!(" → {}", routes.join(", ")));
    }
    if let Some(destination) = &h.destination {
        let route = h.route.as_deref().map(|r| format!(" ({})", Escaped::cut(r, 80))).unwrap_or_default();
        out.push_str(&format!(" → {}{route}", Escaped::cut(destination, 80)));
    }
    if let Some(status) = h.status {
        out.push_str(&format!(" {status}"));
    }
    if let Some(ms) = h.duration_ms {
        out.push_str(&format!(" in {ms} ms"));
    }
    if let Some(attempt) = h.attempt.filter(|a| *a > 1) {
        out.push_str(&format!(" (attempt {attempt})"));
    }
    if let Some(error) = &h.error {
        out.push_str(&format!(": {}", Escaped::cut(error, 300)));
    }
    out
}

/// ANSI color per kind: cyan accepted, blue routed, green delivered, yellow failed, red dead.
fn color(kind: crate::feed::Kind) -> &'static str {
    use crate::feed::Kind;
    match kind {
        Kind::Accepted => "36",
        Kind::Routed => "34",
        Kind::Delivered => "32",
        Kind::Failed => "33",
        Kind::Dead => "1;31",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::Kind;

    #[test]
    fn a_delivery_reads_as_one_line_and_is_colored_only_when_asked() {
        let h = Happening {
            source: Some("shop".into()),
            scope: Some("order/created".into()),
            destination: Some("erp".into()),
            route: Some("orders".into()),
            status: Some(200),
            duration_ms: Some(12),
            attempt: Some(1),
            ..Happening::new(Kind::Delivered, "evt_1")
        };
        let plain = line(&h, false);
        assert!(plain.ends_with("delivered evt_1 shop order/created → erp (orders) 200 in 12 ms"), "{plain}");
        assert!(!plain.contains('\x1b'));
        assert!(line(&h, true).contains("\x1b[32mdelivered"));
    }

    #[test]
    fn a_scope_with_control_characters_cannot_reach_the_terminal() {
        let h = Happening {
            source: Some("shop".into()),
            scope: Some("order\x1b[2J".into()),
            ..Happening::new(Kind::Accepted, "evt_1")
        };
        assert!(!line(&h, false).contains('\x1b'));
    }

    #[test]
    fn a_stream_block_becomes_a_line_and_a_lag_is_reported() {
        let block = "event: failed\ndata: {\"kind\":\"failed\",\"at_ms\":0,\"event_id\":\"evt_9\",\"error\":\"503\"}\n";
        let shown = render_block(block, false).unwrap_or_default();
        assert!(shown.contains("failed    evt_9: 503"), "{shown}");
        assert!(render_block("event: lagged\ndata: 12\n", false).is_some_and(|l| l.contains("12 event(s) skipped")));
        assert!(render_block("event: unnamed\ndata: 3\n", false).is_some_and(|l| l.contains("3 delivery")));
        assert_eq!(render_block(": keep-alive\n", false), None);
    }
}
