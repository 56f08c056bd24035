//! Logging setup: `tracing` with human-readable lines by default, JSON with `--log-format json`,
//! plus the OTLP exporter's layer when `[telemetry] otlp_endpoint` is set (`trace_export.rs`),
//! and [`Escaped`], the one way a value that came from outside is written into a log line.
//!
//! The filter comes from `RUST_LOG`, defaulting to `info` for Switchyard and plugin logs and
//! `warn` for dependencies. Span and field names used across modules: `event` (event_id,
//! source, scope), `route` (route, plugin), `delivery` (delivery_id, destination).
//!
//! Values from a request (a source name from the URL path, a scope from an unsigned body) and
//! from a plugin (its log lines, its stderr, its error messages) are data: logged through
//! [`Escaped`], so a newline, an ESC or a NUL cannot forge a line or drive a terminal, and a
//! megabyte scope is cut to a readable prefix.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber, sending spans to `export` too when given (OTLP,
/// `trace_export.rs`); a second call (tests) is a no-op. `RUST_LOG` filters the log lines
/// only: the exporter gets Switchyard's spans at info and above whatever the log level. `quiet`
/// logs warnings only by default, for a command whose output is its report.
pub fn init(format: LogFormat, export: Option<&crate::trace_export::Exporter>, quiet: bool) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = if quiet { "warn" } else { "warn,switchyard=info,plugin=info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a terminal: a log file or a collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let spans = tracing_subscriber::filter::Targets::new().with_target("switchyard", tracing::Level::INFO);
    let registry =
        tracing_subscriber::registry().with(export.map(|e| crate::trace_export::layer(e).with_filter(spans)));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => registry.with(lines.with_filter(filter)).try_init(),
        LogFormat::Json => {
            registry.with(lines.json().flatten_event(true).with_current_span(true).with_filter(filter)).try_init()
        }
    };
}

/// For tests: lines go through the test harness (shown only for failing tests), filtered by
/// `RUST_LOG` (default `warn`). A second call is a no-op.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// Characters of an outside value kept in a log line; the rest is counted, not written.
pub const LOGGED_CHARS: usize = 256;

/// An outside value as it may appear in a log: control characters written as escapes
/// (`\n`, `\u{1b}`), and cut after [`LOGGED_CHARS`] characters with a note of what was left.
/// Use it as a field (`source = %Escaped(&source)`) or inside a message.
pub struct Escaped<'a>(pub &'a str);

impl<'a> Escaped<'a> {
    /// The same, cut after `limit` characters instead of [`LOGGED_CHARS`].
    pub fn cut(value: &'a str, limit: usize) -> EscapedCut<'a> {
        EscapedCut(value, limit)
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0, LOGGED_CHARS)
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// [`Escaped`] with its own length limit.
pub struct EscapedCut<'a>(&'a str, usize);

impl fmt::Display for EscapedCut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0, self.1)
    }
}

