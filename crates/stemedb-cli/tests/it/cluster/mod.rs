//! Cluster mode end to end (issue 12): three real NATS servers forming a JetStream cluster and
//! StemeDB nodes in cluster mode, over loopback HTTP. One cluster serves the whole scenario
//! (starting one costs seconds); each step is a function named for what it proves, and a
//! failure names the step and the node.
mod nodes;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stemedb::core::SplitMix64;

use crate::harness::{body, key, post_json, signed, verify_record};
use nodes::{Nats, Node, digest};

/// The seed of the set-full step's schedule (`STEMEDB_CLUSTER_SEED` replays another).
const SEED_DEFAULT: u64 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_apply_one_log() {
    let nats = Nats::start();
    let data = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| Node::start(id, &data.path().join(id), &nats.urls))
        .collect();
    a_write_on_one_node_is_read_on_every_node(&nodes).await;
    grants_made_on_one_node_act_on_every_node(&nodes).await;
    api_keys_and_custodial_keys_made_on_one_node_act_on_every_node(&nodes).await;
    concurrent_writes_to_random_nodes_leave_every_node_with_the_same_log(&nodes, &nats).await;
    concurrent_single_writes_to_one_node_are_published_in_groups(&nodes[0]).await;
    let n3 = nodes.pop().unwrap();
    let n3 = a_killed_node_is_marked_down_and_catches_up_after_a_restart(&nodes, n3, &nats).await;
    nodes.push(n3);
    a_node_with_an_empty_data_directory_catches_up_in_full(&nodes, &nats, data.path()).await;
    a_write_without_nats_is_refused_with_503_and_stored_once_when_retried(&nodes, &nats).await;
    the_nodes_resume_after_every_nats_server_restarts(&nodes, &nats).await;
    entries_not_written_by_a_node_of_the_cluster_are_refused_everywhere(&nodes, &nats, data.path())
        .await;
    a_node_missing_admin_entries_stops_its_admin_applier_by_name(&nodes, &nats, data.path()).await;
}

/// Admin entries are kept for good: one gone from the stream (purged here, all but the last)
/// stops a joining node's admin applier, named in its health, where it was skipped over and
/// the change it held (a key, a revocation) lost on that node alone.
async fn a_node_missing_admin_entries_stops_its_admin_applier_by_name(
    nodes: &[Node],
    nats: &Nats,
    data: &std::path::Path,
) {
    // The entry kept is a node's own (the run before ended on a forged one, which a joining
    // node's master-key check would refuse).
    let create = json!({"name": "after-purge", "role": "read"});
    let (status, created) = post(&nodes[0], "/v1/api-keys", &create).await;
    assert_eq!(status, 201, "API key created on n1: {created}");
    let client = async_nats::connect(nats.urls.split(',').next().unwrap())
        .await
        .expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    let mut admin = js
        .get_stream(stemedb_cluster::ADMIN_STREAM)
        .await
        .expect("the admin stream");
    let last = admin
        .info()
        .await
        .expect("admin stream info")
        .state
        .last_sequence;
    assert!(last > 1, "the run before wrote admin entries");
    admin.purge().keep(1).await.expect("purge all but the last");
    let node = Node::start("n6", &data.join("n6"), &nats.urls);
    let missing = format!("admin entries 1 to {} are missing", last - 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = node.get("/v1/cluster/health").await;
        if health["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&missing))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "n6's health names the missing admin entries ({missing}): {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs node `node_id` on `data` against the NATS servers `urls`, with `extra` arguments,
/// `master_key` (none: neither setting) and `RUST_BACKTRACE=1`, which must exit: its stderr,
/// checked to hold no panic and no backtrace.
fn refused_start(
    data: &std::path::Path,
    node_id: &str,
    urls: &str,
    extra: &[&str],
    master_key: Option<&str>,
) -> String {
    let mut command = std::process::Command::new(crate::child::BIN);
    command.args(["serve", "--data-dir"]).arg(data);
    command.args([
        "--bind",
        "127.0.0.1:0",
        "--node-id",
        node_id,
        "--cluster",
        urls,
    ]);
    command.args(extra);
    command.env_remove("STEMEDB_MASTER_KEY_FILE");
    match master_key {
        Some(key) => command.env("STEMEDB_MASTER_KEY", key),
        None => command.env_remove("STEMEDB_MASTER_KEY"),
    };
    let output = command.env("RUST_BACKTRACE", "1").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "it exits: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "no panic, no backtrace: {stderr}"
    );
    stderr
}

/// The last line of a refused start's stderr: what a person reads.
fn last_line(stderr: &str) -> &str {
    stderr.lines().last().unwrap_or_default()
}

/// Cluster mode without a master key given refuses to start, before it connects anywhere: a key
/// each node created for itself would differ, and the entry tags derive from it.
#[test]
fn a_node_without_a_master_key_refuses_to_start_in_cluster_mode() {
    let data = tempfile::tempdir().unwrap();
    let stderr = refused_start(data.path(), "n1", "nats://127.0.0.1:9", &[], None);
    assert!(
        last_line(&stderr).contains("master key is required in cluster mode"),
        "a reason a person can read: {stderr}"
    );
    assert!(
        !data.path().join("master.key").exists(),
        "no key of its own was created"
    );
}

/// A node whose NATS never answers keeps trying for `--cluster-join-wait-ms`, then exits with
/// an error a person can read: the node, the redacted URL, no backtrace (RUST_BACKTRACE=1 is
/// set on these machines).
#[test]
fn a_node_without_nats_gives_up_after_the_join_wait_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // free once the listener is dropped: nothing answers there
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let url = format!("nats://user:secret@127.0.0.1:{port}");
    let wait = ["--cluster-join-wait-ms", "1500"];
    let stderr = refused_start(data.path(), "n1", &url, &wait, Some(nodes::MASTER_KEY));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(20),
        "it tried for the join wait, then stopped: {waited:?}"
    );
    let last = last_line(&stderr);
    assert!(
        last.starts_with("error: joining the cluster as node n1")
            && last.contains(&format!("127.0.0.1:{port}")),
        "the last line names the node and the URL: {stderr}"
    );
    assert!(
        !stderr.contains("secret"),
        "the password is redacted: {stderr}"
    );
}

