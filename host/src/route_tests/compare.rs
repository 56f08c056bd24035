//! Compares what a case's webhook came to (`run::Observed`) with what the case expects, and
//! says each difference with the path of the field it is in:
//! `deliveries[0].body.currency: expected "EUR", got "USD"`.

use super::file::{Answer, Expect, ExpectedReason};
use super::run::Observed;
use serde_json::Value;

/// One difference between what was expected and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Where: `answer`, `routes[1].params.channel_id`, `deliveries[0].body.total`…
    pub field: String,
    pub expected: String,
    pub got: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: expected {}, got {}", self.field, self.expected, self.got)
    }
}

/// Every difference between `expect` and `observed`; none means the case passes.
pub fn compare(expect: &Expect, observed: &Observed) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut miss = |field: String, expected: String, got: String| out.push(Mismatch { field, expected, got });
    let answer = expect.answer.unwrap_or(Answer::Accepted);
    if observed.answer != Some(answer) {
        let got = match (&observed.reason, &observed.message) {
            (Some(reason), Some(message)) => format!("{} ({reason}: {message})", show_answer(observed.answer)),
            (Some(reason), None) => format!("{} ({reason})", show_answer(observed.answer)),
            _ => show_answer(observed.answer),
        };
        miss("answer".into(), show_answer(Some(answer)), got);
        return out;
    }
    if let Some(reason) = &expect.reason
        && observed.reason.as_ref() != Some(reason)
    {
        miss("reason".into(), quoted(reason), observed.reason.as_deref().map_or("none".into(), quoted));
    }
    if let Some(routes) = &expect.routes {
        let names = |list: Vec<&str>| format!("[{}]", list.iter().map(|n| quoted(n)).collect::<Vec<_>>().join(", "));
        let want: Vec<&str> = routes.iter().map(|r| r.name.as_str()).collect();
        let got: Vec<&str> = observed.routes.iter().map(|(n, _)| n.as_str()).collect();
        if want != got {
            miss("routes".into(), names(want), names(got));
        } else {
            for (i, (route, (_, params))) in routes.iter().zip(&observed.routes).enumerate() {
                if let Some(want) = &route.params {
                    let want = serde_json::to_value(want).unwrap_or_default();
                    let got = serde_json::to_value(params).unwrap_or_default();
                    diff(&format!("routes[{i}].params"), &want, &got, false, &mut out);
                }
            }
        }
    }
    deliveries(expect, observed, &mut out);
    if let Some(drops) = &expect.drops {
        reasons("drops", drops, &observed.drops, &mut out);
    }
    if let Some(dead) = &expect.dead_letters {
        reasons("dead_letters", dead, &observed.dead_letters, &mut out);
    }
    out
}

fn deliveries(expect: &Expect, observed: &Observed, out: &mut Vec<Mismatch>) {
    let got = &observed.deliveries;
    for (i, want) in expect.deliveries.iter().enumerate() {
        let field = format!("deliveries[{i}]");
        let Some(delivery) = got.get(i) else {
            out.push(Mismatch { field, expected: format!("a delivery to `{}`", want.destination), got: "none".into() });
            continue;
        };
        if delivery.destination != want.destination {
            let (expected, got) = (quoted(&want.destination), quoted(&delivery.destination));
            out.push(Mismatch { field: format!("{field}.destination"), expected, got });
            continue;
        }
        if let Some(route) = want.route.as_ref().filter(|r| **r != delivery.route) {
            out.push(Mismatch {
                field: format!("{field}.route"),
                expected: quoted(route),
                got: quoted(&delivery.route),
            });
        }
        let body = body_value(&delivery.body);
        if let Some(exact) = &want.body {
            diff(&format!("{field}.body"), &to_json(exact), &body, false, out);
        }
        if let Some(subset) = &want.body_includes {
            diff(&format!("{field}.body"), &to_json(subset), &body, true, out);
        }
        for (name, value) in &want.headers {
            let found = delivery.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
            if found != Some(value) {
                let got = found.map_or("no such header".into(), |v| quoted(v));
                out.push(Mismatch { field: format!("{field}.headers.{name}"), expected: quoted(value), got });
            }
        }
    }
    if !expect.more_deliveries {
        for (i, extra) in got.iter().enumerate().skip(expect.deliveries.len()) {
            out.push(Mismatch {
                field: format!("deliveries[{i}]"),
                expected: "no more deliveries".into(),
                got: format!(
                    "a delivery to `{}` from route `{}`: {}",
                    extra.destination,
                    extra.route,
                    body_value(&extra.body)
                ),
            });
        }
    }
}

