//! Role grants are records in the log (`stemedb:grants-role`, signed by the server key), so
//! the log alone grants them at the same place on a re-derivation, a restore or a replica
//! (issue 12, item 1); nobody else may write one or take a server's agent id.
use serde_json::{Value, json};
use stemedb::core::{AssertionId, SecretKey};
use stemedb::{Db, DbConfig, DbError, Role, Stage};

use crate::truth::{T_LATER, T0, rec, retraction};

fn id(hex: &str) -> AssertionId {
    AssertionId::parse_field(hex, "id").unwrap()
}

fn stage(db: &Db, hex: &str) -> Stage {
    db.get(&id(hex)).unwrap().unwrap().lifecycle.stage
}

/// Ingests `wire` and returns (id, effective).
fn ingest(db: &Db, wire: Value) -> (String, bool) {
    let ingested = db.ingest_one(wire).unwrap();
    (ingested.id, ingested.effective)
}

#[test]
fn a_grant_is_a_record_that_the_log_alone_replays() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbConfig::default()).unwrap();
    let server_key = SecretKey::from_seed(&[77; 32]);
    let (early, _) = ingest(&db, rec(2, "alice", "drug/g", "mg", json!(81), T0, &[]));
    let (late, _) = ingest(&db, rec(2, "alice", "drug/g", "mg", json!(82), T0, &[]));
    let (_, disputed) = ingest(&db, retraction(9, "curator", &early, false, T_LATER));
    assert!(
        !disputed,
        "before the grant a stranger's retraction is a dispute"
    );

    let count = db.assertion_count();
    let after = db
        .grant_role(Role::Curator, "curator", &server_key)
        .unwrap();
    assert_eq!(db.assertion_count(), count + 1, "the grant is a record");
    assert_eq!(after, count + 1, "it holds after its own sequence");
    let backed_up = |upto| db.role_grants(upto).iter().any(|g| g.agent_id == "curator");
    assert!(
        !backed_up(after - 1) && backed_up(after),
        "a manifest of the records up to a sequence lists the grants up to it"
    );
    assert_eq!(
        db.grant_role(Role::Curator, "curator", &server_key)
            .unwrap(),
        after,
        "granting again keeps the first grant and writes nothing"
    );
    assert_eq!(db.assertion_count(), count + 1);
    let (_, effective) = ingest(&db, retraction(9, "curator", &late, false, T_LATER));
    assert!(effective, "after the grant the curator's retraction acts");
    assert_eq!(stage(&db, &late), Stage::Retracted);

    // A restore of the records alone (no role list beside them) grants the same role at the
    // same place: the record disputed before the grant stays active, the later one retracted.
    let records = db.backup_records(0, u64::MAX, 1_000).unwrap();
    let copy = tempfile::tempdir().unwrap();
    let restored = Db::open(copy.path(), DbConfig::default()).unwrap();
    // Beside the records, a legacy grant (a role list entry with no record) within them, and
    // one past them (a later manifest's, restored `--to-sequence` below it): only the first
    // may hold, or a role would hold with nothing in the log to show for it.
    let legacy = |agent_id: &str, after_sequence| stemedb::backup::RoleGrant {
        role: "curator".into(),
        agent_id: agent_id.into(),
        after_sequence,
    };
    let past_the_records = records.len() as u64 + 1;
    let roles = [legacy("elder", 1), legacy("latecomer", past_the_records)];
    restored.restore(records, &roles, &mut |_| {}).unwrap();
    restored.close().unwrap();
    drop(restored);
    let restored = Db::open(copy.path(), DbConfig::default()).unwrap();
    assert_eq!(stage(&restored, &early), Stage::Active);
    assert_eq!(stage(&restored, &late), Stage::Retracted);
    // A record more, so that the store reaches the sequence the later grant named.
    ingest(&restored, rec(3, "bob", "drug/b", "mg", json!(1), T0, &[]));
    assert_eq!(
        restored.agents_with_role(Role::Curator),
        ["curator", "elder"],
        "the log's grant and the legacy one within the records, not the one past them"
    );
}

