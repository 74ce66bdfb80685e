//! The differential test's regression cases (issue 12, item 1): each divergence a random
//! sequence found, minimized to the operations that show it and replayed with every check
//! after each step (`Run::replay`), then the stages that were wrong asserted by name.
use serde_json::json;
use stemedb::{Lookups, Role};

use super::Run;
use super::ops::{self, Op};

/// A regression case: `ops` replayed with every check after each, then the stage of each
/// listed sequence.
fn check(name: &str, ops: Vec<Op>, stages: &[(usize, &str)]) {
    let run = Run::new(0);
    let last = run.replay(ops);
    for (sequence, want) in stages {
        let got = last.records.get(sequence - 1).map(|r| r.stage);
        assert_eq!(got, Some(*want), "{name}: record #{sequence}");
    }
}

/// Divergences the differential test found, minimized (issue 12, item 1). Each was a
/// difference between the store and docs/truth.md that depended on arrival order, so live and
/// re-derived state agreed and only the model saw it; both are fixed in
/// `stemedb-store/src/truth/derive.rs` (`Deriver::ordinary`).
#[test]
fn differential_regressions() {
    use ops::{assertion, retraction, write};
    // A non-cascading retraction reaches a later assertion about its subject (the definer's
    // own) but not what derives from that: as when the assertion was there first.
    let own = assertion(0, "guide/g1", &[], &[]);
    let late = assertion(0, "guide/g1", &[], &[]).with("value", json!(2));
    let child = assertion(1, "drug/d0", &[], &[&late]);
    check(
        "a later arrival under a retraction without cascade passes nothing on",
        vec![
            write(&own),
            write(&retraction(0, "guide/g1", false)),
            write(&late),
            write(&child),
        ],
        &[(1, "retracted"), (3, "retracted"), (4, "active")],
    );
    // A record about a source that also cites it is a citer: a definer's cascading retraction
    // reaches it on arrival, as it would have if the record had come first.
    let describing = assertion(0, "source/S0", &[], &[]);
    let citing_too = assertion(1, "source/S0", &["source/S0"], &[]);
    check(
        "an assertion about a source that cites it arrives retracted under a cascade",
        vec![
            write(&describing),
            write(&retraction(0, "source/S0", true)),
            write(&citing_too),
        ],
        &[(1, "retracted"), (3, "retracted")],
    );
}

/// Found by the long run: superseded, retracted, superseded again, reinstated. The first
/// supersession stands (`superseded_by` the first), as for a record never retracted; the second
/// overwrote what the reinstatement restores. Fixed in `derive.rs` (`Deriver::supersede`).
#[test]
fn differential_first_supersession_survives_a_reinstatement() {
    use ops::{assertion, retraction, write};
    let old = assertion(0, "drug/d0", &[], &[]);
    let id = old.id().unwrap();
    let first = assertion(0, "drug/d0", &[], &[]).with("supersedes", json!(id));
    let retract = retraction(0, &id, false);
    let second = first.clone().with("value", json!(3));
    let reinstate = retraction(0, &retract.id().unwrap(), false);
    check(
        "the first supersession survives a retraction and a reinstatement",
        vec![
            write(&old),
            write(&first),
            write(&retract),
            write(&second),
            write(&reinstate),
        ],
        &[(1, "superseded"), (3, "retracted")],
    );
}

/// Found by the long run, a live/re-derived divergence: a low-trust agent's record held in
/// quarantine (it contradicts a gold standard), then the agent made a trust root. Re-deriving
/// judged the record with the later root and left it active. Fixed in `derive.rs`
/// (`Deriver::trust`: roots granted before the record only).
#[test]
fn differential_quarantine_is_judged_by_the_roots_of_its_time() {
    use ops::{assertion, write};
    let gold = assertion(0, "drug/d0", &[], &[]);
    let mark = ops::gold(1, &gold);
    let grant = |role, agent| Op::Grant { role, agent };
    check(
        "a later trust root does not release a record from quarantine",
        vec![
            write(&gold),
            grant(Role::Curator, 1),
            write(&mark),
            write(&assertion(2, "drug/d0", &[], &[]).with("value", json!(2))),
            grant(Role::TrustRoot, 2),
        ],
        // Grants are records too: #2 grants the curator, #5 the root.
        &[(1, "active"), (4, "quarantined")],
    );
}

