//! Starting in-process servers on 127.0.0.1:0 and building signed assertions.
use std::path::Path;

use serde_json::{Map, Value, json};
use stemedb::Db;
use stemedb::core::SecretKey;
use stemedb_client::wire::{AssertionWire, QueryResponse, Record};
use stemedb_client::{Client, Draft};
use stemedb_server::{AppState, ServerConfig};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The root admin key of in-process test servers (and `STEMEDB_ROOT_API_KEY` of child ones).
pub const ROOT_KEY: &str = "test-root-key-not-secret-0123456789abcdef";

/// reqwest is built with rustls and no crypto provider of its own (the workspace picks ring):
/// a client built before one is installed panics, so every test client is built here.
fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A client that sends no API key.
pub fn unkeyed() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::new()
}

/// A plain HTTP client that sends [`ROOT_KEY`] with every request.
pub fn http() -> reqwest::Client {
    install_tls_provider();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-api-key",
        reqwest::header::HeaderValue::from_static(ROOT_KEY),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The body of `GET url` as text (with [`ROOT_KEY`]), whatever the status.
/// A `winner_only` answer's group against the same group in the full answer: the same
/// winner, score, explanation, totals and page offset, and no page list of its own.
pub fn assert_winner_only_group(group: &Value, full_group: &Value, label: &str) {
    for field in [
        "winner",
        "conflict_score",
        "explanation",
        "assertions_total",
        "assertions_offset",
    ] {
        assert_eq!(group[field], full_group[field], "{label}: {field}");
    }
    assert_eq!(group["assertions"], json!([]), "{label}: winner only");
}

/// The field names of a JSON object, in its order (serde_json's: sorted).
pub fn field_names(value: &Value) -> Vec<String> {
    let object = value.as_object();
    let object = object.unwrap_or_else(|| panic!("not a JSON object: {value}"));
    object.keys().cloned().collect()
}

pub async fn get_text(url: &str) -> String {
    http().get(url).send().await.unwrap().text().await.unwrap()
}

/// Creates an API key of `role` on the server at `url` (with [`ROOT_KEY`]); returns its secret.
pub async fn create_api_key(url: &str, name: &str, role: &str) -> String {
    let created: Value = http()
        .post(format!("{url}/v1/api-keys"))
        .json(&json!({"name": name, "role": role}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key created: {created}"))
        .to_owned()
}

/// POSTs JSON to `url` + `path` with [`ROOT_KEY`]: the status and the JSON answer (`null` if
/// the answer is not JSON).
pub async fn post_json(url: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = http()
        .post(format!("{url}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub struct TestServer {
    pub url: String,
    pub client: Client,
    pub dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> TestServer {
        Self::start_in(tempfile::tempdir().unwrap(), config).await
    }

    /// Starts a server over `dir`. Unless the config says otherwise, [`ROOT_KEY`] is its root
    /// admin key and the client sends it.
    pub async fn start_in(dir: TempDir, mut config: ServerConfig) -> TestServer {
        if config.auth.root_api_key.is_none() {
            config.auth.root_api_key = Some(ROOT_KEY.to_owned());
        }
        let (url, shutdown, task) = serve(dir.path(), config).await;
        let client = Client::new(&url, Some(ROOT_KEY.to_owned())).unwrap();
        TestServer {
            url,
            client,
            dir,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// Graceful stop (finishes commits in flight, closes the store); returns the data directory.
    pub async fn stop(self) -> TempDir {
        let (dir, closed) = self.stop_reporting().await;
        closed.unwrap();
        dir
    }

    /// Stops, returning the data directory and how closing the store went (a fail-stopped
    /// store reports its failure here, so that a supervisor restarts the process).
    pub async fn stop_reporting(mut self) -> (TempDir, std::io::Result<()>) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let mut closed = Ok(());
        if let Some(task) = self.task.take() {
            closed = task.await.unwrap();
        }
        let dir = tempfile::tempdir()
            .map(|spare| std::mem::replace(&mut self.dir, spare))
            .unwrap();
        (dir, closed)
    }

    pub async fn count(&self) -> u64 {
        self.client.health().await.unwrap().assertion_count.unwrap()
    }
}

pub async fn serve(
    dir: &Path,
    config: ServerConfig,
) -> (String, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let db = Db::open(dir, config.db.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (state, _) = AppState::open(db, config).unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(stemedb_server::serve(listener, state, async move {
        let _ = rx.await;
    }));
    (url, tx, task)
}

/// A deterministic agent key from a small seed.
pub fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

/// A body with the required fields; callers add or change the rest.
pub fn body(
    key: &SecretKey,
    agent: &str,
    subject: &str,
    predicate: &str,
    value: Value,
) -> Map<String, Value> {
    Draft::new(agent, subject, predicate, value, "2025-01-01T00:00:00Z").into_body(key)
}

/// Signs a body into its wire form.
pub fn signed(body: Map<String, Value>, key: &SecretKey) -> Value {
    stemedb_client::sign(body, key).unwrap()
}

/// Signs a body as is, bypassing validation, so that the server (not the client) judges it.
pub fn signed_unchecked(body: Map<String, Value>, key: &SecretKey) -> Value {
    let canonical = serde_json_canonicalizer::to_vec(&body).unwrap();
    let id = stemedb::core::AssertionId::of_canonical(&canonical);
    let mut wire = Value::Object(body);
    wire["signature"] = json!(key.sign(&id).to_hex());
    wire
}

/// A signed assertion with a given value, confidence and timestamp.
pub fn claim(
    seed: u8,
    subject: &str,
    predicate: &str,
    value: Value,
    confidence: f64,
    timestamp: &str,
) -> Value {
    let draft = Draft::new(
        &format!("agent/{seed}"),
        subject,
        predicate,
        value,
        timestamp,
    );
    draft.confidence(confidence).sign(&key(seed)).unwrap()
}

/// Rebuilds the signed body from a returned record (docs/signing.md) and checks id and signature.
pub fn verify_record(record: &Value) -> bool {
    let mut body = record.as_object().unwrap().clone();
    for field in stemedb::ENVELOPE_FIELDS {
        body.remove(field);
    }
    let signature =
        stemedb::core::Signature::parse_field(record["signature"].as_str().unwrap(), "signature")
            .unwrap();
    let Ok(parsed) =
        stemedb::core::SignedAssertion::from_body(body, signature, &Default::default())
    else {
        return false;
    };
    parsed.id.to_hex() == record["id"].as_str().unwrap() && parsed.verify()
}

/// The record with this id exactly as served (`None` on 404), for checks of the served bytes:
/// the typed `Client::get` would drop a field that is not part of the wire shape.
pub async fn served_record(
    client: &Client,
    id: &str,
) -> Result<Option<Value>, stemedb_client::ClientError> {
    match client.get_json(&format!("/v1/assertions/{id}"), &[]).await {
        Ok(record) => Ok(Some(record)),
        Err(stemedb_client::ClientError::Problem { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A stored record in the form it was sent in: its signed body and signature.
pub fn resend_form(record: &Record) -> Value {
    serde_json::to_value(AssertionWire {
        body: record.body.clone(),
        signature: record.signature.clone(),
    })
    .unwrap()
}

/// Every page of a query, following `next_cursor` until it is null; panics if a group does
/// not fit in one page of assertions.
pub async fn all_pages(client: &Client, params: &[(&str, &str)]) -> Vec<QueryResponse<Record>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut refs: Vec<(&str, &str)> = params.to_vec();
        if let Some(c) = &cursor {
            refs.push(("cursor", c.as_str()));
        }
        let page = client.query(&refs).await.unwrap();
        // Callers count on every record of every group: a group cut at its page limit would
        // make a record look lost, so say so instead.
        if let Some(g) = page.groups.iter().find(|g| g.assertions_cursor.is_some()) {
            panic!(
                "group ({}, {}) has {} assertions, more than one page: raise assertions_limit",
                g.subject, g.predicate, g.assertions_total
            );
        }
        cursor = page.next_cursor.clone();
        pages.push(page);
        if cursor.is_none() {
            return pages;
        }
    }
}

/// Opens the store in-process, asking again for a few seconds while the directory lock is
/// still held: another test forking a child between our close and this open gives the child a
/// copy of the lock's descriptor until it execs (seen once under the whole suite).
pub fn open_retrying(
    dir: &std::path::Path,
    config: stemedb::DbConfig,
    clock: std::sync::Arc<dyn stemedb::core::Clock>,
) -> stemedb::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match stemedb::Db::open_with_clock(dir, config.clone(), clock.clone()) {
            Err(stemedb::DbError::Store(stemedb::StoreError::Locked { .. }))
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
}

/// Writes `entries` into one keyspace of the storage engine of data directory `dir` (no server
/// or database open on it), synced: damage, or state an older release wrote.
pub fn write_engine_keys(dir: &Path, keyspace: &str, entries: &[(&[u8], &[u8])]) {
    let engine = open_engine(dir);
    let space = engine
        .keyspace(keyspace, fjall::KeyspaceCreateOptions::default)
        .unwrap();
    for (key, value) in entries {
        space.insert(*key, *value).unwrap();
    }
    engine.persist(fjall::PersistMode::SyncAll).unwrap();
}

/// Opens `dir`'s engine (no server or database open on it).
fn open_engine(dir: &Path) -> fjall::Database {
    fjall::Database::builder(dir.join("engine")).open().unwrap()
}

/// The value of `key` in a keyspace of `dir`'s engine (no server on it), `None` when absent.
pub fn read_engine_key(dir: &Path, keyspace: &str, key: &[u8]) -> Option<Vec<u8>> {
    let engine = open_engine(dir);
    let space = engine
        .keyspace(keyspace, fjall::KeyspaceCreateOptions::default)
        .unwrap();
    space.get(key).unwrap().map(|value| value.to_vec())
}

/// Removes `key` from a keyspace of `dir`'s engine (no server on it).
pub fn remove_engine_key(dir: &Path, keyspace: &str, key: &[u8]) {
    let engine = open_engine(dir);
    let space = engine
        .keyspace(keyspace, fjall::KeyspaceCreateOptions::default)
        .unwrap();
    space.remove(key).unwrap();
    engine.persist(fjall::PersistMode::SyncAll).unwrap();
}

/// Makes `dir` (no server on it) a directory of an older format `version` as that release
/// wrote it: every ordinary record keyed in `by_subject` (`records`: subject, predicate,
/// sequence), which format 5 does only for large groups, and no `groups` keyspace when
/// `version` is below 4.
pub fn as_older_format(dir: &Path, version: u32, records: &[(String, String, u64)]) {
    let engine = fjall::Database::builder(dir.join("engine")).open().unwrap();
    let by_subject = engine
        .keyspace("by_subject", fjall::KeyspaceCreateOptions::default)
        .unwrap();
    for (subject, predicate, sequence) in records {
        let mut key = format!("{subject}\0{predicate}\0").into_bytes();
        key.extend_from_slice(&sequence.to_be_bytes());
        by_subject.insert(key, []).unwrap();
    }
    if version < 4 {
        let groups = engine
            .keyspace("groups", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        engine.delete_keyspace(groups).unwrap();
    }
    engine.persist(fjall::PersistMode::SyncAll).unwrap();
    drop(engine);
    std::fs::write(dir.join("FORMAT"), format!("stemedb-format {version}\n")).unwrap();
}

/// A `Db` whose writer runs `in_window` once, in its `after_sync` hook, for the first commit
/// after `arm`: after that commit's fsync and before its sequence is published, the window in
/// which no reader may see it yet.
pub struct SyncWindow {
    pub db: std::sync::Arc<Db>,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SyncWindow {
    pub fn open(
        dir: &Path,
        in_window: impl Fn(std::sync::Arc<Db>) + Send + Sync + 'static,
    ) -> SyncWindow {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, OnceLock, Weak};
        let slot: Arc<OnceLock<Weak<Db>>> = Arc::default();
        let armed = Arc::new(AtomicBool::new(false));
        let hook = {
            let (slot, armed) = (slot.clone(), armed.clone());
            stemedb::SyncHook(Arc::new(move |_durable: u64| {
                let db = slot.get().and_then(Weak::upgrade);
                if let Some(db) = db.filter(|_| armed.swap(false, Ordering::SeqCst)) {
                    in_window(db);
                }
            }))
        };
        let config = stemedb::DbConfig {
            after_sync: Some(hook),
            ..stemedb::DbConfig::default()
        };
        let db = Arc::new(Db::open(dir, config).unwrap());
        slot.set(Arc::downgrade(&db)).unwrap();
        SyncWindow { db, armed }
    }

    /// The next commit's window runs `in_window`.
    pub fn arm(&self) {
        self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A whole number from the environment (a seed, a count of rounds): `None` when `name` is
/// unset. A value that is set but no number fails the test, so that a typo never runs the
/// default in its place without a word.
pub fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
    )
}

/// A count of rounds, seeds or points from the environment, `default` when unset: at least 1,
/// since a run of none would check nothing and pass.
pub fn env_count(name: &str, default: u64) -> u64 {
    let count = env_number(name).unwrap_or(default);
    assert!(count >= 1, "{name}=0 would check nothing: give at least 1");
    count
}
