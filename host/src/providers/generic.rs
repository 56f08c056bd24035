//! A provider described by configuration (`GenericSpec`): `prefix` + hex or base64 of
//! HMAC-SHA1/256/512 keyed with the secret's UTF-8 bytes over the raw body; scope and id read
//! from a header or a JSON pointer. Its sample puts the scope and id where the config reads them.
//!
//! No timestamp is signed, so there is no replay window. Must never run with secrets but
//! nowhere to read a signature (`ProviderSettings::check` refuses that, rather than "accept
//! unsigned").

use serde_json::{Map, Value, json};

use crate::providers::contract::SettingsError;
use crate::providers::contract::{
    GenericSpec, Inbound, Location, Provider, ProviderSettings, Rejection, Sample, SampleError, Verified,
};
use crate::providers::extract::{header, json_body, require_scope, text_at};
use crate::signature::{self, Keys};

#[derive(Debug)]
pub(crate) struct Generic {
    keys: Keys,
    spec: GenericSpec,
}

impl Generic {
    pub(crate) fn new(settings: &ProviderSettings) -> Result<Self, SettingsError> {
        let spec = settings.generic.clone().ok_or(SettingsError::MissingGenericSpec)?;
        Ok(Self { keys: Keys::utf8(&settings.secrets), spec })
    }

    fn authenticate(&self, req: &Inbound<'_>, name: &str) -> Result<(), Rejection> {
        let value = header(req, name)?.ok_or_else(|| Rejection::MissingSignature { header: name.to_owned() })?;
        let mac = value
            .strip_prefix(self.spec.prefix.as_str())
            .and_then(|encoded| signature::decode(self.spec.encoding, encoded))
            .ok_or_else(|| Rejection::MalformedHeader { name: name.to_owned() })?;
        if !self.keys.match_any(self.spec.algorithm, &[req.body], &[mac]) {
            return Err(Rejection::BadSignature);
        }
        Ok(())
    }
}

/// Read a location; the body is parsed only if some location needs it.
fn read(req: &Inbound<'_>, json: Option<&Value>, location: &Location) -> Result<Option<String>, Rejection> {
    match location {
        Location::Header(name) => Ok(header(req, name)?.filter(|v| !v.is_empty()).map(str::to_owned)),
        Location::JsonPointer(pointer) => Ok(json.and_then(|json| text_at(json, pointer))),
    }
}

fn describe(location: &Location) -> String {
    match location {
        Location::Header(name) => format!("header `{name}`"),
        Location::JsonPointer(pointer) => format!("body at `{pointer}`"),
    }
}

impl Provider for Generic {
    fn verify(&self, req: &Inbound<'_>) -> Result<Verified, Rejection> {
        if let (false, Some(name)) = (self.keys.is_empty(), &self.spec.signature_header) {
            self.authenticate(req, name)?;
        }
        let mut locations = std::iter::once(&self.spec.scope).chain(&self.spec.id);
        let needs_json = locations.any(|l| matches!(l, Location::JsonPointer(_)));
        let json = if needs_json { Some(json_body(req.body)?) } else { None };
        let scope = require_scope(read(req, json.as_ref(), &self.spec.scope)?, &describe(&self.spec.scope))?;
        // An id configured but absent falls back to hashing the body rather than refusing.
        let event_id = match &self.spec.id {
            Some(location) => read(req, json.as_ref(), location)?,
            None => None,
        };
        Ok(Verified { scope, event_id })
    }

    /// The signature, and `id` when the id lives in a header; a scope header is the caller's.
    fn sign(&self, body: &[u8], _now_unix: i64, id: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let (Some(key), Some(name)) = (self.keys.first(), &self.spec.signature_header) {
            let mac = signature::mac(self.spec.algorithm, key, &[body]);
            out.push((name.clone(), format!("{}{}", self.spec.prefix, signature::encode(self.spec.encoding, &mac))));
        }
        if let Some(Location::Header(name)) = &self.spec.id {
            out.push((name.clone(), id.to_owned()));
        }
        out
    }

    /// The data with the scope (and an id field) where the config reads them from.
    fn sample(&self, scope: Option<&str>, data: Option<Value>, now_unix: i64, id: &str) -> Result<Sample, SampleError> {
        let scope = scope.unwrap_or("sample.created");
        let mut body = data.unwrap_or_else(|| json!({ "id": "sample" }));
        let mut headers = Vec::new();
        match &self.spec.scope {
            Location::Header(name) => headers.push((name.clone(), scope.to_owned())),
            Location::JsonPointer(pointer) => put(&mut body, pointer, Value::from(scope))?,
        }
        // An id header is added by `sign`; an id field has to be in the body it signs.
        if let Some(Location::JsonPointer(pointer)) = &self.spec.id {
            put(&mut body, pointer, Value::from(id))?;
        }
        Ok(Sample::signed(self, scope, &body, headers, now_unix, id))
    }
}

