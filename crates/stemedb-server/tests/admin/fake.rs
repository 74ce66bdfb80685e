//! An in-process admin stream and the nodes that commit through it, as the cluster transport
//! will run them, and the key and custodial steps the routes take.
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::json;
use stemedb_server::ApiError;
use stemedb_server::admin_state::{
    APPLIED_FILE_NAME, AdminCommit, AdminPublish, AdminState, Audited, CommitFuture,
};
use stemedb_server::auth::{AuthConfig, KeyChange, KeyRecord, NewKey, Principal, Role};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const MASTER_KEY: [u8; 32] = [7; 32];
pub const ROOT_KEY: &str = "a-root-key-for-these-tests-0123456789";
pub const KEY_FILE: &str = "api-keys.json";
pub const AGENT_FILE: &str = "agent-keys.json";
pub const AUDIT_FILE: &str = "admin-audit.jsonl";
pub const NODE_FILES: [&str; 4] = [KEY_FILE, AGENT_FILE, AUDIT_FILE, APPLIED_FILE_NAME];

/// The admin stream: assigns sequences in arrival order and applies each entry to every node
/// before the commit resolves. While `hold` is above 0, commits wait until that many have
/// arrived, then all are delivered in arrival order: a race of nodes that computed their
/// changes from the same state.
#[derive(Default)]
pub struct Stream {
    entries: Vec<Vec<u8>>,
    nodes: Vec<Arc<AdminState>>,
    hold: usize,
    held: Vec<(Vec<u8>, Reply)>,
}

impl Stream {
    fn deliver(&mut self, bytes: Vec<u8>) -> Result<u64, String> {
        self.entries.push(bytes.clone());
        let seq = self.entries.len() as u64;
        for node in &self.nodes {
            node.apply_bytes(seq, &bytes).map_err(|e| e.to_string())?;
        }
        Ok(seq)
    }
}

/// Where a held commit's answer goes.
type Reply = oneshot::Sender<Result<u64, String>>;

pub struct Publisher(Arc<Mutex<Stream>>);

impl AdminPublish for Publisher {
    fn commit(&self, bytes: Vec<u8>) -> CommitFuture {
        let mut stream = self.0.lock().unwrap();
        if stream.hold == 0 {
            return Box::pin(std::future::ready(stream.deliver(bytes)));
        }
        let (tx, rx) = oneshot::channel();
        stream.held.push((bytes, tx));
        if stream.held.len() == stream.hold {
            stream.hold = 0;
            for (bytes, tx) in std::mem::take(&mut stream.held) {
                let _ = tx.send(stream.deliver(bytes));
            }
        }
        Box::pin(async move { rx.await.unwrap_or_else(|e| Err(e.to_string())) })
    }
}

pub struct Node {
    pub dir: TempDir,
    pub commit: Arc<AdminCommit>,
}

impl Node {
    pub fn state(&self) -> &Arc<AdminState> {
        self.commit.state()
    }

    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.path().join(name)).ok()
    }

    pub fn files(&self) -> Vec<Option<Vec<u8>>> {
        NODE_FILES.iter().map(|name| self.file(name)).collect()
    }

    pub fn key(&self, id: &str) -> Option<KeyRecord> {
        let auth = self.state().auth();
        auth.update_keys(|keys| Ok(keys.get(id).cloned())).unwrap()
    }

    /// The id of the key `secret` opens on this node, if it opens one and is not retired.
    pub fn opens(&self, secret: &str) -> Option<String> {
        let auth = self.state().auth();
        auth.update_keys(|keys| {
            Ok(keys
                .lookup(secret)
                .filter(|(_, s)| s.valid_until.is_none())
                .map(|(k, _)| k.id.clone()))
        })
        .unwrap()
    }
}

pub struct Cluster {
    pub stream: Arc<Mutex<Stream>>,
    pub nodes: Vec<Node>,
}

pub fn auth_config(root_key: bool) -> AuthConfig {
    AuthConfig {
        root_api_key: root_key.then(|| ROOT_KEY.to_owned()),
        ..AuthConfig::default()
    }
}

pub fn open_state(dir: &Path, master_key: &[u8; 32], root_key: bool) -> AdminState {
    AdminState::open(dir, auth_config(root_key), master_key)
        .unwrap()
        .0
}

/// `count` nodes over their own directories, each committing through one stream. With
/// `root_key`, no node makes a bootstrap admin key, so every node starts with no files.
pub fn cluster(count: usize, root_key: bool) -> Cluster {
    let stream = Arc::new(Mutex::new(Stream::default()));
    let nodes = (0..count)
        .map(|_| {
            let dir = TempDir::new().unwrap();
            let state = Arc::new(open_state(dir.path(), &MASTER_KEY, root_key));
            stream.lock().unwrap().nodes.push(Arc::clone(&state));
            let publish = Arc::new(Publisher(Arc::clone(&stream)));
            let commit = Arc::new(AdminCommit::replicated(state, publish));
            Node { dir, commit }
        })
        .collect();
    Cluster { stream, nodes }
}

impl Cluster {
    pub fn entries(&self) -> Vec<Vec<u8>> {
        self.stream.lock().unwrap().entries.clone()
    }

