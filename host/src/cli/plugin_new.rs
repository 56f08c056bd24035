//! `switchyard plugin new NAME --lang rust|js|ts|python [--dir D]`: a plugin project that builds
//! with one command and has one passing test, anywhere on disk.
//!
//! The project gets a copy of the contract's WIT (`wit/`, embedded in this binary), a handler
//! that forwards a summary of order events, and a golden file (`expected.json`) that
//! `switchyard plugin run --expect` checks — the test. The SDK comes from the Switchyard
//! source tree this binary was built from (a path dependency; the project's README says how to
//! point it elsewhere), or from `--sdk DIR` (the repository's `plugins/`).

use anyhow::{Context, bail};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Languages a project can be made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Ts,
    Python,
}

/// `plugin new`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// The plugin's name: letters, digits and `-`, starting with a letter.
    pub name: String,
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Where to make the project (default: ./NAME). It must not exist or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The Switchyard repository's `plugins/` directory, for the SDKs (default: the one this
    /// binary was built from).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// The contract, as plugins build against it.
const WIT: &[(&str, &str)] = &[
    ("handler.wit", include_str!("../../../wit/handler.wit")),
    ("deps/cli.wit", include_str!("../../../wit/deps/cli.wit")),
    ("deps/clocks.wit", include_str!("../../../wit/deps/clocks.wit")),
    ("deps/filesystem.wit", include_str!("../../../wit/deps/filesystem.wit")),
    ("deps/http.wit", include_str!("../../../wit/deps/http.wit")),
    ("deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    ("deps/random.wit", include_str!("../../../wit/deps/random.wit")),
    ("deps/sockets.wit", include_str!("../../../wit/deps/sockets.wit")),
];

pub fn run(args: NewArgs) -> anyhow::Result<bool> {
    let name = args.name.as_str();
    crate::config::check_name(name).map_err(|e| anyhow::anyhow!(e))?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not empty", dir.display());
    }
    let plugins = args.sdk.clone().unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins"));
    let plugins = plugins.canonicalize().with_context(|| format!("the SDKs are not at {}", plugins.display()))?;
    let vars = Vars::new(name, &plugins);
    for (file, text) in template(args.lang) {
        write(&dir.join(file), &vars.fill(&text))?;
    }
    for (file, text) in WIT {
        write(&dir.join("wit").join(file), text)?;
    }
    write(&dir.join("expected.json"), &expected())?;
    write(&dir.join("README.md"), &vars.fill(&readme(args.lang)))?;
    println!("made {} ({:?} plugin `{name}`)\n\n{}", dir.display(), args.lang, vars.fill(&next_steps(args.lang, &dir)));
    Ok(true)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot make {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// What `{{…}}` in the templates stands for.
struct Vars {
    pairs: Vec<(&'static str, String)>,
}

impl Vars {
    fn new(name: &str, plugins: &Path) -> Self {
        let crate_name = name.replace('-', "_");
        let type_name: String = name
            .split(['-', '_'])
            .map(|w| w.chars().take(1).flat_map(char::to_uppercase).chain(w.chars().skip(1)).collect::<String>())
            .collect();
        let venv = plugins.join("../target/plugin-tools/venv/bin/python");
        Self {
            pairs: vec![
                ("{{name}}", name.to_string()),
                ("{{crate}}", crate_name),
                ("{{type}}", type_name),
                ("{{sdk}}", plugins.join("sdk").display().to_string()),
                ("{{sdk_js}}", plugins.join("sdk-js").display().to_string()),
                ("{{sdk_python}}", plugins.join("sdk-python").display().to_string()),
                ("{{venv_python}}", venv.display().to_string()),
            ],
        }
    }

    fn fill(&self, text: &str) -> String {
        self.pairs.iter().fold(text.to_string(), |t, (k, v)| t.replace(k, v))
    }
}

fn template(lang: Lang) -> Vec<(&'static str, String)> {
    match lang {
        Lang::Rust => vec![
            ("Cargo.toml", include_str!("templates/rust/Cargo.toml").into()),
            (".cargo/config.toml", include_str!("templates/rust/.cargo/config.toml").into()),
            ("src/lib.rs", include_str!("templates/rust/src/lib.rs").into()),
        ],
        Lang::Js => vec![
            ("package.json", include_str!("templates/js/package.json").replace("{{ext}}", "js")),
            ("src/plugin.js", include_str!("templates/js/src/plugin.js").into()),
        ],
        Lang::Ts => vec![
            ("package.json", include_str!("templates/ts/package.json").replace("{{ext}}", "ts")),
            ("tsconfig.json", include_str!("templates/ts/tsconfig.json").into()),
            ("src/plugin.ts", include_str!("templates/ts/src/plugin.ts").into()),
        ],
        Lang::Python => vec![
            ("app.py", include_str!("templates/python/app.py").into()),
            ("Makefile", include_str!("templates/python/Makefile").into()),
        ],
    }
}

/// What every template's handler does with `plugin run --sample bigcommerce:store/order/created`.
fn expected() -> String {
    let forward = json!({ "forward": {
        "destination": null,
        "headers": [["content-type", "application/json"]],
        "body": { "scope": "store/order/created", "order_id": 250 },
    }});
    format!("{:#}\n", json!({ "actions": [forward] }))
}

fn build_command(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "cargo build --release --target wasm32-wasip2",
        Lang::Js | Lang::Ts => "npm run build",
        Lang::Python => "make build",
    }
}

fn wasm_path(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "target/wasm32-wasip2/release/{{crate}}.wasm",
        _ => "plugin.wasm",
    }
}

fn next_steps(lang: Lang, dir: &Path) -> String {
    let wasm = wasm_path(lang);
    format!(
        "  cd {}\n  {}\n  switchyard plugin run {wasm} --sample bigcommerce:store/order/created --expect expected.json",
        dir.display(),
        build_command(lang)
    )
}

fn readme(lang: Lang) -> String {
    let (build, wasm) = (build_command(lang), wasm_path(lang));
    let sdk_note = match lang {
        Lang::Rust => {
            "The SDK is a path dependency on the Switchyard repository (`{{sdk}}`); point it at a git \
                       checkout instead with `switchyard-plugin-sdk = { git = \"…\", package = \"switchyard-plugin-sdk\" }`. \
                       Needs `rustup target add wasm32-wasip2`."
        }
        Lang::Js | Lang::Ts => "The build uses the SDK in `{{sdk_js}}` (run `npm ci` there once).",
        Lang::Python => {
            "The build uses the SDK in `{{sdk_python}}` and a Python with componentize-py \
                         (`PYTHON=…` to choose one; the default is the repository's venv, made by its tests or \
                         `python3 -m venv … && pip install -r {{sdk_python}}/requirements.txt`)."
        }
    };
    format!(
        "# {{{{name}}}}\n\nA Switchyard plugin.\n\n```sh\n{build}                 # → {wasm}\nswitchyard plugin run {wasm} --sample bigcommerce:store/order/created            # try it\nswitchyard plugin run {wasm} --sample bigcommerce:store/order/created --expect expected.json   # the test\n```\n\n{sdk_note}\n\nThen add it to routes.toml:\n\n```toml\n[plugins.{{{{name}}}}]\npath = \"…/{wasm}\"\n\n[[routes]]\nmatch = \"store/order/*\"\nplugin = \"{{{{name}}}}\"\nto = [\"erp\"]\n```\n\n`wit/` is the plugin contract (`switchyard:plugin@0.3.0`), copied in.\n"
    )
}
