//! A plugin author's first hour, with nothing of this repository: the binary alone in an empty
//! directory, and the language's own tools from the system (`cargo`/`rustup`, `node`/`npm`,
//! `python3`, `make`). For each language, `plugin new` makes a project (the basic handler and
//! the `enrich` one), the project's own build command builds it, and its test passes: `plugin
//! run --expect` on the sample, and for `enrich` the three recorded API answers (`--http`).
//! No scaffolded file names this machine's checkout.
//!
//! Registries are reached as the tools reach them; their caches (the ones `.ci/run` fills) make
//! it quick. Rust projects share one target directory, `target/sdk-tests`, a cache only.

#![allow(clippy::unwrap_used)] // a test that unwraps says what it expects (rust-clippy#13981)

use std::path::{Path, PathBuf};
use std::process::Command;

/// This repository's root: what no scaffolded file may name.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().canonicalize().unwrap()
}

/// A directory with only the binary in `bin/`, and the projects beside it.
struct Author {
    dir: tempfile::TempDir,
    path: String,
}

impl Author {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_switchyard"), dir.path().join("bin/switchyard")).unwrap();
        // PATH: the binary, and where the system keeps the language tools; no cargo-built
        // `target/` directory and nothing of the checkout.
        let mut dirs = vec![dir.path().join("bin")];
        for tool in ["cargo", "rustup", "node", "npm", "python3", "make", "sh"] {
            if let Some(found) = which(tool)
                && !dirs.contains(&found)
            {
                dirs.push(found);
            }
        }
        let path = std::env::join_paths(dirs.iter().chain([&PathBuf::from("/usr/bin"), &PathBuf::from("/bin")]))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        Self { dir, path }
    }

    /// `program args` in `dir`, on the author's PATH; panics with its output when it fails.
    fn run(&self, dir: &Path, program: &str, args: &[&str]) {
        let mut command = Command::new(program);
        command.args(args).current_dir(dir).env("PATH", &self.path);
        // The Rust projects' one build cache; the toolchain the tests run with (it has the
        // wasm32-wasip2 target), not whatever `rustup default` names.
        command.env("CARGO_TARGET_DIR", checkout().join("target/sdk-tests"));
        for var in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
            command.env_remove(var);
        }
        let output =
            switchyard_test_harness::busy_retry(|| command.output()).unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            output.status.success(),
            "`{program} {}` in {} failed:\n{}\n{}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `switchyard plugin new NAME --lang LANG --template TEMPLATE`; the project's directory.
    fn scaffold(&self, name: &str, lang: &str, template: &str) -> PathBuf {
        self.run(self.dir.path(), "switchyard", &["plugin", "new", name, "--lang", lang, "--template", template]);
        let project = self.dir.path().join(name);
        assert_names_nothing_of_the_checkout(&project);
        project
    }

    /// Builds and tests `project` with its own commands, as its README says.
    fn build_and_test(&self, project: &Path, lang: &str) {
        match lang {
            "rust" => self.run(project, "make", &["test"]),
            "python" => self.run(project, "make", &["test"]),
            _ => {
                self.run(project, "npm", &["install", "--no-audit", "--no-fund", "--prefer-offline"]);
                self.run(project, "npm", &["test"]);
            }
        }
        assert_names_nothing_of_the_checkout(project);
    }
}

/// The directory holding `tool` on this process's PATH.
fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).find(|dir| dir.join(tool).is_file())
}

/// Every file the project holds (but what its tools install or build) is free of the
/// checkout's path.
fn assert_names_nothing_of_the_checkout(project: &Path) {
    let root = checkout().display().to_string();
    let mut pending = vec![project.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["node_modules", ".venv", "target"].contains(&name.as_str()) {
                    pending.push(path);
                }
            } else if !name.ends_with(".wasm") {
                let bytes = std::fs::read(&path).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(&root), "{} names the checkout {root}", path.display());
            }
        }
    }
}

