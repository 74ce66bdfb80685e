//! API keys and roles at the router: the authorization matrix over every OpenAPI route and
//! every kind of key, bodies that ask for a higher role, and key revocation and rotation.
use std::collections::BTreeSet;

use serde_json::{Value, json};
use stemedb_server::auth::{Access, ROUTES, Role};

use crate::harness::{ROOT_KEY, TestServer};

/// The kinds of credential the matrix tries.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    None,
    Malformed,
    Wrong,
    Expired,
    Revoked,
    Read,
    Write,
    Admin,
}

const KINDS: [Kind; 8] = [
    Kind::None,
    Kind::Malformed,
    Kind::Wrong,
    Kind::Expired,
    Kind::Revoked,
    Kind::Read,
    Kind::Write,
    Kind::Admin,
];

/// Sends one request with an optional `X-API-Key`; returns the status and the JSON body.
async fn call(
    url: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = crate::harness::unkeyed().request(method, format!("{url}{path}"));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Creates a key through the API with the root key; returns (id, secret).
async fn create_key(url: &str, body: Value) -> (String, String) {
    let (status, reply) = call(url, "POST", "/v1/api-keys", Some(ROOT_KEY), Some(body)).await;
    assert_eq!(status, 201, "{reply}");
    (
        reply["id"].as_str().unwrap().to_owned(),
        reply["key"].as_str().unwrap().to_owned(),
    )
}

/// One secret per kind of credential.
async fn credentials(url: &str) -> Vec<(Kind, Option<String>)> {
    let mut out = vec![
        (Kind::None, None),
        (Kind::Malformed, Some("not a key at all".to_owned())),
        (Kind::Wrong, Some(format!("sdb_{}", "ab".repeat(32)))),
    ];
    let (_, expired) = create_key(
        url,
        json!({"name": "expired", "role": "admin", "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    out.push((Kind::Expired, Some(expired)));
    let (revoked_id, revoked) = create_key(url, json!({"name": "revoked", "role": "admin"})).await;
    let path = format!("/v1/api-keys/{revoked_id}/revoke");
    assert_eq!(call(url, "POST", &path, Some(ROOT_KEY), None).await.0, 200);
    out.push((Kind::Revoked, Some(revoked)));
    for (kind, role) in [
        (Kind::Read, "read"),
        (Kind::Write, "write"),
        (Kind::Admin, "admin"),
    ] {
        let (_, secret) = create_key(url, json!({"name": role, "role": role})).await;
        out.push((kind, Some(secret)));
    }
    out
}

/// The routes docs/security.md lists: (method, route, least role).
fn documented_routes() -> BTreeSet<(String, String, String)> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/security.md"
    ))
    .unwrap();
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            match cells.as_slice() {
                ["", method, route, role, ""]
                    if method.starts_with('`') && route.starts_with("`/") =>
                {
                    Some((
                        method.trim_matches('`').into(),
                        route.trim_matches('`').into(),
                        role.to_string(),
                    ))
                }
                _ => None,
            }
        })
        .collect()
}

fn access_name(access: Access) -> String {
    match access {
        Access::Open => "open".into(),
        Access::Needs(role) => role.name().into(),
    }
}

/// What a credential kind must get on a route needing `access`: `Err(status)` for a refusal,
/// `Ok(())` for "let through" (any status but 401 and 403).
fn expected(kind: Kind, access: Access) -> Result<(), u16> {
    let role = match kind {
        Kind::None if access == Access::Open => return Ok(()),
        Kind::None | Kind::Malformed | Kind::Wrong | Kind::Expired | Kind::Revoked => {
            return Err(401);
        }
        Kind::Read => Role::Read,
        Kind::Write => Role::Write,
        Kind::Admin => Role::Admin,
    };
    match access {
        Access::Needs(required) if role < required => Err(403),
        _ => Ok(()),
    }
}

