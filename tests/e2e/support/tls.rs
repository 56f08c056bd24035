//! A certificate authority made at test time (rcgen), the files a gateway or a destination
//! needs, and an HTTPS test destination: a real TLS server on 127.0.0.1, independent of the
//! gateway's own listener code.

use super::TestDestination;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A CA that issues certificates for tests.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM text.
#[derive(Clone)]
pub struct Issued {
    pub cert: String,
    pub key: String,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    pub fn new() -> Self {
        Self::named("Switchyard test CA")
    }

    /// A CA whose certificate has the common name `name`.
    pub fn named(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        Self { issuer: CertifiedIssuer::self_signed(params, key).unwrap() }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate for `names` (DNS names or IP addresses), signed by this CA.
    pub fn issue(&self, names: &[&str]) -> Issued {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = CertificateParams::new(names).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued { cert: cert.pem(), key: key.serialize_pem() }
    }

    /// A client certificate whose subject's common name is `user` (as PostgreSQL's `cert`
    /// authentication reads it), signed by this CA.
    pub fn issue_for_user(&self, user: &str) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, user);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued { cert: cert.pem(), key: key.serialize_pem() }
    }

    /// Writes the CA certificate into `dir/name` and returns its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        write(dir, name, &self.pem())
    }
}

impl Issued {
    /// Writes `dir/{stem}.crt` and `dir/{stem}.key` (each replaced whole, by rename, as
    /// cert-manager and certbot do) and returns their paths.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        (write(dir, &format!("{stem}.crt"), &self.cert), write(dir, &format!("{stem}.key"), &self.key))
    }

    /// The certificate's DER bytes, to compare with what a server presented.
    pub fn der(&self) -> Vec<u8> {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(self.cert.as_bytes()).map(|c| c.to_vec()).unwrap()
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// A rustls server config presenting `issued`; with `client_ca`, it requires a client
/// certificate signed by that CA (mutual TLS).
pub fn server_config(issued: &Issued, client_ca: Option<&TestCa>) -> Arc<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<_> =
        rustls_pki_types::CertificateDer::pem_slice_iter(issued.cert.as_bytes()).collect::<Result<_, _>>().unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(issued.key.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let der = rustls_pki_types::CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap();
            roots.add(der).unwrap();
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

impl TestDestination {
    /// An HTTPS destination presenting `config`'s certificate; its URLs start with `https://`
    /// and name `host` (which must resolve to 127.0.0.1, like `localhost`).
    pub async fn start_tls(config: Arc<rustls::ServerConfig>, host: &str) -> Self {
        let mut dest = Self::start_with(Some(tokio_rustls::TlsAcceptor::from(config))).await;
        dest.base = format!("https://{host}:{}", dest.addr.port());
        dest
    }
}
