//! TLS to PostgreSQL, read from the storage URL as libpq reads it: `sslmode=disable|prefer|
//! require|verify-ca|verify-full`, `sslrootcert=PATH` (the CAs to trust; without it, the
//! system's roots), and `sslcert=PATH` / `sslkey=PATH` (a client certificate). Unlike libpq,
//! a URL without `sslmode` is `disable`: TLS costs a database on the same machine about a
//! quarter of the gateway's throughput (BENCHMARKS.md), so it is asked for, not assumed.
//!
//! As in libpq, `prefer` and `require` encrypt without checking who answers; `verify-ca`
//! checks the server's certificate against the CAs; `verify-full` also checks that it names
//! the host connected to. A refused certificate fails the connection with rustls' reason.
//! This file takes the TLS keys out of the URL (the client library knows only `sslmode`'s
//! first three values) and builds the rustls configuration; it never opens a connection.

use crate::tls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::PathBuf;
use std::sync::Arc;

/// How much of TLS a connection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The TLS settings a storage URL carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTls {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Takes the TLS keys out of `url`: the URL the client library parses (with `sslmode` reduced
/// to what it knows), and the settings. Relative paths are relative to `base`.
pub fn split(url: &str, base: &std::path::Path) -> Result<(String, PgTls), String> {
    let mut parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let mut kept: Vec<(String, String)> = Vec::new();
    let (mut mode, mut root_cert, mut cert, mut key) = (SslMode::Disable, None, None, None);
    for (k, v) in parsed.query_pairs() {
        let path = || base.join(v.as_ref());
        match k.as_ref() {
            "sslmode" => {
                mode = match v.as_ref() {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
                        ));
                    }
                }
            }
            "sslrootcert" => root_cert = Some(path()),
            "sslcert" => cert = Some(path()),
            "sslkey" => key = Some(path()),
            _ => kept.push((k.into_owned(), v.into_owned())),
        }
    }
    let client_cert = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("give both sslcert and sslkey, or neither".into()),
    };
    let library_mode = match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        _ => "require",
    };
    kept.push(("sslmode".into(), library_mode.into()));
    parsed.query_pairs_mut().clear().extend_pairs(kept);
    Ok((parsed.to_string(), PgTls { mode, root_cert, client_cert }))
}

impl PgTls {
    /// The rustls configuration for these settings; `None` when TLS is off.
    pub fn client_config(&self) -> Result<Option<ClientConfig>, String> {
        if self.mode == SslMode::Disable {
            return Ok(None);
        }
        let provider = tls::provider();
        let roots = match &self.root_cert {
            None => tls::default_roots().clone(),
            Some(path) => {
                let pem = read(path, "sslrootcert")?;
                let mut roots = RootCertStore::empty();
                for cert in tls::certificates(&pem).map_err(|e| format!("sslrootcert {}: {e}", path.display()))? {
                    roots.add(cert).map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                }
                roots
            }
        };
        let verifier: Arc<dyn ServerCertVerifier> = match self.mode {
            SslMode::Disable | SslMode::Prefer | SslMode::Require => Arc::new(Unverified(provider.clone())),
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("cannot trust the given CAs: {e}"))?;
                if self.mode == SslMode::VerifyCa { Arc::new(AnyName(webpki)) } else { webpki }
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = tls::certificates(&read(cert, "sslcert")?).map_err(|e| format!("sslcert: {e}"))?;
                let key = tls::private_key(&read(key, "sslkey")?).map_err(|e| format!("sslkey: {e}"))?;
                builder.with_client_auth_cert(chain, key).map_err(|e| format!("sslcert/sslkey: {e}"))?
            }
        };
        Ok(Some(config))
    }
}

fn read(path: &std::path::Path, key: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))
}

/// `prefer` and `require`: any certificate, as libpq takes it (the handshake's signatures are
/// still checked, so the connection is encrypted to whoever holds the certificate's key).
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted CA; the name in it is not checked.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(CertificateError::NotValidForName))
            | Err(Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_tls_keys_leave_the_url_and_sslmode_is_what_the_client_knows() {
        let base = Path::new("/etc/switchyard");
        let url = "postgres://sy@db:5432/sy?sslmode=verify-full&sslrootcert=ca.pem&options=-csearch_path%3Dx";
        let (rest, tls) = split(url, base).unwrap();
        assert_eq!(rest, "postgres://sy@db:5432/sy?options=-csearch_path%3Dx&sslmode=require");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert.as_deref(), Some(Path::new("/etc/switchyard/ca.pem")));
        let (rest, tls) = split("postgres://sy@db/sy", base).unwrap();
        assert_eq!((rest.as_str(), tls.mode), ("postgres://sy@db/sy?sslmode=disable", SslMode::Disable));
        assert!(split("postgres://db/sy?sslmode=maybe", base).is_err());
        assert!(split("postgres://db/sy?sslcert=c.pem", base).is_err(), "a certificate needs its key");
    }
}
