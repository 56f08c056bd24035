//! A real headless Chromium, driven over the W3C WebDriver protocol through Debian's
//! `chromedriver`, for the console's tests. `.ci/run` installs `chromium` and
//! `chromium-driver`; without them the tests fail saying so (they are never skipped).
//!
//! The protocol is JSON over HTTP on a loopback port, so this speaks it with the reqwest the
//! tests already use, a dozen commands: a WebDriver crate (thirtyfour) turns on serde_json's
//! `preserve_order` for the whole workspace build, which would change how the gateway itself
//! orders JSON under test. chromedriver runs on a free port and is killed on drop.
//!
//! Waiting is for an observable state with a deadline ([`Browser::wait_for_text`]), never a
//! fixed sleep.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key a W3C element reference is under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The flags every console test runs Chromium with.
const CHROME_ARGS: [&str; 6] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--window-size=1280,1000",
];

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

/// One Chromium session and the chromedriver serving it.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    /// Where screenshots go: `target/console-screenshots/`.
    pub shots: PathBuf,
}

/// An element of the page, by its WebDriver reference.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless session; panics with
    /// what to install when Chromium or chromedriver is missing.
    pub async fn start() -> Self {
        let chromium = which("chromium").unwrap_or_else(|| {
            panic!(
                "the console tests need Debian's `chromium` (apt-get install chromium chromium-driver; .ci/run does)"
            )
        });
        let chromedriver = which("chromedriver").unwrap_or_else(|| {
            panic!("the console tests need `chromedriver` (apt-get install chromium-driver; .ci/run does)")
        });
        let port = super::free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut browser = Self { driver, base, session: String::new(), http, shots: screenshot_dir() };
        browser.wait_ready().await;
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": CHROME_ARGS },
            "unhandledPromptBehavior": "ignore",
            "goog:loggingPrefs": { "browser": "ALL" },
        } } });
        let answer = browser.raw("POST", "/session", Some(capabilities)).await;
        browser.session = match answer["sessionId"].as_str() {
            Some(id) => id.to_owned(),
            None => panic!("chromedriver did not open a session: {answer}"),
        };
        browser
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ready = self.http.get(format!("{}/status", self.base)).send().await;
            if let Ok(r) = ready
                && let Ok(bytes) = r.bytes().await
                && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
                && v["value"]["ready"] == true
            {
                return;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready within 15 s");
            tokio::time::sleep(POLL).await;
        }
    }

    /// One command; returns its `value`, panicking on a WebDriver error.
    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let answer: Value = match request.send().await {
            Ok(r) => r.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null),
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        };
        answer["value"].clone()
    }

    /// A command on this session that may fail (its `error`, when it did).
    async fn try_command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let value = self.raw(method, &format!("/session/{}{path}", self.session), body).await;
        match value.get("error").and_then(Value::as_str) {
            Some(error) => Err(format!("{error}: {}", value["message"].as_str().unwrap_or_default())),
            None => Ok(value),
        }
    }

    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body).await.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// The element `css` selects, waiting for it up to `patience`.
    pub async fn find(&self, css: &str, patience: Duration) -> Element {
        let deadline = Instant::now() + patience;
        loop {
            let found =
                self.try_command("POST", "/element", Some(json!({ "using": "css selector", "value": css }))).await;
            if let Ok(v) = found
                && let Some(id) = v[ELEMENT].as_str()
            {
                return Element(id.to_owned());
            }
            assert!(Instant::now() < deadline, "no element matched `{css}` within {patience:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn click(&self, element: &Element) {
        self.command("POST", &format!("/element/{}/click", element.0), None).await;
    }

    pub async fn type_into(&self, element: &Element, text: &str) {
        self.command("POST", &format!("/element/{}/clear", element.0), None).await;
        self.command("POST", &format!("/element/{}/value", element.0), Some(json!({ "text": text }))).await;
    }

    /// The visible text of the element `css` selects now ("" when none does).
    pub async fn text(&self, css: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';";
        self.run(script, json!([css])).await.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns what it returns.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.command("POST", "/execute/sync", Some(json!({ "script": script, "args": args }))).await
    }

    /// Waits until the text of `css` contains `wanted`, up to `patience`; returns the text.
    pub async fn wait_for_text(&self, css: &str, wanted: &str, patience: Duration) -> String {
        let deadline = Instant::now() + patience;
        loop {
            let text = self.text(css).await;
            if text.contains(wanted) {
                return text;
            }
            if Instant::now() > deadline {
                let log = self.console_log().await;
                panic!(
                    "`{css}` did not show {wanted:?} within {patience:?}; it shows:\n{text}\nthe page's log:\n{log}"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// What the page logged (errors, failed requests), one line each.
    pub async fn console_log(&self) -> String {
        let entries = self.try_command("POST", "/se/log", Some(json!({ "type": "browser" }))).await.unwrap_or_default();
        let lines = entries.as_array().map(|a| a.iter().map(|e| e["message"].to_string()).collect::<Vec<_>>());
        lines.unwrap_or_default().join("\n")
    }

    /// Accepts the confirmation dialog open now, waiting for it up to `patience`; returns
    /// what it asked.
    pub async fn accept_dialog(&self, patience: Duration) -> String {
        let deadline = Instant::now() + patience;
        loop {
            if let Ok(text) = self.try_command("GET", "/alert/text", None).await {
                self.command("POST", "/alert/accept", None).await;
                return text.as_str().unwrap_or_default().to_owned();
            }
            assert!(Instant::now() < deadline, "no confirmation dialog opened within {patience:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Writes a PNG of the page to `target/console-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.command("GET", "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap_or_default());
        let path = self.shots.join(format!("{name}.png"));
        match bytes {
            Ok(bytes) => {
                std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()))
            }
            Err(e) => panic!("the screenshot is not base64: {e}"),
        }
    }

    /// Controls (links, buttons, inputs, selects) that a screen reader could not name, or that
    /// the keyboard cannot reach, as `tag#id "text"` lines.
    pub async fn unlabelled_controls(&self) -> Vec<String> {
        let script = r#"
            const out = [];
            for (const el of document.querySelectorAll('a, button, input, select, textarea, [tabindex]')) {
                if (el.type === 'hidden' || el.closest('[hidden]')) continue;
                const named = (el.getAttribute('aria-label') || '').trim()
                    || (el.labels && el.labels.length > 0 && el.labels[0].innerText.trim())
                    || (el.getAttribute('aria-labelledby') && document.getElementById(el.getAttribute('aria-labelledby')))
                    || el.innerText.trim() || (el.getAttribute('title') || '').trim();
                const reachable = el.tabIndex >= 0 || el.tagName === 'MAIN' || el.tagName === 'PRE';
                if (!named || !reachable) out.push(el.tagName.toLowerCase() + '#' + el.id + ' ' + JSON.stringify((el.outerHTML || '').slice(0, 120)));
            }
            return out;"#;
        let found = self.run(script, json!([])).await;
        found.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session quits Chromium; killing chromedriver then ends what is left.
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            let _ =
                rt.block_on(async { reqwest::Client::new().delete(url).timeout(Duration::from_secs(5)).send().await });
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn which(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file()).map(|p| p.display().to_string())
}

/// `target/console-screenshots/`, made if missing.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
    dir
}
