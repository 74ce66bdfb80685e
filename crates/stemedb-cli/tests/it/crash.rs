//! The crash test: a child server is killed with SIGKILL during concurrent ingest, once a
//! seeded number of writes is acknowledged, then restarted on the same data directory. Every
//! acknowledged id must be present and verify, and no record may be stored twice. Each round
//! prints its seed; rerun one with STEMEDB_CRASH_SEED=<seed> STEMEDB_CRASH_ROUNDS=1.
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use stemedb::core::SplitMix64;
use stemedb_client::Client;

use crate::child::ChildServer;
use crate::harness::{all_pages, body, key, signed, verify_record};

const WRITERS: usize = 12;
/// The longest a round waits for its acknowledged writes before the kill.
const KILL_WAIT_MS_MAX: u128 = 10_000;

/// One writer: posts single assertions (and every fifth request a batch of 10) until the
/// server is killed, recording every id the server acknowledged. A request that fails before
/// the kill is the server's failure, not the kill's: it ends the writer with an error.
async fn writer(
    client: Client,
    round: u64,
    w: usize,
    acked: Arc<Mutex<Vec<String>>>,
    killed: Arc<AtomicBool>,
) -> Result<(), String> {
    let stop = |e: &dyn std::fmt::Display| {
        if killed.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(format!("writer {w}: a request failed before the kill: {e}"))
        }
    };
    let k = key(100 + w as u8);
    for i in 0.. {
        let make = |j: usize| {
            let mut b = body(
                &k,
                &format!("crash/agent-{w}"),
                &format!("crash/r{round}/w{w}"),
                "n",
                json!(j),
            );
            b.insert(
                "timestamp".into(),
                json!(format!("2025-01-01T00:00:{:02}Z", j % 60)),
            );
            signed(b, &k)
        };
        if i % 5 == 4 {
            let items: Vec<Value> = (0..10).map(|j| make(i * 100 + j)).collect();
            match client.assert_batch(&items).await {
                Ok(reply) => {
                    let mut a = acked.lock().unwrap();
                    a.extend(reply.results.into_iter().filter_map(|r| r.id));
                }
                Err(e) => return stop(&e),
            }
        } else {
            match client.assert(&make(i * 100)).await {
                Ok(reply) => acked.lock().unwrap().push(reply.id),
                Err(e) => return stop(&e),
            }
        }
    }
    Ok(())
}

/// Waits until `target` writes are acknowledged (at most `KILL_WAIT_MS_MAX`); returns the ms
/// waited.
async fn wait_for_acked(acked: &Mutex<Vec<String>>, target: usize) -> u128 {
    let started = std::time::Instant::now();
    while acked.lock().unwrap().len() < target && started.elapsed().as_millis() < KILL_WAIT_MS_MAX {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    started.elapsed().as_millis()
}

/// Every stored id under `crash/*`, by paging through all groups (`include_superseded`: an
/// agent's earlier claims in a group are listed too, not only its latest).
async fn all_ids(client: &Client) -> Vec<String> {
    let params = [
        ("subject", "crash/*"),
        ("limit", "1000"),
        ("assertions_limit", "1000"),
        ("include_superseded", "true"),
    ];
    let pages = all_pages(client, &params).await;
    pages
        .iter()
        .flat_map(|p| &p.assertions)
        .map(|r| r.id.clone())
        .collect()
}

/// What `stemedb check` says about a data directory (for a failure message).
fn check_report(dir: &std::path::Path) -> String {
    match std::process::Command::new(crate::child::BIN)
        .args(["check", "--data-dir"])
        .arg(dir)
        .output()
    {
        Ok(out) => format!(
            "exit {:?}: {} {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => format!("could not run: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_sigkill_without_duplicates() {
    let base_seed = crate::harness::env_number("STEMEDB_CRASH_SEED").unwrap_or(0x5eed);
    let rounds = crate::harness::env_count("STEMEDB_CRASH_ROUNDS", 20);
    let dir = tempfile::tempdir().unwrap();
    let mut all_acked: Vec<String> = Vec::new();
    for round in 0..rounds {
        let seed = base_seed.wrapping_add(round);
        let mut rng = SplitMix64::new(seed);
        let server = ChildServer::start(dir.path());
        let client = Client::new(&server.url, Some(crate::harness::ROOT_KEY.into())).unwrap();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let killed = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (acked, killed) = (Arc::clone(&acked), Arc::clone(&killed));
                tokio::spawn(writer(client.clone(), round, w, acked, killed))
            })
            .collect();
        // Killed once a seeded number of writes is acknowledged (not after a seeded time), so
        // a seed replays the same amount of data on a fast machine and a slow one.
        let kill_at_acked = 1 + (rng.next_u64() % 600) as usize;
        let waited_ms = wait_for_acked(&acked, kill_at_acked).await;
        let reached = acked.lock().unwrap().len();
        killed.store(true, Ordering::SeqCst);
        server.kill();
        for t in tasks {
            t.await
                .unwrap_or_else(|e| panic!("seed {seed}: a writer panicked: {e}"))
                .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
        assert!(
            reached >= kill_at_acked,
            "seed {seed}: only {reached} of {kill_at_acked} writes acknowledged in \
             {KILL_WAIT_MS_MAX} ms before the kill"
        );
        let acked_now = acked.lock().unwrap().clone();
        eprintln!(
            "crash round {round} seed {seed}: killed at {kill_at_acked} acknowledged (after \
             {waited_ms} ms) with {} acknowledged",
            acked_now.len()
        );
        let server = ChildServer::start(dir.path());
        let client = Client::new(&server.url, Some(crate::harness::ROOT_KEY.into())).unwrap();
        // This round's acknowledged ids: fetched one by one and verified.
        for id in &acked_now {
            let record = crate::harness::served_record(&client, id).await.unwrap();
            let record = record.unwrap_or_else(|| panic!("seed {seed}: acknowledged {id} lost"));
            assert!(
                verify_record(&record),
                "seed {seed}: {id} fails verification"
            );
        }
        let earlier = all_acked.len();
        all_acked.extend(acked_now);
        // Every id acknowledged in any round is still among the stored records, once.
        let stored = all_ids(&client).await;
        let distinct: HashSet<&String> = stored.iter().collect();
        assert_eq!(
            distinct.len(),
            stored.len(),
            "seed {seed}: a record is stored twice"
        );
        if let Some(lost) = all_acked.iter().position(|id| !distinct.contains(id)) {
            let when = if lost < earlier { "an earlier" } else { "this" };
            let lost = &all_acked[lost];
            let by_id = crate::harness::served_record(&client, lost).await;
            server.kill();
            let kept = dir.keep();
            panic!(
                "seed {seed}: {lost}, acknowledged in {when} round, is not among the {} listed \
                 records; by id: {by_id:?}; check: {}; data directory kept at {}",
                stored.len(),
                check_report(&kept),
                kept.display()
            );
        }
        let count = client.health().await.unwrap().assertion_count.unwrap();
        assert_eq!(
            count as usize,
            stored.len(),
            "seed {seed}: count agrees with the records"
        );
        // Re-sending an acknowledged assertion is a duplicate, not a second record.
        if let Some(id) = all_acked.first() {
            let record = client.get(id).await.unwrap().unwrap();
            let again = client
                .assert(&crate::harness::resend_form(&record))
                .await
                .unwrap();
            assert!(again.duplicate, "seed {seed}: resend is a duplicate");
        }
        server.kill();
    }
    assert!(
        all_acked.len() > rounds as usize,
        "the test acknowledged writes to check ({})",
        all_acked.len()
    );
}
