//! Cross-site protection (issue 10, item 7): the `Host` allow-list (DNS rebinding) and the
//! CORS policy, deny by default; their settings and serve flags. Raw TCP, so that the test
//! sets `Host` and `Origin` as a browser or an attacker would.
use stemedb_server::{AppState, ServerConfig};

use crate::harness::ROOT_KEY;
use crate::http_strict::{addr, check, header, key_count, open_server, raw};

#[tokio::test(flavor = "multi_thread")]
async fn a_loopback_bind_answers_only_loopback_host_names_and_the_allow_list() {
    let config = ServerConfig {
        allowed_hosts: vec!["db.internal".into()],
        ..ServerConfig::default()
    };
    let server = open_server(config).await;
    let address = addr(&server);
    let port = address.rsplit(':').next().unwrap().to_owned();
    let cases: Vec<(String, u16)> = vec![
        ("localhost".into(), 200),
        (format!("localhost:{port}"), 200),
        ("LOCALHOST:1".into(), 200),
        (format!("127.0.0.1:{port}"), 200),
        ("127.3.4.5".into(), 200),
        (format!("[::1]:{port}"), 200),
        ("db.internal:8080".into(), 200),
        ("evil.example".into(), 421),
        (format!("evil.example:{port}"), 421),
        ("localhost.evil.example".into(), 421),
        ("127.0.0.1.evil.example".into(), 421),
        ("[::2]".into(), 421),
        ("db.internal.evil.example".into(), 421),
    ];
    for (host, status) in cases {
        let host_line = format!("host: {host}");
        let kind = (status == 421).then_some("host-not-allowed");
        for (method, path) in [("GET", "/v1/health"), ("GET", "/v1/api-keys")] {
            let request = raw(method, path, &[&host_line], b"");
            check(
                &address,
                &format!("{path} with Host {host}"),
                &request,
                status,
                kind,
            )
            .await;
        }
    }
    // DNS rebinding: a page on evil.example posting to its own origin, now 127.0.0.1.
    let rebound = raw(
        "POST",
        "/v1/api-keys",
        &[
            "host: evil.example",
            "origin: http://evil.example",
            "content-type: application/json",
        ],
        br#"{"name": "pwned", "role": "admin"}"#,
    );
    check(
        &address,
        "rebound POST",
        &rebound,
        421,
        Some("host-not-allowed"),
    )
    .await;
    assert_eq!(key_count(&server).await, 0);
}

