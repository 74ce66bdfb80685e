//! A real cluster on loopback for tests: three NATS servers forming a JetStream cluster
//! (`scripts/nats.sh`, which installs the pinned nats-server itself) and StemeDB child
//! processes in cluster mode, each with its own data directory. A test that cannot get NATS
//! fails, loudly: it never passes without having run.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::child::{BIN, read_listening_line};
use crate::harness::{ROOT_KEY, http};

/// The custodial master key every node shares (configuration, docs/cluster.md).
pub const MASTER_KEY: &str = "6d6173746572206b6579206f66207468652074657374206e6f74207365637265";

fn nats_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/nats.sh")
}

/// Three NATS servers, stopped when dropped.
pub struct Nats {
    pub dir: TempDir,
    pub urls: String,
}

impl Nats {
    pub fn start() -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let output = nats_sh(dir.path(), "start");
        assert!(
            output.status.success(),
            "CLUSTER TESTS CANNOT RUN: scripts/nats.sh cluster start failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let urls = std::fs::read_to_string(dir.path().join("urls")).unwrap();
        Nats {
            urls: urls.trim().to_owned(),
            dir,
        }
    }

    /// Stops all three servers and starts them again on the same ports and data.
    pub fn restart(&self) {
        self.run("stop");
        self.run("start");
    }

    /// The log stream's last sequence, asked of JetStream itself. A node's view of it is
    /// refreshed once per heartbeat and, after every NATS server restarted, stays stale until
    /// its monitor reconnects: waiting on that view let a test read a node before it applied
    /// an acknowledged write (a CI failure). Asks again while the stream has no leader yet.
    pub async fn log_last_sequence(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.try_log_last_sequence().await {
                Ok(sequence) => return sequence,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "the log stream's state from NATS within 30 s: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn try_log_last_sequence(&self) -> Result<u64, String> {
        let mut last_error = String::from("no NATS URL");
        for url in self.urls.split(',') {
            let client = match async_nats::connect(url).await {
                Ok(client) => client,
                Err(e) => {
                    last_error = format!("{url}: {e}");
                    continue;
                }
            };
            let js = async_nats::jetstream::new(client);
            let mut stream = js
                .get_stream(stemedb_cluster::LOG_STREAM)
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let info = stream.info().await.map_err(|e| format!("{url}: {e}"))?;
            return Ok(info.state.last_sequence);
        }
        Err(last_error)
    }

    /// Runs `scripts/nats.sh cluster <command>` (stop, start) on this cluster's directory.
    pub fn run(&self, command: &str) {
        let output = nats_sh(self.dir.path(), command);
        assert!(
            output.status.success(),
            "scripts/nats.sh cluster {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// `scripts/nats.sh cluster <command> <dir>`, its output.
fn nats_sh(dir: &Path, command: &str) -> std::process::Output {
    Command::new("bash")
        .arg(nats_script())
        .args(["cluster", command])
        .arg(dir)
        .output()
        .expect("run scripts/nats.sh")
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = nats_sh(self.dir.path(), "stop");
    }
}

/// One StemeDB node in cluster mode.
pub struct Node {
    pub id: String,
    pub url: String,
    pub data: PathBuf,
    child: Child,
}

impl Node {
    /// Starts node `id` on `data` against the NATS servers `urls`.
    pub fn start(id: &str, data: &Path, urls: &str) -> Node {
        let mut child = Command::new(BIN)
            .args(["serve", "--data-dir"])
            .arg(data)
            .args(["--bind", "127.0.0.1:0", "--cluster", urls, "--node-id", id])
            .args(["--cluster-heartbeat-ms", "200"])
            .env("STEMEDB_ROOT_API_KEY", ROOT_KEY)
            .env("STEMEDB_MASTER_KEY", MASTER_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn stemedb serve --cluster");
        let url = read_listening_line(&mut child);
        Node {
            id: id.to_owned(),
            url,
            data: data.to_owned(),
            child,
        }
    }

    /// SIGKILL: nothing of the shutdown path runs.
    pub fn kill(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.data.clone()
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = http()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(
            status.is_success(),
            "{} GET {path}: {status} {body}",
            self.id
        );
        body
    }

    /// The last log-stream sequence this node applied.
    pub async fn applied_stream(&self) -> u64 {
        self.health_sequence("applied_stream_sequence").await
    }

    /// A sequence from this node's `/v1/cluster/health`.
    async fn health_sequence(&self, field: &str) -> u64 {
        let health = self.get("/v1/cluster/health").await;
        health[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: health without {field}: {health}", self.id))
    }

    /// Waits until this node has applied the stream up to `stream_seq`.
    pub async fn wait_applied(&self, stream_seq: u64) {
        self.wait_health("applied_stream_sequence", stream_seq)
            .await;
    }

    /// Waits until this node's view of the stream's end (refreshed once per heartbeat)
    /// reaches `stream_seq`.
    pub async fn wait_seen(&self, stream_seq: u64) {
        self.wait_health("stream_sequence", stream_seq).await;
    }

    async fn wait_health(&self, field: &str, stream_seq: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let reached = self.health_sequence(field).await;
            if reached >= stream_seq {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {field} only {reached} of {stream_seq} within 30 s",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every record this node holds as (sequence, id, recorded_at), from the backup stream.
    pub async fn log(&self) -> Vec<(u64, String, String)> {
        let last = self.get("/v1/admin/backup").await["last_sequence"]
            .as_u64()
            .unwrap();
        let text =
            crate::harness::get_text(&format!("{}/v1/admin/backup/records?upto={last}", self.url))
                .await;
        text.lines()
            .map(|line| {
                let record: Value = serde_json::from_str(line).unwrap();
                let canonical = record["canonical"].as_str().unwrap();
                let id = stemedb::core::AssertionId::of_canonical(canonical.as_bytes());
                (
                    record["sequence"].as_u64().unwrap(),
                    id.to_hex(),
                    record["recorded_at"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A digest over (sequence, id, recorded_at) of a node's whole log.
pub fn digest(log: &[(u64, String, String)]) -> String {
    let mut hasher = blake3::Hasher::new();
    for (sequence, id, recorded_at) in log {
        hasher.update(&sequence.to_be_bytes());
        hasher.update(id.as_bytes());
        hasher.update(recorded_at.as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}
