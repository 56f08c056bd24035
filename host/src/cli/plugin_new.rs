//! `switchyard plugin new NAME --lang rust|js|ts|python [--template basic|enrich] [--dir D]`:
//! a plugin project that builds with its language's own tools and passes its own test, on any
//! machine with that toolchain and this binary, and refers to nothing else.
//!
//! The project gets the SDK this binary carries (`plugin_sdk.rs`: vendored crate, npm tarball
//! or wheel, in `vendor/`), a copy of the contract's WIT (`wit/`), a handler, and golden files
//! that `switchyard plugin run --expect` checks: the test. `--template enrich` is a handler that
//! fetches the order a thin BigCommerce webhook names, with recorded API answers in `fixtures/`
//! (`plugin run --http`), so its test needs no network.

use super::plugin_sdk::{self, Lang};
use anyhow::{Context, bail};
use serde_json::json;
use std::path::{Path, PathBuf};

/// What the handler does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Template {
    /// Forwards a summary of order events, drops the rest.
    #[default]
    Basic,
    /// Fetches the full order from the BigCommerce API (with offline fixtures for its test).
    Enrich,
}

/// `plugin new`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// The plugin's name: letters, digits and `-`, starting with a letter.
    pub name: String,
    #[arg(long, value_enum)]
    pub lang: Lang,
    #[arg(long, value_enum, default_value_t)]
    pub template: Template,
    /// Where to make the project (default: ./NAME). It must not exist or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The sample every test runs: dated and identified so golden files stay valid.
const SAMPLE: &str = "bigcommerce:store/order/created";

pub fn run(args: NewArgs) -> anyhow::Result<bool> {
    let name = args.name.as_str();
    crate::config::check_name(name).map_err(|e| anyhow::anyhow!(e))?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not empty", dir.display());
    }
    let project = Project { name, lang: args.lang, template: args.template };
    for (file, text) in project.files() {
        write(&dir.join(file), text.as_bytes())?;
    }
    for (file, text) in plugin_sdk::WIT {
        write(&dir.join("wit").join(file), text.as_bytes())?;
    }
    plugin_sdk::write(args.lang, &dir.join("vendor"))?;
    println!("made {} ({:?} plugin `{name}`, {:?} template)\n", dir.display(), args.lang, args.template);
    println!(
        "  cd {}\n  {}            # build\n  {}             # test",
        dir.display(),
        build_command(args.lang),
        test_command(args.lang)
    );
    Ok(true)
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot make {}", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// One project to make.
struct Project<'a> {
    name: &'a str,
    lang: Lang,
    template: Template,
}