async fn post(node: &Node, path: &str, payload: &Value) -> (u16, Value) {
    post_json(&node.url, path, payload).await
}

/// Waits until every node has applied the log stream as far as JetStream says it reaches, and
/// its health reports the stream reaching that far.
async fn wait_all_applied(nodes: &[Node], nats: &Nats) -> u64 {
    let last = nats.log_last_sequence().await;
    for node in nodes {
        node.wait_applied(last).await;
        node.wait_seen(last).await;
    }
    last
}

async fn a_write_on_one_node_is_read_on_every_node(nodes: &[Node]) {
    let signer = key(1);
    let record = signed(
        body(
            &signer,
            "agent/1",
            "drug/aspirin/dosage",
            "recommended_mg",
            json!(81),
        ),
        &signer,
    );
    let (status, answer) = post(&nodes[0], "/v1/assert", &record).await;
    assert_eq!(status, 201, "write on n1: {answer}");
    let (sequence, id) = (answer["sequence"].as_u64().unwrap(), answer["id"].clone());
    for node in nodes {
        let path = format!(
            "/v1/query?subject=drug/aspirin/dosage&predicate=recommended_mg&min_sequence={sequence}"
        );
        let found = node.get(&path).await;
        let group = &found["groups"][0];
        let winner = &group["winner"];
        assert_eq!(
            winner["id"], id,
            "{} serves the record written on n1",
            node.id
        );
        assert_eq!(
            winner["sequence"].as_u64(),
            Some(sequence),
            "{}: same sequence",
            node.id
        );
        assert!(verify_record(winner), "{}: the record verifies", node.id);
    }
    let (status, again) = post(&nodes[1], "/v1/assert", &record).await;
    assert_eq!(status, 200, "the same record sent to n2: {again}");
    assert_eq!(
        again["duplicate"],
        json!(true),
        "a re-sent record is a duplicate"
    );
    assert_eq!(
        again["sequence"].as_u64(),
        Some(sequence),
        "with its sequence"
    );
}

async fn grants_made_on_one_node_act_on_every_node(nodes: &[Node]) {
    for (route, agent) in [
        ("/v1/admin/curators", "agent/curator"),
        ("/v1/admin/trust-roots", "agent/root"),
    ] {
        let (status, answer) = post(&nodes[0], route, &json!({"agent_id": agent})).await;
        assert_eq!(status, 201, "grant {route} on n1: {answer}");
        assert!(answer["effective_after_sequence"].is_u64(), "{answer}");
        for node in nodes {
            wait_for_role(node, route, agent).await;
        }
    }
}

