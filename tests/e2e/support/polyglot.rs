//! Plugins written in JavaScript, TypeScript and Python, built for the tests with the SDKs'
//! own build commands: `plugins/sdk-js` (componentize-js) and `plugins/sdk-python`
//! (componentize-py). The tools come from their registries at pinned versions: `npm ci` in
//! plugins/sdk-js and a venv in target/plugin-tools with plugins/sdk-python/requirements.txt
//! (`.ci/run` prepares both; here they are made when missing). A component is rebuilt only
//! when a source is newer than it.
//!
//! Every setup and build holds one file lock (`target/plugin-tools/.lock`), so test threads and
//! test binaries running at once never run two `npm ci` in one directory, or build one
//! component twice.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Holds the toolchain lock until dropped (closing the file releases it).
struct Locked(#[allow(dead_code)] std::fs::File);

/// Waits for the toolchain lock, which every test thread and test binary takes before it sets
/// up a toolchain or builds a component.
fn lock() -> Locked {
    let dir = root().join("target/plugin-tools");
    std::fs::create_dir_all(&dir).expect("make target/plugin-tools");
    let file = std::fs::File::create(dir.join(".lock")).expect("open the toolchain lock file");
    file.lock().expect("take the toolchain lock");
    Locked(file)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn out_dir() -> PathBuf {
    root().join("target/plugins/polyglot")
}

fn run(what: &str, command: &mut Command) {
    let status = command.status().unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(status.success(), "{what} failed ({status})");
}

/// The newest modification time under `paths` (files or directories, node_modules skipped).
fn newest(paths: &[PathBuf]) -> std::time::SystemTime {
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&p) else { continue };
        if meta.is_dir() {
            if p.file_name().is_some_and(|n| n == "node_modules" || n == "__pycache__" || n == "wit-types") {
                continue;
            }
            stack.extend(std::fs::read_dir(&p).into_iter().flatten().flatten().map(|e| e.path()));
        } else if let Ok(m) = meta.modified() {
            newest = newest.max(m);
        }
    }
    newest
}

fn stale(out: &Path, inputs: &[PathBuf]) -> bool {
    let built = std::fs::metadata(out).and_then(|m| m.modified()).ok();
    built.is_none_or(|b| b < newest(inputs))
}

/// `npm ci` in plugins/sdk-js, unless its node_modules matches its lockfile already.
pub fn node_modules() -> PathBuf {
    let _one = lock();
    installed_node_modules()
}

fn installed_node_modules() -> PathBuf {
    let sdk = root().join("plugins/sdk-js");
    let installed = sdk.join("node_modules/.package-lock.json");
    if stale(&installed, &[sdk.join("package-lock.json")]) {
        run("npm ci", Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&sdk));
    }
    sdk
}

/// The venv with componentize-py, made when missing.
pub fn venv_python() -> PathBuf {
    let _one = lock();
    installed_venv_python()
}

fn installed_venv_python() -> PathBuf {
    let venv = root().join("target/plugin-tools/venv");
    let python = venv.join("bin/python");
    let requirements = root().join("plugins/sdk-python/requirements.txt");
    let marker = venv.join(".requirements-installed");
    if stale(&marker, std::slice::from_ref(&requirements)) {
        run("python3 -m venv", Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run("pip install", Command::new(&python).args(["-m", "pip", "install", "-q", "-r"]).arg(&requirements));
        std::fs::write(&marker, "").unwrap();
    }
    python
}

/// A JavaScript or TypeScript plugin (`entry`, relative to plugins/), built with the JS SDK.
pub fn js(entry: &str, name: &str) -> PathBuf {
    let _one = lock();
    let sdk = installed_node_modules();
    let (entry, out) = (root().join("plugins").join(entry), out_dir().join(format!("{name}.wasm")));
    let inputs = [entry.clone(), sdk.join("index.js"), sdk.join("index.d.ts"), sdk.join("bin"), root().join("wit")];
    if stale(&out, &inputs) {
        let mut build = Command::new("node");
        build.arg(sdk.join("bin/switchyard-plugin.mjs")).arg("build").arg(&entry).arg("-o").arg(&out);
        run(&format!("building {}", entry.display()), &mut build);
    }
    out
}

/// A Python plugin (`app`, relative to plugins/), built with the Python SDK.
pub fn python(app: &str, name: &str) -> PathBuf {
    let _one = lock();
    let python = installed_venv_python();
    let sdk = root().join("plugins/sdk-python");
    let (app, out) = (root().join("plugins").join(app), out_dir().join(format!("{name}.wasm")));
    let inputs = [app.clone(), sdk.join("switchyard_plugin"), root().join("wit")];
    if stale(&out, &inputs) {
        std::fs::create_dir_all(out_dir()).unwrap();
        let mut build = Command::new(&python);
        build.arg(sdk.join("switchyard_plugin_build.py")).arg(&app).arg("-o").arg(&out);
        if let Some(dir) = app.parent() {
            build.current_dir(dir);
        }
        run(&format!("building {}", app.display()), &mut build);
    }
    out
}
