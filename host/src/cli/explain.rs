//! `switchyard explain SCOPE [--body FILE]`: which routes a scope matches, in table order, and
//! why — with each route's filter, and, given a body, whether the filter holds for it and the
//! order key it gives.
//!
//! Reads only the config and the body file (no plugins are compiled), so it is instant and
//! safe anywhere.

use crate::config::Config;
use crate::config::model::Route;
use crate::routing::{Table, Verdict};
use crate::scope::Scope;
use anyhow::Context;
use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

pub fn run(path: &Path, scope: &str, source: Option<&str>, body: Option<&Path>) -> anyhow::Result<bool> {
    let config = crate::config::load(path, &crate::config::process_env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let body = match body {
        None => None,
        Some(file) => Some(std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?),
    };
    print!("{}", explain(&config, scope, source, body.as_deref()));
    Ok(true)
}

/// The report `explain` prints. With `body`, each route says whether its filter holds for it
/// and the order key it gives, as dispatch decides them ([`crate::routing`]).
pub fn explain(config: &Config, scope: &str, source: Option<&str>, body: Option<&[u8]>) -> String {
    let table = Table::new(Arc::new(config.clone()));
    let parsed = Scope::new(scope);
    let mut out = String::new();
    let segments = parsed.segments().iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" ");
    let _ = writeln!(out, "scope `{scope}` (segments: {segments})");
    let mut shown = 0;
    for m in table.select(source, scope, body) {
        let (route, pattern) = (m.route, m.pattern);
        if let Some(only) = m.other_source {
            let _ = writeln!(
                out,
                "  -  {:?}: pattern `{pattern}` matches, but the route only takes source `{only}`",
                route.name
            );
            continue;
        }
        shown += 1;
        let _ = write!(out, "  {shown}. {:?}: pattern `{pattern}`", route.name);
        if let Some(only) = &route.source {
            let _ = write!(out, ", source `{only}`");
        }
        let plugin = route.plugin.as_deref().map_or("(none: forwarded as received)".into(), |p| format!("`{p}`"));
        let _ = writeln!(out, " → plugin {plugin} → [{}]", route.to.join(", "));
        if !m.params.is_empty() {
            let params = m.params.iter().map(|(k, v)| format!("{k} = {v:?}")).collect::<Vec<_>>().join(", ");
            let _ = writeln!(out, "     params: {params}");
        }
        write_filter(&mut out, route, &m.filter);
        write_order(&mut out, route, body.is_some(), m.order_key.as_deref());
    }
    if shown == 0 {
        let _ = writeln!(out, "  no route matches: such an event is accepted and delivered nowhere");
    }
    out
}

/// The route's filter, and with a body, what it says of it.
fn write_filter(out: &mut String, route: &Route, verdict: &Verdict) {
    if route.filter.is_empty() {
        return;
    }
    let conditions = route.filter.0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", and ");
    let _ = writeln!(out, "     filter: {conditions}");
    let _ = match verdict {
        Verdict::NoFilter | Verdict::Unknown => Ok(()),
        Verdict::Holds => writeln!(out, "     → holds for this body"),
        Verdict::Fails { pointer, found } => {
            let found = found.as_deref().unwrap_or("nothing");
            writeln!(out, "     → does not hold: {pointer} found {found}; the route is skipped, its plugin not called")
        }
    };
}

/// The route's `order_by`, and with a body, the key it gives.
fn write_order(out: &mut String, route: &Route, with_body: bool, key: Option<&str>) {
    let Some(pointer) = &route.order_by else { return };
    let _ = write!(out, "     order_by: {pointer}");
    let _ = match (with_body, key) {
        (false, _) => writeln!(out),
        (true, Some(key)) => writeln!(out, " → key {key:?}: delivered one at a time, in order, per destination"),
        (true, None) => writeln!(out, " → no key in this body: its deliveries are not ordered"),
    };
}
