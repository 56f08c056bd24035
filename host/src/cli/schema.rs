//! `switchyard schema`: prints the JSON Schema of routes.toml (`config::schema`), for editors
//! and `taplo check`. The repository keeps a copy in `schema/routes.schema.json`.

use crate::config::schema::{Draft, routes_schema};
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// The JSON Schema dialect: 7 (what taplo and the editors using it validate) or 2020-12.
    #[arg(long, value_enum, default_value_t)]
    draft: Draft,
    /// Write it to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: SchemaArgs) -> anyhow::Result<bool> {
    let text = schema_text(args.draft);
    match args.out {
        Some(path) => std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(true)
}

/// The schema as the committed file holds it: pretty, with a final newline.
pub fn schema_text(draft: Draft) -> String {
    format!("{:#}\n", routes_schema(draft))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_schema_is_the_one_the_config_types_make() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/routes.schema.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == schema_text(Draft::Draft7),
            "schema/routes.schema.json is stale: run `cargo run -- schema --out schema/routes.schema.json`"
        );
    }
}