/// Waits (bounded) until `node` lists `agent` under `route`.
async fn wait_for_role(node: &Node, route: &str, agent: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = node.get(route).await;
        let agents = list["agent_ids"].as_array().unwrap();
        if agents.iter().any(|a| a == agent) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never lists {agent} under {route}: {list}",
            node.id
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// POSTs with a given API key.
async fn post_as(node: &Node, key: &str, path: &str, payload: &Value) -> (u16, Value) {
    let response = crate::harness::unkeyed()
        .post(format!("{}{path}", node.url))
        .header("x-api-key", key)
        .json(payload)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn api_keys_and_custodial_keys_made_on_one_node_act_on_every_node(nodes: &[Node]) {
    let create =
        json!({"name": "cluster-writer", "role": "write", "agent_ids": ["agent/custodial"]});
    let (status, created) = post(&nodes[0], "/v1/api-keys", &create).await;
    assert_eq!(status, 201, "API key created on n1: {created}");
    let (key, key_id) = (
        created["key"].as_str().unwrap(),
        created["id"].as_str().unwrap(),
    );
    // An unsigned write for a bound agent makes its custodial key on the node it reaches;
    // the key travels with the admin stream, so every node signs for the agent with it.
    let mut public_keys = BTreeSet::new();
    for (i, node) in nodes.iter().enumerate() {
        let unsigned = json!({"subject": format!("cluster/custodial/{i}"), "predicate": "p",
            "value": i, "agent_id": "agent/custodial", "timestamp": "2025-01-01T00:00:00Z"});
        let (status, answer) = post_as(node, key, "/v1/assert", &unsigned).await;
        assert_eq!(
            status, 201,
            "the key made on n1 writes through {}: {answer}",
            node.id
        );
        let id = answer["id"].as_str().unwrap();
        let record = node.get(&format!("/v1/assertions/{id}")).await;
        public_keys.insert(record["public_key"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        public_keys.len(),
        1,
        "one custodial key for the agent on every node: {public_keys:?}"
    );
    let (status, revoked) = post(
        &nodes[1],
        &format!("/v1/api-keys/{key_id}/revoke"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "revoked on n2: {revoked}");
    let probe = json!({"subject": "cluster/custodial/after", "predicate": "p", "value": 1,
        "agent_id": "agent/custodial", "timestamp": "2025-01-01T00:00:00Z"});
    for node in nodes {
        let (status, answer) = post_as(node, key, "/v1/assert", &probe).await;
        assert_eq!(
            status, 401,
            "the key revoked on n2 is refused by {}: {answer}",
            node.id
        );
    }
}

/// What one writer task was acknowledged: id → sequence.
type Acked = BTreeMap<String, u64>;

async fn concurrent_writes_to_random_nodes_leave_every_node_with_the_same_log(
    nodes: &[Node],
    nats: &Nats,
) {
    let seed = crate::harness::env_number("STEMEDB_CLUSTER_SEED").unwrap_or(SEED_DEFAULT);
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let writers: Vec<_> = (0..6u64)
        .map(|writer| tokio::spawn(write_randomly(urls.clone(), seed ^ (writer << 32), writer)))
        .collect();
    let mut acked = Acked::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }
    assert!(
        acked.len() >= 6 * 20,
        "seed {seed}: the writers were acknowledged"
    );
    wait_all_applied(nodes, nats).await;
    let mut digests = BTreeSet::new();
    for node in nodes {
        let log = node.log().await;
        let ids: BTreeMap<&str, u64> = log.iter().map(|(s, id, _)| (id.as_str(), *s)).collect();
        assert_eq!(
            ids.len(),
            log.len(),
            "seed {seed}: {} holds an id twice",
            node.id
        );
        for (id, sequence) in &acked {
            assert_eq!(
                ids.get(id.as_str()),
                Some(sequence),
                "seed {seed}: {} lacks acknowledged {id} at its sequence",
                node.id
            );
        }
        digests.insert(digest(&log));
    }
    assert_eq!(
        digests.len(),
        1,
        "seed {seed}: every node's (sequence, id) digest is equal"
    );
}

/// One writer: 20 rounds, each to a random node, of a single record or a batch of 5.
async fn write_randomly(urls: Vec<String>, seed: u64, writer: u64) -> Acked {
    let mut rng = SplitMix64::new(seed);
    let signer = key(100 + writer as u8);
    let agent = format!("agent/writer-{writer}");
    let mut acked = Acked::new();
    for round in 0..20u64 {
        let url = &urls[(rng.next_u64() % urls.len() as u64) as usize];
        let record = |i: u64| {
            let subject = format!("set/{writer}/{round}/{i}");
            signed(
                body(&signer, &agent, &subject, "value", json!(round)),
                &signer,
            )
        };
        if rng.next_u64().is_multiple_of(2) {
            let (status, answer) = post_json(url, "/v1/assert", &record(0)).await;
            assert_eq!(status, 201, "seed {seed}: a write acknowledged: {answer}");
            let sequence = answer["sequence"].as_u64().unwrap();
            acked.insert(answer["id"].as_str().unwrap().to_owned(), sequence);
        } else {
            let batch = json!({"assertions": (0..5).map(record).collect::<Vec<_>>()});
            let (status, answer) = post_json(url, "/v1/assert/batch", &batch).await;
            assert_eq!(status, 200, "seed {seed}: a batch answered: {answer}");
            for item in answer["results"].as_array().expect("batch results") {
                assert_eq!(item["status"], 201, "batch item acknowledged: {item}");
                let id = item["id"].as_str().unwrap().to_owned();
                acked.insert(id, item["sequence"].as_u64().unwrap());
            }
        }
    }
    acked
}

/// 64 single writes at once to one node, each by its own agent (so that no per-agent bound
/// orders them): each is acknowledged with its own sequence, and the node published them in
/// fewer groups than writes (its `stemedb_replication_group_writes` summary: more writes than
/// groups).
async fn concurrent_single_writes_to_one_node_are_published_in_groups(node: &Node) {
    let writes: Vec<_> = (0..64u8)
        .map(|i| {
            let signer = key(150 + i);
            let agent = format!("agent/grouped-{i}");
            let record = signed(
                body(&signer, &agent, &format!("group/{i}"), "v", json!(i)),
                &signer,
            );
            let url = node.url.clone();
            tokio::spawn(async move { post_json(&url, "/v1/assert", &record).await })
        })
        .collect();
    let mut sequences = BTreeSet::new();
    for write in writes {
        let (status, answer) = write.await.unwrap();
        assert_eq!(status, 201, "a grouped write acknowledged: {answer}");
        sequences.insert(answer["sequence"].as_u64().unwrap());
    }
    assert_eq!(sequences.len(), 64, "each write has its own sequence");
    let metrics = crate::harness::get_text(&format!("{}/metrics", node.url)).await;
    let value = |name: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(name));
        line.and_then(|l| l.split_whitespace().last()?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics:\n{metrics}"))
    };
    let (writes, groups) = (
        value("stemedb_replication_group_writes_sum"),
        value("stemedb_replication_group_writes_count"),
    );
    assert!(
        writes > groups,
        "some group held several writes: {writes} writes in {groups} groups"
    );
}

async fn a_killed_node_is_marked_down_and_catches_up_after_a_restart(
    nodes: &[Node],
    n3: Node,
    nats: &Nats,
) -> Node {
    let before = nats.log_last_sequence().await;
    let applied_before = n3.applied_stream().await;
    let data = n3.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let members = nodes[0].get("/v1/cluster/members").await;
        let status = members["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["node_id"] == "n3")
            .map(|m| m["status"].clone());
        if status == Some(json!("down")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "n3 is not marked down within 30 s: {members}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acked = write_randomly(vec![nodes[0].url.clone()], 77, 9).await;
    let n3 = Node::start("n3", &data, &nats.urls);
    assert!(
        n3.applied_stream().await >= applied_before.min(before),
        "n3 restarted from its own applied sequence, not from zero"
    );
    let all = [&nodes[0], &nodes[1], &n3];
    let last = nats.log_last_sequence().await;
    for node in all {
        node.wait_applied(last).await;
    }
    let logs: Vec<_> = futures_join(all.iter().map(|n| n.log())).await;
    assert_eq!(
        digest(&logs[2]),
        digest(&logs[0]),
        "the restarted n3 equals n1"
    );
    let ids: BTreeSet<&str> = logs[2].iter().map(|(_, id, _)| id.as_str()).collect();
    assert!(
        acked.keys().all(|id| ids.contains(id.as_str())),
        "n3 has what was written while it was down"
    );
    n3
}

async fn a_node_with_an_empty_data_directory_catches_up_in_full(
    nodes: &[Node],
    nats: &Nats,
    data: &std::path::Path,
) {
    let n4 = Node::start("n4", &data.join("n4"), &nats.urls);
    let last = wait_all_applied(nodes, nats).await;
    n4.wait_applied(last).await;
    assert_eq!(
        digest(&n4.log().await),
        digest(&nodes[0].log().await),
        "a node started on an empty data directory holds the same log as n1"
    );
}

/// The nodes' publish timeout: the default, long enough to ride out the leader elections after
/// every NATS server restarts (a 2 s one failed a CI run there).
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(10_000);

/// With no NATS server running, a write cannot reach a quorum: past the publish timeout it is
/// refused with 503 `replication-unavailable` and `Retry-After`, never acknowledged. A client
/// that retries as told once NATS is back (the stream is found again only after the servers
/// elect its leader) has it stored once (the same id), on every node.
async fn a_write_without_nats_is_refused_with_503_and_stored_once_when_retried(
    nodes: &[Node],
    nats: &Nats,
) {
    let signer = key(40);
    let record = signed(
        body(
            &signer,
            "agent/40",
            "cluster/quorum",
            "step",
            json!("no nats"),
        ),
        &signer,
    );
    nats.run("stop");
    let started = Instant::now();
    let response = crate::harness::http()
        .post(format!("{}/v1/assert", nodes[0].url))
        .json(&record)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").cloned();
    let problem: Value = response.json().await.unwrap_or(Value::Null);
    nats.run("start");
    assert_eq!(status, 503, "a write with no NATS server: {problem}");
    assert_eq!(
        problem["type"], "urn:stemedb:problem:replication-unavailable",
        "{problem}"
    );
    assert!(retry_after.is_some(), "a 503 carries Retry-After");
    assert!(
        started.elapsed() >= PUBLISH_TIMEOUT,
        "refused only after the publish timeout, not at once: {:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let (status, answer) = loop {
        let (status, answer) = post(&nodes[1], "/v1/assert", &record).await;
        if status != 503 || Instant::now() > deadline {
            break (status, answer);
        }
        tokio::time::sleep(Duration::from_secs(1)).await; // Retry-After: 1
    };
    assert!(
        status == 201 || (status == 200 && answer["duplicate"] == json!(true)),
        "the retry is stored, or found stored: {status} {answer}"
    );
    let id = answer["id"].as_str().unwrap().to_owned();
    wait_all_applied(nodes, nats).await;
    for node in nodes {
        let log = node.log().await;
        let copies = log.iter().filter(|(_, logged, _)| *logged == id).count();
        assert_eq!(copies, 1, "{} holds the retried write once", node.id);
    }
}

async fn the_nodes_resume_after_every_nats_server_restarts(nodes: &[Node], nats: &Nats) {
    nats.restart();
    // Writes retry through the leader election; consumers are recreated from each node's
    // applied position.
    let acked = write_randomly(nodes.iter().map(|n| n.url.clone()).collect(), 5, 11).await;
    let last = wait_all_applied(nodes, nats).await;
    let logs: Vec<_> = futures_join(nodes.iter().map(|n| n.log())).await;
    for (node, log) in nodes.iter().zip(&logs) {
        let ids: BTreeSet<&str> = log.iter().map(|(_, id, _)| id.as_str()).collect();
        assert!(
            acked.keys().all(|id| ids.contains(id.as_str())),
            "{} applied what was written after the restart (stream up to {last})",
            node.id
        );
        assert_eq!(digest(log), digest(&logs[0]), "{} equals n1", node.id);
    }
    for node in nodes {
        consumer_restarts_in_health_match_the_metric(node).await;
    }
}

/// After this scenario's NATS outages (all servers stopped, all restarted), `node`'s health
/// counts its consumers' restarts as its `stemedb_replication_consumer_restarts_total` does
/// (one call records both; whether an outage costs a node a restart depends on timing, so
/// the count itself is not fixed: `progress.rs`'s unit test holds the counting), and names
/// the last one's stream, error and time when there was one.
async fn consumer_restarts_in_health_match_the_metric(node: &Node) {
    let health = node.get("/v1/cluster/health").await;
    let metrics = crate::harness::get_text(&format!("{}/metrics", node.url)).await;
    let counted: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("stemedb_replication_consumer_restarts_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let restarts = health["consumer_restarts"]
        .as_u64()
        .unwrap_or_else(|| panic!("{}: health without consumer_restarts: {health}", node.id));
    assert_eq!(
        restarts as f64, counted,
        "{}: health and the metric: {health}",
        node.id
    );
    let last = &health["last_consumer_error"];
    if restarts == 0 {
        assert!(
            last.is_null(),
            "{}: an error without a restart: {health}",
            node.id
        );
        return;
    }
    assert!(
        ["log", "admin"].contains(&last["stream"].as_str().unwrap_or("")),
        "{}: the last consumer error's stream: {health}",
        node.id
    );
    assert!(
        !last["error"].as_str().unwrap_or("").is_empty(),
        "{}: the last consumer error says what: {health}",
        node.id
    );
    stemedb::core::Timestamp::parse_field(last["at"].as_str().unwrap_or(""), "at")
        .unwrap_or_else(|e| panic!("{}: the last consumer error's time: {e}: {health}", node.id));
}

/// Publishes `payload` on `subject` and waits for JetStream's acknowledgement, asking again
/// while the stream has no leader (after every server restarted, each stream elects its own:
/// a publish there once got `StreamNotFound`). Every attempt carries one message id, so a
/// retry of a publish that was stored after all is dropped as a duplicate.
async fn publish_acknowledged(
    js: &async_nats::jetstream::Context,
    subject: &str,
    payload: Vec<u8>,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = blake3::hash(&payload).to_hex().to_string();
    loop {
        let message = async_nats::jetstream::message::PublishMessage::build()
            .payload(payload.clone().into())
            .message_id(&id);
        let acknowledged = match js.send_publish(subject.to_owned(), message).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match acknowledged {
            Ok(()) => return,
            Err(e) => assert!(
                Instant::now() < deadline,
                "publish on {subject} acknowledged within 30 s: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Awaits each future in turn (the logs are read one node at a time).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for future in futures {
        out.push(future.await);
    }
    out
}

/// Whoever can publish to the streams but holds no master key: a validly signed record in a
/// log entry tagged with another key, and an admin entry with a forged tag, are applied by no
/// node, which count them and go on applying what follows; a node started with another master
/// key refuses to start, saying why.
async fn entries_not_written_by_a_node_of_the_cluster_are_refused_everywhere(
    nodes: &[Node],
    nats: &Nats,
    data: &std::path::Path,
) {
    let client = async_nats::connect(nats.urls.split(',').next().unwrap())
        .await
        .expect("connect to NATS");
    // A heartbeat without the cluster's tag, naming a node that does not exist.
    let forged_heartbeat = json!({"node_id": "forged", "advertise": "http://127.0.0.1:9",
        "applied_sequence": 0, "applied_stream_sequence": 0, "lag_seconds": 0.0,
        "sent_at_micros": 0});
    // Core NATS delivers at most once: it is sent again while the nodes are checked below.
    let core = client.clone();
    let forge = || {
        let (core, body) = (core.clone(), forged_heartbeat.to_string());
        async move {
            core.publish("stemedb.members.forged", body.into())
                .await
                .expect("publish a forged heartbeat");
        }
    };
    forge().await;
    let js = async_nats::jetstream::new(client);
    // A well-formed admin key, under a forged tag.
    let (forged_key, forged_secret) = forged_admin_key();
    let mut admin_entry = vec![0u8; 32];
    admin_entry.extend_from_slice(&forged_key);
    publish_acknowledged(&js, "stemedb.admin", admin_entry).await;
    let key = key(61);
    let record = stemedb::core::SignedAssertion::sign(
        body(&key, "agent/forger", "forged/subject", "p", json!(1)),
        &key,
        &stemedb::core::Limits::default(),
    )
    .unwrap();
    let wrong_key = stemedb_cluster::EntryKey::for_log(&[0x42; 32]);
    let entry = stemedb_cluster::encode_entry(&wrong_key, std::slice::from_ref(&record));
    publish_acknowledged(&js, "stemedb.log", entry).await;
    // What follows is applied everywhere, and the logs stay equal.
    let acked = write_randomly(nodes.iter().map(|n| n.url.clone()).collect(), 7, 13).await;
    wait_all_applied(nodes, nats).await;
    let logs: Vec<_> = futures_join(nodes.iter().map(|n| n.log())).await;
    for (node, log) in nodes.iter().zip(&logs) {
        let ids: BTreeSet<&str> = log.iter().map(|(_, id, _)| id.as_str()).collect();
        assert!(
            !ids.contains(record.id.to_hex().as_str()),
            "{}: the forged record is not applied",
            node.id
        );
        assert!(
            acked.keys().all(|id| ids.contains(id.as_str())),
            "{}: the writes after it are",
            node.id
        );
        assert_eq!(digest(log), digest(&logs[0]), "{} equals n1", node.id);
        let (status, _) = post_as(node, &forged_secret, "/v1/assert", &json!({})).await;
        assert_eq!(status, 401, "{}: the forged API key is unknown", node.id);
        // The admin stream is applied on its own task: its refusal may be counted a moment
        // after the log's (seen once in CI), so the counters are read until all show, 10 s
        // at most. The two stream entries are refused once each; the forged heartbeat as
        // often as it arrived.
        let refused = "stemedb_replication_entries_refused_total";
        let lines = [
            format!("{refused}{{kind=\"unauthenticated\"}} 1"),
            format!("{refused}{{kind=\"unauthenticated_admin\"}} 1"),
            format!("{refused}{{kind=\"unauthenticated_heartbeat\"}} "),
        ];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut metrics = String::new();
        while std::time::Instant::now() < deadline {
            metrics = crate::harness::get_text(&format!("{}/metrics", node.url)).await;
            if lines.iter().all(|line| metrics.contains(line)) {
                break;
            }
            forge().await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        for line in &lines {
            assert!(metrics.contains(line), "{}: {line} in /metrics", node.id);
        }
        the_refused_entries_are_named_in_health(node).await;
        let members = node.get("/v1/cluster/members").await;
        assert!(
            !members.to_string().contains("\"forged\""),
            "{}: the forged heartbeat made no member: {members}",
            node.id
        );
    }
    a_node_with_another_master_key_refuses_to_start(nats, data);
}

/// `node`'s health counts the two forged stream entries it refused (one log, one admin), as
/// its metrics do, and names the later one: its stream, sequence, kind, error and time.
async fn the_refused_entries_are_named_in_health(node: &Node) {
    let health = node.get("/v1/cluster/health").await;
    assert_eq!(health["entries_refused"], json!(2), "{}: {health}", node.id);
    let last = &health["last_entry_refused"];
    let kind = match last["stream"].as_str() {
        Some("log") => "unauthenticated",
        Some("admin") => "unauthenticated_admin",
        _ => panic!("{}: the last refused entry's stream: {health}", node.id),
    };
    assert_eq!(last["kind"], json!(kind), "{}: {health}", node.id);
    assert!(
        last["stream_sequence"].as_u64().is_some_and(|s| s > 0)
            && !last["error"].as_str().unwrap_or("").is_empty(),
        "{}: the last refused entry's sequence and error: {health}",
        node.id
    );
    stemedb::core::Timestamp::parse_field(last["at"].as_str().unwrap_or(""), "at")
        .unwrap_or_else(|e| panic!("{}: the last refused entry's time: {e}: {health}", node.id));
}

/// An admin change creating an admin key, as the admin stream carries it, and its secret.
fn forged_admin_key() -> (Vec<u8>, String) {
    use stemedb_server::auth::{KeyRecord, NewKey, Role};
    let new = NewKey {
        name: "forged".into(),
        role: Role::Admin,
        expires_at: None,
        rate_limit_per_sec: None,
        agent_ids: Vec::new(),
    };
    let (key, secret) = KeyRecord::create(new, stemedb_server::auth::now()).unwrap();
    let change = stemedb_server::AdminChange::ApiKeyPut {
        key,
        replaces: None,
        audit: None,
    };
    (change.to_bytes().unwrap(), secret)
}

fn a_node_with_another_master_key_refuses_to_start(nats: &Nats, data: &std::path::Path) {
    let key = "ab".repeat(32);
    let stderr = refused_start(
        &data.join("foreign"),
        "foreign",
        &nats.urls,
        &[],
        Some(&key),
    );
    assert!(
        last_line(&stderr).contains("this node's master key is not the cluster's"),
        "a reason a person can read: {stderr}"
    );
}