/// Found by the long run, a live/re-derived divergence: a gold standard superseded by its
/// author no longer holds contradicting records, but when the supersession and the next
/// record were derived together (a re-derivation is one long group) the supersession was not
/// yet committed and the next record went to quarantine. Fixed in `derive.rs`
/// (`derive_records` commits after a record with `supersedes`). The batch form shows it live.
#[test]
fn differential_a_superseded_gold_standard_holds_nothing_back() {
    use ops::{assertion, write};
    let gold = assertion(0, "drug/d0", &[], &[]);
    let mark = ops::gold(1, &gold);
    let newer = assertion(0, "drug/d0", &[], &[])
        .with("value", json!(2))
        .with("supersedes", json!(gold.id().unwrap()));
    let other = assertion(2, "drug/d0", &[], &[]).with("value", json!(3));
    let grant = Op::Grant {
        role: Role::Curator,
        agent: 1,
    };
    let ops = |together: bool| {
        let mut ops = vec![write(&gold), grant.clone(), write(&mark)];
        if together {
            ops.push(Op::Batch(vec![newer.clone(), other.clone()]));
        } else {
            ops.extend([write(&newer), write(&other)]);
        }
        ops
    };
    // #2 is the grant's record; `other` is #5.
    let stages = [(1, "superseded"), (5, "active")];
    check("one write at a time", ops(false), &stages);
    check("in one batch", ops(true), &stages);
}

/// Found by the long run: an epoch skipped a record retracted at the time, so a reinstatement
/// left it active where docs/truth.md ("returns to the stage it would have without it") makes
/// it superseded by the epoch. Reading the code for the fix showed the same for a record
/// arriving retracted under an epoch (never judged by it). Fixed in `stemedb-store/src/truth/`
/// (`open_epoch` and `Deriver::ordinary` remember the epoch for a retracted record, as
/// `supersede` does); the model no longer follows the store there.
#[test]
fn differential_epoch_under_a_reinstated_retraction() {
    use ops::{assertion, epoch, retraction, write};
    let curator = Op::Grant {
        role: Role::Curator,
        agent: 1,
    };
    // Retracted, then an epoch, then reinstated.
    let old = assertion(0, "guide/g0", &[], &[]);
    let retract = retraction(0, &old.id().unwrap(), false);
    let reinstate = retraction(0, &retract.id().unwrap(), false);
    check(
        "an epoch covers a record retracted when it opens",
        vec![
            write(&old),
            curator.clone(),
            write(&retract),
            write(&epoch(1, "guide/", "2025-01-03T00:00:00Z")),
            write(&reinstate),
        ],
        &[(1, "superseded"), (3, "retracted")],
    );
    // An epoch, then a record arriving retracted under it (its definer's standing retraction
    // of the subject), then reinstated: both records were covered by the epoch.
    let first = assertion(0, "guide/g1", &[], &[]);
    let retract = retraction(0, "guide/g1", false);
    let late = assertion(0, "guide/g1", &[], &[]).with("value", json!(2));
    let reinstate = retraction(0, &retract.id().unwrap(), false);
    check(
        "an epoch covers a record arriving retracted under it",
        vec![
            write(&first),
            curator,
            write(&retract),
            write(&epoch(1, "guide/", "2025-01-03T00:00:00Z")),
            write(&late),
            write(&reinstate),
        ],
        &[(1, "superseded"), (3, "retracted"), (5, "superseded")],
    );
}

