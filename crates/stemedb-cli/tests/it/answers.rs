//! Winner answers kept by group (`stemedb`'s `answers.rs`): after every kind of change that
//! reaches a group from outside it (a retraction, a source's retraction, a supersession from
//! another group, a vote, a trust statement) and after a new record in it, the answer the fast
//! path gives is the answer computed afresh; a record in another group keeps the answer (one
//! sharing the group's mark too, read the long way); a kept answer fits the caller's size
//! bound; a read while a change is being synced neither shows the change nor keeps an answer
//! without it.
use std::sync::Arc;

use serde_json::{Value, json};
use stemedb::core::SecretKey;
use stemedb::{Bytes, Db, DbConfig, DbError, LensKind, Query, QueryResult, Role};

use crate::harness::{TestServer, get_text};
use crate::truth::{T_LATER, T0, rec, retraction};

const SUBJECT: &str = "drug/k";
const PREDICATE: &str = "mg";
/// Records an exact query may hold to go the fast path (as the server's `INLINE_RECORDS_MAX`).
const RECORDS_MAX: usize = 256;

/// The group's two records: `older` by alice (81, T0), `newer` by bob (100, T_LATER, citing
/// `source/K`), which recency ranks first.
struct Group {
    older: String,
    newer: String,
}

fn ingest(db: &Db, wire: Value) -> String {
    db.ingest_one(wire).unwrap().id
}

fn server_key() -> SecretKey {
    SecretKey::from_seed(&[77; 32])
}

/// The group, a curator, and a trust root ("root", key 8), all before any answer is kept.
fn setup(db: &Db) -> Group {
    db.grant_role(Role::Curator, "curator", &server_key())
        .unwrap();
    db.grant_role(Role::TrustRoot, "root", &server_key())
        .unwrap();
    let older = ingest(db, rec(2, "alice", SUBJECT, PREDICATE, json!(81), T0, &[]));
    let sources = [("sources", json!(["source/K"]))];
    let newer = ingest(
        db,
        rec(3, "bob", SUBJECT, PREDICATE, json!(100), T_LATER, &sources),
    );
    Group { older, newer }
}

fn query(lens: LensKind) -> Query {
    let mut query = Query::new(SUBJECT);
    query.predicate = Some(PREDICATE.into());
    query.lens = lens;
    query.winner_only = true;
    query
}

/// The answer through the fast path, rendered as `seen` renders it: kept as that text.
fn fast(db: &Db, lens: LensKind) -> Bytes {
    db.query_if_small(&query(lens), RECORDS_MAX, render_seen)
        .unwrap()
        .expect("a small group goes the fast path")
}

fn render_seen(result: &QueryResult) -> Result<Bytes, DbError> {
    Ok(Bytes::copy_from_slice(seen(result).as_bytes()))
}

/// The text of a rendering.
fn text(body: &Bytes) -> String {
    String::from_utf8_lossy(body).into_owned()
}

/// Whether two renderings are the same kept body (not merely equal text).
fn same_body(a: &Bytes, b: &Bytes) -> bool {
    a.as_ptr() == b.as_ptr()
}

/// What a reader sees of an answer: the winner, its stage, the explanation, the score, the
/// winner's trust, the layer and the group's size.
fn seen(result: &QueryResult) -> String {
    match result.groups.as_slice() {
        [] => "no group".into(),
        [group] => format!(
            "{} {:?} {:?} {} {} {:?} {:?} {}",
            group.winner.id.to_hex(),
            group.winner.lifecycle.stage,
            group.winner.value,
            group.explanation,
            group.conflict_score,
            group.winner_trust,
            group.layer,
            group.assertions_total
        ),
        more => format!("{} groups", more.len()),
    }
}

