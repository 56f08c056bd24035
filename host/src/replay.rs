//! Replaying stored events: from what an operator asks (`switchyard replay`, `POST
//! /api/events/replay`) to the store's [`EventReplay`] calls, and a report of what happened.
//!
//! A replay runs routing and plugins again, under the config served now, for events that have
//! finished: they become pending, keep their ids, and their new deliveries get new ids. With a
//! route named, only that route runs (the others are marked done for this run). Bodies are
//! kept for `storage.retention_hours`; the report says when the asked range reaches past what
//! is still stored. This file never changes config and never calls plugins itself.

use crate::config::Config;
use crate::config::units::parse_duration;
use crate::queue::{EventReplay, ReplayState, Store, StoreError};
use std::time::Duration;

/// Events one store call replays; a replay repeats calls until none is left.
const BATCH: usize = 500;

/// Event ids a report lists at most (the count covers them all).
const LISTED: usize = 100;

/// Events a dry run counts at most.
const DRY_RUN_MAX: usize = 10_000;

/// What an operator asked for, as written.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// One event by id; the filters below then do not apply.
    pub event: Option<String>,
    /// `2h` (that long ago) or an RFC 3339 time.
    pub since: Option<String>,
    pub until: Option<String>,
    pub source: Option<String>,
    /// Run only this route of the current config.
    pub route: Option<String>,
    /// `dead`, `delivered` or `any` (the default).
    pub state: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// What a replay did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Events replayed (or, on a dry run, that would be).
    pub count: usize,
    /// The first of them.
    pub events: Vec<String>,
    pub dry_run: bool,
    /// Why nothing was replayed, when one event was asked for.
    pub refused: Option<String>,
    /// The event asked for is not stored.
    #[serde(skip)]
    pub not_stored: bool,
    /// Said when the range starts before the oldest event still stored.
    pub note: Option<String>,
}

/// Why a replay could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Request(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The store's selection for `request` under `config`, at `now_ms`.
pub fn select(config: &Config, request: &Request, now_ms: u64) -> Result<EventReplay, ReplayError> {
    let bad = |m: String| ReplayError::Request(m);
    if request.event.is_none() && request.since.is_none() {
        return Err(bad("say which events: an event id, or a time range starting with `since`".into()));
    }
    let state = match request.state.as_deref().unwrap_or("any") {
        "any" => ReplayState::Any,
        "dead" => ReplayState::Dead,
        "delivered" => ReplayState::Delivered,
        other => return Err(bad(format!("unknown state `{other}`: use dead, delivered or any"))),
    };
    let skip_routes = match &request.route {
        None => Vec::new(),
        Some(only) => {
            if !config.routes.iter().any(|r| &r.name == only) {
                let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
                return Err(bad(format!("no route is named `{only}` (routes: {})", names.join(", "))));
            }
            config.routes.iter().filter(|r| &r.name != only).map(|r| r.name.clone()).collect()
        }
    };
    if let Some(source) = &request.source
        && !config.sources.contains_key(source)
    {
        return Err(bad(format!("no source is named `{source}`")));
    }
    let since_ms = request.since.as_deref().map(|s| instant(s, now_ms)).transpose().map_err(bad)?;
    let until_ms = request.until.as_deref().map(|s| instant(s, now_ms)).transpose().map_err(bad)?;
    if let (Some(since), Some(until)) = (since_ms, until_ms)
        && since >= until
    {
        return Err(bad("`since` must be before `until`".into()));
    }
    Ok(EventReplay {
        event: request.event.clone(),
        since_ms,
        until_ms,
        source: request.source.clone(),
        state,
        skip_routes,
        dry_run: request.dry_run,
        limit: if request.dry_run { DRY_RUN_MAX } else { BATCH },
    })
}

