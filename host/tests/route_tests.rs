//! `switchyard test` as a config editor uses it: the shipped `routes.test.toml` passes against
//! the shipped `routes.toml`; one changed expectation fails with a difference that names the
//! field; `--format junit` is JUnit XML a real parser reads (Python's `xml.etree`).

#![allow(clippy::unwrap_used)] // a test that unwraps says what it expects (rust-clippy#13981)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn switchyard_test(tests: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("test")
        .arg(tests)
        .args(extra)
        .arg("--config")
        .arg(repository().join("routes.toml"))
        .env("SWITCHYARD_CACHE_DIR", repository().join("target/plugin-tools/cache"))
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_shipped_route_tests_pass() {
    let output = switchyard_test(&repository().join("routes.test.toml"), &[]);
    assert!(output.status.success(), "{}\n{}", stdout(&output), String::from_utf8_lossy(&output.stderr));
    assert!(stdout(&output).contains(", 0 failed"), "{}", stdout(&output));
}

#[test]
fn a_changed_expectation_fails_and_the_difference_names_the_field() {
    let shipped = std::fs::read_to_string(repository().join("routes.test.toml")).unwrap();
    assert!(shipped.contains(r#"currency = "USD""#));
    let dir = tempfile::tempdir().unwrap();
    let changed = dir.path().join("routes.test.toml");
    std::fs::write(&changed, shipped.replace(r#"currency = "USD""#, r#"currency = "EUR""#)).unwrap();
    let output = switchyard_test(&changed, &[]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains(r#"deliveries[0].body.currency: expected "EUR", got "USD""#), "{text}");
    assert!(text.contains("FAIL") && text.contains("1 failed"), "{text}");
}

#[test]
fn the_junit_report_parses_as_junit_xml() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(repository().join("routes.test.toml")).unwrap();
    let changed = dir.path().join("routes.test.toml");
    std::fs::write(&changed, shipped.replace(r#"reason = "missing_signature""#, r#"reason = "bad_signature""#))
        .unwrap();
    let output = switchyard_test(&changed, &["--format", "junit"]);
    assert_eq!(output.status.code(), Some(1));
    let xml = dir.path().join("report.xml");
    std::fs::write(&xml, &output.stdout).unwrap();
    let check = r#"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
cases = root.findall("./testsuite/testcase")
failed = [c for c in cases if c.find("failure") is not None]
assert len(cases) >= 4 and len(failed) == 1, (len(cases), len(failed))
message = failed[0].find("failure").get("message")
assert "reason" in message and "bad_signature" in message, message
print(len(cases), "cases,", len(failed), "failed:", message)
"#;
    let parsed = Command::new("python3").arg("-c").arg(check).arg(&xml).output().unwrap();
    assert!(parsed.status.success(), "{}", String::from_utf8_lossy(&parsed.stderr));
}
