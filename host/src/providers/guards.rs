//! The two kind-independent providers: `RequiredHeaders`, the static-header check (BigCommerce
//! registration headers, basic auth) put in front of any platform, and `Misconfigured`, which
//! stands in for a source whose settings failed validation (and has no sample).
//!
//! Must never show a required header's value (often a credential) in `Debug` or an error, and
//! never compare it in variable time.

use std::fmt;

use crate::providers::contract::{Inbound, Provider, ProviderKind, Rejection, Sample, SampleError, Verified};
use crate::signature::secret_eq;
use serde_json::Value;

/// Refuses every request; stands in for a source whose settings failed validation.
#[derive(Debug)]
pub(super) struct Misconfigured {
    pub(super) kind: ProviderKind,
    pub(super) problem: String,
}

impl Provider for Misconfigured {
    fn verify(&self, _req: &Inbound<'_>) -> Result<Verified, Rejection> {
        Err(Rejection::Misconfigured { problem: format!("{}: {}", self.kind, self.problem) })
    }
    fn sign(&self, _body: &[u8], _now_unix: i64, _id: &str) -> Vec<(String, String)> {
        Vec::new()
    }
    fn sample(&self, _: Option<&str>, _: Option<Value>, _: i64, _: &str) -> Result<Sample, SampleError> {
        Err(SampleError::Misconfigured { problem: format!("{}: {}", self.kind, self.problem) })
    }
}

/// Checks the configured static headers, then defers to the platform's provider.
pub(super) struct RequiredHeaders {
    pub(super) headers: Vec<(String, String)>,
    pub(super) inner: Box<dyn Provider>,
}

/// Values are redacted: they are often basic-auth credentials.
impl fmt::Debug for RequiredHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("RequiredHeaders").field("names", &names).field("inner", &self.inner).finish()
    }
}

impl Provider for RequiredHeaders {
    fn verify(&self, req: &Inbound<'_>) -> Result<Verified, Rejection> {
        for (name, want) in &self.headers {
            let Some(got) = req.headers.get(name.as_str()) else {
                return Err(Rejection::MissingHeader { name: name.clone() });
            };
            if !secret_eq(got.as_bytes(), want.as_bytes()) {
                return Err(Rejection::WrongHeaderValue { name: name.clone() });
            }
        }
        self.inner.verify(req)
    }

    fn sign(&self, body: &[u8], now_unix: i64, id: &str) -> Vec<(String, String)> {
        let mut out = self.headers.clone();
        out.extend(self.inner.sign(body, now_unix, id));
        out
    }

    /// The platform's sample, with the configured static headers first.
    fn sample(&self, scope: Option<&str>, data: Option<Value>, now_unix: i64, id: &str) -> Result<Sample, SampleError> {
        let mut sample = self.inner.sample(scope, data, now_unix, id)?;
        sample.headers.splice(0..0, self.headers.iter().cloned());
        Ok(sample)
    }
}

#[cfg(test)]
mod tests {
    use crate::providers::build;
    use crate::providers::contract::{ProviderKind, Rejection};
    use crate::providers::test_support::{settings, verify};

    #[test]
    fn required_headers_are_obeyed_when_equal_and_violated_when_absent_or_different() {
        let mut s = settings(&[]);
        s.required_headers = vec![("X-Auth".into(), "Basic abc".into())];
        let p = build(ProviderKind::BigCartel, s);
        let body = br#"{"type":"order.created"}"#;
        assert!(verify(&*p, &[("x-auth", "Basic abc")], body, 0).is_ok());
        assert_eq!(verify(&*p, &[], body, 0), Err(Rejection::MissingHeader { name: "X-Auth".into() }));
        let wrong = verify(&*p, &[("X-Auth", "Basic abd")], body, 0);
        assert_eq!(wrong, Err(Rejection::WrongHeaderValue { name: "X-Auth".into() }));
        assert_eq!(p.sign(body, 0, "id")[0], ("X-Auth".to_owned(), "Basic abc".to_owned()));
    }
}