impl Project<'_> {
    /// Every file but the WIT and the SDK, `{{…}}` filled in.
    fn files(&self) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = match self.lang {
            Lang::Rust => vec![
                ("Cargo.toml".into(), include_str!("templates/rust/Cargo.toml").into()),
                (".cargo/config.toml".into(), include_str!("templates/rust/.cargo/config.toml").into()),
                ("Makefile".into(), include_str!("templates/rust/Makefile").into()),
                ("src/lib.rs".into(), self.handler().into()),
                (".gitignore".into(), "/target\n".into()),
            ],
            Lang::Js => vec![
                ("package.json".into(), include_str!("templates/js/package.json").into()),
                ("src/plugin.js".into(), self.handler().into()),
                (".gitignore".into(), "node_modules/\nplugin.wasm\n".into()),
            ],
            Lang::Ts => vec![
                ("package.json".into(), include_str!("templates/ts/package.json").into()),
                ("tsconfig.json".into(), include_str!("templates/ts/tsconfig.json").into()),
                ("src/plugin.ts".into(), self.handler().into()),
                (".gitignore".into(), "node_modules/\nplugin.wasm\n".into()),
            ],
            Lang::Python => vec![
                ("Makefile".into(), include_str!("templates/python/Makefile").into()),
                ("app.py".into(), self.handler().into()),
                (".gitignore".into(), ".venv/\nplugin.wasm\n__pycache__/\n".into()),
            ],
        };
        files.extend(self.goldens());
        files.push(("README.md".into(), self.readme()));
        files.into_iter().map(|(path, text)| (path, self.fill(&text))).collect()
    }

    fn handler(&self) -> &'static str {
        match (self.template, self.lang) {
            (Template::Basic, Lang::Rust) => include_str!("templates/rust/src/lib.rs"),
            (Template::Basic, Lang::Js) => include_str!("templates/js/src/plugin.js"),
            (Template::Basic, Lang::Ts) => include_str!("templates/ts/src/plugin.ts"),
            (Template::Basic, Lang::Python) => include_str!("templates/python/app.py"),
            (Template::Enrich, Lang::Rust) => include_str!("templates/enrich/lib.rs"),
            (Template::Enrich, Lang::Js) => include_str!("templates/enrich/plugin.js"),
            (Template::Enrich, Lang::Ts) => include_str!("templates/enrich/plugin.ts"),
            (Template::Enrich, Lang::Python) => include_str!("templates/enrich/app.py"),
        }
    }

    /// The golden files, and for `enrich` the API answers they were made with.
    fn goldens(&self) -> Vec<(String, String)> {
        match self.template {
            Template::Basic => vec![("expected.json".into(), basic_golden())],
            Template::Enrich => {
                let mut files: Vec<(String, String)> = ENRICH_CASES
                    .iter()
                    .map(|case| (case.golden.to_owned(), format!("{:#}\n", (case.report)())))
                    .collect();
                files.extend(ENRICH_FIXTURES.iter().map(|(path, text)| ((*path).to_owned(), (*text).to_owned())));
                files
            }
        }
    }

    /// The `plugin run` lines the project's test runs.
    fn test_runs(&self) -> Vec<String> {
        // The Rust Makefile names the component where cargo puts it (CARGO_TARGET_DIR too).
        let wasm = if self.lang == Lang::Rust { "$(WASM)" } else { wasm_path(self.lang) };
        match self.template {
            Template::Basic => vec![format!("plugin run {wasm} --sample {SAMPLE} --expect expected.json")],
            Template::Enrich => ENRICH_CASES
                .iter()
                .map(|case| {
                    format!(
                        "plugin run {wasm} --sample {SAMPLE} --config access_token=test-token \
                         --allow-host https://api.bigcommerce.com --http {} --expect {}",
                        case.fixture, case.golden
                    )
                })
                .collect(),
        }
    }

    fn fill(&self, text: &str) -> String {
        let crate_name = self.name.replace('-', "_");
        let type_name: String = self
            .name
            .split(['-', '_'])
            .map(|w| w.chars().take(1).flat_map(char::to_uppercase).chain(w.chars().skip(1)).collect::<String>())
            .collect();
        let runs = self.test_runs();
        let test_commands = match self.lang {
            Lang::Js | Lang::Ts => {
                runs.iter().map(|r| format!("${{SWITCHYARD:-switchyard}} {r}")).collect::<Vec<_>>().join(" && ")
            }
            Lang::Rust | Lang::Python => {
                runs.iter().map(|r| format!("\t$(SWITCHYARD) {r}")).collect::<Vec<_>>().join("\n")
            }
        };
        [
            ("{{test_commands}}", test_commands),
            ("{{wasm}}", wasm_path(self.lang).to_owned()),
            ("{{name}}", self.name.to_owned()),
            ("{{crate}}", crate_name),
            ("{{type}}", type_name),
            ("{{version}}", plugin_sdk::VERSION.to_owned()),
            ("{{tarball}}", plugin_sdk::npm_tarball_name()),
            ("{{wheel}}", plugin_sdk::wheel_name()),
            ("{{npm_overrides}}", plugin_sdk::npm_overrides()),
        ]
        .iter()
        .fold(text.to_owned(), |t, (k, v)| t.replace(k, v))
    }

    fn readme(&self) -> String {
        let (build, test, wasm) = (build_command(self.lang), test_command(self.lang), wasm_path(self.lang));
        let sdk = match self.lang {
            Lang::Rust => "`vendor/switchyard-plugin-sdk/`, a path dependency",
            Lang::Js | Lang::Ts => {
                "`vendor/{{tarball}}`, an npm package installed by `npm install` with the tools it pins"
            }
            Lang::Python => "`vendor/{{wheel}}`, installed into `.venv` with the componentize-py it pins",
        };
        let fixtures = match self.template {
            Template::Basic => String::new(),
            Template::Enrich => {
                "\nThe test runs the plugin three times against recorded API answers (`fixtures/*.toml`, \
                                 given to `plugin run --http`): the order found, the order gone (404: a drop), and the \
                                 API down (503: retry later). No request leaves the machine; one the fixture has no \
                                 answer for fails the test.\n"
                    .to_owned()
            }
        };
        format!(
            "# {{{{name}}}}\n\nA Switchyard plugin.\n\n```sh\n{build}    # → {wasm}\n{test}     # the test: `switchyard plugin run … --expect`\n```\n\n\
             `switchyard` must be on `PATH` (or name it: `SWITCHYARD=/path/to/switchyard`).\n{fixtures}\n\
             The SDK is {sdk}; it targets the plugin contract `switchyard:plugin@{{{{version}}}}` (`wit/` is a copy, for \
             reference). A newer `switchyard` writes a newer SDK with `switchyard plugin sdk --lang {lang} --out vendor`; \
             within a major version the SDK never breaks a plugin's source, and a component built against any \
             contract the gateway lists in `switchyard --version` keeps loading.\n\n\
             Then serve it from routes.toml:\n\n```toml\n[plugins.{{{{name}}}}]\npath = \"…/{wasm}\"\n\n[[routes]]\nmatch = \"store/order/*\"\nplugin = \"{{{{name}}}}\"\nto = [\"erp\"]\n```\n",
            lang = lang_name(self.lang)
        )
    }
}

fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "rust",
        Lang::Js => "js",
        Lang::Ts => "ts",
        Lang::Python => "python",
    }
}

fn build_command(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "cargo build --release --target wasm32-wasip2",
        Lang::Js | Lang::Ts => "npm install && npm run build",
        Lang::Python => "make build",
    }
}

fn test_command(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust | Lang::Python => "make test",
        Lang::Js | Lang::Ts => "npm test",
    }
}

fn wasm_path(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "target/wasm32-wasip2/release/{{crate}}.wasm",
        _ => "plugin.wasm",
    }
}

/// What the basic handler does with the sample order.
fn basic_golden() -> String {
    let forward = json!({ "forward": {
        "destination": null,
        "headers": [["content-type", "application/json"]],
        "body": { "scope": "store/order/created", "order_id": 250 },
    }});
    format!("{:#}\n", json!({ "actions": [forward] }))
}

/// The recorded API answers of the enrich template.
const ENRICH_FIXTURES: &[(&str, &str)] = &[
    ("fixtures/order.toml", include_str!("templates/enrich/fixtures/order.toml")),
    ("fixtures/order-250-products.json", include_str!("templates/enrich/fixtures/order-250-products.json")),
    ("fixtures/order-gone.toml", include_str!("templates/enrich/fixtures/order-gone.toml")),
    ("fixtures/api-down.toml", include_str!("templates/enrich/fixtures/api-down.toml")),
];

/// One run of the enrich template's test: the answers given, and the report expected.
struct EnrichCase {
    fixture: &'static str,
    golden: &'static str,
    report: fn() -> serde_json::Value,
}

const ORDER_URL: &str = "https://api.bigcommerce.com/stores/sample/v2/orders/250";

const ENRICH_CASES: &[EnrichCase] = &[
    EnrichCase {
        fixture: "fixtures/order.toml",
        golden: "expected.json",
        report: || {
            let body = json!({
                "order_id": 250, "status": "Awaiting Fulfillment", "total": "112.5000",
                "items": [{ "sku": "MUG-BLK", "quantity": 2 }, { "sku": "TEE-M", "quantity": 1 }],
            });
            let forward = json!({ "forward": {
                "destination": null, "headers": [["content-type", "application/json"]], "body": body } });
            json!({ "actions": [forward], "requests": [
                { "method": "GET", "url": ORDER_URL, "status": 200 },
                { "method": "GET", "url": format!("{ORDER_URL}/products?limit=250&page=1"), "status": 200 },
            ]})
        },
    },
    EnrichCase {
        fixture: "fixtures/order-gone.toml",
        golden: "expected-gone.json",
        report: || {
            json!({ "actions": [{ "drop": "order 250 no longer exists" }],
                    "requests": [{ "method": "GET", "url": ORDER_URL, "status": 404 }] })
        },
    },
    EnrichCase {
        fixture: "fixtures/api-down.toml",
        golden: "expected-down.json",
        report: || json!({ "error": "retry_later", "requests": [{ "method": "GET", "url": ORDER_URL, "status": 503 }] }),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_project_names_only_its_own_files_and_the_sdk_it_carries() {
        for lang in [Lang::Rust, Lang::Js, Lang::Ts, Lang::Python] {
            for template in [Template::Basic, Template::Enrich] {
                let project = Project { name: "order-summary", lang, template };
                for (path, text) in project.files() {
                    assert!(!text.contains("{{"), "{lang:?} {template:?} {path}: a placeholder is left:\n{text}");
                    assert!(!text.contains(env!("CARGO_MANIFEST_DIR")), "{path} names the build machine");
                }
            }
        }
    }

    #[test]
    fn the_enrich_fixtures_parse_and_answer_what_the_goldens_expect() {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in ENRICH_FIXTURES {
            write(&dir.path().join(path), text.as_bytes()).unwrap();
        }
        for case in ENRICH_CASES {
            let fixture = crate::plugin::HttpFixture::load(&dir.path().join(case.fixture)).unwrap();
            let report = (case.report)();
            for request in report["requests"].as_array().unwrap() {
                let mut headers = http::HeaderMap::new();
                headers.insert("x-auth-token", http::HeaderValue::from_static("test-token"));
                let url = request["url"].as_str().unwrap();
                let answer =
                    fixture.answer("GET", url, &headers).unwrap_or_else(|| panic!("{url} in {}", case.fixture));
                assert_eq!(json!(answer.status), request["status"], "{url}");
            }
        }
    }
}
