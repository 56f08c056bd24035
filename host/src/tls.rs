//! rustls for both directions: the client side of HTTPS deliveries (the system's roots, or
//! webpki's when the system has none, plus a destination's own CA and client certificate) and
//! the server side of the TLS listeners (a certificate chosen per handshake, so a renewed one
//! applies to the next connection without a restart).
//!
//! One crypto provider (ring) for the whole process. This file turns PEM bytes into rustls
//! values and nothing else: it never reads files (config does) and never opens a socket.

use rustls::RootCertStore;
use rustls::client::ClientConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::{Arc, OnceLock};

/// Why PEM bytes cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("holds no PEM certificate")]
    NoCertificate,
    #[error("is not a PEM certificate file: {0}")]
    BadCertificate(String),
    #[error("holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey,
    #[error("the private key cannot sign: {0}")]
    UnusableKey(String),
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    #[error("{0}")]
    Config(String),
}

/// The process's crypto provider.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// Every certificate in `pem`, in order; at least one.
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(certs)
}

/// The first private key in `pem`.
pub fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| TlsError::NoKey)
}

/// A certificate chain and its key, checked to belong together, ready to serve or to present.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = certificates(cert_pem)?;
    let key = private_key(key_pem)?;
    let signing = provider().key_provider.load_private_key(key).map_err(|e| TlsError::UnusableKey(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| TlsError::KeyMismatch)?;
    Ok(Arc::new(certified))
}

/// The roots every HTTPS delivery trusts: the system's (`/etc/ssl/certs`, `SSL_CERT_FILE`…),
/// or Mozilla's (webpki-roots) when the system offers none. Loaded once.
pub(crate) fn default_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            tracing::warn!(errors = native.errors.len(), "no system CA certificates found; trusting webpki-roots");
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}

/// What a destination adds to the default trust: a private CA, and a client certificate for
/// receivers that ask for one (mTLS). PEM bytes, already read and checked by config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientTls<'a> {
    pub ca_pem: Option<&'a [u8]>,
    pub identity: Option<(&'a [u8], &'a [u8])>,
}

/// A client config trusting the default roots plus `extra.ca_pem`, presenting
/// `extra.identity` when asked, and offering HTTP/2 and HTTP/1.1.
pub fn client_config(extra: &ClientTls<'_>) -> Result<ClientConfig, TlsError> {
    let mut roots = default_roots().clone();
    if let Some(pem) = extra.ca_pem {
        for cert in certificates(pem)? {
            roots.add(cert).map_err(|e| TlsError::BadCertificate(e.to_string()))?;
        }
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match extra.identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| TlsError::UnusableKey(e.to_string()))?,
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The client config for plugins' outbound requests: the default roots and HTTP/1.1 only (the
/// plugin runtime speaks HTTP/1.1 to upstreams).
pub fn fetch_client_config() -> Result<ClientConfig, TlsError> {
    let mut config = client_config(&ClientTls::default())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Where a listener finds the certificate to present, at each handshake.
pub type CurrentCert = Arc<dyn Fn() -> Option<Arc<CertifiedKey>> + Send + Sync>;

/// A server config that presents whatever `current` returns at each handshake, and offers
/// HTTP/2 and HTTP/1.1 by ALPN.
pub fn server_config(current: CurrentCert) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(current)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

struct Resolver(CurrentCert);

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        (self.0)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()]).and_then(|p| p.self_signed(&key)).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_certificate_and_its_key_make_a_certified_key_and_a_stranger_key_does_not() {
        let (cert, key) = pair("gw.test");
        let (_, other_key) = pair("other.test");
        assert!(certified_key(cert.as_bytes(), key.as_bytes()).is_ok());
        assert_eq!(certified_key(cert.as_bytes(), other_key.as_bytes()).err(), Some(TlsError::KeyMismatch));
        assert_eq!(certified_key(key.as_bytes(), key.as_bytes()).err(), Some(TlsError::NoCertificate));
        assert_eq!(certified_key(cert.as_bytes(), cert.as_bytes()).err(), Some(TlsError::NoKey));
    }

    #[test]
    fn a_client_config_takes_an_extra_ca_and_an_identity() {
        let (cert, key) = pair("client.test");
        let extra = ClientTls { ca_pem: Some(cert.as_bytes()), identity: Some((cert.as_bytes(), key.as_bytes())) };
        let config = client_config(&extra).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
        assert!(client_config(&ClientTls { ca_pem: Some(b"junk"), identity: None }).is_err());
    }
}
