//! HTTPS destinations, against a real TLS receiver on loopback with a CA made at test time:
//! a private CA through `ca_file` works, an untrusted certificate and a wrong host name fail as
//! retried errors that name the TLS problem, and a receiver requiring mutual TLS gets the
//! configured client certificate.

use crate::support::tls::{TestCa, server_config};
use crate::support::toml::Toml;
use crate::support::{TestDestination, TestGateway, dead_letters};

fn table(url: &str, tls: &str) -> Toml {
    let settings = format!("retry = {{ max_attempts = 2, first_ms = 20, max_ms = 50 }}\n{tls}");
    Toml::generic("shop").destination("erp", url, &settings).route("order/*", None, &["erp"])
}

const ORDER: &str = r#"{"scope": "order/created", "n": 1}"#;

#[tokio::test]
async fn a_receiver_with_a_private_ca_is_reached_through_ca_file() {
    let ca = TestCa::new();
    let dest = TestDestination::start_tls(server_config(&ca.issue(&["localhost"]), None), "localhost").await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "ca.pem");
    let toml = table(&dest.url("/erp"), &format!("ca_file = {:?}", ca_file.display().to_string()));
    let gw = TestGateway::start(&toml).await.unwrap();
    assert_eq!(gw.post("shop", ORDER).await.status(), 200);
    let got = dest.wait_for(1).await;
    assert_eq!(got[0].json()["n"], 1);
    assert!(got[0].headers.contains_key("webhook-id"));
    gw.stop().await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_retried_error_that_names_the_tls_problem() {
    let ca = TestCa::new();
    let dest = TestDestination::start_tls(server_config(&ca.issue(&["localhost"]), None), "localhost").await;
    let gw = TestGateway::start(&table(&dest.url("/erp"), "")).await.unwrap();
    assert_eq!(gw.post("shop", ORDER).await.status(), 200);
    let dead = dead_letters(&gw, 1).await.remove(0);
    assert_eq!(dead.attempts, 2, "retried: {dead:?}");
    assert!(dead.error.contains("invalid peer certificate") && dead.error.contains("UnknownIssuer"), "{}", dead.error);
    assert!(dest.received().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn a_certificate_for_another_host_name_is_refused() {
    let ca = TestCa::new();
    let dest = TestDestination::start_tls(server_config(&ca.issue(&["other.test"]), None), "localhost").await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "ca.pem");
    let toml = table(&dest.url("/erp"), &format!("ca_file = {:?}", ca_file.display().to_string()));
    let gw = TestGateway::start(&toml).await.unwrap();
    assert_eq!(gw.post("shop", ORDER).await.status(), 200);
    let dead = dead_letters(&gw, 1).await.remove(0);
    assert!(dead.error.contains("not valid for name"), "{}", dead.error);
    assert!(dest.received().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn a_receiver_that_requires_a_client_certificate_gets_the_configured_one() {
    let (server_ca, client_ca) = (TestCa::new(), TestCa::new());
    let config = server_config(&server_ca.issue(&["localhost"]), Some(&client_ca));
    let dest = TestDestination::start_tls(config, "localhost").await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = server_ca.write(dir.path(), "ca.pem");
    let (cert, key) = client_ca.issue(&["switchyard.test"]).write(dir.path(), "client");
    let tls = format!(
        "ca_file = {:?}\nclient_cert = {:?}\nclient_key = {:?}",
        ca_file.display().to_string(),
        cert.display().to_string(),
        key.display().to_string()
    );
    let gw = TestGateway::start(&table(&dest.url("/erp"), &tls)).await.unwrap();
    assert_eq!(gw.post("shop", ORDER).await.status(), 200);
    assert_eq!(dest.wait_for(1).await.len(), 1);
    gw.stop().await;

    // The same receiver refuses a gateway that presents nothing.
    let plain = format!("ca_file = {:?}", ca_file.display().to_string());
    let gw = TestGateway::start(&table(&dest.url("/erp"), &plain)).await.unwrap();
    assert_eq!(gw.post("shop", ORDER).await.status(), 200);
    let dead = dead_letters(&gw, 1).await.remove(0);
    assert_eq!(dead.attempts, 2, "{dead:?}");
    assert_eq!(dest.received().len(), 1, "only the first gateway's delivery arrived");
    gw.stop().await;
}