struct Case {
    name: &'static str,
    lens: LensKind,
    change: fn(&Db, &Group),
    /// Whether the change changes the winner (so a stale answer would show).
    winner_changes: bool,
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { name: "a newer record in the group", lens: LensKind::Recency, winner_changes: true,
        change: |db, _| { ingest(db, rec(4, "carol", SUBJECT, PREDICATE, json!(120), "2025-09-01T00:00:00Z", &[])); } },
    Case { name: "a record in another group", lens: LensKind::Recency, winner_changes: false,
        change: |db, _| { ingest(db, rec(4, "carol", "drug/other", PREDICATE, json!(1), T0, &[])); } },
    Case { name: "the winner retracted by its agent", lens: LensKind::Recency, winner_changes: true,
        change: |db, g| { ingest(db, retraction(3, "bob", &g.newer, false, T_LATER)); } },
    Case { name: "the winner's source retracted, cascading", lens: LensKind::Recency, winner_changes: true,
        change: |db, _| { ingest(db, retraction(9, "curator", "source/K", true, T_LATER)); } },
    Case { name: "the winner superseded from another group", lens: LensKind::Recency, winner_changes: true,
        change: |db, g| { ingest(db, rec(3, "bob", "drug/elsewhere", PREDICATE, json!(5), T_LATER, &[("supersedes", json!(g.newer))])); } },
    Case { name: "down-votes on the winner", lens: LensKind::Consensus, winner_changes: true,
        change: |db, g| {
            let winner = text(&fast(db, LensKind::Consensus));
            let target = if winner.starts_with(&g.newer) { &g.newer } else { &g.older };
            for (seed, agent) in [(11, "v1"), (12, "v2"), (13, "v3")] {
                ingest(db, rec(seed, agent, target, "stemedb:vote", json!(-1), T0, &[]));
            }
        } },
    Case { name: "the root trusts the loser", lens: LensKind::Authority, winner_changes: true,
        change: |db, g| {
            let winner = text(&fast(db, LensKind::Authority));
            let loser = if winner.starts_with(&g.newer) { "alice" } else { "bob" };
            ingest(db, rec(8, "root", &format!("agent/{loser}"), "stemedb:trusts", json!(0.9), T0, &[]));
        } },
];

fn check(case: &Case) {
    let name = case.name;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbConfig::default()).unwrap();
    let group = setup(&db);
    let before = fast(&db, case.lens);
    assert!(
        same_body(&before, &fast(&db, case.lens)),
        "{name}: asked again, the answer is the one kept"
    );
    (case.change)(&db, &group);
    let fresh = seen(&db.query(&query(case.lens)).unwrap());
    let after = fast(&db, case.lens);
    assert_eq!(
        text(&after),
        fresh,
        "{name}: the fast path after the change"
    );
    assert_eq!(
        text(&before) != fresh,
        case.winner_changes,
        "{name}: the change changes the winner ({} → {fresh})",
        text(&before),
    );
    assert_eq!(
        same_body(&before, &after),
        !case.winner_changes,
        "{name}: kept only while nothing it rests on changed"
    );
}

#[test]
fn a_kept_answer_is_the_answer_computed_afresh_after_every_kind_of_change() {
    for case in CASES {
        check(case);
    }
}

/// A store in `dir` holding the group, and its recency answer, kept (asked twice).
fn with_kept_answer(dir: &std::path::Path) -> (Db, Bytes) {
    let db = Db::open(dir, DbConfig::default()).unwrap();
    setup(&db);
    let kept = fast(&db, LensKind::Recency);
    assert!(same_body(&kept, &fast(&db, LensKind::Recency)), "kept");
    (db, kept)
}

/// A record in another group that shares the group's mark (`group_marks.rs`) sends the next
/// reader the long way: it reads the group's list, finds it unchanged, and is answered with
/// the kept body, which from then on holds at the later bound.
#[test]
fn a_record_in_a_group_sharing_the_mark_keeps_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (db, before) = with_kept_answer(dir.path());
    let group = |subject: &str| format!("{subject}\0{PREDICATE}\0").into_bytes();
    let slot = stemedb::group_mark_slot(&group(SUBJECT));
    let neighbour = (0..1_000_000)
        .map(|i| format!("drug/neighbour-{i}"))
        .find(|s| stemedb::group_mark_slot(&group(s)) == slot)
        .expect("a subject sharing the mark within a million names");
    ingest(
        &db,
        rec(4, "carol", &neighbour, PREDICATE, json!(1), T0, &[]),
    );
    let after = fast(&db, LensKind::Recency);
    assert!(same_body(&before, &after), "the group is unchanged: kept");
    assert_eq!(
        text(&after),
        seen(&db.query(&query(LensKind::Recency)).unwrap())
    );
    assert!(
        same_body(&after, &fast(&db, LensKind::Recency)),
        "and kept again"
    );
    ingest(
        &db,
        rec(5, "dave", SUBJECT, PREDICATE, json!(7), T_LATER, &[]),
    );
    let changed = fast(&db, LensKind::Recency);
    assert!(
        !same_body(&after, &changed),
        "a record in the group itself: ranked again"
    );
    assert_eq!(
        text(&changed),
        seen(&db.query(&query(LensKind::Recency)).unwrap())
    );
}

