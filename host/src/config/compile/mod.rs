//! Raw → compiled: resolve names, parse patterns, interpolate `${VAR}`, check bounds.
//!
//! Collects every problem instead of stopping at the first, each with file, line, column and
//! key. It never touches plugins' bytes (the plugin runtime compiles those) and never reads
//! the environment except through the injected lookup.
//!
//! This file holds the compilation's state and the checks every section uses; each section
//! of routes.toml is compiled in a file of its own: `server.rs` (`[server]`, `[storage]`,
//! `[telemetry]`), `pem.rs` (certificates and keys), `sources.rs` and `subscribe.rs`,
//! `plugins.rs`, `destinations.rs` and `brokers.rs`, `routes.rs`.

mod brokers;
mod destinations;
mod pem;
mod plugins;
mod routes;
mod server;
mod sources;
mod subscribe;

use super::error::{ConfigError, SourceMap};
use super::interpolate::{Lookup, interpolate};
use super::model::Config;
use super::provider::UnknownName;
use super::raw::RawConfig;
use super::units::{ByteSize, check_name};
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// Compiles a parsed file. `path` is the file (for messages and relative plugin paths).
pub fn compile(raw: RawConfig, path: &Path, text: &str, env: Lookup<'_>) -> Result<Config, Vec<ConfigError>> {
    let mut compiler = Compiler { path, map: SourceMap::new(text), env, errors: Vec::new(), warnings: Vec::new() };
    let server = compiler.server(&raw);
    let storage = compiler.storage(&raw);
    let telemetry = compiler.telemetry(&raw);
    let sources = compiler.named(&raw.sources, "sources", Compiler::source);
    let plugins = compiler.named(&raw.plugins, "plugins", Compiler::plugin);
    let destinations = compiler.named(&raw.destinations, "destinations", Compiler::destination);
    let named = routes::Named { sources: &sources, plugins: &plugins, destinations: &destinations };
    let routes = raw.routes.iter().enumerate().filter_map(|(i, r)| compiler.route(i, r, &named)).collect();
    if compiler.errors.is_empty() {
        Ok(Config {
            path: path.to_path_buf(),
            server,
            storage,
            telemetry,
            sources,
            plugins,
            destinations,
            routes,
            warnings: compiler.warnings,
        })
    } else {
        compiler.errors.sort_by_key(|e| e.location.as_ref().map(|l| (l.line, l.column)));
        Err(compiler.errors)
    }
}

/// One compilation: the file's text (for locations), the environment lookup, and every error
/// and warning found so far.
struct Compiler<'a> {
    path: &'a Path,
    map: SourceMap<'a>,
    env: Lookup<'a>,
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
}

impl Compiler<'_> {
    fn error<T>(&mut self, spanned: &Spanned<T>, key: &str, message: impl Into<String>) {
        let location = self.map.locate(spanned.span(), key);
        self.errors.push(ConfigError::new(self.path, Some(location), message));
    }

    /// A string value with `${VAR}` resolved; on error, records it and returns "".
    fn string(&mut self, value: &Spanned<String>, key: &str) -> String {
        match interpolate(value.get_ref(), self.env) {
            Ok(s) => s,
            Err(e) => {
                self.error(value, key, e.to_string());
                String::new()
            }
        }
    }

    fn opt_string(&mut self, value: Option<&Spanned<String>>, key: &str, default: &str) -> String {
        value.map_or_else(|| default.to_string(), |v| self.string(v, key))
    }

    fn positive<T: Copy + Into<u64>>(&mut self, value: Option<&Spanned<T>>, key: &str, default: u64, max: u64) -> u64 {
        let Some(v) = value else { return default };
        let n: u64 = (*v.get_ref()).into();
        if n == 0 || n > max {
            self.error(v, key, format!("must be between 1 and {max}, not {n}"));
            return default;
        }
        n
    }

    fn size(&mut self, value: Option<&Spanned<String>>, key: &str, default: u64) -> u64 {
        let Some(v) = value else { return default };
        match v.get_ref().parse::<ByteSize>() {
            Ok(ByteSize(0)) => {
                self.error(v, key, "must be more than 0 bytes");
                default
            }
            Ok(ByteSize(n)) => n,
            Err(e) => {
                self.error(v, key, e.to_string());
                default
            }
        }
    }

    /// A value spelled by one of a fixed set of names (`provider`, `algorithm`, `encoding`);
    /// `default` when absent or unknown (an unknown one is reported with the accepted names).
    fn named_value<T: std::str::FromStr<Err = UnknownName>>(
        &mut self,
        value: Option<&Spanned<String>>,
        key: &str,
        default: T,
    ) -> T {
        let Some(value) = value else { return default };
        match value.get_ref().parse::<T>() {
            Ok(parsed) => parsed,
            Err(unknown) => {
                self.error(value, key, unknown.use_one_of());
                default
            }
        }
    }

    /// Compiles each `[table.name]`, checking the name itself first.
    fn named<R, T>(
        &mut self,
        raw: &BTreeMap<Spanned<String>, R>,
        table: &str,
        f: fn(&mut Self, &str, &R) -> T,
    ) -> BTreeMap<String, T> {
        let mut out = BTreeMap::new();
        for (name, value) in raw {
            if let Err(message) = check_name(name.get_ref()) {
                self.error(name, &format!("{table}.{}", name.get_ref()), message);
            }
            out.insert(name.get_ref().clone(), f(self, &format!("{table}.{}", name.get_ref()), value));
        }
        out
    }
}

/// `data.id` or `/data/id` → the JSON pointer `/data/id`.
fn pointer(field: &str) -> String {
    if field.starts_with('/') { field.to_string() } else { format!("/{}", field.replace('.', "/")) }
}

/// Stands in for a URL that does not parse. The config that holds it is refused (its error is
/// reported), so nothing is ever sent here.
fn unusable_url() -> url::Url {
    url::Url::parse("http://invalid.invalid/").expect("a constant URL parses")
}