fn reasons(what: &str, want: &[ExpectedReason], got: &[(String, String)], out: &mut Vec<Mismatch>) {
    if want.len() != got.len() {
        let listed = got.iter().map(|(route, reason)| format!("`{route}`: {reason}")).collect::<Vec<_>>();
        let got = if listed.is_empty() { "none".into() } else { listed.join("; ") };
        out.push(Mismatch { field: what.into(), expected: format!("{} of them", want.len()), got });
        return;
    }
    for (i, (want, (route, reason))) in want.iter().zip(got).enumerate() {
        if let Some(expected) = want.route.as_ref().filter(|r| *r != route) {
            out.push(Mismatch { field: format!("{what}[{i}].route"), expected: quoted(expected), got: quoted(route) });
        }
        if let Some(words) = want.reason.as_ref().filter(|w| !reason.contains(w.as_str())) {
            out.push(Mismatch {
                field: format!("{what}[{i}].reason"),
                expected: format!("a reason containing {}", quoted(words)),
                got: quoted(reason),
            });
        }
    }
}

/// Compares `got` with `want` at `path`: exactly, or with `subset` only the fields `want`
/// names (in objects, at any depth; lists are compared whole).
pub fn diff(path: &str, want: &Value, got: &Value, subset: bool, out: &mut Vec<Mismatch>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (key, value) in w {
                let field = format!("{path}.{key}");
                match g.get(key) {
                    Some(found) => diff(&field, value, found, subset, out),
                    None => {
                        out.push(Mismatch { field, expected: value.to_string(), got: "nothing (no such field)".into() })
                    }
                }
            }
            if !subset {
                for (key, value) in g.iter().filter(|(k, _)| !w.contains_key(*k)) {
                    let field = format!("{path}.{key}");
                    out.push(Mismatch { field, expected: "no such field".into(), got: value.to_string() });
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (w, g)) in w.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), w, g, subset, out);
            }
        }
        (Value::Number(w), Value::Number(g)) if w.as_f64() == g.as_f64() => {}
        _ if want == got => {}
        _ => out.push(Mismatch { field: path.into(), expected: want.to_string(), got: got.to_string() }),
    }
}

/// A delivery's body as JSON when it is JSON, else as a string.
pub fn body_value(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

fn quoted(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

fn show_answer(answer: Option<Answer>) -> String {
    match answer {
        Some(Answer::Accepted) => "accepted".into(),
        Some(Answer::Refused) => "refused".into(),
        None => "no answer".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_difference_names_the_field_it_is_in() {
        let mut out = Vec::new();
        let got = json!({ "order": { "total": 10, "currency": "USD" }, "lines": [1, 2] });
        diff("body", &json!({ "order": { "currency": "EUR" } }), &got, true, &mut out);
        assert_eq!(
            out,
            vec![Mismatch { field: "body.order.currency".into(), expected: "\"EUR\"".into(), got: "\"USD\"".into() }]
        );
        out.clear();
        diff("body", &json!({ "order": { "total": 10.0, "currency": "USD" }, "lines": [1, 2] }), &got, false, &mut out);
        assert!(out.is_empty(), "numbers compare by value: {out:?}");
        diff("body", &json!({ "order": { "total": 10 } }), &got, false, &mut out);
        assert!(out.iter().any(|m| m.field == "body.order.currency" && m.expected == "no such field"), "{out:?}");
        assert!(out.iter().any(|m| m.field == "body.lines"), "{out:?}");
    }
}
