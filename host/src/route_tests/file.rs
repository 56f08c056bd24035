//! A route test file (`routes.test.toml`), as written: `[env]` for the config's `${VAR}`s and a
//! list of `[[case]]`s, each an incoming webhook and what the gateway must make of it.
//!
//! ```toml
//! [env]
//! BIGCOMMERCE_CLIENT_SECRET = "test-secret"
//!
//! [[case]]
//! name = "a BigCommerce order reaches the ERP"
//! source = "bigcommerce"
//! sample = "store/order/created"           # the provider's sample webhook of this scope,
//! data = { type = "order", id = 250 }      # with this data in it
//!
//! [case.expect]
//! routes = [{ name = "orders to ERP" }]
//! deliveries = [{ destination = "erp", body_includes = { order_number = "250" } }]
//! ```
//!
//! Plain data with serde; every table denies unknown keys. Paths are relative to the file.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a test file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TestFileError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A whole test file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Values for the config's `${VAR}`s (before the process environment).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default, rename = "case")]
    pub cases: Vec<Case>,
    /// The file's directory, for the paths its cases name.
    #[serde(skip)]
    pub dir: PathBuf,
    #[serde(skip)]
    pub path: PathBuf,
}

/// One webhook and what must come of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// The `[sources.NAME]` it arrives at.
    pub source: String,
    /// The provider's sample webhook of this scope (as `switchyard send` makes it).
    pub sample: Option<String>,
    /// The sample's data (BigCommerce's `data`, Stripe's `data.object`…), as TOML.
    pub data: Option<toml::Value>,
    /// A body of your own instead of a sample: inline…
    pub body: Option<String>,
    /// …or read from a file.
    pub body_file: Option<PathBuf>,
    /// Headers added to the request (a registration header, a scope header for `body`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Send it without a signature, to test that it is refused.
    #[serde(default)]
    pub unsigned: bool,
    /// Plugins' state before the event: plugin name → key → value.
    #[serde(default)]
    pub kv: BTreeMap<String, BTreeMap<String, toml::Value>>,
    /// Answers for the plugins' HTTP requests (the `plugin run --http` format).
    pub http: Option<PathBuf>,
    #[serde(default)]
    pub expect: Expect,
}

/// What the gateway must make of the webhook. Lists are compared in order. What is left out is
/// not checked, except deliveries: none is expected unless listed (or `more_deliveries`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `"accepted"` (the default) or `"refused"`.
    pub answer: Option<Answer>,
    /// For a refusal: why, as the gateway labels it (`bad_signature`, `missing_header`…).
    pub reason: Option<String>,
    /// The routes the event takes, in order.
    pub routes: Option<Vec<ExpectedRoute>>,
    #[serde(default)]
    pub deliveries: Vec<ExpectedDelivery>,
    /// Allow deliveries beyond the listed ones.
    #[serde(default)]
    pub more_deliveries: bool,
    pub drops: Option<Vec<ExpectedReason>>,
    pub dead_letters: Option<Vec<ExpectedReason>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    Accepted,
    Refused,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRoute {
    pub name: String,
    /// What the route's `{name}` segments captured; when given, exactly these.
    pub params: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDelivery {
    pub destination: String,
    pub route: Option<String>,
    /// The body, exactly (JSON compared as JSON; a string compared as text).
    pub body: Option<toml::Value>,
    /// Fields the JSON body must hold, with these values (others may be there too).
    pub body_includes: Option<toml::Value>,
    /// Headers the delivery must carry, with these values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A drop or a dead letter: the route it happened in, and words its reason contains.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedReason {
    pub route: Option<String>,
    pub reason: Option<String>,
}

impl TestFile {
    pub fn load(path: &Path) -> Result<Self, TestFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| TestFileError::Read { path: path.to_path_buf(), source })?;
        let invalid = |message: String| TestFileError::Invalid { path: path.to_path_buf(), message };
        let mut file: TestFile = toml::from_str(&text).map_err(|e| invalid(e.to_string().trim_end().to_owned()))?;
        for (index, case) in file.cases.iter().enumerate() {
            let given = [case.sample.is_some(), case.body.is_some(), case.body_file.is_some()];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(invalid(format!("case[{index}] `{}`: give one of sample, body and body_file", case.name)));
            }
            if case.data.is_some() && case.sample.is_none() {
                return Err(invalid(format!("case[{index}] `{}`: `data` goes with `sample`", case.name)));
            }
        }
        file.dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        file.path = path.to_path_buf();
        Ok(file)
    }
}
