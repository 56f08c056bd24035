//! `switchyard kv list|get|delete PLUGIN [KEY]`: a plugin's key–value state, from the command
//! line, beside a gateway that may be serving the same store (as `dlq` does). Values print as
//! text when they are UTF-8, else as base64.

use super::KvCommand;
use crate::queue::Store;
use std::path::Path;

pub async fn run(command: KvCommand) -> anyhow::Result<bool> {
    match command {
        KvCommand::List { plugin, prefix, limit, json, config } => {
            let entries = open(&config, &plugin)?.kv_list(&plugin, &prefix, limit).await?;
            if json {
                for e in &entries {
                    let value = crate::admin::kv_value_json(&e.value, None);
                    let line = serde_json::json!({ "key": e.key, "value": value, "expires_at_ms": e.expires_at_ms });
                    println!("{line}");
                }
            } else if entries.is_empty() {
                println!("no keys");
            } else {
                for e in &entries {
                    println!("{}\t{}", e.key, shown(&e.value, 80));
                }
            }
            Ok(true)
        }
        KvCommand::Get { plugin, key, config } => match open(&config, &plugin)?.kv_get(&plugin, &key).await? {
            Some(value) => {
                println!("{}", shown(&value, usize::MAX));
                Ok(true)
            }
            None => {
                eprintln!("no key {key:?} for plugin {plugin}");
                Ok(false)
            }
        },
        KvCommand::Delete { plugin, key, config } => {
            let existed = open(&config, &plugin)?.kv_delete(&plugin, &key).await?;
            println!("{}", if existed { "deleted" } else { "there was no such key" });
            Ok(existed)
        }
    }
}

/// Opens the store of `config`, after checking that it configures `plugin`.
fn open(config: &Path, plugin: &str) -> anyhow::Result<Store> {
    let (loaded, store) = super::open_store(config)?;
    if !loaded.plugins.contains_key(plugin) {
        let known: Vec<&str> = loaded.plugins.keys().map(String::as_str).collect();
        anyhow::bail!("no plugin named `{plugin}` in {} (plugins: {})", config.display(), known.join(", "));
    }
    Ok(store)
}

/// A value on one line: its text (control characters escaped, cut at `limit`), or base64.
fn shown(value: &[u8], limit: usize) -> String {
    use base64::Engine as _;
    match std::str::from_utf8(value) {
        Ok(text) => crate::telemetry::one_line(text, limit),
        Err(_) => format!("base64:{}", base64::engine::general_purpose::STANDARD.encode(value)),
    }
}