/// Restores before the twenty-sixth session wrote every grant a manifest listed into `meta`,
/// including one past the restored records. Such a grant is not loaded: it would have come to
/// hold once the store reached its sequence, with no record of it in the log, and a grant of
/// the same role would have appended a record at every call. Written here into `meta` as
/// those restores wrote it, beside one within the records that still holds.
#[test]
fn a_legacy_grant_past_the_records_never_holds() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbConfig::default()).unwrap();
    ingest(&db, rec(2, "alice", "drug/l", "mg", json!(1), T0, &[]));
    let last = db.assertion_count();
    db.close().unwrap();
    drop(db);
    let (within, past) = (last.to_be_bytes(), (last + 1).to_be_bytes());
    crate::harness::write_engine_keys(
        dir.path(),
        "meta",
        &[
            (b"role/curator/elder", &within),
            (b"role/curator/latecomer", &past),
        ],
    );
    let db = Db::open(dir.path(), DbConfig::default()).unwrap();
    ingest(&db, rec(3, "bob", "drug/l", "mg", json!(2), T0, &[]));
    assert_eq!(
        db.assertion_count(),
        last + 1,
        "past the latecomer's sequence"
    );
    assert_eq!(db.agents_with_role(Role::Curator), ["elder"]);
    let count = db.assertion_count();
    let after = db
        .grant_role(Role::Curator, "latecomer", &root_key())
        .unwrap();
    assert_eq!(after, count + 1, "granted by its own record");
    assert_eq!(
        db.grant_role(Role::Curator, "latecomer", &root_key())
            .unwrap(),
        after,
        "and only once"
    );
    assert_eq!(db.assertion_count(), count + 1);
}

#[test]
fn only_a_server_writes_grants_and_server_agent_ids() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbConfig::default()).unwrap();
    let grant = json!({"role": "curator"});
    let cases = [
        (
            rec(
                5,
                "eve",
                "agent/eve",
                "stemedb:grants-role",
                grant.clone(),
                T0,
                &[],
            ),
            "reserved_control",
        ),
        (
            rec(
                5,
                "stemedb/server/0123456789abcdef",
                "agent/eve",
                "stemedb:grants-role",
                grant,
                T0,
                &[],
            ),
            "reserved_agent",
        ),
        (
            rec(
                5,
                "stemedb/server/0123456789abcdef",
                "s/x",
                "p",
                json!(1),
                T0,
                &[],
            ),
            "reserved_agent",
        ),
    ];
    for (wire, rule) in cases {
        match db.ingest_one(wire) {
            Err(DbError::Invalid(e)) => assert_eq!(e.rule, rule, "{e}"),
            other => panic!("{rule}: {other:?}"),
        }
    }
    assert_eq!(db.assertion_count(), 0, "nothing refused was stored");
}

/// A read while a group is being synced (derived into the engine and the writer's maps, not
/// yet published) must show nothing of that group, and everything once it is answered. The
/// writer's `after_sync` hook makes one read land in that window every time.
/// - Trust: a map read in the window was cached under the new trust version, so the change
///   never acted until the next one or a restart (an arena run once answered authority,
///   consensus and evidence queries without an expert just granted).
/// - Roles, agents, retraction effects: read without a bound, they showed a grant, an agent
///   or an effect that a failed sync then refused (a grant answered twice, once lost; an
///   effect naming a record no reader could load, answered as storage damage).
struct WindowCase {
    name: &'static str,
    /// Writes what the case needs first; returns the handle `read` looks at (an agent, an id).
    setup: fn(&Db) -> String,
    /// The write whose sync is the window.
    change: fn(&Db),
    /// What a reader sees, as text.
    read: fn(&Db, &str) -> String,
    in_window: &'static str,
    after: &'static str,
}

fn check_read_in_sync_window(case: &WindowCase) {
    use std::sync::{Arc, Mutex, OnceLock};

    let dir = tempfile::tempdir().unwrap();
    let handle_slot: Arc<OnceLock<String>> = Arc::default();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let window = {
        let (handle_slot, seen, read) = (handle_slot.clone(), seen.clone(), case.read);
        crate::harness::SyncWindow::open(dir.path(), move |db| {
            if let Some(handle) = handle_slot.get() {
                seen.lock().unwrap().push(read(&db, handle));
            }
        })
    };
    let db = &window.db;
    let handle = (case.setup)(db);
    let name = case.name;
    assert_eq!(
        (case.read)(db, &handle),
        case.in_window,
        "{name}: before the change"
    );
    handle_slot.set(handle.clone()).unwrap();
    window.arm();
    (case.change)(db);
    assert_eq!(
        *seen.lock().unwrap(),
        [case.in_window],
        "{name}: one read in the window, before the change is published (so without it)"
    );
    assert_eq!(
        (case.read)(db, &handle),
        case.after,
        "{name}: once answered"
    );
}

fn root_key() -> SecretKey {
    SecretKey::from_seed(&[77; 32])
}

/// The expert's and the pupil's records; the handle is the pupil when `grant_root`, after
/// the expert became a trust root, else the expert.
fn expert_and_pupil(db: &Db, grant_root: bool) -> String {
    ingest(db, rec(3, "expert", "drug/t", "mg", json!(81), T0, &[]));
    ingest(db, rec(4, "pupil", "drug/t", "mg", json!(82), T0, &[]));
    if !grant_root {
        return "expert".into();
    }
    db.grant_role(Role::TrustRoot, "expert", &root_key())
        .unwrap();
    "pupil".into()
}

