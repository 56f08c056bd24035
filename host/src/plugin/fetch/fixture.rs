//! Recorded answers for a plugin's requests, read from a TOML file: `plugin run --http FILE`
//! and `switchyard test` run a plugin that calls an API with no network at all.
//!
//! ```toml
//! [[answer]]
//! method = "GET"                                   # the default
//! url = "https://api.bigcommerce.com/stores/abc123/v2/orders/250"
//! headers = { "x-auth-token" = "test-token" }      # optional: the request must carry these
//! status = 200                                     # the default
//! response_headers = { "content-type" = "application/json" }
//! json = { id = 250, status = "Shipped" }          # or body = "…", or body_file = "order.json"
//! ```
//!
//! The first answer whose method, URL (exact, query included) and headers match is given. A
//! request no answer matches is refused, and the run names it. The plugin's `allowed_hosts`
//! are checked before the file is consulted, so a fixture never lets a plugin reach what its
//! config would refuse. This file never touches the network.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a fixture file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The answers of one fixture file, bodies read.
#[derive(Debug, Clone, Default)]
pub struct HttpFixture {
    answers: Vec<Answer>,
}

/// One recorded exchange, as the file writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    #[serde(default = "get")]
    method: String,
    url: String,
    /// Headers the request must carry (names in any case, values exactly).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    response_headers: BTreeMap<String, String>,
    body: Option<String>,
    json: Option<toml::Value>,
    body_file: Option<PathBuf>,
    /// The body, once `body`, `json` or `body_file` is read.
    #[serde(skip)]
    bytes: Vec<u8>,
}

fn get() -> String {
    "GET".into()
}

fn ok() -> u16 {
    200
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    answer: Vec<Answer>,
}

/// A matched answer: the response to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpFixture {
    /// Reads `path`; `body_file`s are relative to its directory.
    pub fn load(path: &Path) -> Result<Self, FixtureError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| FixtureError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// Parses `text` as the file `path` (which names it in errors and anchors `body_file`).
    pub fn parse(text: &str, path: &Path) -> Result<Self, FixtureError> {
        let invalid = |message: String| FixtureError::Invalid { path: path.to_path_buf(), message };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_owned()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut answers = file.answer;
        for (index, answer) in answers.iter_mut().enumerate() {
            let at = format!("answer[{index}] ({} {})", answer.method, answer.url);
            answer.method = answer.method.to_ascii_uppercase();
            if !(100..=599).contains(&answer.status) {
                return Err(invalid(format!("{at}: status {} is not an HTTP status", answer.status)));
            }
            answer.bytes = match (&answer.body, &answer.json, &answer.body_file) {
                (Some(text), None, None) => text.clone().into_bytes(),
                (None, Some(value), None) => serde_json::to_vec(value).map_err(|e| invalid(format!("{at}: {e}")))?,
                (None, None, Some(file)) => {
                    let file = dir.join(file);
                    std::fs::read(&file).map_err(|e| invalid(format!("{at}: cannot read {}: {e}", file.display())))?
                }
                (None, None, None) => Vec::new(),
                _ => return Err(invalid(format!("{at}: give one of body, json and body_file"))),
            };
            if answer.json.is_some() && !answer.response_headers.keys().any(|k| k.eq_ignore_ascii_case("content-type"))
            {
                answer.response_headers.insert("content-type".into(), "application/json".into());
            }
        }
        Ok(Self { answers })
    }

    /// The answer for a request, if one matches.
    pub fn answer(&self, method: &str, url: &str, headers: &http::HeaderMap) -> Option<Canned> {
        let matches = |a: &&Answer| {
            a.method.eq_ignore_ascii_case(method)
                && a.url == url
                && a.headers.iter().all(|(name, value)| {
                    headers.get_all(name.as_str()).iter().any(|v| v.as_bytes() == value.as_bytes())
                })
        };
        let answer = self.answers.iter().find(matches)?;
        let headers = answer.response_headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Some(Canned { status: answer.status, headers, body: answer.bytes.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        [[answer]]
        url = "https://api.example.com/orders/1"
        headers = { "X-Auth-Token" = "t" }
        json = { id = 1, items = [1, 2] }

        [[answer]]
        method = "post"
        url = "https://api.example.com/orders"
        status = 503
        response_headers = { "retry-after" = "2" }
        body = "busy"
    "#;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn the_first_answer_matching_method_url_and_headers_is_given() {
        let fixture = HttpFixture::parse(FILE, Path::new("f.toml")).unwrap();
        let got = fixture.answer("GET", "https://api.example.com/orders/1", &headers(&[("x-auth-token", "t")]));
        let got = got.unwrap();
        assert_eq!((got.status, got.body.as_slice()), (200, br#"{"id":1,"items":[1,2]}"#.as_slice()));
        assert_eq!(got.headers, vec![("content-type".to_owned(), "application/json".to_owned())]);
        let busy = fixture.answer("POST", "https://api.example.com/orders", &http::HeaderMap::new()).unwrap();
        assert_eq!((busy.status, busy.body.as_slice()), (503, b"busy".as_slice()));
    }

    #[test]
    fn a_missing_header_another_method_or_another_url_matches_nothing() {
        let fixture = HttpFixture::parse(FILE, Path::new("f.toml")).unwrap();
        let url = "https://api.example.com/orders/1";
        assert_eq!(fixture.answer("GET", url, &headers(&[("x-auth-token", "other")])), None);
        assert_eq!(fixture.answer("DELETE", url, &headers(&[("x-auth-token", "t")])), None);
        assert_eq!(
            fixture.answer("GET", "https://api.example.com/orders/1?x=1", &headers(&[("x-auth-token", "t")])),
            None
        );
    }

    #[test]
    fn a_bad_file_names_the_file_and_the_answer() {
        let two = "[[answer]]\nurl = \"https://a/\"\nbody = \"x\"\njson = 1\n";
        let e = HttpFixture::parse(two, Path::new("f.toml")).unwrap_err().to_string();
        assert!(e.contains("f.toml") && e.contains("answer[0]") && e.contains("one of body"), "{e}");
        let typo = "[[answer]]\nurl = \"https://a/\"\nstatuss = 200\n";
        let e = HttpFixture::parse(typo, Path::new("f.toml")).unwrap_err().to_string();
        assert!(e.contains("statuss"), "{e}");
        let missing = "[[answer]]\nurl = \"https://a/\"\nbody_file = \"nope.json\"\n";
        let e = HttpFixture::parse(missing, Path::new("/nonexistent/f.toml")).unwrap_err().to_string();
        assert!(e.contains("nope.json"), "{e}");
    }
}
