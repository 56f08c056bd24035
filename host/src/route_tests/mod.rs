//! Route tests: `switchyard test` runs the cases of `routes.test.toml` files against the config
//! and its real plugins, in process, and says which hold. A case is one webhook to a source (a
//! provider's sample or a body of its own, signed with the source's secret unless it says
//! `unsigned`) and what must come of it: the answer, the routes taken and their parameters,
//! each delivery's destination, body and headers, drops and dead letters.
//!
//! - `file.rs`: the test file, as written.
//! - `run.rs`: one case, run as the gateway would (provider, routing table, dispatch's own route
//!   code), with no listener, store or network.
//! - `compare.rs`: what was expected against what happened, field by field.
//! - `report.rs`: the text and JUnit reports.
//!
//! Nothing here serves, stores or sends: a case's plugins read its own kv state and get its
//! recorded HTTP answers.

mod compare;
mod file;
mod report;
mod run;

pub use compare::Mismatch;
pub use file::{TestFile, TestFileError};
pub use report::{CaseResult, junit, text};

use crate::plugin::{ComponentCache, PluginEngine};
use crate::reload::Snapshot;
use std::path::Path;
use std::sync::Arc;

/// Loads the config at `config` with `file`'s `[env]` (then the process environment) for its
/// `${VAR}`s, compiles its plugins, and runs every case of `file`.
pub async fn run_file(
    config: &Path,
    file: &TestFile,
    engine: &Arc<PluginEngine>,
    cache: &ComponentCache,
) -> anyhow::Result<Vec<CaseResult>> {
    let env = file.env.clone();
    let lookup = move |name: &str| env.get(name).cloned().or_else(|| std::env::var(name).ok());
    let loaded = crate::config::load(config, &lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (snapshot, _) = Snapshot::build(loaded, engine, cache, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let snapshot = Arc::new(snapshot);
    let shown = file.path.display().to_string();
    let mut results = Vec::with_capacity(file.cases.len());
    for case in &file.cases {
        let started = std::time::Instant::now();
        let mismatches = match run::run_case(&snapshot, file, case).await {
            Ok(observed) => compare::compare(&case.expect, &observed),
            Err(why) => vec![Mismatch { field: "case".into(), expected: "a case that can run".into(), got: why }],
        };
        results.push(CaseResult { file: shown.clone(), name: case.name.clone(), took: started.elapsed(), mismatches });
    }
    Ok(results)
}