/// Found reading the code for the epoch fix: a record arriving retracted was never judged by
/// the quarantine rules, so a reinstatement made it active where docs/truth.md ("the stage it
/// would have without it") makes it quarantined. A low-trust agent that defines a subject
/// could so pass a record contradicting its gold standard: retract the subject, write,
/// reinstate. Fixed in `derive.rs` (`Deriver::ordinary`): such a record is judged on arrival,
/// answered as held (`quarantined`, which is how the model learns it), listed for review, and
/// goes back to quarantine when reinstated (`stage_without_retraction`). The random runs
/// cannot reach it.
#[test]
fn differential_a_reinstated_record_is_judged_by_quarantine() {
    use ops::write;
    let (gold, contradicting) = gold_standard_of_drug_d0();
    let with_gold = |more: Vec<Op>| gold.iter().cloned().chain(more).collect::<Vec<Op>>();
    // Without the retraction the record is held.
    check(
        "a contradicting record of a low-trust agent is held",
        with_gold(vec![write(&contradicting)]),
        &[(5, "quarantined")],
    );
    // Retracted while held, it leaves the review list (a review cannot act on it) and comes
    // back when reinstated (every step checks that the list is the quarantined records).
    let (retract_held, reinstate_held) = retracted_and_reinstated(&contradicting.id().unwrap());
    check(
        "a held record retracted leaves the review list, and returns reinstated",
        with_gold(vec![
            write(&contradicting),
            write(&retract_held),
            write(&reinstate_held),
        ]),
        &[(5, "quarantined"), (6, "retracted")],
    );
    // Superseded while held (its author's newer record, agreeing with the gold standard), it
    // leaves the review list too: found by a review, the list kept it for good.
    let newer = ops::assertion(2, "drug/d0", &[], &[])
        .with("supersedes", json!(contradicting.id().unwrap()));
    check(
        "a held record superseded leaves the review list",
        with_gold(vec![write(&contradicting), write(&newer)]),
        &[(5, "superseded"), (6, "active")],
    );
    let (retract, reinstate) = retracted_and_reinstated("drug/d0");
    check(
        "and is held once its retraction is reinstated",
        with_gold(vec![
            write(&retract),
            write(&contradicting),
            write(&reinstate),
        ]),
        &[(1, "active"), (5, "retracted"), (6, "quarantined")],
    );
}

/// a2 (no trust chain) defines `drug/d0`; a0's record of it is marked gold by a1, a curator:
/// the four operations (sequences 1 to 4), and a2's record of another value, which the
/// quarantine rule holds when it arrives after them.
fn gold_standard_of_drug_d0() -> (Vec<Op>, super::ops::Item) {
    use ops::{assertion, write};
    let first = assertion(2, "drug/d0", &[], &[]);
    let golden = assertion(0, "drug/d0", &[], &[]);
    let mark = ops::gold(1, &golden);
    let curator = Op::Grant {
        role: Role::Curator,
        agent: 1,
    };
    let contradicting = assertion(2, "drug/d0", &[], &[]).with("value", json!(2));
    (
        vec![write(&first), write(&golden), curator, write(&mark)],
        contradicting,
    )
}

/// a2's retraction of `target` (an id or a subject), without cascade, and a2's retraction of
/// that retraction (a reinstatement).
fn retracted_and_reinstated(target: &str) -> (super::ops::Item, super::ops::Item) {
    let retract = ops::retraction(2, target, false);
    let reinstate = ops::retraction(2, &retract.id().unwrap(), false);
    (retract, reinstate)
}