/// Sets `value` at an RFC 6901 pointer, creating objects on the way.
fn put(target: &mut Value, pointer: &str, value: Value) -> Result<(), SampleError> {
    let not_object = || SampleError::NotAnObject { pointer: pointer.to_owned() };
    let tokens: Vec<String> = pointer.split('/').skip(1).map(|t| t.replace("~1", "/").replace("~0", "~")).collect();
    let Some((last, parents)) = tokens.split_last() else { return Err(not_object()) };
    let mut here = target;
    for token in parents {
        let map = here.as_object_mut().ok_or_else(not_object)?;
        here = map.entry(token.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    here.as_object_mut().ok_or_else(not_object)?.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::providers::build;
    use crate::providers::contract::{Algorithm, Encoding, GenericSpec, Location, ProviderKind, Rejection};
    use crate::providers::test_support::{settings, tamper, verified, verify};

    // Vectors from Python's stdlib:
    //   import base64, hashlib, hmac
    //   hmac.new(b"generic_secret", BODY, hashlib.sha1).hexdigest()                         -> SHA1_HEX
    //   base64.b64encode(hmac.new(b"generic_secret", BODY, hashlib.sha512).digest()).decode() -> SHA512_B64
    //   hmac.new(b"generic_rotated", BODY, hashlib.sha256).hexdigest()                      -> SHA256_HEX_2
    const SECRET: &str = "generic_secret";
    const SECRET_2: &str = "generic_rotated";
    const BODY: &str = r#"{"event":{"kind":"invoice.paid","id":"ev_42"}}"#;
    const SHA1_HEX: &str = "b97f8492ab570a762bf64008cfffa7da1f634b08";
    const SHA512_B64: &str = "qQjLxttitnVhGLI0tixIyrq7WnMb59joRcZgcp8fgOFKZ+J1o3m6c0+c97vm/VrYbx04B1TvcfYLjVXyXKD38w==";
    const SHA256_HEX_2: &str = "3504e0cd80834f13f8f682fbc6084b847dfe294d6564ddb51058464186240f90";

    fn spec(algorithm: Algorithm, encoding: Encoding, prefix: &str) -> GenericSpec {
        GenericSpec {
            signature_header: Some("X-Signature".into()),
            algorithm,
            encoding,
            prefix: prefix.into(),
            scope: Location::JsonPointer("/event/kind".into()),
            id: Some(Location::JsonPointer("/event/id".into())),
        }
    }

    fn check(secrets: &[&str], spec: GenericSpec, sig: &str, body: &[u8]) -> Result<super::Verified, Rejection> {
        let mut s = settings(secrets);
        s.generic = Some(spec);
        verify(&*build(ProviderKind::Generic, s), &[("X-Signature", sig)], body, 0)
    }

    #[test]
    fn a_prefixed_hex_sha1_signature_is_accepted_and_named_from_json_pointers() {
        let got = check(
            &[SECRET],
            spec(Algorithm::Sha1, Encoding::Hex, "sha1="),
            &format!("sha1={SHA1_HEX}"),
            BODY.as_bytes(),
        );
        assert_eq!(got, verified("invoice.paid", Some("ev_42")));
    }

    #[test]
    fn a_base64_sha512_signature_without_prefix_is_accepted() {
        assert!(check(&[SECRET], spec(Algorithm::Sha512, Encoding::Base64, ""), SHA512_B64, BODY.as_bytes()).is_ok());
    }

    #[test]
    fn a_request_signed_with_the_second_secret_of_the_rotation_is_accepted() {
        let sha256 = spec(Algorithm::Sha256, Encoding::Hex, "");
        assert!(check(&[SECRET, SECRET_2], sha256, SHA256_HEX_2, BODY.as_bytes()).is_ok());
    }

    #[test]
    fn one_changed_body_byte_a_wrong_secret_or_a_wrong_prefix_is_refused() {
        let sha1 = || spec(Algorithm::Sha1, Encoding::Hex, "");
        assert_eq!(check(&[SECRET], sha1(), SHA1_HEX, &tamper(BODY.as_bytes())), Err(Rejection::BadSignature));
        assert_eq!(check(&[SECRET_2], sha1(), SHA1_HEX, BODY.as_bytes()), Err(Rejection::BadSignature));
        let prefixed = check(&[SECRET], spec(Algorithm::Sha1, Encoding::Hex, "sha1="), SHA1_HEX, BODY.as_bytes());
        assert_eq!(prefixed, Err(Rejection::MalformedHeader { name: "X-Signature".into() }));
    }

    #[test]
    fn a_missing_signature_header_is_refused() {
        let mut s = settings(&[SECRET]);
        s.generic = Some(spec(Algorithm::Sha1, Encoding::Hex, ""));
        let got = verify(&*build(ProviderKind::Generic, s), &[], BODY.as_bytes(), 0);
        assert_eq!(got, Err(Rejection::MissingSignature { header: "X-Signature".into() }));
    }

    #[test]
    fn header_locations_need_no_json_body_and_an_absent_id_is_left_to_the_caller() {
        let mut spec = spec(Algorithm::Sha1, Encoding::Hex, "");
        spec.signature_header = None;
        spec.scope = Location::Header("X-Kind".into());
        spec.id = Some(Location::Header("X-Id".into()));
        let mut s = settings(&[]);
        s.generic = Some(spec);
        let p = build(ProviderKind::Generic, s);
        assert_eq!(verify(&*p, &[("X-Kind", "a.b")], b"\xff", 0), verified("a.b", None));
        assert!(matches!(verify(&*p, &[], b"", 0), Err(Rejection::MissingScope { .. })));
    }

    #[test]
    fn secrets_without_a_signature_header_or_a_bad_pointer_are_settings_errors() {
        use crate::providers::contract::SettingsError;
        let mut s = settings(&[SECRET]);
        s.generic = Some(GenericSpec { signature_header: None, ..spec(Algorithm::Sha1, Encoding::Hex, "") });
        assert_eq!(s.check(ProviderKind::Generic), Err(SettingsError::NoSignatureHeader));
        s.generic = Some(GenericSpec {
            scope: Location::JsonPointer("type".into()),
            ..spec(Algorithm::Sha1, Encoding::Hex, "")
        });
        assert_eq!(s.check(ProviderKind::Generic), Err(SettingsError::InvalidJsonPointer { pointer: "type".into() }));
    }
}