/// A kept answer is given only to a caller whose bound on the group's size it fits: asked with
/// a bound below the group's two records, the fast path declines (as it does unkept).
#[test]
fn a_kept_answer_respects_the_callers_size_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = with_kept_answer(dir.path());
    let small = db
        .query_if_small(&query(LensKind::Recency), 1, render_seen)
        .unwrap();
    assert!(small.is_none(), "two records over a bound of one: declined");
}

/// The winner's value, as a rendering kept by the fast path.
fn render_value(result: &QueryResult) -> Result<Bytes, DbError> {
    let value = result.groups.first().map(|g| g.winner.value.to_string());
    Ok(Bytes::from(value.unwrap_or_default()))
}

/// Readers ask for the kept recency winner while a writer adds newer records to the group:
/// every record durable before a reader asks is in its answer, so the winner is never older
/// than the last record the reader could see. A reader that sees a durable sequence must see
/// the group's mark for it (`group_marks.rs`: raised before the sequence is published), or
/// it is answered from the answer kept before that record.
#[test]
fn readers_racing_a_writer_never_get_an_answer_older_than_what_they_saw_durable() {
    use std::sync::atomic::{AtomicBool, Ordering};

    const WRITES: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = with_kept_answer(dir.path());
    let first = db.last_sequence();
    let done = AtomicBool::new(false);
    let ask = |records_max| {
        db.query_if_small(&query(LensKind::Recency), records_max, render_value)
            .unwrap()
    };
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let mut asked = 0;
                while !done.load(Ordering::Acquire) || asked == 0 {
                    // Each record i (value i) is newer than every one before it, at sequence
                    // first + i: the winner seen at durable sequence s is at least s - first.
                    let seen = db.last_sequence() - first;
                    let Some(body) = ask(RECORDS_MAX) else { break };
                    let winner: u64 = text(&body).parse().unwrap_or(0);
                    if seen > 0 {
                        assert!(winner >= seen, "saw {seen} durable, answered {winner}");
                    }
                    asked += 1;
                }
                assert!(asked > 0);
            });
        }
        for i in 1..=WRITES {
            let at = format!("2025-07-01T00:{:02}:{:02}Z", i / 60, i % 60);
            ingest(&db, rec(4, "carol", SUBJECT, PREDICATE, json!(i), &at, &[]));
        }
        done.store(true, Ordering::Release);
    });
    assert_eq!(db.last_sequence() - first, WRITES, "one sequence a record");
}

/// A retraction of the winner, read through the fast path in the writer's `after_sync` hook:
/// after the retraction's fsync, before it is published. That read must show the winner (the
/// retraction is not yet visible), and must not keep its answer under the retraction: the
/// read once it is answered shows the retraction.
#[test]
fn a_read_while_a_change_is_synced_keeps_no_answer_without_it() {
    use std::sync::Mutex;

    let dir = tempfile::tempdir().unwrap();
    let seen_in_window: Arc<Mutex<Vec<String>>> = Arc::default();
    let window = {
        let seen_in_window = seen_in_window.clone();
        crate::harness::SyncWindow::open(dir.path(), move |db| {
            let answer = text(&fast(&db, LensKind::Recency));
            seen_in_window.lock().unwrap().push(answer);
        })
    };
    let db = &window.db;
    let group = setup(db);
    let before = text(&fast(db, LensKind::Recency));
    assert!(before.starts_with(&group.newer), "{before}");
    window.arm();
    ingest(db, retraction(3, "bob", &group.newer, false, T_LATER));
    assert_eq!(
        *seen_in_window.lock().unwrap(),
        [before],
        "in the window: the winner, not yet retracted"
    );
    let after = text(&fast(db, LensKind::Recency));
    assert!(
        after.starts_with(&group.older),
        "once answered, the retraction shows: {after}"
    );
    assert_eq!(after, seen(&db.query(&query(LensKind::Recency)).unwrap()));
}