fn concrete(route: &str) -> String {
    route.replace("{id}", &"0".repeat(64))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_openapi_route_is_in_the_matrix_and_each_kind_of_key_gets_its_answer() {
    let server = TestServer::start().await;
    let url = &server.url;
    let (status, openapi) = call(url, "GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let documented = documented_routes();
    let table: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .map(|(m, p, a)| ((*m).to_owned(), (*p).to_owned(), access_name(*a)))
        .collect();
    assert_eq!(
        documented, table,
        "docs/security.md and the server's access table differ"
    );
    let mut routes = Vec::new();
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let row = table.iter().find(|(m, p, _)| *m == method && p == path);
            assert!(
                row.is_some(),
                "{method} {path} is missing from the authorization matrix"
            );
            routes.push((method, path.clone()));
        }
    }
    assert!(
        routes.len() >= 30,
        "only {} routes in /openapi.json",
        routes.len()
    );
    let credentials = credentials(url).await;
    let mut checked = 0;
    for (method, path) in &routes {
        let access = ROUTES
            .iter()
            .find(|(m, p, _)| m == method && p == path)
            .map(|(_, _, a)| *a)
            .unwrap();
        for (kind, secret) in &credentials {
            let body = (method != "GET").then(|| json!({}));
            let (status, reply) = call(url, method, &concrete(path), secret.as_deref(), body).await;
            let what = format!("{kind:?} key on {method} {path}: {status} {reply}");
            match expected(*kind, access) {
                Err(want) => assert_eq!(status, want, "{what}"),
                Ok(()) => assert!(status != 401 && status != 403 && status < 500, "{what}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * KINDS.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_request_body_raises_the_callers_role() {
    let server = TestServer::start().await;
    let url = &server.url;
    let (write_id, write) = create_key(url, json!({"name": "w", "role": "write"})).await;
    let (_, read) = create_key(url, json!({"name": "r", "role": "read"})).await;
    let cases = [
        (
            "POST",
            "/v1/api-keys".to_owned(),
            &write,
            json!({"name": "x", "role": "admin"}),
        ),
        (
            "PATCH",
            format!("/v1/api-keys/{write_id}"),
            &write,
            json!({"role": "admin"}),
        ),
        (
            "POST",
            "/v1/admin/curators".to_owned(),
            &write,
            json!({"agent_id": "agent/x", "role": "admin"}),
        ),
        (
            "POST",
            "/v1/assert".to_owned(),
            &read,
            json!({"role": "admin", "api_key": ROOT_KEY}),
        ),
    ];
    for (method, path, key, body) in cases {
        let (status, reply) = call(url, method, &path, Some(key), Some(body.clone())).await;
        assert_eq!(status, 403, "{method} {path} with {body}: {reply}");
    }
    let (_, keys) = call(url, "GET", "/v1/api-keys", Some(ROOT_KEY), None).await;
    let roles: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["write", "read"], "no key changed role");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_stops_at_once_and_a_rotated_secret_stops_after_its_grace() {
    let mut config = stemedb_server::ServerConfig::default();
    // Long enough for the rotation's answer and the read after it on a loaded machine.
    config.auth.rotation_grace_ms = 4_000;
    let server = TestServer::start_with(config).await;
    let url = &server.url;
    let (id, old) = create_key(url, json!({"name": "rotating", "role": "read"})).await;
    let (status, rotated) = call(
        url,
        "POST",
        &format!("/v1/api-keys/{id}/rotate"),
        Some(ROOT_KEY),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        call(url, "GET", "/v1/quarantine", Some(&old), None).await.0,
        200,
        "old secret in grace"
    );
    assert_eq!(
        call(url, "GET", "/v1/quarantine", Some(&new), None).await.0,
        200,
        "new secret"
    );
    tokio::time::sleep(std::time::Duration::from_millis(4_200)).await;
    let (status, reply) = call(url, "GET", "/v1/quarantine", Some(&old), None).await;
    assert_eq!(status, 401, "old secret after its grace: {reply}");
    assert_eq!(
        call(url, "GET", "/v1/quarantine", Some(&new), None).await.0,
        200
    );
    assert_eq!(
        call(
            url,
            "POST",
            &format!("/v1/api-keys/{id}/revoke"),
            Some(ROOT_KEY),
            None
        )
        .await
        .0,
        200
    );
    let (status, reply) = call(url, "GET", "/v1/quarantine", Some(&new), None).await;
    assert_eq!(status, 401, "revoked: {reply}");
    // Bearer is accepted like X-API-Key, and the admin audit log names each action.
    let audit = crate::harness::unkeyed()
        .get(format!("{url}/v1/admin/audit"))
        .bearer_auth(ROOT_KEY)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["api_key.create", "api_key.rotate", "api_key.revoke"]
    );
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "root" && e["target"] == id.as_str())
    );
    // Its page size is 1 to 10,000, refused outside (it was clamped silently, 0 taken).
    for (query, status) in [
        ("limit=1", 200),
        ("limit=10000", 200),
        ("limit=0", 400),
        ("limit=10001", 400),
        ("limit=x", 400),
    ] {
        let path = format!("/v1/admin/audit?{query}");
        let (got, reply) = call(url, "GET", &path, Some(ROOT_KEY), None).await;
        assert_eq!(got, status, "{query}: {reply}");
        if status == 400 {
            assert_eq!(
                reply["type"], "urn:stemedb:problem:invalid-query",
                "{query}: {reply}"
            );
            assert_eq!(reply["field"], "limit", "{query}: {reply}");
        } else {
            assert!(
                !reply["entries"].as_array().unwrap().is_empty(),
                "{query}: {reply}"
            );
        }
    }
}

/// Every secret a key's life produces: the bootstrap key, a created key, its rotated secret,
/// the root key. A child server logs at its default level, as text and then as JSON; all of
/// its output, and `config show`'s, must hold none of them.
#[test]
fn no_secret_or_key_material_appears_in_any_log_line() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("server.log");
    let root = "root-key-that-must-never-be-logged-0123456789";
    let mut secrets: Vec<String> = vec![root.to_owned()];
    for (round, format) in ["text", "json"].into_iter().enumerate() {
        let data = dir.path().join(format!("data{round}"));
        let log_file = std::fs::File::create(&logs).unwrap();
        let mut child = Command::new(crate::child::BIN)
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--log-format",
                format,
                "--data-dir",
            ])
            .arg(&data)
            .env_remove("STEMEDB_ROOT_API_KEY")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let url = crate::child::read_listening_line(&mut child);
        let bootstrap = std::fs::read_to_string(data.join("admin.key"))
            .unwrap()
            .trim()
            .to_owned();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(data.join("admin.key"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(
            mode & 0o777,
            0o600,
            "admin.key is readable only by its owner"
        );
        secrets.push(bootstrap.clone());
        // The custodial-signing master key the first start created is a secret too.
        let master = std::fs::read_to_string(data.join("master.key")).unwrap();
        secrets.push(master.trim().to_owned());
        secrets.extend(key_lifecycle(&url, &bootstrap));
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let text = std::fs::read_to_string(&logs).unwrap();
        assert!(
            text.contains("admin.key"),
            "the log says where the bootstrap key is: {text}"
        );
        check_no_secrets(&text, &secrets, &format!("{format} log"));
    }
    let master = "ab".repeat(32);
    secrets.push(master.clone());
    let shown = Command::new(crate::child::BIN)
        .args(["config", "show", "--json"])
        .env("STEMEDB_ROOT_API_KEY", root)
        .env("STEMEDB_MASTER_KEY", &master)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout) + String::from_utf8_lossy(&shown.stderr);
    assert!(shown.contains("root_api_key"), "{shown}");
    check_no_secrets(&shown, &secrets, "config show");
}

