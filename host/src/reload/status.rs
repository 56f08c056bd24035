//! The outcome of a reload, as a value: logged when it happens, kept for the admin API and
//! for anyone waiting on a reload (tests, `POST /api/reload`).
//!
//! It holds error messages (which name file, line, column and key) but never config values.

use super::BuildReport;
use crate::config::{ConfigError, ConfigErrors};
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

/// The last load or reload, as shown on the admin API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadStatus {
    /// 0 for the load at start, then one more for every reload attempt, applied or not.
    pub seq: u64,
    /// Whether this attempt was applied; when not, the previous snapshot is still serving.
    pub applied: bool,
    /// When it finished, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Why it was rejected, in file order.
    pub errors: Vec<Problem>,
    /// Plugins compiled, loaded from the on-disk cache, and reused from the previous snapshot.
    pub compiled: Vec<String>,
    pub from_cache: Vec<String>,
    pub reused: Vec<String>,
    /// Reload attempts since start (the first load not counted), by outcome.
    pub applied_total: u64,
    pub rejected_total: u64,
}

/// One error of a rejected reload: the one-line text and its parts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// `routes.toml:12:9: routes[2].to: unknown destination `erp2``, as logged.
    pub text: String,
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl From<&ConfigError> for Problem {
    fn from(e: &ConfigError) -> Self {
        Self {
            text: e.to_string(),
            file: e.path.display().to_string(),
            line: e.location.as_ref().map(|l| l.line),
            column: e.location.as_ref().map(|l| l.column),
            key: e.location.as_ref().map(|l| l.key.clone()).filter(|k| !k.is_empty()),
            message: e.message.clone(),
        }
    }
}

impl ReloadStatus {
    /// The status after the first load.
    pub fn started(report: &BuildReport) -> Self {
        Self {
            seq: 0,
            applied: true,
            at_ms: now_ms(),
            errors: Vec::new(),
            compiled: report.compiled.clone(),
            from_cache: report.from_cache.clone(),
            reused: report.reused.clone(),
            applied_total: 0,
            rejected_total: 0,
        }
    }

    /// The status after `previous` and then an applied reload.
    pub fn applied(previous: &ReloadStatus, report: &BuildReport) -> Self {
        Self {
            seq: previous.seq + 1,
            applied_total: previous.applied_total + 1,
            rejected_total: previous.rejected_total,
            ..Self::started(report)
        }
    }

    /// The status after `previous` and then a rejected reload.
    pub fn rejected(previous: &ReloadStatus, errors: &ConfigErrors) -> Self {
        Self {
            seq: previous.seq + 1,
            applied: false,
            at_ms: now_ms(),
            errors: errors.0.iter().map(Problem::from).collect(),
            compiled: Vec::new(),
            from_cache: Vec::new(),
            reused: Vec::new(),
            applied_total: previous.applied_total,
            rejected_total: previous.rejected_total + 1,
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Location;
    use std::path::Path;

    #[test]
    fn a_rejection_keeps_counting_and_locates_each_error() {
        let start = ReloadStatus::started(&BuildReport::default());
        let error = ConfigError::new(
            Path::new("routes.toml"),
            Some(Location { line: 3, column: 7, key: "routes[0].to".into() }),
            "unknown destination `b`",
        );
        let rejected = ReloadStatus::rejected(&start, &ConfigErrors(vec![error]));
        let applied = ReloadStatus::applied(&rejected, &BuildReport::default());
        assert_eq!((rejected.seq, rejected.applied, rejected.rejected_total), (1, false, 1));
        assert_eq!(rejected.errors[0].text, "routes.toml:3:7: routes[0].to: unknown destination `b`");
        assert_eq!((rejected.errors[0].line, rejected.errors[0].column), (Some(3), Some(7)));
        assert_eq!((applied.seq, applied.applied_total, applied.rejected_total), (2, 1, 1));
        assert!(applied.errors.is_empty());
    }
}
