//! The ingest listener over TLS, with real TLS clients on loopback: HTTP/1.1 and HTTP/2 by
//! ALPN (reqwest with rustls, and curl with OpenSSL), and a renewed certificate picked up
//! without a restart while requests keep flowing — none fails — while a broken one keeps the
//! old certificate serving and says why.

use crate::support::tls::{Issued, TestCa};
use crate::support::{PATIENCE, TestGateway};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const TABLE: &str = r#"
[server]
tls = { cert = "ingest.crt", key = "ingest.key" }

[sources.shop]
provider = "generic"
scope_field = "scope"
"#;

const ORDER: &str = r#"{"scope": "order/created"}"#;

/// A gateway serving TLS with `issued`, its files beside its routes.toml.
async fn gateway(issued: &Issued, watch: bool) -> TestGateway {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.toml"), TABLE).unwrap();
    issued.write(dir.path(), "ingest");
    TestGateway::start_in(dir, watch).await.unwrap()
}

fn client(ca: &TestCa) -> reqwest::ClientBuilder {
    let root = reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap();
    reqwest::Client::builder().tls_built_in_root_certs(false).add_root_certificate(root).timeout(PATIENCE)
}

fn url(gw: &TestGateway) -> String {
    format!("https://localhost:{}/hooks/shop", gw.gateway.ingest_addr.port())
}

/// The certificate a fresh handshake with the gateway is given.
async fn presented(gw: &TestGateway, ca: &TestCa) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls_pki_types::CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap();
    roots.add(der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(gw.gateway.ingest_addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("handshake");
    tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()).unwrap_or_default()
}

#[tokio::test]
async fn webhooks_arrive_over_http2_and_http1_with_tls() {
    let ca = TestCa::new();
    let gw = gateway(&ca.issue(&["localhost"]), false).await;
    let h2 = client(&ca).build().unwrap();
    let answer = h2.post(url(&gw)).body(ORDER).send().await.unwrap();
    assert_eq!((answer.status().as_u16(), answer.version()), (200, reqwest::Version::HTTP_2));
    let h1 = client(&ca).http1_only().build().unwrap();
    let answer = h1.post(url(&gw)).body(ORDER).send().await.unwrap();
    assert_eq!((answer.status().as_u16(), answer.version()), (200, reqwest::Version::HTTP_11));
    let plain = reqwest::Client::new().post(gw.url("/hooks/shop")).body(ORDER).send().await;
    assert!(plain.is_err(), "plain HTTP is not served on a TLS listener");
    gw.stop().await;
}

#[tokio::test]
async fn curl_with_openssl_posts_over_http2() {
    let ca = TestCa::new();
    let gw = gateway(&ca.issue(&["localhost"]), false).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "ca.pem");
    let url = url(&gw);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "--http2", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--cacert"])
            .arg(&ca_file)
            .args(["-H", "content-type: application/json", "--data", ORDER, &url])
            .output()
    })
    .await
    .unwrap();
    let Ok(out) = out else {
        eprintln!("skipped: curl is not installed");
        return;
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 2", "{}", String::from_utf8_lossy(&out.stderr));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_renewed_certificate_serves_new_connections_with_no_failed_request_and_a_broken_one_changes_nothing() {
    let ca = TestCa::new();
    let (first, renewed) = (ca.issue(&["localhost"]), ca.issue(&["localhost"]));
    let gw = Arc::new(gateway(&first, true).await);
    assert_eq!(presented(&gw, &ca).await, first.der());

    // Load: every request on a new connection, so every one does a handshake.
    let client = client(&ca).pool_max_idle_per_host(0).build().unwrap();
    let (ok, failed, stop) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, ok, failed, stop) = (client.clone(), url(&gw), ok.clone(), failed.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match client.post(&url).body(ORDER).send().await {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        other => {
                            eprintln!("failed: {other:?}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    while ok.load(Ordering::Relaxed) < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    renewed.write(gw.dir.path(), "ingest");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while presented(&gw, &ca).await != renewed.der() {
        assert!(tokio::time::Instant::now() < deadline, "the renewed certificate was not picked up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_swap = ok.load(Ordering::Relaxed);
    while ok.load(Ordering::Relaxed) < at_swap + 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A broken certificate: rejected, the renewed one keeps serving, and the status says why.
    let seq = gw.gateway.live.status().seq;
    std::fs::write(gw.dir.path().join("ingest.crt"), "not a certificate").unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while gw.gateway.live.status().seq == seq {
        assert!(tokio::time::Instant::now() < deadline, "the broken certificate was not noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = gw.gateway.live.status();
    assert!(!status.applied);
    assert!(status.errors.iter().any(|e| e.text.contains("server.tls.cert")), "{:?}", status.errors);
    assert_eq!(presented(&gw, &ca).await, renewed.der());

    stop.store(true, Ordering::Relaxed);
    for task in load {
        let _ = task.await;
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed across the swaps");
    assert!(ok.load(Ordering::Relaxed) >= at_swap + 50);
}
