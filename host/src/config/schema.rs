//! The JSON Schema of routes.toml, for editors (taplo / Even Better TOML: completion, hover
//! docs, errors as you type) and CI (`taplo check`). Derived from `raw.rs`, the types the file
//! is read into, so it cannot drift from what the loader accepts: every key, its description
//! (the field's doc comment), and what its string must look like (the patterns and keyword
//! lists of `schema_keywords.rs`, which the loader's own parsers accept).
//!
//! Draft 7 by default: taplo, the tool editors run, validates draft 7 and misreads 2020-12
//! (tuples, `$defs`-only features); `--draft 2020-12` gives the newer dialect for other tools.
//! The schema is looser than the loader where a check needs the whole file (a route naming an
//! undefined destination) or the environment (`${VAR}`): `switchyard check` has the last word.

use super::raw::RawConfig;
use serde_json::{Value, json};

/// The dialects `switchyard schema` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Draft {
    /// JSON Schema draft 7, which taplo and the editors using it validate.
    #[default]
    #[value(name = "7")]
    Draft7,
    /// JSON Schema 2020-12.
    #[value(name = "2020-12")]
    Draft2020,
}

/// The schema of routes.toml in `draft`.
pub fn routes_schema(draft: Draft) -> Value {
    let settings = match draft {
        Draft::Draft7 => schemars::generate::SchemaSettings::draft07(),
        Draft::Draft2020 => schemars::generate::SchemaSettings::draft2020_12(),
    };
    let schema = settings.into_generator().into_root_schema_for::<RawConfig>();
    let mut value = schema.to_value();
    without_null(&mut value);
    if let Some(root) = value.as_object_mut() {
        root.insert("$id".into(), json!("https://switchyard.dev/schema/routes.schema.json"));
    }
    value
}

/// Takes `null` out of every type: TOML has none, so an optional key is one left out, never
/// one set to null (`Option<T>` gives `["T", "null"]`).
fn without_null(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(options)) = map.get_mut("anyOf") {
                options.retain(|o| o.get("type").is_none_or(|t| t != "null"));
                if options.len() == 1 {
                    let only = options.remove(0);
                    map.remove("anyOf");
                    if let Value::Object(only) = only {
                        map.extend(only);
                    }
                }
            }
            for (_, nested) in map.iter_mut() {
                without_null(nested);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(without_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_description_and_unknown_keys_are_refused() {
        fn walk(path: &str, schema: &Value, definitions: &Value) {
            let schema = match schema.get("$ref").and_then(Value::as_str) {
                Some(reference) => &definitions[reference.rsplit('/').next().unwrap_or_default()],
                None => schema,
            };
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                assert_eq!(schema["additionalProperties"], json!(false), "{path} refuses unknown keys");
                for (key, property) in properties {
                    let described = property.get("description").or_else(|| {
                        let reference = property.get("$ref")?.as_str()?;
                        definitions[reference.rsplit('/').next()?].get("description")
                    });
                    assert!(described.is_some_and(|d| !d.as_str().unwrap_or_default().is_empty()), "{path}.{key}");
                    walk(&format!("{path}.{key}"), property, definitions);
                }
            }
            for nested in ["additionalProperties", "items"] {
                if let Some(inner) = schema.get(nested).filter(|v| v.is_object()) {
                    walk(&format!("{path}.*"), inner, definitions);
                }
            }
        }
        let schema = routes_schema(Draft::Draft7);
        walk("routes.toml", &schema, &schema["definitions"]);
    }
}
