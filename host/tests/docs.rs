//! Every TOML snippet in README.md and docs/ is checked: a fenced ```toml block is a whole
//! routes.toml and must load (the config loader, `${VAR}`s answered with a placeholder);
//! a ```toml,fragment block is an excerpt and must at least be TOML. And the configuration
//! reference names every key the schema has.

#![allow(clippy::unwrap_used)] // a test that unwraps says what it expects (rust-clippy#13981)

use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// README.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![repository().join("README.md")];
    let mut pending = vec![repository().join("docs")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    pages.sort();
    pages
}

/// The fenced blocks of `text` whose info string starts with `toml`: (line, info, content).
fn toml_blocks(text: &str) -> Vec<(usize, String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, String)> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None if trimmed.starts_with("```") => {
                let info = trimmed.trim_start_matches('`').trim().to_owned();
                open = Some((number + 1, info, String::new()));
            }
            None => {}
            Some(_) if trimmed.starts_with("```") => {
                if let Some(block) = open.take().filter(|(_, info, _)| info.starts_with("toml")) {
                    blocks.push(block);
                }
            }
            Some((_, _, content)) => {
                content.push_str(line);
                content.push('\n');
            }
        }
    }
    blocks
}

#[test]
fn every_whole_toml_snippet_loads_and_every_fragment_is_toml() {
    let placeholder = |_: &str| Some("test-value".to_owned());
    let mut checked = 0;
    let mut failures = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let shown = page.strip_prefix(repository()).unwrap().display().to_string();
        for (line, info, content) in toml_blocks(&text) {
            checked += 1;
            let at = format!("{shown}:{line} ({info})");
            match info.as_str() {
                "toml" => {
                    if let Err(e) = switchyard::config::load_str(Path::new("routes.toml"), &content, &placeholder) {
                        failures.push(format!("{at}: does not load:\n{e}"));
                    }
                }
                "toml,fragment" => {
                    if let Err(e) = content.parse::<toml::Table>() {
                        failures.push(format!("{at}: is not TOML: {e}"));
                    }
                }
                other => failures.push(format!("{at}: mark it ```toml or ```toml,fragment, not ```{other}")),
            }
        }
    }
    assert!(checked > 10, "the pages hold TOML snippets ({checked} found)");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_configuration_reference_names_every_key_of_the_schema() {
    let reference = std::fs::read_to_string(repository().join("docs/configuration.md")).unwrap();
    let schema = switchyard::config::schema::routes_schema(switchyard::config::schema::Draft::Draft7);
    // The top-level tables are named as TOML writes them: `[server]`, `[sources.NAME]`, `[[routes]]`.
    let tables = schema["properties"].as_object().unwrap().keys();
    let mut missing: Vec<String> = tables
        .filter(|t| !["`[{t}]`", "`[{t}.NAME]`", "`[[{t}]]`"].iter().any(|f| reference.contains(&f.replace("{t}", t))))
        .cloned()
        .collect();
    for definition in schema["definitions"].as_object().unwrap().values() {
        for key in definition["properties"].as_object().into_iter().flat_map(|p| p.keys()) {
            if !reference.contains(&format!("`{key}`")) {
                missing.push(key.clone());
            }
        }
    }
    assert!(missing.is_empty(), "docs/configuration.md does not name: {missing:?}");
}