/// The reliability pass reads the gold marks' index once (`Lookups::WholeIndex`) where the
/// reference looks each record up: a gold mark on a claim already stored (so nothing is
/// quarantined) must count the same both ways, and count (the marked claim's author earns more
/// than the author it contradicts). The random runs rarely reach a gold mark on a live,
/// disputed claim.
#[test]
fn differential_a_gold_mark_counts_in_the_reliability_pass() {
    use ops::{assertion, write};
    let first = assertion(0, "drug/d0", &[], &[]);
    let contradicting = assertion(2, "drug/d0", &[], &[]).with("value", json!(2));
    let mark = ops::gold(1, &contradicting);
    let grant = Op::Grant {
        role: Role::Curator,
        agent: 1,
    };
    let mut run = Run::new(0);
    let ops = vec![write(&first), write(&contradicting), grant, write(&mark)];
    run.steps = ops.len();
    for (step, op) in ops.into_iter().enumerate() {
        // Every check after each step, `reliability_lookups_differ` among them.
        run.step(step, op, true);
    }
    let table = run
        .live()
        .reliability_table_at(run.live().last_sequence(), Lookups::WholeIndex)
        .unwrap();
    let accuracy = |agent| table.agent(agent).map(|line| line.accuracy).unwrap();
    assert!(
        accuracy("a2") > accuracy("a0"),
        "the gold claim's author {} over {}",
        accuracy("a2"),
        accuracy("a0")
    );
}

/// State derived under older truth rules is derived again at open (`TRUTH_RULES_VERSION`):
/// a directory left as the rules before December 2026 left it (a held record retracted kept
/// its `Q` key, so it stayed listed for review; no version key) opens with the state these
/// rules derive, and records their version.
#[test]
fn differential_state_from_older_truth_rules_is_derived_again_at_open() {
    use ops::write;
    let (gold, contradicting) = gold_standard_of_drug_d0();
    let (retract_held, _) = retracted_and_reinstated(&contradicting.id().unwrap());
    let mut ops = gold;
    ops.extend([write(&contradicting), write(&retract_held)]);
    let mut run = Run::new(0);
    run.steps = ops.len();
    for (step, op) in ops.into_iter().enumerate() {
        run.step(step, op, true);
    }
    let held = 5u64;
    let listed = |db: &stemedb::Db| -> Vec<u64> {
        let page = db.quarantined(0, 100).unwrap();
        page.iter().map(|q| q.record.sequence).collect()
    };
    assert_eq!(
        listed(run.live()),
        Vec::<u64>::new(),
        "retracted: not listed"
    );
    drop(run.live.take());
    let engine = run.live_dir.path().join("engine");
    {
        let db = fjall::Database::builder(&engine).open().unwrap();
        let meta = db
            .keyspace("meta", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        assert!(meta.get("truth_rules_version").unwrap().is_some());
        meta.remove("truth_rules_version").unwrap();
        let truth = db
            .keyspace("truth", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        let key = |tag: u8| {
            let mut key = vec![tag];
            key.extend_from_slice(&held.to_be_bytes());
            key
        };
        let rule = truth.get(key(b'W')).unwrap().expect("held while retracted");
        truth.remove(key(b'W')).unwrap();
        truth.insert(key(b'Q'), rule).unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    run.reopen_live(6);
    assert_eq!(
        listed(run.live()),
        Vec::<u64>::new(),
        "derived again at open"
    );
    let snapshot = super::snapshot(run.live(), super::Depth::Full);
    assert_eq!(snapshot.records[(held - 1) as usize].stage, "retracted");
    drop(run.live.take());
    let db = fjall::Database::builder(&engine).open().unwrap();
    let meta = db
        .keyspace("meta", fjall::KeyspaceCreateOptions::default)
        .unwrap();
    let version = meta.get("truth_rules_version").unwrap().expect("recorded");
    assert_eq!(version.as_ref(), stemedb::TRUTH_RULES_VERSION.to_be_bytes());
    // State from a newer release's rules is refused, named, not re-derived backwards.
    let newer = stemedb::TRUTH_RULES_VERSION + 1;
    meta.insert("truth_rules_version", newer.to_be_bytes())
        .unwrap();
    db.persist(fjall::PersistMode::SyncAll).unwrap();
    drop((meta, db));
    let clock = run.clock.clone() as std::sync::Arc<dyn stemedb::core::Clock>;
    let refused = super::reopen(run.live_dir.path(), super::config(), clock).err();
    let message = refused.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("truth_rules_version") && message.contains("newer"),
        "refused by name: {message}"
    );
}