/// Creates, uses (X-API-Key and Bearer), rotates, revokes and misuses a key; returns the
/// secrets it saw.
fn key_lifecycle(url: &str, admin: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (status, created) = call(
            url,
            "POST",
            "/v1/api-keys",
            Some(admin),
            Some(json!({"name": "life", "role": "write"})),
        )
        .await;
        assert_eq!(status, 201);
        let (id, first) = (
            created["id"].as_str().unwrap().to_owned(),
            created["key"].as_str().unwrap().to_owned(),
        );
        assert_eq!(
            call(url, "GET", "/v1/quarantine", Some(&first), None)
                .await
                .0,
            200
        );
        let bearer = crate::harness::unkeyed()
            .get(format!("{url}/v1/quarantine"))
            .bearer_auth(&first)
            .send()
            .await
            .unwrap();
        assert_eq!(bearer.status(), 200);
        let (_, rotated) = call(
            url,
            "POST",
            &format!("/v1/api-keys/{id}/rotate"),
            Some(admin),
            None,
        )
        .await;
        let second = rotated["key"].as_str().unwrap().to_owned();
        assert_eq!(
            call(
                url,
                "POST",
                "/v1/assert",
                Some(&second),
                Some(json!({"bad": true}))
            )
            .await
            .0,
            422
        );
        assert_eq!(
            call(
                url,
                "POST",
                &format!("/v1/api-keys/{id}/revoke"),
                Some(admin),
                None
            )
            .await
            .0,
            200
        );
        assert_eq!(
            call(url, "GET", "/v1/quarantine", Some(&second), None)
                .await
                .0,
            401
        );
        let typo = format!("{}x", &second[..second.len() - 1]);
        assert_eq!(
            call(url, "GET", "/v1/quarantine", Some(&typo), None)
                .await
                .0,
            401
        );
        assert_eq!(
            call(url, "GET", "/v1/nowhere", Some(&first), None).await.0,
            404
        );
        vec![first, second, typo]
    })
}

/// Fails if any secret, its hex part, or its stored hash appears in `text`.
fn check_no_secrets(text: &str, secrets: &[String], what: &str) {
    for secret in secrets {
        let hash = blake3::hash(secret.as_bytes()).to_hex().to_string();
        let material = [
            secret.as_str(),
            secret.trim_start_matches("sdb_"),
            hash.as_str(),
        ];
        for m in material {
            assert!(
                !text.contains(m),
                "{what} contains key material ({} chars)",
                m.len()
            );
        }
    }
}

/// The bootstrap admin key (written at a first start without a root key) is not rate limited,
/// as the root key is not: tools run with their defaults measure the server (issue 11).
#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_admin_key_is_not_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = stemedb_server::ServerConfig::default();
    config.auth.admin_rate_per_sec = 1;
    let (url, shutdown, task) = crate::harness::serve(dir.path(), config).await;
    let key = std::fs::read_to_string(dir.path().join("admin.key")).unwrap();
    let client = stemedb_client::Client::new(&url, Some(key.trim().to_owned())).unwrap();
    for i in 0..20 {
        let answer = client.get_json("/v1/admin/status", &[]).await;
        assert!(answer.is_ok(), "request {i}: {answer:?}");
    }
    let _ = shutdown.send(());
    task.await.unwrap().unwrap();
}
