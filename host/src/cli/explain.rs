//! `switchyard explain SCOPE [--body FILE]`: which routes a scope matches, in table order, and
//! why — with each route's filter, and, given a body, whether the filter holds for it and the
//! order key it gives.
//!
//! Reads only the config and the body file (no plugins are compiled), so it is instant and
//! safe anywhere.

use crate::config::Config;
use crate::config::filter::key_at;
use crate::scope::Scope;
use anyhow::Context;
use std::fmt::Write;
use std::path::Path;

pub fn run(path: &Path, scope: &str, source: Option<&str>, body: Option<&Path>) -> anyhow::Result<bool> {
    let config = crate::config::load(path, &crate::config::process_env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let body = match body {
        None => None,
        Some(file) => Some(std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?),
    };
    print!("{}", explain(&config, scope, source, body.as_deref()));
    Ok(true)
}

/// The report `explain` prints. With `body`, each route says whether its filter holds for it.
pub fn explain(config: &Config, scope: &str, source: Option<&str>, body: Option<&[u8]>) -> String {
    let json = body.map(|b| serde_json::from_slice::<serde_json::Value>(b).ok());
    let parsed = Scope::new(scope);
    let mut out = String::new();
    let segments = parsed.segments().iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" ");
    let _ = writeln!(out, "scope `{scope}` (segments: {segments})");
    let mut shown = 0;
    for m in crate::explain::explain(config, scope, source) {
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
        let _ = write!(
            out,
            " → plugin {}",
            route.plugin.as_deref().map_or("(none: forwarded as received)".into(), |p| format!("`{p}`"))
        );
        let _ = writeln!(out, " → [{}]", route.to.join(", "));
        if !m.params.is_empty() {
            let params = m.params.iter().map(|(k, v)| format!("{k} = {v:?}")).collect::<Vec<_>>().join(", ");
            let _ = writeln!(out, "     params: {params}");
        }
        if !route.filter.is_empty() {
            let conditions = route.filter.0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", and ");
            let _ = writeln!(out, "     filter: {conditions}");
            match &json {
                None => {}
                Some(None) => {
                    let _ =
                        writeln!(out, "     → the body is not JSON: the filter does not hold, the route is skipped");
                }
                Some(Some(value)) => match route.filter.first_failing(Some(value)) {
                    None => {
                        let _ = writeln!(out, "     → holds for this body");
                    }
                    Some(failing) => {
                        let found = value.pointer(&failing.pointer).map_or("nothing".to_string(), ToString::to_string);
                        let _ = writeln!(
                            out,
                            "     → does not hold: {} found {found}; the route is skipped, its plugin not called",
                            failing.pointer
                        );
                    }
                },
            }
        }
        if let Some(pointer) = &route.order_by {
            let _ = write!(out, "     order_by: {pointer}");
            match &json {
                Some(value) => match key_at(value.as_ref(), pointer) {
                    Some(key) => {
                        let _ = writeln!(out, " → key {key:?}: delivered one at a time, in order, per destination");
                    }
                    None => {
                        let _ = writeln!(out, " → no key in this body: its deliveries are not ordered");
                    }
                },
                None => {
                    let _ = writeln!(out);
                }
            }
        }
    }
    if shown == 0 {
        let _ = writeln!(out, "  no route matches: such an event is accepted and delivered nowhere");
    }
    out
}