    pub fn hold(&self, commits: usize) {
        self.stream.lock().unwrap().hold = commits;
    }

    /// Every node holds the same files, having applied the whole stream.
    pub fn check_converged(&self, step: &str) {
        let first = self.nodes[0].files();
        let applied = self.entries().len() as u64;
        for (index, node) in self.nodes.iter().enumerate() {
            assert_eq!(
                node.files(),
                first,
                "{step}: node {index} differs from node 0"
            );
            assert_eq!(node.state().applied_seq(), applied, "{step}: node {index}");
        }
    }

    /// No stream entry holds `secret`.
    pub fn check_never_published(&self, secret: &str, step: &str) {
        for entry in self.entries() {
            let text = String::from_utf8(entry).unwrap();
            assert!(
                !text.contains(secret),
                "{step}: a secret went into the stream"
            );
        }
    }
}

pub fn audited(action: &str) -> Audited {
    Audited::new("key_test", action)
}

pub fn new_key(name: &str, role: Role) -> NewKey {
    NewKey {
        name: name.into(),
        role,
        expires_at: None,
        rate_limit_per_sec: None,
        agent_ids: vec!["agent/a".into()],
    }
}

/// One key-management step, as the routes make it, on node `on`.
#[derive(Debug)]
pub enum KeyStep {
    Create {
        on: usize,
        name: &'static str,
    },
    Rotate {
        on: usize,
        key: usize,
    },
    Revoke {
        on: usize,
        key: usize,
    },
    Rename {
        on: usize,
        key: usize,
        name: &'static str,
    },
}

/// What a step answered: the key as applied and, from create and rotate, the secret that must
/// open it on every node.
pub async fn run_step(
    commit: &AdminCommit,
    step: &KeyStep,
    ids: &[String],
) -> Result<(KeyRecord, Option<String>), ApiError> {
    match *step {
        KeyStep::Create { name, .. } => {
            let new = new_key(name, Role::Write);
            let detail = |k: &KeyRecord| json!({"name": k.name});
            let (key, secret) = commit
                .create_key(new, audited("api_key.create"), detail)
                .await?;
            Ok((key, Some(secret)))
        }
        KeyStep::Rotate { key, .. } => {
            let rotate = |k: &KeyRecord, now| k.rotated(now, 60_000);
            let detail = |_: &KeyRecord| Ok(json!({"grace_ms": 60_000}));
            let (key, secret) = commit
                .change_key(&ids[key], audited("api_key.rotate"), rotate, detail)
                .await?;
            Ok((key, Some(secret)))
        }
        KeyStep::Revoke { key, .. } => {
            let revoke = |k: &KeyRecord, now| Ok((k.revoked(now), ()));
            let detail = |_: &KeyRecord| Ok(json!({}));
            let (key, ()) = commit
                .change_key(&ids[key], audited("api_key.revoke"), revoke, detail)
                .await?;
            Ok((key, None))
        }
        KeyStep::Rename { key, name, .. } => {
            let change = KeyChange {
                name: Some(name.into()),
                ..KeyChange::default()
            };
            let rename = |k: &KeyRecord, _| Ok((k.updated(change.clone()), ()));
            let detail = |k: &KeyRecord| Ok(json!({"name": k.name}));
            let (key, ()) = commit
                .change_key(&ids[key], audited("api_key.update"), rename, detail)
                .await?;
            Ok((key, None))
        }
    }
}

pub fn node_of(step: &KeyStep) -> usize {
    match *step {
        KeyStep::Create { on, .. }
        | KeyStep::Rotate { on, .. }
        | KeyStep::Revoke { on, .. }
        | KeyStep::Rename { on, .. } => on,
    }
}

pub fn principal(agents: &[&str]) -> Principal {
    Principal {
        key_id: "key_custodial".into(),
        name: "custodial".into(),
        role: Role::Write,
        agent_ids: agents.iter().map(|a| (*a).to_owned()).collect(),
    }
}

/// Signs an unsigned body for `agent` through `commit` as the write routes do (on a blocking
/// thread); returns the public key it was signed with.
pub async fn sign_on(cluster: &Cluster, on: usize, agent: &'static str) -> String {
    let commit = Arc::clone(&cluster.nodes[on].commit);
    let sign = move || -> Result<String, ApiError> {
        let body = json!({"subject": "s/1", "predicate": "p", "value": 1, "agent_id": agent});
        let caller = principal(&[agent]);
        let limits = stemedb::core::Limits::default();
        let now = stemedb_server::auth::now();
        let custody = commit.state().custody();
        let signed = custody.prepare(&*commit, Some(&caller), None, body, now, &limits)?;
        Ok(signed["public_key"].as_str().unwrap_or_default().to_owned())
    };
    tokio::task::spawn_blocking(sign).await.unwrap().unwrap()
}

/// How many custodial keys node `on` holds, and the public key it holds for `agent`.
pub fn custodial(cluster: &Cluster, on: usize, agent: &str) -> (usize, Option<String>) {
    let custody = cluster.nodes[on].state().custody();
    let key = custody.key(agent).unwrap();
    let count = custody.sealed_keys().unwrap().len();
    (count, key.map(|k| k.public_key().to_hex()))
}
