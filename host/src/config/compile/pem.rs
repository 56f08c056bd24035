//! PEM files the config names (listeners' certificates, a destination's CA and client
//! identity): read relative to the config file and checked to hold what they must.

use super::Compiler;
use crate::config::model::{PemFile, TlsFiles};
use crate::config::raw::RawTlsFiles;
use std::path::Path;
use toml::Spanned;

/// What a PEM file must hold.
#[derive(Clone, Copy)]
pub(super) enum Pem {
    Certificates,
    PrivateKey,
}

impl Compiler<'_> {
    /// `{ cert, key }` of a listener, both read and checked.
    pub(super) fn tls_files(&mut self, raw: &RawTlsFiles, key: &str) -> Option<TlsFiles> {
        self.tls_pair(raw, &format!("{key}.cert"), &format!("{key}.key"))
    }

    pub(super) fn tls_pair(&mut self, raw: &RawTlsFiles, cert_key: &str, key_key: &str) -> Option<TlsFiles> {
        let cert = self.pem(&raw.cert, cert_key, Pem::Certificates);
        let key = self.pem(&raw.key, key_key, Pem::PrivateKey);
        Some(TlsFiles { cert: cert?, key: key? })
    }

    /// Reads a PEM file (relative to the config file) and checks it holds what `what` says.
    pub(super) fn pem(&mut self, value: &Spanned<String>, key: &str, what: Pem) -> Option<PemFile> {
        use rustls_pki_types::pem::PemObject;
        let rel = self.string(value, key);
        if rel.is_empty() {
            return None;
        }
        let path = self.path.parent().unwrap_or(Path::new(".")).join(&rel);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.error(value, key, format!("cannot read {}: {e}", path.display()));
                return None;
            }
        };
        let problem = match what {
            Pem::Certificates => {
                let certs: Result<Vec<_>, _> = rustls_pki_types::CertificateDer::pem_slice_iter(&bytes).collect();
                match certs {
                    Ok(certs) if !certs.is_empty() => None,
                    Ok(_) => Some("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_string()),
                    Err(e) => Some(format!("is not a PEM certificate file: {e}")),
                }
            }
            Pem::PrivateKey => rustls_pki_types::PrivateKeyDer::from_pem_slice(&bytes)
                .err()
                .map(|_| "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".to_string()),
        };
        if let Some(problem) = problem {
            self.error(value, key, format!("{} {problem}", path.display()));
            return None;
        }
        Some(PemFile { path, bytes: bytes.into() })
    }
}
