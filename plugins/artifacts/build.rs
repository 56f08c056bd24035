//! Compiles the plugins workspace (`plugins/`) for `wasm32-wasip2` with a nested cargo and
//! exports each component's path as a constant (`ORDER_TO_ERP`, `CHAOS`, …).
//!
//! The nested build uses its own target directory, `target/plugins`, because a cargo inside a
//! build script must not lock the target directory the outer cargo holds (rust-lang/cargo#8938).
//! The host's flags (RUSTFLAGS, coverage, sanitizer settings) are stripped: they are for the
//! host target, not for wasm. When the target is missing the build stops with the command to
//! run, instead of a wall of "can't find crate for `core`".

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let plugins = manifest_dir.parent().expect("artifacts lives inside plugins/").to_path_buf();
    let root = plugins.parent().expect("plugins/ lives inside the workspace").to_path_buf();
    let target_dir = root.join("target").join("plugins");

    for watched in ["Cargo.toml", "Cargo.lock", ".cargo", "sdk", "examples", "testing"] {
        println!("cargo:rerun-if-changed={}", plugins.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    ensure_target_installed();

    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&plugins)
        .args(["build", "--release", "--workspace", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("failed to start cargo for the plugins");
    if !status.success() {
        panic!("building the plugins in {} for {TARGET} failed (see the errors above)", plugins.display());
    }

    let out_dir = target_dir.join(TARGET).join("release");
    let mut consts = String::new();
    let mut examples = String::new();
    for (group, crate_name) in crates(&plugins) {
        let file = out_dir.join(format!("{}.wasm", crate_name.replace('-', "_")));
        assert!(file.exists(), "the build did not produce {}", file.display());
        let file_name = file.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_owned();
        let ident = crate_name.replace('-', "_").to_uppercase();
        consts.push_str(&format!(
            "/// `{file_name}`: the `{crate_name}` plugin component.\npub const {ident}: &str = {:?};\n",
            file.display().to_string()
        ));
        if group == "examples" {
            examples.push_str(&format!("    ({file_name:?}, include_bytes!({:?})),\n", file.display().to_string()));
        }
    }
    consts.push_str(&format!(
        "/// The example plugins' components by file name, carried by the binary for `switchyard init`.\n\
         pub const EXAMPLES: &[(&str, &[u8])] = &[\n{examples}];\n"
    ));
    let dest = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("artifacts.rs");
    std::fs::write(&dest, consts).expect("write artifacts.rs");
}

/// The plugin crates, each with its group: every directory with a Cargo.toml under examples/
/// and testing/.
fn crates(plugins: &Path) -> Vec<(&'static str, String)> {
    let mut names = Vec::new();
    for group in ["examples", "testing"] {
        let Ok(entries) = std::fs::read_dir(plugins.join(group)) else { continue };
        for entry in entries.flatten() {
            if entry.path().join("Cargo.toml").exists() {
                names.push((group, entry.file_name().to_string_lossy().into_owned()));
            }
        }
    }
    names.sort();
    names
}

/// Fails the build with the fix when the wasm32-wasip2 standard library is not installed.
fn ensure_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()));
    if let Some(sysroot) = sysroot
        && !sysroot.join("lib/rustlib").join(TARGET).exists()
    {
        panic!(
            "\n\nThe {TARGET} target is not installed for this toolchain, so the plugins cannot be built.\n\
             Run:  rustup target add {TARGET}\n\
             (rust-toolchain.toml names it, so rustup installs it by itself unless RUSTUP_AUTO_INSTALL=0.)\n"
        );
    }
}