/// Serves on 0.0.0.0:0 (not loopback); returns the address to connect to and the stop sender.
async fn serve_on_all_interfaces(
    config: ServerConfig,
) -> (String, tempfile::TempDir, tokio::sync::oneshot::Sender<()>) {
    let dir = tempfile::tempdir().unwrap();
    let db = stemedb::Db::open(dir.path(), config.db.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (state, _) = AppState::open(db, config).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(stemedb_server::serve(listener, state, async move {
        let _ = rx.await;
    }));
    (format!("127.0.0.1:{port}"), dir, tx)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_loopback_bind_checks_host_only_against_an_allow_list() {
    let mut config = ServerConfig::default();
    config.auth.root_api_key = Some(ROOT_KEY.into());
    let (address, _dir, _stop) = serve_on_all_interfaces(config.clone()).await;
    for host in ["evil.example", "db.example.org", "10.1.2.3:80"] {
        let request = raw("GET", "/v1/health", &[&format!("host: {host}")], b"");
        check(
            &address,
            &format!("open list, Host {host}"),
            &request,
            200,
            None,
        )
        .await;
    }
    config.allowed_hosts = vec!["db.example.org".into()];
    let (address, _dir, _stop) = serve_on_all_interfaces(config).await;
    for (host, status) in [
        ("db.example.org", 200),
        ("DB.example.org:443", 200),
        ("evil.example", 421),
        ("localhost", 421),
    ] {
        let request = raw("GET", "/v1/health", &[&format!("host: {host}")], b"");
        let kind = (status == 421).then_some("host-not-allowed");
        check(
            &address,
            &format!("allow-list, Host {host}"),
            &request,
            status,
            kind,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_is_deny_by_default_and_allows_only_configured_origins() {
    let evil = "origin: https://evil.example";
    let create = |origin: &str| {
        raw(
            "POST",
            "/v1/api-keys",
            &[origin, "content-type: application/json"],
            br#"{"name": "k", "role": "read"}"#,
        )
    };
    let preflight = |origin: &str| {
        raw(
            "OPTIONS",
            "/v1/api-keys",
            &[
                origin,
                "access-control-request-method: POST",
                "access-control-request-headers: content-type, x-api-key",
            ],
            b"",
        )
    };
    // Deny by default.
    let server = open_server(ServerConfig::default()).await;
    let address = addr(&server);
    let read = check(
        &address,
        "GET from a foreign origin",
        &raw("GET", "/v1/health", &[evil], b""),
        200,
        None,
    )
    .await;
    assert_eq!(header(&read, "access-control-allow-origin"), None, "{read}");
    let refused = check(
        &address,
        "preflight from a foreign origin",
        &preflight(evil),
        403,
        Some("origin-not-allowed"),
    )
    .await;
    assert_eq!(
        header(&refused, "access-control-allow-origin"),
        None,
        "{refused}"
    );
    check(
        &address,
        "POST from a foreign origin",
        &create(evil),
        403,
        Some("origin-not-allowed"),
    )
    .await;
    check(
        &address,
        "POST from origin null",
        &create("origin: null"),
        403,
        Some("origin-not-allowed"),
    )
    .await;
    assert_eq!(key_count(&server).await, 0, "no key was created");
    // The server's own origin (the API browser at /docs) and requests without Origin are served.
    let own = format!("origin: http://{address}");
    let localhost = format!(
        "origin: http://localhost:{}",
        address.rsplit(':').next().unwrap()
    );
    let localhost_host = format!("host: localhost:{}", address.rsplit(':').next().unwrap());
    check(
        &address,
        "POST from its own origin",
        &create(&own).replace_host(&address),
        201,
        None,
    )
    .await;
    check(
        &address,
        "POST from localhost to localhost",
        &raw(
            "POST",
            "/v1/api-keys",
            &[
                &localhost_host,
                &localhost,
                "content-type: application/json",
            ],
            br#"{"name": "k", "role": "read"}"#,
        ),
        201,
        None,
    )
    .await;
    check(
        &address,
        "POST without Origin",
        &create("x-none: 1"),
        201,
        None,
    )
    .await;
    // A configured origin.
    let app = "https://app.example";
    let config = ServerConfig {
        cors_origins: vec![app.into()],
        ..ServerConfig::default()
    };
    let server = open_server(config).await;
    let address = addr(&server);
    let allowed = format!("origin: {app}");
    let answer = check(
        &address,
        "preflight from the configured origin",
        &preflight(&allowed),
        204,
        None,
    )
    .await;
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        Some(app),
        "{answer}"
    );
    let methods = header(&answer, "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{answer}"
    );
    let headers = header(&answer, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        headers.contains("x-api-key") && headers.contains("content-type"),
        "{answer}"
    );
    let created = check(
        &address,
        "POST from the configured origin",
        &create(&allowed),
        201,
        None,
    )
    .await;
    assert_eq!(
        header(&created, "access-control-allow-origin"),
        Some(app),
        "{created}"
    );
    assert!(
        header(&created, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")),
        "{created}"
    );
    check(
        &address,
        "POST from another origin",
        &create(evil),
        403,
        Some("origin-not-allowed"),
    )
    .await;
    check(
        &address,
        "preflight from another origin",
        &preflight(evil),
        403,
        Some("origin-not-allowed"),
    )
    .await;
}

/// Replaces the `host: localhost` line of a raw request with the server's own address.
trait ReplaceHost {
    fn replace_host(&self, address: &str) -> Vec<u8>;
}

impl ReplaceHost for Vec<u8> {
    fn replace_host(&self, address: &str) -> Vec<u8> {
        let text = String::from_utf8(self.clone()).unwrap();
        text.replacen("host: localhost\r\n", &format!("host: {address}\r\n"), 1)
            .into_bytes()
    }
}

#[test]
fn host_and_origin_settings_outside_their_form_are_refused_by_name() {
    let hosts = |h: &str| ServerConfig {
        allowed_hosts: vec![h.into()],
        ..ServerConfig::default()
    };
    let origins = |o: &str| ServerConfig {
        cors_origins: vec![o.into()],
        ..ServerConfig::default()
    };
    for (config, name) in [
        (hosts("https://db.example"), "allowed_hosts"),
        (hosts("*.example"), "allowed_hosts"),
        (hosts(""), "allowed_hosts"),
        (origins("*"), "cors_origins"),
        (origins("app.example"), "cors_origins"),
        (origins("https://app.example/path"), "cors_origins"),
        (origins("null"), "cors_origins"),
    ] {
        let error = config.check().unwrap_err();
        assert!(error.contains(name), "{name}: {error}");
    }
    for config in [
        hosts("db.example"),
        hosts("db.example:8443"),
        origins("https://app.example:8443"),
        origins("http://[::1]:18180"),
    ] {
        assert!(config.check().is_ok(), "{config:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_serve_flags_set_the_host_and_origin_lists() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::child::ChildServer::start_with(
        dir.path(),
        &[
            "--allowed-hosts".as_ref(),
            "db.internal,other.internal".as_ref(),
            "--cors-origins".as_ref(),
            "https://app.example".as_ref(),
        ],
    );
    let address = server.url.trim_start_matches("http://").to_owned();
    let get = |host: &str, origin: &str| {
        raw(
            "GET",
            "/v1/health",
            &[&format!("host: {host}"), &format!("origin: {origin}")],
            b"",
        )
    };
    for (host, status) in [("other.internal", 200), ("evil.example", 421)] {
        check(
            &address,
            host,
            &get(host, "https://x.example"),
            status,
            None,
        )
        .await;
    }
    let answer = check(
        &address,
        "cors",
        &get("localhost", "https://app.example"),
        200,
        None,
    )
    .await;
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        Some("https://app.example"),
        "{answer}"
    );
}