fn write_escaped(f: &mut fmt::Formatter<'_>, value: &str, limit: usize) -> fmt::Result {
    use fmt::Write;
    for (written, (at, c)) in value.char_indices().enumerate() {
        if written == limit {
            return write!(f, "…(+{} bytes)", value.len() - at);
        }
        match c {
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\\' => f.write_str("\\\\")?,
            c if c.is_control() || is_invisible_format(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

/// Characters that are not "control" to Unicode but reorder or hide text in a terminal.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `text` on one line: every line break and control character escaped, cut at `limit`.
pub fn one_line(text: &str, limit: usize) -> String {
    Escaped::cut(text, limit).to_string()
}

/// A log line that can repeat thousands of times a second (every request while the disk is
/// full) written at most once per interval, with the count of the lines left out since.
#[derive(Debug)]
pub struct RateLimited {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Default for RateLimited {
    /// At most one line a second.
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

impl RateLimited {
    pub fn new(every: Duration) -> Self {
        Self { every, state: Mutex::new((None, 0)) }
    }

    /// Calls `write` with the number of lines suppressed since the last one written, unless a
    /// line was written less than the interval ago (then only counts it).
    pub fn log(&self, write: impl FnOnce(u64)) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let due = state.0.is_none_or(|last| last.elapsed() >= self.every);
        if !due {
            state.1 += 1;
            return;
        }
        let suppressed = std::mem::take(&mut state.1);
        state.0 = Some(Instant::now());
        drop(state);
        write(suppressed);
    }
}

/// [`RateLimited`] per key (a destination's name): one busy key does not silence the others.
/// Keys come from the config, so they are few; past [`RateLimitedByKey::MAX_KEYS`] the oldest
/// state is forgotten (at worst a line more is written).
#[derive(Debug)]
pub struct RateLimitedByKey {
    every: Duration,
    state: Mutex<std::collections::HashMap<String, (Instant, u64)>>,
}

impl Default for RateLimitedByKey {
    /// At most one line a second per key.
    fn default() -> Self {
        Self { every: Duration::from_secs(1), state: Mutex::default() }
    }
}

impl RateLimitedByKey {
    const MAX_KEYS: usize = 4096;

    /// Calls `write` with the number of lines suppressed for `key` since its last one, unless
    /// one was written for `key` less than the interval ago (then only counts it).
    pub fn log(&self, key: &str, write: impl FnOnce(u64)) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let suppressed = match state.get_mut(key) {
            Some((last, count)) if now.duration_since(*last) < self.every => {
                *count += 1;
                return;
            }
            Some((last, count)) => {
                *last = now;
                std::mem::take(count)
            }
            None => {
                if state.len() >= Self::MAX_KEYS {
                    state.clear();
                }
                state.insert(key.to_string(), (now, 0));
                0
            }
        };
        drop(state);
        write(suppressed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_limited_on_its_own() {
        let limited = RateLimitedByKey { every: Duration::from_secs(3600), state: Mutex::default() };
        let mut written = Vec::new();
        for key in ["erp", "erp", "crm", "erp"] {
            limited.log(key, |suppressed| written.push((key, suppressed)));
        }
        assert_eq!(written, vec![("erp", 0), ("crm", 0)]);
        let every_time = RateLimitedByKey { every: Duration::ZERO, state: Mutex::default() };
        every_time.log("erp", |_| {});
        every_time.log("erp", |suppressed| written.push(("erp", suppressed)));
        assert_eq!(written.last(), Some(&("erp", 0)));
    }

    #[test]
    fn control_characters_are_escaped_and_printable_text_is_kept() {
        assert_eq!(Escaped("store/order/created").to_string(), "store/order/created");
        assert_eq!(Escaped("x\nINFO forged\r\u{1b}[31m\0").to_string(), "x\\nINFO forged\\r\\u{1b}[31m\\u{0}");
        assert_eq!(Escaped("a\\nb").to_string(), "a\\\\nb", "a literal backslash cannot pass for an escape");
        assert_eq!(Escaped("ok\u{202e}txt.exe").to_string(), "ok\\u{202e}txt.exe");
        assert_eq!(Escaped("commandé").to_string(), "commandé");
    }

    #[test]
    fn long_values_are_cut_with_a_count_of_what_was_left() {
        let long = "a".repeat(1_000_000);
        let shown = Escaped(&long).to_string();
        assert!(shown.starts_with(&"a".repeat(LOGGED_CHARS)), "{}", &shown[..10]);
        assert!(shown.ends_with(&format!("…(+{} bytes)", 1_000_000 - LOGGED_CHARS)), "{}", &shown[shown.len() - 30..]);
        assert_eq!(one_line("éé\né", 2), "éé…(+3 bytes)");
    }

    #[test]
    fn a_rate_limited_line_is_written_once_per_interval_with_the_count_left_out() {
        let limited = RateLimited::new(Duration::from_secs(3600));
        let mut written = Vec::new();
        for _ in 0..5 {
            limited.log(|suppressed| written.push(suppressed));
        }
        assert_eq!(written, vec![0]);
        let every_time = RateLimited::new(Duration::ZERO);
        every_time.log(|_| {});
        every_time.log(|suppressed| written.push(suppressed));
        assert_eq!(written, vec![0, 0]);
    }
}