fn scaffold_build_and_test(lang: &str) {
    let author = Author::new();
    for template in ["basic", "enrich"] {
        let project = author.scaffold(&format!("{template}-{lang}"), lang, template);
        author.build_and_test(&project, lang);
    }
}

#[test]
fn a_rust_plugin_is_made_built_and_tested_with_only_the_binary_and_cargo() {
    scaffold_build_and_test("rust");
}

#[test]
fn a_typescript_plugin_is_made_built_and_tested_with_only_the_binary_and_npm() {
    scaffold_build_and_test("ts");
}

#[test]
fn a_javascript_plugin_is_made_built_and_tested_with_only_the_binary_and_npm() {
    scaffold_build_and_test("js");
}

#[test]
fn a_python_plugin_is_made_built_and_tested_with_only_the_binary_and_python() {
    scaffold_build_and_test("python");
}

/// The SDK's compatibility rule: a plugin written against today's SDK still compiles when a
/// later SDK targets a contract whose `forward` record has one more field. The later SDK is
/// today's with that change made as the SDK's rule says it is made: a field in the WIT, a field
/// in `Forward` and its conversion.
#[test]
fn a_rust_plugin_compiles_against_a_later_sdk_that_adds_a_field_to_forward() {
    let author = Author::new();
    let project = author.scaffold("compat", "rust", "basic");
    std::fs::write(
        project.join("src/lib.rs"),
        r#"use switchyard_plugin_sdk::prelude::*;

struct Compat;

impl Plugin for Compat {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let copy = Forward::new().with_body(event.body.clone()).with_header("x-copy", "1").with_destination("archive");
        Ok(vec![
            forward_json(&switchyard_plugin_sdk::serde_json::json!({ "scope": event.scope })).with_order_key("k"),
            copy.into(),
            Emit::new("derived/event", event.body).into(),
        ])
    }
}

export_plugin!(Compat);

#[cfg(test)]
mod tests {
    #[test]
    fn events_are_made_with_their_constructor() {
        let event = super::Event::new("store/order/created", "{}").with_header("a", "b");
        assert_eq!(event.scope, "store/order/created");
    }
}
"#,
    )
    .unwrap();
    author.run(&project, "cargo", &["build", "--release", "--target", "wasm32-wasip2"]);

    let sdk = project.join("vendor/switchyard-plugin-sdk");
    let edit = |file: &str, from: &str, to: &str| {
        let path = sdk.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has `{from}`: the later SDK is made from today's");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit("wit/handler.wit", "order-key: option<string>,", "order-key: option<string>,\n        priority: option<u8>,");
    edit(
        "src/types.rs",
        "    pub order_key: Option<String>,\n}",
        "    pub order_key: Option<String>,\n    pub priority: Option<u8>,\n}",
    );
    edit("src/types.rs", "order_key: f.order_key,", "order_key: f.order_key,\n                priority: f.priority,");
    author.run(&project, "cargo", &["build", "--release", "--target", "wasm32-wasip2"]);
    author.run(&project, "cargo", &["test"]);
}

/// The Rust SDK is a crate that can be published: `cargo package` takes its contract along
/// and the packaged crate builds on its own.
#[test]
fn the_rust_sdk_packages_with_the_contract_it_targets() {
    let plugins = checkout().join("plugins");
    let target = checkout().join("target/sdk-package");
    let output = Command::new("cargo")
        .args(["package", "-p", "switchyard-plugin-sdk", "--allow-dirty"])
        .current_dir(&plugins)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo package:\n{}", String::from_utf8_lossy(&output.stderr));
    let list = Command::new("cargo")
        .args(["package", "-p", "switchyard-plugin-sdk", "--allow-dirty", "--list"])
        .current_dir(&plugins)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    let files = String::from_utf8_lossy(&list.stdout);
    for file in ["wit/handler.wit", "wit/deps/http.wit", "src/types.rs"] {
        assert!(files.lines().any(|l| l == file), "{file} in the package:\n{files}");
    }
}