/// A rebuild of the indexes and the truth state in place (`Db::rebuild_indexes`) makes no
/// record, yet readers saw its state half-built while it ran: no answer kept before it is
/// given after it.
#[test]
fn a_rebuild_in_place_voids_the_kept_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (db, before) = with_kept_answer(dir.path());
    db.rebuild_indexes(&mut |_, _| {}).unwrap();
    let after = fast(&db, LensKind::Recency);
    assert!(
        !same_body(&before, &after),
        "ranked again after the rebuild"
    );
    assert_eq!(text(&after), text(&before));
}

/// `GET /v1/query?...&winner_only=true` for `lens` twice, the second answered with the body
/// kept for the first (`stemedb`'s `answers.rs`): the same text, and the full answer's winner,
/// score, explanation and size. Returns the winner's id.
async fn check_kept_body(server: &TestServer, lens: &str) -> String {
    let url = format!(
        "{}/v1/query?subject={SUBJECT}&predicate={PREDICATE}&lens={lens}",
        server.url
    );
    let first = get_text(&format!("{url}&winner_only=true")).await;
    let again = get_text(&format!("{url}&winner_only=true")).await;
    assert_eq!(
        again, first,
        "{lens}: the kept body is the body rendered first"
    );
    let just: Value = serde_json::from_str(&again).unwrap();
    let full: Value = serde_json::from_str(&get_text(&url).await).unwrap();
    let (group, full_group) = (&just["groups"][0], &full["groups"][0]);
    crate::harness::assert_winner_only_group(group, full_group, lens);
    let ranked = full_group["assertions"].as_array().map_or(0, Vec::len);
    assert!(ranked > 0, "{lens}: the full answer lists its ranking");
    group["winner"]["id"].as_str().unwrap().to_owned()
}

/// Over HTTP, for every lens that keeps answers: the body sent again is the answer's, and a
/// change from outside the group (the winner retracted: a control record, which moves the
/// answers' version, not the group's key) and a new record in it show at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_kept_body_over_http_is_the_answer_rendered_afresh() {
    let server = TestServer::start().await;
    let sources = [("sources", json!(["source/K"]))];
    let records = [
        rec(2, "alice", SUBJECT, PREDICATE, json!(81), T0, &[]),
        rec(3, "bob", SUBJECT, PREDICATE, json!(100), T_LATER, &sources),
    ];
    let stored = server.client.assert_batch(&records).await.unwrap();
    let id = |i: usize| stored.results[i].id.clone().unwrap_or_default();
    for lens in LensKind::ALL.iter().filter(|l| **l != LensKind::Evidence) {
        check_kept_body(&server, lens.as_str()).await;
    }
    assert_eq!(check_kept_body(&server, "recency").await, id(1));
    let retracted = retraction(3, "bob", &id(1), false, T_LATER);
    server.client.assert_batch(&[retracted]).await.unwrap();
    assert_eq!(
        check_kept_body(&server, "recency").await,
        id(0),
        "the winner's retraction shows at once"
    );
    let newest = rec(
        4,
        "carol",
        SUBJECT,
        PREDICATE,
        json!(120),
        "2025-09-01T00:00:00Z",
        &[],
    );
    let newest = server.client.assert_batch(&[newest]).await.unwrap();
    assert_eq!(
        check_kept_body(&server, "recency").await,
        newest.results[0].id.as_deref().unwrap(),
        "the newest record wins once it is in"
    );
    server.stop().await;
}

/// One answer rendered two ways (two callers of one `Db`): each gets its own rendering, kept
/// apart by the rendering function.
#[test]
fn two_renderings_of_one_answer_are_kept_apart() {
    fn render_winner_id(result: &QueryResult) -> Result<Bytes, DbError> {
        let ids: Vec<String> = result.groups.iter().map(|g| g.winner.id.to_hex()).collect();
        Ok(Bytes::from(ids.join(" ")))
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbConfig::default()).unwrap();
    let group = setup(&db);
    let seen_text = text(&fast(&db, LensKind::Recency));
    for _ in 0..2 {
        let id = db
            .query_if_small(&query(LensKind::Recency), RECORDS_MAX, render_winner_id)
            .unwrap()
            .expect("a small group goes the fast path");
        assert_eq!(text(&id), group.newer, "the second rendering's own text");
    }
    assert_eq!(text(&fast(&db, LensKind::Recency)), seen_text);
}
