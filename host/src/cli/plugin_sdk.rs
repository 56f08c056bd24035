//! The plugin SDKs this binary carries, packaged as each language's own tools install them:
//! the Rust crate as a directory (vendored, a path dependency), the JavaScript/TypeScript SDK
//! as an npm package tarball (a `file:` dependency), the Python SDK as a wheel (installed into
//! the project's venv). `plugin new` writes one into every project it makes; `switchyard plugin
//! sdk --lang L --out DIR` writes one on its own.
//!
//! Each is built here from the SDK's sources, embedded at compile time from `plugins/`, and
//! carries the contract it targets (`wit/`), so nothing refers back to the machine this binary
//! was built on. The archives are reproducible: fixed times, sorted entries. The tools the
//! SDKs need (componentize-js, componentize-py…) come from npm and PyPI at the versions the
//! SDKs pin; this file never downloads anything.

use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The languages an SDK exists for (and a project can be made for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Ts,
    Python,
}

/// The SDKs' version: the contract they target.
pub const VERSION: &str = "0.3.0";

/// The contract, as plugins build against it (paths below a `wit/` directory).
pub const WIT: &[(&str, &str)] = &[
    ("handler.wit", include_str!("../../../plugins/sdk/wit/handler.wit")),
    ("deps/cli.wit", include_str!("../../../plugins/sdk/wit/deps/cli.wit")),
    ("deps/clocks.wit", include_str!("../../../plugins/sdk/wit/deps/clocks.wit")),
    ("deps/filesystem.wit", include_str!("../../../plugins/sdk/wit/deps/filesystem.wit")),
    ("deps/http.wit", include_str!("../../../plugins/sdk/wit/deps/http.wit")),
    ("deps/io.wit", include_str!("../../../plugins/sdk/wit/deps/io.wit")),
    ("deps/random.wit", include_str!("../../../plugins/sdk/wit/deps/random.wit")),
    ("deps/sockets.wit", include_str!("../../../plugins/sdk/wit/deps/sockets.wit")),
];

/// The Rust SDK crate's files, below its directory.
const RUST: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../plugins/sdk/Cargo.toml")),
    ("src/lib.rs", include_str!("../../../plugins/sdk/src/lib.rs")),
    ("src/http.rs", include_str!("../../../plugins/sdk/src/http.rs")),
    ("src/kv.rs", include_str!("../../../plugins/sdk/src/kv.rs")),
    ("src/types.rs", include_str!("../../../plugins/sdk/src/types.rs")),
];

/// The npm package's files, below `package/`; its lockfile becomes the package's shrinkwrap,
/// so its tools install at exactly the versions the SDK was tested with.
const JS: &[(&str, &str)] = &[
    ("package.json", include_str!("../../../plugins/sdk-js/package.json")),
    ("index.js", include_str!("../../../plugins/sdk-js/index.js")),
    ("index.d.ts", include_str!("../../../plugins/sdk-js/index.d.ts")),
    ("bin/switchyard-plugin.mjs", include_str!("../../../plugins/sdk-js/bin/switchyard-plugin.mjs")),
    ("npm-shrinkwrap.json", include_str!("../../../plugins/sdk-js/package-lock.json")),
];

/// The Python distribution's modules.
const PYTHON: &[(&str, &str)] = &[
    ("switchyard_plugin/__init__.py", include_str!("../../../plugins/sdk-python/switchyard_plugin/__init__.py")),
    ("switchyard_plugin_build.py", include_str!("../../../plugins/sdk-python/switchyard_plugin_build.py")),
];

/// The pinned componentize-py, as the SDK's requirements.txt names it.
const PYTHON_REQUIREMENTS: &str = include_str!("../../../plugins/sdk-python/requirements.txt");

/// `plugin sdk`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct SdkArgs {
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The directory to write the SDK into (made when missing).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

pub fn run(args: SdkArgs) -> anyhow::Result<bool> {
    let written = write(args.lang, &args.out)?;
    println!("wrote {}", written.display());
    println!("{}", use_hint(args.lang, &written));
    Ok(true)
}

/// Writes `lang`'s SDK into `dir`; returns what was written (a directory, a tarball or a wheel).
pub fn write(lang: Lang, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    match lang {
        Lang::Rust => {
            let crate_dir = dir.join(RUST_DIR);
            for (path, text) in rust_files() {
                write_file(&crate_dir.join(path), text.as_bytes())?;
            }
            Ok(crate_dir)
        }
        Lang::Js | Lang::Ts => {
            let file = dir.join(npm_tarball_name());
            write_file(&file, &npm_tarball()?)?;
            Ok(file)
        }
        Lang::Python => {
            let file = dir.join(wheel_name());
            write_file(&file, &wheel()?)?;
            Ok(file)
        }
    }
}

/// Where the Rust SDK goes below the directory it is written to.
pub const RUST_DIR: &str = "switchyard-plugin-sdk";

/// How a project takes the written SDK in.
fn use_hint(lang: Lang, written: &Path) -> String {
    let shown = written.display();
    match lang {
        Lang::Rust => format!("in Cargo.toml: switchyard-plugin-sdk = {{ path = \"{shown}\" }}"),
        Lang::Js | Lang::Ts => format!("npm install {shown}"),
        Lang::Python => format!("pip install {shown}   (in the project's venv)"),
    }
}

fn rust_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = RUST.iter().map(|(p, t)| ((*p).to_owned(), (*t).to_owned())).collect();
    files.extend(WIT.iter().map(|(p, t)| (format!("wit/{p}"), (*t).to_owned())));
    files
}

