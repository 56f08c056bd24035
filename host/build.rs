//! Records what this binary is built from, for `switchyard --version` and `GET /api/version`:
//! the git commit, the rustc that compiles it, and the wasmtime it links (from Cargo.lock).
//!
//! `SWITCHYARD_COMMIT` names the commit when the source is not a git checkout (a release
//! tarball, an image built from a copied tree); without either, the commit is `unknown`.
//! Never fails the build: every piece it cannot learn is `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.parent().map(Path::to_path_buf).unwrap_or_default();

    println!("cargo:rerun-if-env-changed=SWITCHYARD_COMMIT");
    let commit = std::env::var("SWITCHYARD_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| git_commit(&root));
    println!("cargo:rustc-env=SWITCHYARD_COMMIT={}", commit.as_deref().unwrap_or("unknown"));

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc = output(Command::new(rustc).arg("--version")).unwrap_or_else(|| "rustc unknown".into());
    println!("cargo:rustc-env=SWITCHYARD_RUSTC={rustc}");

    let lock = root.join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let wasmtime = std::fs::read_to_string(&lock).ok().and_then(|l| locked_version(&l, "wasmtime"));
    println!("cargo:rustc-env=SWITCHYARD_WASMTIME={}", wasmtime.as_deref().unwrap_or("unknown"));
}

/// The short hash of HEAD, rebuilt when HEAD moves (a commit, a checkout).
fn git_commit(root: &Path) -> Option<String> {
    let git_dir = output(Command::new("git").arg("-C").arg(root).args(["rev-parse", "--absolute-git-dir"]))?;
    let git_dir = PathBuf::from(git_dir);
    println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
    if let Some(branch) = output(Command::new("git").arg("-C").arg(root).args(["symbolic-ref", "-q", "HEAD"])) {
        println!("cargo:rerun-if-changed={}", git_dir.join(branch).display());
    }
    println!("cargo:rerun-if-changed={}", git_dir.join("packed-refs").display());
    output(Command::new("git").arg("-C").arg(root).args(["rev-parse", "--short", "HEAD"]))
}

/// The version of `name` in a Cargo.lock (the first `[[package]]` of that name).
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    lines.find(|line| line.trim() == wanted)?;
    let version = lines.next()?.trim().strip_prefix("version = \"")?.strip_suffix('"')?;
    Some(version.to_owned())
}

/// A command's trimmed standard output when it succeeds.
fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}