/// `2h` as that long before `now_ms`, or an RFC 3339 time, in Unix milliseconds.
pub fn instant(text: &str, now_ms: u64) -> Result<u64, String> {
    if let Ok(at) = text.parse::<jiff::Timestamp>() {
        return u64::try_from(at.as_millisecond()).map_err(|_| format!("`{text}` is before 1970"));
    }
    let ago = parse_duration(text)
        .map_err(|_| format!("`{text}` is neither a duration ago (like 2h) nor a time (like 2026-12-03T10:00:00Z)"))?;
    Ok(now_ms.saturating_sub(ago.as_millis() as u64))
}

/// Replays what `request` selects, in batches, and reports.
pub async fn run(store: &Store, config: &Config, request: &Request) -> Result<Report, ReplayError> {
    let now_ms = crate::event::now_ms();
    let selection = select(config, request, now_ms)?;
    let mut report = Report { dry_run: selection.dry_run, ..Report::default() };
    if let Some(since) = selection.since_ms {
        report.note = retention_note(store, config.storage.retention, since).await?;
    }
    loop {
        let batch = store.replay_events(selection.clone()).await?;
        report.refused = batch.refused;
        report.not_stored = batch.not_stored;
        let n = batch.events.len();
        report.count += n;
        let room = LISTED.saturating_sub(report.events.len());
        report.events.extend(batch.events.into_iter().take(room));
        if selection.dry_run || selection.event.is_some() || n < selection.limit {
            return Ok(report);
        }
    }
}

/// A note when `since` reaches before the oldest event still stored.
async fn retention_note(store: &Store, retention: Duration, since: u64) -> Result<Option<String>, StoreError> {
    let oldest = store.oldest_event_ms().await?;
    let hours = retention.as_secs() / 3600;
    Ok(match oldest {
        Some(oldest) if since < oldest => Some(format!(
            "the oldest event still stored arrived at {}; events are kept for storage.retention_hours = {hours}, \
             so earlier ones cannot be replayed",
            timestamp(oldest)
        )),
        None => {
            Some(format!("no event is stored; events are kept for storage.retention_hours = {hours} after they finish"))
        }
        Some(_) => None,
    })
}

fn timestamp(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> Config {
        let text = "[sources.shop]\nprovider = \"generic\"\nscope_field = \"scope\"\n\n\
                    [destinations.erp]\nurl = \"http://127.0.0.1:9/erp\"\n\n\
                    [[routes]]\nname = \"orders\"\nmatch = \"**\"\nto = [\"erp\"]\n\n\
                    [[routes]]\nname = \"audit\"\nmatch = \"**\"\nto = [\"erp\"]\n";
        crate::config::load_str(Path::new("routes.toml"), text, &|_| None).unwrap()
    }

    #[test]
    fn a_range_is_durations_ago_or_times_and_a_route_skips_the_others() {
        let request = Request {
            since: Some("2h".into()),
            until: Some("2026-12-03T12:00:00Z".into()),
            route: Some("audit".into()),
            state: Some("dead".into()),
            ..Request::default()
        };
        let now = 1_796_302_800_000; // 2026-12-03T13:00Z
        let s = select(&config(), &request, now).unwrap();
        assert_eq!(s.since_ms, Some(now - 7_200_000));
        assert_eq!(s.until_ms, Some(1_796_299_200_000));
        assert_eq!(s.skip_routes, vec!["orders".to_string()]);
        assert_eq!(s.state, ReplayState::Dead);
    }

    #[test]
    fn unclear_requests_are_refused_with_what_to_write() {
        let config = config();
        let refused = |r: Request| select(&config, &r, 0).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused(Request::default()).contains("say which events"));
        assert!(refused(Request { since: Some("soon".into()), ..Request::default() }).contains("neither a duration"));
        assert!(
            refused(Request { event: Some("e".into()), route: Some("x".into()), ..Request::default() })
                .contains("no route is named `x` (routes: orders, audit)")
        );
        assert!(
            refused(Request { event: Some("e".into()), state: Some("lost".into()), ..Request::default() })
                .contains("dead, delivered or any")
        );
    }
}