/// `switchyard-plugin-sdk-0.3.0.tgz`, as `npm pack` names it.
pub fn npm_tarball_name() -> String {
    format!("switchyard-plugin-sdk-{VERSION}.tgz")
}

/// The npm package, as `npm pack` makes one: a gzipped tar of `package/…`.
pub fn npm_tarball() -> anyhow::Result<Vec<u8>> {
    let mut files: Vec<(String, &str)> = JS.iter().map(|(p, t)| (format!("package/{p}"), *t)).collect();
    files.extend(WIT.iter().map(|(p, t)| (format!("package/wit/{p}"), *t)));
    files.sort();
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gzip);
    for (path, text) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(text.len() as u64);
        header.set_mode(if path.ends_with(".mjs") { 0o755 } else { 0o644 });
        // npm pack's fixed time (1985-10-26T08:15:00Z): the same SDK is the same bytes.
        header.set_mtime(499_162_500);
        header.set_cksum();
        tar.append_data(&mut header, &path, text.as_bytes()).context("cannot build the npm package")?;
    }
    let gzip = tar.into_inner().context("cannot build the npm package")?;
    gzip.finish().context("cannot compress the npm package")
}

/// The SDK's npm `overrides`, which only a project's own package.json can apply: the versions
/// its tools must share (a nested copy of another version breaks jco's file access).
pub fn npm_overrides() -> String {
    let package: serde_json::Value = serde_json::from_str(JS[0].1).unwrap_or_default();
    package.get("overrides").map_or_else(|| "{}".to_owned(), serde_json::Value::to_string)
}

/// `switchyard_plugin-0.3.0-py3-none-any.whl`.
pub fn wheel_name() -> String {
    format!("switchyard_plugin-{VERSION}-py3-none-any.whl")
}

/// The Python SDK as a wheel (PEP 427): its modules, the contract inside the package, and the
/// metadata that makes pip install the pinned componentize-py beside it.
pub fn wheel() -> anyhow::Result<Vec<u8>> {
    let dist_info = format!("switchyard_plugin-{VERSION}.dist-info");
    let mut files: Vec<(String, Vec<u8>)> =
        PYTHON.iter().map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec())).collect();
    files.extend(WIT.iter().map(|(p, t)| (format!("switchyard_plugin/wit/{p}"), t.as_bytes().to_vec())));
    let requires: Vec<String> = PYTHON_REQUIREMENTS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| format!("Requires-Dist: {l}\n"))
        .collect();
    let metadata = format!(
        "Metadata-Version: 2.1\nName: switchyard-plugin\nVersion: {VERSION}\n\
         Summary: Write Switchyard plugins in Python (switchyard:plugin@{VERSION})\n\
         License: Apache-2.0\nRequires-Python: >=3.10\n{}",
        requires.concat()
    );
    files.push((format!("{dist_info}/METADATA"), metadata.into_bytes()));
    let wheel_file = "Wheel-Version: 1.0\nGenerator: switchyard\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    files.push((format!("{dist_info}/WHEEL"), wheel_file.as_bytes().to_vec()));
    files.push((format!("{dist_info}/top_level.txt"), b"switchyard_plugin\nswitchyard_plugin_build\n".to_vec()));
    let mut record = String::new();
    for (path, bytes) in &files {
        record.push_str(&format!("{path},sha256={},{}\n", record_digest(bytes), bytes.len()));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    files.push((format!("{dist_info}/RECORD"), record.into_bytes()));

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (path, bytes) in files {
        zip.start_file(path, options).context("cannot build the wheel")?;
        zip.write_all(&bytes).context("cannot build the wheel")?;
    }
    Ok(zip.finish().context("cannot build the wheel")?.into_inner())
}

/// A RECORD line's hash: SHA-256, URL-safe base64 without padding.
fn record_digest(bytes: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(bytes))
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_names_the_newest_contract_as_its_version() {
        assert_eq!(Some(&VERSION), crate::build_info::CONTRACTS.last());
        assert!(WIT[0].1.contains(&format!("package switchyard:plugin@{VERSION};")));
        assert!(RUST[0].1.contains(&format!("version = \"{VERSION}\"")), "plugins/sdk/Cargo.toml");
        let package: serde_json::Value = serde_json::from_str(JS[0].1).unwrap();
        assert_eq!(package["version"], VERSION, "plugins/sdk-js/package.json");
    }

    #[test]
    fn the_npm_package_and_the_wheel_are_the_same_bytes_every_time() {
        assert_eq!(npm_tarball().unwrap(), npm_tarball().unwrap());
        assert_eq!(wheel().unwrap(), wheel().unwrap());
    }

    #[test]
    fn the_wheel_records_every_file_it_holds() {
        let bytes = wheel().unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let names: Vec<String> = zip.file_names().filter_map(Result::ok).map(|n| n.into_owned()).collect();
        let mut record = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name(&format!("switchyard_plugin-{VERSION}.dist-info/RECORD")).unwrap(),
            &mut record,
        )
        .unwrap();
        for name in &names {
            assert!(record.lines().any(|l| l.starts_with(&format!("{name},"))), "{name} in RECORD");
        }
        assert!(names.contains(&"switchyard_plugin/wit/handler.wit".to_owned()));
        let mut metadata = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name(&format!("switchyard_plugin-{VERSION}.dist-info/METADATA")).unwrap(),
            &mut metadata,
        )
        .unwrap();
        assert!(metadata.contains("Requires-Dist: componentize-py=="), "{metadata}");
    }
}
