//! What this binary is: its version, the commit and toolchain it was built from, and the plugin
//! contract versions it runs. Shown by `switchyard --version` and `GET /api/version`.
//!
//! The values come from `host/build.rs` at compile time; this file never reads anything at run
//! time.

use serde::Serialize;

/// The plugin contract versions this gateway runs side by side, oldest first.
pub const CONTRACTS: &[&str] = &["0.1.0", "0.2.0", "0.3.0"];

/// The build, as `GET /api/version` answers it.
#[derive(Debug, Clone, Serialize)]
pub struct BuildInfo {
    pub version: &'static str,
    /// The short git hash of the source, or `unknown` when built from outside a checkout
    /// without `SWITCHYARD_COMMIT`.
    pub commit: &'static str,
    /// `rustc 1.95.0 (… 2026-…)`, as `rustc --version` put it.
    pub rustc: &'static str,
    pub wasmtime: &'static str,
    pub plugin_contracts: &'static [&'static str],
    /// `x86_64-linux-musl`-style: the architecture, the OS and the C library it links.
    pub target: String,
}

/// This binary's build.
pub fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("SWITCHYARD_COMMIT"),
        rustc: env!("SWITCHYARD_RUSTC"),
        wasmtime: env!("SWITCHYARD_WASMTIME"),
        plugin_contracts: CONTRACTS,
        target: format!("{}-{}-{}", std::env::consts::ARCH, std::env::consts::OS, libc_name()),
    }
}

fn libc_name() -> &'static str {
    if cfg!(target_env = "musl") {
        "musl"
    } else if cfg!(target_env = "gnu") {
        "gnu"
    } else {
        "other"
    }
}

/// `-V`'s text: the version and the commit.
pub const SHORT_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SWITCHYARD_COMMIT"), ")");

/// `--version`'s text: the version and commit on the first line, then the toolchain and the
/// contracts, one per line.
pub fn long_version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let b = build_info();
        format!(
            "{SHORT_VERSION}\nrustc:            {}\nwasmtime:         {}\nplugin contracts: {}\ntarget:           {}",
            b.rustc.strip_prefix("rustc ").unwrap_or(b.rustc),
            b.wasmtime,
            b.plugin_contracts.join(", "),
            b.target
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_version_names_every_part_of_the_build() {
        let text = long_version();
        assert!(text.starts_with(env!("CARGO_PKG_VERSION")), "{text}");
        for part in ["commit ", "rustc:", "wasmtime:", "0.1.0, 0.2.0, 0.3.0", "target:"] {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert_ne!(build_info().wasmtime, "unknown", "Cargo.lock names wasmtime");
    }
}
