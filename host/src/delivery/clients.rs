//! The HTTP clients deliveries go out on: one for every destination that trusts the default
//! roots, and one per distinct TLS setup (`ca_file`, `client_cert`/`client_key`), each with
//! its own connection pool, made on first use and kept across reloads while in use.
//!
//! Clients do not follow redirects: a POST redirected with 301/302 would arrive as a GET
//! without its body, so a 3xx is an answer like any other non-2xx (retried, then dead-lettered)
//! and the operator fixes the destination's URL. This file builds clients; it never sends.

use crate::config::model::Destination;
use crate::tls::{self, ClientTls, TlsError};
use std::collections::HashMap;
use std::sync::Mutex;

/// Distinct TLS setups kept at most; past it the cache starts over (reloads that keep changing
/// CA files would otherwise grow it without bound).
const MAX_CLIENTS: usize = 64;

/// The clients, by TLS setup.
#[derive(Debug)]
pub struct Clients {
    default: reqwest::Client,
    custom: Mutex<HashMap<[u8; 32], reqwest::Client>>,
}

impl Clients {
    /// The default client, trusting the system's roots (or webpki's), ready now.
    pub fn new() -> Result<Self, TlsError> {
        Ok(Self { default: build(&ClientTls::default())?, custom: Mutex::default() })
    }

    /// The client for `destination`'s TLS setup.
    pub fn for_destination(&self, destination: &Destination) -> Result<reqwest::Client, TlsError> {
        let extra = ClientTls {
            ca_pem: destination.ca.as_ref().map(|pem| &*pem.bytes),
            identity: destination.identity.as_ref().map(|id| (&*id.cert.bytes, &*id.key.bytes)),
        };
        if extra == ClientTls::default() {
            return Ok(self.default.clone());
        }
        let key = fingerprint(&extra);
        let mut custom = self.custom.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = custom.get(&key) {
            return Ok(client.clone());
        }
        let client = build(&extra)?;
        if custom.len() >= MAX_CLIENTS {
            custom.clear();
        }
        custom.insert(key, client.clone());
        Ok(client)
    }
}

fn build(extra: &ClientTls<'_>) -> Result<reqwest::Client, TlsError> {
    reqwest::Client::builder()
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .use_preconfigured_tls(tls::client_config(extra)?)
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))
}

/// SHA-256 over the setup's PEM bytes, each part length-prefixed.
fn fingerprint(extra: &ClientTls<'_>) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let (cert, key) = extra.identity.unzip();
    for part in [extra.ca_pem, cert, key] {
        let bytes = part.unwrap_or_default();
        h.update((bytes.len() as u64 + u64::from(part.is_some())).to_le_bytes());
        h.update(bytes);
    }
    h.finalize().into()
}
