//! TLS: a child server started with a self-signed certificate the test generates answers
//! HTTPS to a client that trusts that certificate, and nothing to one that does not or to
//! plain HTTP.
use std::ffi::OsStr;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::child::ChildServer;
use crate::harness::ROOT_KEY;

/// Sends one HTTP/1.1 GET over TLS, trusting `roots`; returns the raw response.
async fn https_get(
    address: &str,
    roots: rustls::RootCertStore,
    path: &str,
) -> std::io::Result<String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {ROOT_KEY}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await?;
    Ok(response)
}

/// A child server with a self-signed certificate for `localhost`, made in `dir`, started with
/// `more` arguments besides; the certificate and the paths of its PEM files.
fn tls_child(
    dir: &std::path::Path,
    more: &[&str],
) -> (
    ChildServer,
    rcgen::CertifiedKey<rcgen::KeyPair>,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut extra = vec![
        OsStr::new("--tls-cert-path"),
        cert_path.as_os_str(),
        OsStr::new("--tls-key-path"),
        key_path.as_os_str(),
    ];
    extra.extend(more.iter().map(OsStr::new));
    let server = ChildServer::start_with(&dir.join("data"), &extra);
    (server, cert, cert_path, key_path)
}

/// The server's `host:port`, and roots that trust its certificate.
fn address_and_roots(
    server: &ChildServer,
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
) -> (String, rustls::RootCertStore) {
    let address = server.url.strip_prefix("https://").expect("an https URL");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.cert.der().to_vec()))
        .unwrap();
    (address.to_owned(), roots)
}

/// `count` clients connected over TCP that never start a handshake.
async fn silent_clients(address: &str, count: usize) -> Vec<tokio::net::TcpStream> {
    let mut silent = Vec::new();
    for _ in 0..count {
        silent.push(tokio::net::TcpStream::connect(address).await.unwrap());
    }
    silent
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_with_a_certificate_speaks_https_and_only_https() {
    let dir = tempfile::tempdir().unwrap();
    let (server, cert, _, _) = tls_child(dir.path(), &[]);
    let (address, roots) = address_and_roots(&server, &cert);
    // Clients that connect and never start a handshake hold up no one: each handshake waits
    // in its own connection's task.
    let silent = silent_clients(&address, 4).await;
    // (A handshake times out after 10 s: answered within 5, it did not wait behind theirs.)
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        https_get(&address, roots, "/v1/health"),
    )
    .await
    .expect("answered while silent clients wait")
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"assertion_count\":0"), "{response}");

    let stranger = https_get(&address, rustls::RootCertStore::empty(), "/v1/health").await;
    assert!(
        stranger.is_err(),
        "a client that does not trust the certificate gets nothing"
    );

    let plain = crate::harness::http()
        .get(format!("http://{address}/v1/health"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP gets no answer: {plain:?}");
    drop(silent);
    assert_eq!(server.terminate(), Some(0));
}

/// Clients in their handshake hold places under the connection cap: past it a client gets,
/// over TLS, `503 too-many-connections`. A shutdown does not wait for handshakes (they time
/// out after 10 s; the server ends well before).
#[tokio::test(flavor = "multi_thread")]
async fn past_the_cap_a_tls_client_is_refused_and_a_stop_waits_for_no_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let (server, cert, _, _) = tls_child(dir.path(), &["--connections-max", "2"]);
    let (address, roots) = address_and_roots(&server, &cert);
    let silent = silent_clients(&address, 2).await;
    // The accept loop takes the silent ones in order: give it a moment to have taken both.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let refused = https_get(&address, roots, "/v1/health").await.unwrap();
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.contains("urn:stemedb:problem:too-many-connections"),
        "{refused}"
    );
    let stopping = std::time::Instant::now();
    assert_eq!(server.terminate(), Some(0));
    let stop_ms = stopping.elapsed().as_millis();
    assert!(
        stop_ms < 5_000,
        "the stop waited {stop_ms} ms for handshakes"
    );
    drop(silent);
}

/// The CLI talks to an https:// server whose certificate it is told to trust (`--ca-cert`),
/// and refuses one it does not trust, in a sentence.
#[test]
fn the_cli_speaks_https_to_a_server_it_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, cert_path, key_path) = tls_child(dir.path(), &[]);
    let url = server.url.replace("127.0.0.1", "localhost");
    let ca = cert_path.to_str().unwrap();
    let check = |extra: &[&str], ok: bool, want: &str| {
        let args = [
            &["query", "--subject", "s/*", "--server", url.as_str()][..],
            extra,
        ]
        .concat();
        let (done, stdout, stderr) = crate::cli::run(&args);
        assert_eq!(done, ok, "{extra:?}: {stdout}{stderr}");
        assert!(
            stdout.contains(want) || stderr.contains(want),
            "{extra:?}: {stdout}{stderr}"
        );
    };
    check(&["--ca-cert", ca], true, "(no assertions match)");
    check(&[], false, "is not trusted");
    check(
        &["--ca-cert", key_path.to_str().unwrap()],
        false,
        "no certificate in it",
    );
}
