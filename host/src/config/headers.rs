//! Request headers as routes.toml (`[destinations.NAME] headers`) and plugins (`forward`
//! headers) may set them on a delivery, and the ones the gateway keeps for itself.
//!
//! Framing and hop-by-hop headers are the HTTP client's to write, and the Standard Webhooks
//! headers are the gateway's own signature: letting anyone else set them would let a plugin
//! break the request or forge the identity a receiver verifies. Pure checks, no I/O.

/// Headers only the gateway writes on a delivery. Names are lower-case.
pub const GATEWAY_OWNED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
];

/// Whether `name` (any case) belongs to the gateway.
pub fn gateway_owned(name: &str) -> bool {
    GATEWAY_OWNED.iter().any(|owned| owned.eq_ignore_ascii_case(name))
}

/// Why a header cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("`{0}` is not a valid HTTP header name")]
    Name(String),
    #[error("the value of header `{0}` contains CR, LF or another control character")]
    ControlCharacter(String),
}

/// Checks one header a user or a plugin wants to send: a token name, and a value without CR,
/// LF, NUL or other control characters (tab is allowed; bytes above 0x7f are sent as they are).
pub fn check(name: &str, value: &str) -> Result<(), HeaderError> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(HeaderError::Name(name.to_string()));
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeaderError::ControlCharacter(name.to_string()));
    }
    Ok(())
}

/// Headers from a plugin, as they may be sent: the valid ones, names lower-cased, with those
/// the gateway owns set aside (`dropped`, for one warning). An invalid header fails them all.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Vetted {
    pub kept: Vec<(String, String)>,
    pub dropped: Vec<String>,
}

pub fn vet(headers: Vec<(String, String)>) -> Result<Vetted, HeaderError> {
    let mut vetted = Vetted::default();
    for (name, value) in headers {
        check(&name, &value)?;
        let name = name.to_ascii_lowercase();
        if gateway_owned(&name) {
            vetted.dropped.push(name);
        } else {
            vetted.kept.push((name, value));
        }
    }
    Ok(vetted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_string(), value.to_string())
    }

    #[test]
    fn ordinary_headers_are_kept_and_the_gateways_own_are_set_aside() {
        let got = vet(vec![
            pair("Content-Type", "application/json"),
            pair("X-Erp-Key", "k"),
            pair("Host", "evil.example"),
            pair("webhook-signature", "v1,forged"),
            pair("Transfer-Encoding", "chunked"),
        ]);
        let want = Vetted {
            kept: vec![pair("content-type", "application/json"), pair("x-erp-key", "k")],
            dropped: vec!["host".into(), "webhook-signature".into(), "transfer-encoding".into()],
        };
        assert_eq!(got, Ok(want));
    }

    #[test]
    fn a_value_with_a_line_break_or_a_bad_name_is_refused_and_tab_or_utf8_is_not() {
        assert_eq!(check("x-a", "one\r\nx-injected: yes"), Err(HeaderError::ControlCharacter("x-a".into())));
        assert_eq!(check("x-a", "nul\0"), Err(HeaderError::ControlCharacter("x-a".into())));
        assert_eq!(check("x a", "v"), Err(HeaderError::Name("x a".into())));
        assert_eq!(check("", "v"), Err(HeaderError::Name(String::new())));
        assert_eq!(check("x-a", "tab\there, commandé"), Ok(()));
    }
}
