//! What one call's plugin logged, kept for the event's history (the console's event page): the
//! first [`KEPT_LINES`] lines, each cut at [`KEPT_CHARS`] characters, and how many were left out.
//!
//! The host's own log still gets every line within the call's log budget (`host.rs`); this is
//! the smaller part stored with the event. It must never block the plugin or grow past its cap.

use std::sync::Mutex;

/// Lines kept per call.
pub const KEPT_LINES: usize = 20;
/// Longest line kept, in characters.
pub const KEPT_CHARS: usize = 500;

/// One kept line: its level (`trace` … `error`, or `stderr`) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptLine {
    pub level: &'static str,
    pub message: String,
}

/// The lines of one call, shared between the call's host state and its caller.
#[derive(Debug, Default)]
pub struct KeptLog {
    inner: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    lines: Vec<KeptLine>,
    left_out: u32,
}

impl KeptLog {
    /// Keeps `message` at `level` while there is room, cut to [`KEPT_CHARS`].
    pub fn keep(&self, level: &'static str, message: &str) {
        let Ok(mut kept) = self.inner.lock() else { return };
        if kept.lines.len() >= KEPT_LINES {
            kept.left_out = kept.left_out.saturating_add(1);
            return;
        }
        let message = match message.char_indices().nth(KEPT_CHARS) {
            Some((end, _)) => format!("{}…", &message[..end]),
            None => message.to_owned(),
        };
        kept.lines.push(KeptLine { level, message });
    }

    /// The lines kept, and how many were left out, emptying the log.
    pub fn take(&self) -> (Vec<KeptLine>, u32) {
        let Ok(mut kept) = self.inner.lock() else { return (Vec::new(), 0) };
        let taken = std::mem::take(&mut *kept);
        (taken.lines, taken.left_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_lines_cut_and_counts_the_rest() {
        let log = KeptLog::default();
        log.keep("info", &"é".repeat(KEPT_CHARS + 10));
        for i in 0..KEPT_LINES + 4 {
            log.keep("warn", &format!("line {i}"));
        }
        let (lines, left_out) = log.take();
        assert_eq!(lines.len(), KEPT_LINES);
        assert_eq!(lines[0].message.chars().count(), KEPT_CHARS + 1, "cut, with an ellipsis");
        assert_eq!(lines[1], KeptLine { level: "warn", message: "line 0".into() });
        assert_eq!(left_out, 5);
        assert_eq!(log.take(), (Vec::new(), 0), "taking empties it");
    }
}
