//! The outcome of a reload, as a value: logged when it happens, kept for the admin API.
//!
//! It holds error messages (which name file, line, column and key) but never config values.

use super::BuildReport;
use crate::config::ConfigErrors;
use std::time::SystemTime;

/// What one reload did.
#[derive(Debug)]
pub enum ReloadOutcome {
    Applied(BuildReport),
    Rejected(ConfigErrors),
}

impl ReloadOutcome {
    pub fn log(&self) {
        match self {
            ReloadOutcome::Applied(r) => tracing::info!(
                compiled = ?r.compiled, from_cache = ?r.from_cache, reused = ?r.reused,
                "reload applied"
            ),
            ReloadOutcome::Rejected(errors) => {
                for e in &errors.0 {
                    tracing::error!("reload rejected, still serving the previous config: {e}");
                }
            }
        }
    }

    pub fn is_applied(&self) -> bool {
        matches!(self, ReloadOutcome::Applied(_))
    }
}

/// The last reload, as shown on the admin API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadStatus {
    pub applied: bool,
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub errors: Vec<String>,
    pub compiled: Vec<String>,
    pub from_cache: Vec<String>,
}

impl ReloadStatus {
    pub fn applied(report: &BuildReport) -> Self {
        Self {
            applied: true,
            at: now(),
            errors: Vec::new(),
            compiled: report.compiled.clone(),
            from_cache: report.from_cache.clone(),
        }
    }

    pub fn rejected(errors: &ConfigErrors) -> Self {
        Self {
            applied: false,
            at: now(),
            errors: errors.0.iter().map(|e| e.to_string()).collect(),
            compiled: Vec::new(),
            from_cache: Vec::new(),
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
