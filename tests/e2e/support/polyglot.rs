//! Plugins written in JavaScript, TypeScript and Python, built for the tests with the SDKs'
//! own build commands: `plugins/sdk-js` (componentize-js) and `plugins/sdk-python`
//! (componentize-py). The tools come from their registries at pinned versions: `npm ci` in
//! plugins/sdk-js and a venv in target/plugin-tools with plugins/sdk-python/requirements.txt
//! (`.ci/run` prepares both; here they are made when missing). A component is rebuilt only
//! when a source is newer than it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One build at a time in this process (tests run on threads).
static BUILDING: Mutex<()> = Mutex::new(());

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
    let sdk = root().join("plugins/sdk-js");
    let installed = sdk.join("node_modules/.package-lock.json");
    if stale(&installed, &[sdk.join("package-lock.json")]) {
        run("npm ci", Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&sdk));
    }
    sdk
}

/// The venv with componentize-py, made when missing.
pub fn venv_python() -> PathBuf {
    let venv = root().join("target/plugin-tools/venv");
    let python = venv.join("bin/python");
    let requirements = root().join("plugins/sdk-python/requirements.txt");
    let marker = venv.join(".requirements-installed");
    if stale(&marker, std::slice::from_ref(&requirements)) {
        run("python3 -m venv", Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run("pip install", Command::new(&python).args(["-m", "pip", "install", "-q", "-r"]).arg(&requirements));
        std::fs::write(&marker, "").unwrap_or_else(|e| panic!("{e}"));
    }
    python
}

/// A JavaScript or TypeScript plugin (`entry`, relative to plugins/), built with the JS SDK.
pub fn js(entry: &str, name: &str) -> PathBuf {
    let _one = BUILDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let sdk = node_modules();
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
    let _one = BUILDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let python = venv_python();
    let sdk = root().join("plugins/sdk-python");
    let (app, out) = (root().join("plugins").join(app), out_dir().join(format!("{name}.wasm")));
    let inputs = [app.clone(), sdk.join("switchyard_plugin"), root().join("wit")];
    if stale(&out, &inputs) {
        std::fs::create_dir_all(out_dir()).unwrap_or_else(|e| panic!("{e}"));
        let mut build = Command::new(&python);
        build.arg(sdk.join("switchyard_plugin/build.py")).arg(&app).arg("-o").arg(&out);
        if let Some(dir) = app.parent() {
            build.current_dir(dir);
        }
        run(&format!("building {}", app.display()), &mut build);
    }
    out
}
