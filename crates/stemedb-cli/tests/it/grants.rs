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
    restored.restore(records, &[], &mut |_| {}).unwrap();
    restored.close().unwrap();
    drop(restored);
    let restored = Db::open(copy.path(), DbConfig::default()).unwrap();
    assert_eq!(stage(&restored, &early), Stage::Active);
    assert_eq!(stage(&restored, &late), Stage::Retracted);
    assert!(
        restored
            .agents_with_role(Role::Curator)
            .contains(&"curator".to_owned())
    );
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

/// A trust read while a trust change is being synced (a root's grant or a trust statement:
/// derived, the trust version bumped, not yet published) reads a map without the change.
/// Cached under the new version, that map was every later reader's, so the change never acted
/// until the next one or a restart: an arena run once answered authority, consensus and
/// evidence queries without an expert just granted. The writer's `after_sync` hook makes a
/// read land in that window every time; `watched`'s chain must be absent there and present
/// once the change is answered.
/// A change to the trust map, made on the database.
type TrustChange = fn(&Db);

fn check_trust_read_in_sync_window(name: &str, watched: &str, change: TrustChange) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, OnceLock, Weak};

    let dir = tempfile::tempdir().unwrap();
    let db_slot: Arc<OnceLock<Weak<Db>>> = Arc::default();
    let armed = Arc::new(AtomicBool::new(false));
    let chains_in_window: Arc<Mutex<Vec<bool>>> = Arc::default();
    let hook = {
        let (db_slot, armed, chains) = (db_slot.clone(), armed.clone(), chains_in_window.clone());
        let watched = watched.to_owned();
        stemedb::SyncHook(Arc::new(move |_durable: u64| {
            let db = db_slot.get().and_then(Weak::upgrade);
            if let Some(db) = db.filter(|_| armed.swap(false, Ordering::SeqCst)) {
                let info = db.agent_info(&watched).unwrap().unwrap();
                chains.lock().unwrap().push(info.chain.is_some());
            }
        }))
    };
    let config = DbConfig {
        after_sync: Some(hook),
        ..DbConfig::default()
    };
    let db = Arc::new(Db::open(dir.path(), config).unwrap());
    db_slot.set(Arc::downgrade(&db)).unwrap();
    ingest(&db, rec(3, "expert", "drug/t", "mg", json!(81), T0, &[]));
    ingest(&db, rec(4, "pupil", "drug/t", "mg", json!(82), T0, &[]));
    if watched == "pupil" {
        db.grant_role(Role::TrustRoot, "expert", &SecretKey::from_seed(&[77; 32]))
            .unwrap();
    }
    assert!(
        db.agent_info(watched).unwrap().unwrap().chain.is_none(),
        "{name}: before"
    );

    armed.store(true, Ordering::SeqCst);
    change(&db);
    assert_eq!(
        *chains_in_window.lock().unwrap(),
        [false],
        "{name}: one read in the window, before the change is published (so without it)"
    );
    let info = db.agent_info(watched).unwrap().unwrap();
    assert!(
        info.chain.is_some(),
        "{name}: in the trust map once answered"
    );
}

#[rustfmt::skip]
#[test]
fn a_trust_read_during_a_trust_changes_sync_does_not_hide_the_change_afterwards() {
    let grant: TrustChange = |db| {
        db.grant_role(Role::TrustRoot, "expert", &SecretKey::from_seed(&[77; 32])).unwrap();
    };
    let statement: TrustChange = |db| {
        ingest(db, rec(3, "expert", "agent/pupil", "stemedb:trusts", json!(0.9), T0, &[]));
    };
    let cases: [(&str, &str, TrustChange); 2] = [
        ("a root's grant",    "expert", grant),
        ("a trust statement", "pupil",  statement),
    ];
    for (name, watched, change) in cases {
        check_trust_read_in_sync_window(name, watched, change);
    }
}
