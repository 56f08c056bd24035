//! Loading routes.toml: read → parse into the raw mirror → compile into the model.
//!
//! Two stages, as in ripgrep and Vector: [`raw`] is exactly the file's shape (serde,
//! `deny_unknown_fields`, spans kept); [`compile`] resolves and validates it into a [`Config`]
//! that cannot be invalid, reporting every problem at once with file, line, column and key.
//! Nothing here starts tasks, opens sockets or compiles wasm.
//!
//! The bottom layer: besides the config itself it owns the plain data the layers above read
//! ([`provider`]: provider kinds and settings with their one check; [`headers`]: which
//! headers may be sent; [`WhsecKey`]: the Standard Webhooks secret rule). It imports only
//! `scope` from this crate, and never an HTTP client, server or runtime type.

pub mod allowed_host;
mod compile;
pub mod defaults;
mod error;
pub mod filter;
pub mod headers;
mod interpolate;
pub mod model;
pub mod provider;
mod raw;
pub mod schema;
mod schema_keywords;
pub mod template;
pub mod units;

pub use error::{ConfigError, ConfigErrors, Location};
pub use interpolate::Lookup;
pub use model::Config;
pub use units::{ByteSize, LENIENT_BASE64, WhsecKey, WhsecKeyError, check_name};

use std::path::Path;

/// Reads and compiles the config file at `path`, looking `${VAR}`s up with `env`.
pub fn load(path: &Path, env: Lookup<'_>) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors(vec![ConfigError::new(path, None, format!("cannot read: {e}"))]))?;
    load_str(path, &text, env)
}

/// Compiles config text as if read from `path`.
pub fn load_str(path: &Path, text: &str, env: Lookup<'_>) -> Result<Config, ConfigErrors> {
    // An empty file is what a reload sees between an in-place save's truncate and its write;
    // serving "nothing configured" for that instant would refuse every webhook.
    if text.trim().is_empty() {
        let message = "the file is empty (a save in progress?); a config needs at least one source";
        return Err(ConfigErrors(vec![ConfigError::new(path, None, message)]));
    }
    let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
        let map = error::SourceMap::new(text);
        let location = e.span().map(|span| map.locate_guessing_key(span));
        ConfigErrors(vec![ConfigError::new(path, location, e.message().trim_end().to_string())])
    })?;
    compile::compile(raw, path, text, env).map_err(ConfigErrors)
}

/// The process environment, for production callers.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A URL as written, for a message: a password in it (`amqp://app:secret@…`, often from the
/// environment) shown as `***`.
pub fn without_password(written: &str) -> String {
    let Some((scheme, rest)) = written.split_once("://") else { return written.to_string() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_string() };
            format!("{scheme}://{masked}@{host}{}", &rest[authority_end..])
        }
        None => written.to_string(),
    }
}

/// A URL for messages, shown without its password when it is written out (not before: most
/// attempts that carry one succeed and are never written).
pub struct ShownUrl<'a>(pub &'a url::Url);

impl std::fmt::Display for ShownUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.password().is_some() {
            f.write_str(&without_password(self.0.as_str()))
        } else {
            f.write_str(self.0.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each file in tests/fixtures/config/invalid has a `.err` file with the exact message;
    //! `SWITCHYARD_BLESS=1 cargo test -p switchyard --lib config` rewrites them (then review the diff).
    use super::*;
    use std::path::PathBuf;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn fixtures(kind: &str) -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/config").join(kind);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect())
            .unwrap_or_default();
        files.sort();
        assert!(!files.is_empty(), "no fixtures in {}", dir.display());
        files
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(without_password("postgres://sy:s3cr@t@db:5432/sy"), "postgres://sy:***@db:5432/sy");
        assert_eq!(without_password("amqp://guest:secret@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
        assert_eq!(without_password("postgres://sy@db/sy"), "postgres://sy@db/sy");
        assert_eq!(without_password("postgresql://db/sy?user=a@b"), "postgresql://db/sy?user=a@b");
    }

    #[test]
    fn valid_fixtures_load() {
        for file in fixtures("valid") {
            if let Err(e) = load(&file, &no_env) {
                panic!("{} should load:\n{e}", file.display());
            }
        }
    }

    #[test]
    fn invalid_fixtures_fail_with_their_exact_message() {
        for file in fixtures("invalid") {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let got = match load_str(Path::new("routes.toml"), &text, &no_env) {
                Ok(_) => panic!("{} should not load", file.display()),
                Err(e) => e.to_string(),
            };
            let err_file = file.with_extension("err");
            if std::env::var_os("SWITCHYARD_BLESS").is_some() {
                std::fs::write(&err_file, format!("{got}\n")).unwrap();
            }
            let want = std::fs::read_to_string(&err_file).unwrap_or_default();
            assert_eq!(got.trim(), want.trim(), "message for {}", file.display());
        }
    }

    #[test]
    fn the_shipped_routes_toml_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../routes.toml");
        if let Err(e) = load(&path, &no_env) {
            panic!("routes.toml should load:\n{e}");
        }
    }

    #[test]
    fn environment_values_fill_secrets() {
        let env = |name: &str| (name == "SHOP_SECRET").then(|| "hunter2".to_string());
        let text = "[sources.shop]\nprovider = \"shopify\"\nsecrets = [\"${SHOP_SECRET}\"]\n";
        let config = load_str(Path::new("r.toml"), text, &env).map_err(|e| e.to_string());
        let secrets = config.map(|c| c.sources["shop"].settings.secrets.clone());
        assert_eq!(secrets, Ok(vec!["hunter2".to_string()]));
    }

    #[test]
    fn every_error_is_reported_not_just_the_first() {
        let text = "[[routes]]\nmatch = \"a/*\"\nto = [\"nowhere\"]\n\n[[routes]]\nmatch = \"b/c*\"\nto = [\"x\"]\n";
        let errors = load_str(Path::new("r.toml"), text, &no_env).err().map(|e| e.0.len());
        assert_eq!(errors, Some(3));
    }

    #[test]
    fn sources_dedup_for_a_day_unless_told_otherwise_and_zero_turns_it_off() {
        let text = "[sources.a]\nprovider = \"stripe\"\n\n[sources.b]\nprovider = \"stripe\"\ndedup_window_secs = 0\n\n\
                    [sources.c]\nprovider = \"stripe\"\ndedup_window_secs = 60\n";
        let config = load_str(Path::new("r.toml"), text, &no_env).map_err(|e| e.to_string());
        let windows = config.map(|c| c.sources.values().map(|s| s.dedup_window.map(|w| w.as_secs())).collect());
        assert_eq!(windows, Ok(vec![Some(86_400), None, Some(60)]));
    }
}
