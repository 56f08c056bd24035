//! What every console page renders the same way: times, durations, states, values cut to a
//! size, header values that must stay secret, bodies shown as pretty JSON, and the answer when
//! the store does not answer.
//!
//! Everything a request or a webhook brought is data: it is rendered through maud, which
//! escapes it, and cut to a bound before that, so a hostile value can neither inject markup
//! nor make a page huge.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters of one value shown in a table cell (a scope, an error, a header value).
pub const CELL_CHARS: usize = 300;

/// Bytes of a body shown on an event's page.
pub const BODY_BYTES: usize = 64 * 1024;

/// Header names whose values are never shown: they authenticate the webhook or its sender.
const SECRET_HEADER_WORDS: [&str; 9] =
    ["signature", "authorization", "auth", "token", "secret", "hmac", "cookie", "api-key", "password"];

/// What a path segment or query value keeps as it is: letters, digits and `-._~` (RFC 3986's
/// unreserved characters), so ids like `evt_…` stay readable.
const UNRESERVED_KEPT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `text` as one URL path segment or query value.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED_KEPT).to_string()
}

/// At most `max` characters of `text`, with an ellipsis when cut.
pub fn cap(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// Whether a header's value must be masked: signatures, tokens, credentials.
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_HEADER_WORDS.iter().any(|word| name.contains(word))
}

/// A header's value as shown: masked when secret by its name, or when the event's source holds
/// its value in the config (`configured`), else cut to a cell.
pub fn header_value(name: &str, value: &str, configured: bool) -> String {
    if configured || is_secret_header(name) {
        format!("•••••••• (masked, {} characters)", value.chars().count())
    } else {
        cap(value, CELL_CHARS)
    }
}

/// A body as shown: pretty JSON when it is JSON, else its text (lossy), cut to [`BODY_BYTES`].
pub fn body_text(body: &[u8]) -> String {
    let cut = body.len() > BODY_BYTES;
    let shown = &body[..body.len().min(BODY_BYTES)];
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) if !cut => {
            serde_json::to_string_pretty(&json).unwrap_or_else(|_| String::from_utf8_lossy(shown).into())
        }
        _ => String::from_utf8_lossy(shown).into_owned(),
    };
    if cut { format!("{text}\n… ({} bytes in all; the first {BODY_BYTES} shown)", body.len()) } else { text }
}

/// A time as `2026-12-03 17:33:39Z` in a `<time>` element.
pub fn time(ms: u64) -> Markup {
    let at = i64::try_from(ms).ok().and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
    match at {
        Some(at) => {
            let text = at.strftime("%Y-%m-%d %H:%M:%SZ").to_string();
            html! { time datetime=(at.to_string()) { (text) } }
        }
        None => html! { "-" },
    }
}

/// A duration in milliseconds as `850 ms`, `12.3 s`, `4 min`, `2.5 h`.
pub fn millis(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1e3),
        60_000..3_600_000 => format!("{:.0} min", ms as f64 / 6e4),
        _ => format!("{:.1} h", ms as f64 / 3.6e6),
    }
}

/// A latency quantile as `≤ 25 ms`, `> 10 s`, or `-` before any observation.
pub fn quantile(q: Option<crate::metrics::Quantile>) -> String {
    use crate::metrics::Quantile;
    let ms = |seconds: f64| millis((seconds * 1000.0).round() as u64);
    match q {
        None => "-".into(),
        Some(Quantile::Bound(b)) if b < 0.001 => format!("≤ {:.2} ms", b * 1000.0),
        Some(Quantile::Bound(b)) => format!("≤ {}", ms(b)),
        Some(Quantile::Above(b)) => format!("> {}", ms(b)),
    }
}

/// A state word, colored by what it means (delivered, pending, dead, …).
pub fn state(word: &str) -> Markup {
    let class = format!("state state-{}", word.chars().filter(char::is_ascii_alphabetic).collect::<String>());
    html! { span class=(class) { (word) } }
}

/// The fragment answered when the store does not answer (logged once here).
pub fn store_down(e: &crate::queue::StoreError) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, store_down_markup(e)).into_response()
}

/// [`store_down`] as a part of a page.
pub fn store_down_markup(e: &crate::queue::StoreError) -> Markup {
    tracing::error!(error = %e, "the console cannot read the store");
    html! { p.error role="alert" { "The store is not answering; try again in a moment." } }
}

/// A short notice fragment with a status (a bad filter, an unknown name).
pub fn notice(status: StatusCode, text: &str) -> Response {
    (status, html! { p.error role="alert" { (text) } }).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_and_credential_headers_are_masked_and_others_shown() {
        for name in ["webhook-signature", "X-Hub-Signature-256", "Authorization", "X-Auth-Token", "Cookie", "x-api-key"]
        {
            assert!(is_secret_header(name), "{name}");
            assert!(header_value(name, "v1,abc", false).starts_with("••"), "{name}");
        }
        assert_eq!(header_value("content-type", "application/json", false), "application/json");
        assert!(header_value("X-Hook-Key", "k", true).starts_with("••"), "a header the source's config holds");
    }

    #[test]
    fn an_id_stays_readable_in_a_url_and_anything_else_is_encoded() {
        assert_eq!(encode("evt_01a2-b.c~"), "evt_01a2-b.c~");
        assert_eq!(encode("a/b?c=d&e f"), "a%2Fb%3Fc%3Dd%26e%20f");
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        assert_eq!(cap("héllo", 2), "hé…");
        assert_eq!(cap("hi", 2), "hi");
    }

    #[test]
    fn a_json_body_is_pretty_and_a_huge_one_is_cut() {
        assert_eq!(body_text(br#"{"a":1}"#), "{\n  \"a\": 1\n}");
        let huge = vec![b'x'; BODY_BYTES + 10];
        let shown = body_text(&huge);
        assert!(shown.ends_with(&format!("({} bytes in all; the first {BODY_BYTES} shown)", BODY_BYTES + 10)));
    }

    #[test]
    fn markup_in_a_value_is_escaped() {
        let html = state("<script>").into_string();
        assert!(!html.contains("<script>"), "{html}");
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(millis(850), "850 ms");
        assert_eq!(millis(12_300), "12.3 s");
        assert_eq!(millis(240_000), "4 min");
    }
}
