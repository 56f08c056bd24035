//! How `switchyard test` says what it found: a line per case (with each difference under a
//! failed one), or JUnit XML for CI systems that read it.

use super::compare::Mismatch;
use std::time::Duration;

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub file: String,
    pub name: String,
    pub took: Duration,
    /// The differences; a case that could not run has one, saying why.
    pub mismatches: Vec<Mismatch>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// The text report: `ok` or `FAIL` and the case's name, then each difference, then a count.
pub fn text(results: &[CaseResult]) -> String {
    let mut out = String::new();
    for result in results {
        let mark = if result.passed() { "ok  " } else { "FAIL" };
        out.push_str(&format!("{mark}  {}: {}\n", result.file, result.name));
        for mismatch in &result.mismatches {
            out.push_str(&format!("        {mismatch}\n"));
        }
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    out.push_str(&format!("\n{} passed, {failed} failed\n", results.len() - failed));
    out
}

/// JUnit XML: a `<testsuite>` per file, a `<testcase>` per case, a `<failure>` listing the
/// differences of a failed one.
pub fn junit(results: &[CaseResult]) -> String {
    let mut files: Vec<&str> = Vec::new();
    for result in results {
        if !files.contains(&result.file.as_str()) {
            files.push(&result.file);
        }
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    let total: f64 = results.iter().map(|r| r.took.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"switchyard test\" tests=\"{}\" failures=\"{failed}\" time=\"{total:.3}\">\n",
        results.len()
    ));
    for file in files {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.file == file).collect();
        let failures = cases.iter().filter(|r| !r.passed()).count();
        let time: f64 = cases.iter().map(|r| r.took.as_secs_f64()).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">\n",
            escape(file),
            cases.len()
        ));
        for case in cases {
            let opening = format!(
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(&case.name),
                escape(file),
                case.took.as_secs_f64()
            );
            if case.passed() {
                out.push_str(&format!("{opening}/>\n"));
                continue;
            }
            let details: Vec<String> = case.mismatches.iter().map(ToString::to_string).collect();
            let message = details.first().cloned().unwrap_or_default();
            out.push_str(&format!(
                "{opening}>\n      <failure message=\"{}\" type=\"mismatch\">{}</failure>\n    </testcase>\n",
                escape(&message),
                escape(&details.join("\n"))
            ));
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text safe inside XML attributes and elements (control characters, which XML 1.0 cannot
/// carry, become `?`).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_what_cases_and_differences_say() {
        let results = vec![
            CaseResult { file: "a.toml".into(), name: "ok <one>".into(), took: Duration::ZERO, mismatches: vec![] },
            CaseResult {
                file: "a.toml".into(),
                name: "bad & \"two\"".into(),
                took: Duration::from_millis(5),
                mismatches: vec![Mismatch {
                    field: "body.x".into(),
                    expected: "\"<1>\"".into(),
                    got: "\u{1b}2".into(),
                }],
            },
        ];
        let xml = junit(&results);
        assert!(xml.contains("name=\"ok &lt;one&gt;\"") && xml.contains("bad &amp; &quot;two&quot;"), "{xml}");
        assert!(xml.contains("tests=\"2\" failures=\"1\"") && !xml.contains('\u{1b}'), "{xml}");
    }
}
