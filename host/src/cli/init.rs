//! `switchyard init [DIR]`: a starter project an operator can serve at once, with no
//! repository and no Rust toolchain: the repository's own commented `routes.toml` (its plugin
//! paths pointed at `plugins/`), its route tests (`routes.test.toml`, which `switchyard test`
//! runs), the config's JSON Schema for editors (`routes.schema.json`, which the routes.toml's
//! `#:schema` line names) and the example plugins, all carried inside the binary.
//!
//! Never overwrites a file: what exists is skipped, and said so.

use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The routes.toml `cargo run -- serve` serves in the repository, and its tests.
const REPOSITORY_ROUTES: &str = include_str!("../../../routes.toml");
const REPOSITORY_TESTS: &str = include_str!("../../../routes.test.toml");

/// Where the repository's routes.toml finds its schema, and where `init` puts it.
const REPOSITORY_SCHEMA: &str = "#:schema ./schema/routes.schema.json";
const SCHEMA_FILE: &str = "routes.schema.json";

/// Where the repository's routes.toml finds the example plugins (the plugins' own build).
const REPOSITORY_PLUGINS: &str = "target/plugins/wasm32-wasip2/release/";

/// Where `init` puts them, relative to the routes.toml it writes.
const PLUGINS_DIR: &str = "plugins";

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The directory to write into (made when missing).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

/// The starter routes.toml: the repository's, serving the plugins `init` writes.
pub fn starter_routes() -> String {
    REPOSITORY_ROUTES
        .replace(REPOSITORY_PLUGINS, &format!("{PLUGINS_DIR}/"))
        .replace(REPOSITORY_SCHEMA, &format!("#:schema ./{SCHEMA_FILE}"))
}

/// Every file `init` writes, relative to its directory.
fn files() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = vec![
        (PathBuf::from("routes.toml"), starter_routes().into_bytes()),
        (PathBuf::from("routes.test.toml"), REPOSITORY_TESTS.as_bytes().to_vec()),
        (PathBuf::from(SCHEMA_FILE), super::schema::schema_text(crate::config::schema::Draft::Draft7).into_bytes()),
    ];
    for (name, bytes) in switchyard_plugin_artifacts::EXAMPLES {
        files.push((Path::new(PLUGINS_DIR).join(name), bytes.to_vec()));
    }
    files
}

pub fn run(args: InitArgs) -> anyhow::Result<bool> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir.join(PLUGINS_DIR)).with_context(|| format!("cannot create {}", dir.display()))?;
    let (mut wrote, mut skipped) = (0, 0);
    for (relative, bytes) in files() {
        let path = dir.join(&relative);
        if write_new(&path, &bytes)? {
            println!("wrote    {}", relative.display());
            wrote += 1;
        } else {
            println!("skipped  {} (it exists; nothing was changed)", relative.display());
            skipped += 1;
        }
    }
    println!("\n{wrote} written, {skipped} skipped, in {}.", dir.display());
    if wrote > 0 {
        let cd = if dir == Path::new(".") { String::new() } else { format!("cd {} && ", dir.display()) };
        println!("Next: {cd}switchyard serve   (ingest on 127.0.0.1:8080, admin on 127.0.0.1:9090)");
        println!("Then: switchyard send --source bigcommerce   (a signed sample webhook)");
        println!("      switchyard test                          (the route tests in routes.test.toml)");
    }
    Ok(true)
}

/// Writes `bytes` to `path` unless a file is there; `Ok(false)` when one is.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<bool> {
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(bytes).and_then(|()| file.sync_all()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_loads_and_every_plugin_it_names_is_written() {
        let text = starter_routes();
        let config = crate::config::load_str(Path::new("routes.toml"), &text, &|_| None).expect("starter loads");
        assert!(!text.contains("target/"), "no path into a build tree is left");
        assert!(text.starts_with(&format!("#:schema ./{SCHEMA_FILE}\n")), "editors find the schema written beside it");
        let written: Vec<PathBuf> = files().into_iter().map(|(path, _)| path).collect();
        for plugin in config.plugins.values() {
            let relative = plugin.path.strip_prefix(".").unwrap_or(&plugin.path);
            assert!(written.iter().any(|w| w == relative), "{} is written by init", plugin.path.display());
        }
    }

    #[test]
    fn a_second_init_overwrites_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let args = || InitArgs { dir: dir.path().join("edge") };
        run(args()).unwrap();
        let routes = dir.path().join("edge/routes.toml");
        std::fs::write(&routes, "# mine\n").unwrap();
        run(args()).unwrap();
        assert_eq!(std::fs::read_to_string(&routes).unwrap(), "# mine\n");
    }
}