/// A retraction by alice of her own subject, which stands for her later records about it;
/// the handle is the retraction's id.
fn standing_retraction(db: &Db) -> String {
    ingest(db, rec(2, "alice", "drug/s", "mg", json!(1), T0, &[]));
    ingest(db, retraction(2, "alice", "drug/s", false, T_LATER)).0
}

#[rustfmt::skip]
#[test]
fn a_read_during_a_groups_sync_shows_nothing_of_it_and_all_of_it_afterwards() {
    let chain: fn(&Db, &str) -> String = |db, agent| {
        format!("chain {}", db.agent_info(agent).unwrap().unwrap().chain.is_some())
    };
    let curator: fn(&Db, &str) -> String = |db, agent| {
        let info = db.agent_info(agent).unwrap().unwrap();
        let listed = db.agents_with_role(Role::Curator).contains(&agent.to_owned());
        let backed_up = db.role_grants(u64::MAX).iter().any(|g| g.agent_id == agent);
        format!("listed {listed}, curator {}, in a backup {backed_up}", info.curator)
    };
    let known: fn(&Db, &str) -> String = |db, agent| {
        format!("known {}", db.agent_info(agent).unwrap().is_some())
    };
    let reach: fn(&Db, &str) -> String = |db, retraction| {
        match db.retraction_reach(&id(retraction), 0, 100) {
            Ok(reach) => format!("reached {}", reach.unwrap().reached.len()),
            Err(e) => format!("error: {e}"),
        }
    };
    let cases = [
        WindowCase { name: "a root's grant", setup: |db| expert_and_pupil(db, false),
            change: |db| { db.grant_role(Role::TrustRoot, "expert", &root_key()).unwrap(); },
            read: chain, in_window: "chain false", after: "chain true" },
        WindowCase { name: "a trust statement", setup: |db| expert_and_pupil(db, true),
            change: |db| { ingest(db, rec(3, "expert", "agent/pupil", "stemedb:trusts", json!(0.9), T0, &[])); },
            read: chain, in_window: "chain false", after: "chain true" },
        WindowCase { name: "a curator's grant",
            setup: |db| { ingest(db, rec(9, "curator", "drug/c", "mg", json!(1), T0, &[])); "curator".into() },
            change: |db| { db.grant_role(Role::Curator, "curator", &root_key()).unwrap(); },
            read: curator, in_window: "listed false, curator false, in a backup false",
            after: "listed true, curator true, in a backup true" },
        WindowCase { name: "an agent's first record", setup: |_| "newcomer".into(),
            change: |db| { ingest(db, rec(5, "newcomer", "drug/n", "mg", json!(1), T0, &[])); },
            read: known, in_window: "known false", after: "known true" },
        WindowCase { name: "a record under a standing retraction", setup: standing_retraction,
            change: |db| { ingest(db, rec(2, "alice", "drug/s", "mg", json!(2), T0, &[])); },
            read: reach, in_window: "reached 1", after: "reached 2" },
    ];
    for case in &cases {
        check_read_in_sync_window(case);
    }
}

/// A grant asked for again while the first is being synced waits for that sync: answered from
/// the roles map (which holds the grant from its derivation on) it was acknowledged before the
/// first was on disk, and stood answered if that sync failed. The second request starts
/// inside the writer's `after_sync` hook, which then waits a second for an answer that must
/// not come before the hook returns.
#[test]
fn a_grant_asked_for_again_during_the_first_ones_sync_waits_for_it() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let answered_in_window = Arc::new(AtomicBool::new(false));
    let second: Arc<Mutex<Option<std::thread::JoinHandle<u64>>>> = Arc::default();
    let window = {
        let (early, second) = (answered_in_window.clone(), second.clone());
        crate::harness::SyncWindow::open(dir.path(), move |db| {
            let (answered, answer) = mpsc::channel();
            *second.lock().unwrap() = Some(std::thread::spawn(move || {
                let after = db
                    .grant_role(Role::Curator, "curator", &root_key())
                    .unwrap();
                let _ = answered.send(());
                after
            }));
            let early_answer = answer.recv_timeout(Duration::from_secs(1)).is_ok();
            early.store(early_answer, Ordering::SeqCst);
        })
    };
    let db = &window.db;
    ingest(db, rec(9, "curator", "drug/c", "mg", json!(1), T0, &[]));
    window.arm();
    let count = db.assertion_count();
    let first = db
        .grant_role(Role::Curator, "curator", &root_key())
        .unwrap();
    let second = second.lock().unwrap().take().expect("the hook asked again");
    assert_eq!(
        second.join().unwrap(),
        first,
        "the role holds after the first grant"
    );
    // The repeat went to the writer, which stored its grant record as a no-op (as two
    // concurrent requests, or two cluster nodes, may); only one after another writes nothing.
    assert_eq!(db.assertion_count(), count + 2);
    assert!(
        !answered_in_window.load(Ordering::SeqCst),
        "the second grant was answered while the first was being synced"
    );
}
