//! routes.toml text for tests, put together from the tables most tests use, so that a test
//! writes out only what it is about. `{wasm:NAME}` stands for a built plugin (see
//! [`super::expand`]); anything else goes in as written.

use std::fmt::Write;

/// A routes.toml being written.
#[derive(Debug, Clone, Default)]
pub struct Toml(String);

impl Toml {
    /// A table that starts with a generic source `name`: unsigned, its body's `scope` field
    /// names the event. Further keys of that source may follow with [`Toml::raw`].
    pub fn generic(name: &str) -> Self {
        Self(super::generic_source(name))
    }

    /// TOML as written: keys of the table before it, or other tables.
    pub fn raw(mut self, text: &str) -> Self {
        let _ = writeln!(self.0, "{}", text.trim_matches('\n'));
        self
    }

    /// `[plugins.NAME]` at the built plugin `wasm`, with `settings` (lines of TOML).
    pub fn plugin(mut self, name: &str, wasm: &str, settings: &str) -> Self {
        let _ = writeln!(self.0, "\n[plugins.{name}]\npath = \"{{wasm:{wasm}}}\"\n{settings}");
        self
    }

    /// `[destinations.NAME]` at `url`, with `settings` (lines of TOML).
    pub fn destination(mut self, name: &str, url: &str, settings: &str) -> Self {
        let _ = writeln!(self.0, "\n[destinations.{name}]\nurl = \"{url}\"\n{settings}");
        self
    }

    /// A `[[routes]]` entry: `pattern`, through `plugin` when given, to `to`.
    pub fn route(mut self, pattern: &str, plugin: Option<&str>, to: &[&str]) -> Self {
        let to = to.iter().map(|d| format!("\"{d}\"")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(self.0, "\n[[routes]]\nmatch = \"{pattern}\"\nto = [{to}]");
        if let Some(plugin) = plugin {
            let _ = writeln!(self.0, "plugin = \"{plugin}\"");
        }
        self
    }
}

impl std::ops::Deref for Toml {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Toml {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Display for Toml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
