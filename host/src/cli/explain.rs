//! `switchyard explain SCOPE`: which routes a scope matches, in table order, and why.
//!
//! Reads only the config (no plugins are compiled), so it is instant and safe anywhere.

use crate::config::Config;
use crate::scope::{Matcher, Scope};
use std::fmt::Write;
use std::path::Path;

pub fn run(path: &Path, scope: &str, source: Option<&str>) -> anyhow::Result<bool> {
    let config = crate::config::load(path, &crate::config::process_env).map_err(|e| anyhow::anyhow!("{e}"))?;
    print!("{}", explain(&config, scope, source));
    Ok(true)
}

/// The report `explain` prints.
pub fn explain(config: &Config, scope: &str, source: Option<&str>) -> String {
    let parsed = Scope::new(scope);
    let matcher = Matcher::new(config.routes.iter().map(|r| r.patterns.clone()).collect());
    let mut out = String::new();
    let segments = parsed.segments().iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" ");
    let _ = writeln!(out, "scope `{scope}` (segments: {segments})");
    let mut shown = 0;
    for m in matcher.matches(&parsed) {
        let Some(route) = config.routes.get(m.route) else { continue };
        let pattern = route.patterns.get(m.pattern).map(|p| p.as_str()).unwrap_or_default();
        if let (Some(only), Some(asked)) = (&route.source, source)
            && only != asked
        {
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
    }
    if shown == 0 {
        let _ = writeln!(out, "  no route matches: such an event is accepted and delivered nowhere");
    }
    out
}
