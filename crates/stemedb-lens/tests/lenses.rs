//! Lens tables: for each case, the winner each lens must pick and the conflict score's range.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use serde_json::{Value, json};
use stemedb_core::{AssertionId, Timestamp};
use stemedb_lens::{Candidate, LensContext, LensKind, conflict_score, rank};

/// (agent, value, confidence, trust, timestamp in days)
type Row = (&'static str, Value, f64, f64, i64);

fn candidates(rows: &[Row]) -> Vec<Candidate<'_>> {
    rows.iter()
        .enumerate()
        .map(|(i, (agent, value, confidence, trust, day))| Candidate {
            id: AssertionId::of_canonical(agent.as_bytes()),
            sequence: i as u64 + 1,
            timestamp: Timestamp::from_micros(day * 86_400_000_000),
            confidence: *confidence,
            trust: *trust,
            value,
            agent_id: agent,
            vote_balance: 0.0,
            gold: false,
            rooted: false,
            accuracy: 0.6,
            copy_of: None,
        })
        .collect()
}

const NOW: LensContext = LensContext {
    now: Timestamp::from_micros(0),
};

/// Checks that `lens` ranks `rows` with `winner` first and that the score lies in `score`.
fn check(
    name: &str,
    rows: &[Row],
    lens: LensKind,
    winner: &str,
    score: std::ops::RangeInclusive<f64>,
) {
    let cands = candidates(rows);
    let ranking = rank(lens, &cands, &NOW);
    assert_eq!(
        ranking.order.len(),
        rows.len(),
        "{name}/{lens}: every assertion is ranked"
    );
    let got = cands[ranking.order[0]].agent_id;
    assert_eq!(
        got, winner,
        "{name}/{lens}: winner ({})",
        ranking.explanation
    );
    assert!(
        score.contains(&ranking.conflict_score),
        "{name}/{lens}: score {} not in {score:?}",
        ranking.conflict_score
    );
    assert!(
        !ranking.explanation.is_empty(),
        "{name}/{lens}: an explanation"
    );
    // Deterministic: the same input (in any order) gives the same winner.
    let mut reversed: Vec<Row> = rows.to_vec();
    reversed.reverse();
    let cands2 = candidates(&reversed);
    let again = rank(lens, &cands2, &NOW);
    assert_eq!(
        cands2[again.order[0]].agent_id, winner,
        "{name}/{lens}: order-independent"
    );
}

fn dosage() -> Vec<Row> {
    vec![
        ("board", json!(81), 0.99, 1.0, 100),
        ("clinic-n", json!(160), 0.9, 1.0, 300),
        ("clinic-s", json!(160), 0.9, 1.0, 400),
        ("clinic-e", json!(160), 0.85, 1.0, 200),
        ("preprint", json!(325), 0.5, 1.0, 900),
    ]
}

/// (case name, rows, lens, expected winner's agent, conflict score range)
type LensCase = (
    &'static str,
    Vec<Row>,
    LensKind,
    &'static str,
    std::ops::RangeInclusive<f64>,
);

#[test]
fn lenses_pick_their_winners() {
    use LensKind::*;
    let table: Vec<LensCase> = vec![
        ("dosage", dosage(), Recency, "preprint", 0.545..=0.547),
        ("dosage", dosage(), Authority, "board", 0.545..=0.547),
        ("dosage", dosage(), Consensus, "clinic-s", 0.545..=0.547),
        ("dosage", dosage(), Conflict, "board", 0.545..=0.547),
        (
            "trust scales authority",
            vec![
                ("low-trust", json!(1), 1.0, 0.2, 1),
                ("trusted", json!(2), 0.6, 1.0, 0),
            ],
            Authority,
            "trusted",
            0.374..=0.376, // two values 1 apart: 3/8
        ),
        (
            "categorical consensus",
            vec![
                ("x", json!("yes"), 0.9, 1.0, 1),
                ("y", json!("no"), 0.6, 1.0, 2),
                ("z", json!("no"), 0.6, 1.0, 0),
            ],
            Consensus,
            "y",
            0.979..=0.980,
        ),
        (
            "agreement scores zero",
            vec![("x", json!(5), 0.9, 1.0, 1), ("y", json!(5.0), 0.3, 1.0, 2)],
            Recency,
            "y",
            0.0..=0.0,
        ),
        (
            "single assertion",
            vec![("only", json!({"a": 1}), 0.4, 1.0, 1)],
            Consensus,
            "only",
            0.0..=0.0,
        ),
        (
            "zero confidence still ranks",
            vec![
                ("p", json!(1), 0.0, 1.0, 1),
                ("q", json!(3), 0.0, 1.0, 2),
                ("r", json!(3), 0.0, 1.0, 0),
            ],
            Consensus,
            "q",
            0.592..=0.593, // 16/27: with zero confidence every assertion still weighs
        ),
    ];
    for (name, rows, lens, winner, score) in table {
        check(name, &rows, lens, winner, score);
    }
}

#[test]
fn recency_ties_go_to_the_later_sequence() {
    // Sequence follows position in the table here, so the second row is the later record.
    let rows = [
        ("first", json!(1), 0.5, 1.0, 10),
        ("second", json!(2), 0.5, 1.0, 10),
    ];
    let cands = candidates(&rows);
    assert_eq!(
        cands[rank(LensKind::Recency, &cands, &NOW).order[0]].agent_id,
        "second"
    );
}

#[test]
fn conflict_score_follows_the_documented_formula() {
    let score = |rows: &[Row]| conflict_score(&candidates(rows));
    // The issue's example: 0.002 against 0.12 at confidences 0.95 and 0.7 is strong contradiction.
    let strong = score(&[
        ("a", json!(0.002), 0.95, 1.0, 0),
        ("b", json!(0.12), 0.7, 1.0, 0),
    ]);
    let expected = 4.0 * 0.95 * 0.7 * ((0.12 - 0.002) / 0.12) / (1.65f64 * 1.65);
    assert!(
        (strong - expected).abs() < 1e-12 && strong > 0.5,
        "strong = {strong}, expected {expected}"
    );
    // Two equal camps that disagree completely score 1; a low-weight dissenter scores little.
    assert_eq!(
        score(&[
            ("a", json!("x"), 1.0, 1.0, 0),
            ("b", json!("y"), 1.0, 1.0, 0)
        ]),
        1.0
    );
    assert!(
        score(&[
            ("a", json!("x"), 1.0, 1.0, 0),
            ("b", json!("y"), 0.01, 1.0, 0)
        ]) < 0.05
    );
    // Close numbers conflict less than far ones.
    let near = score(&[
        ("a", json!(100), 1.0, 1.0, 0),
        ("b", json!(101), 1.0, 1.0, 0),
    ]);
    let far = score(&[
        ("a", json!(100), 1.0, 1.0, 0),
        ("b", json!(1000), 1.0, 1.0, 0),
    ]);
    assert!(near < 0.05 && far > 0.8, "near {near}, far {far}");
    // Bounded even with many camps.
    let many: Vec<Row> = (0..10)
        .map(|i| ("m", json!(format!("v{i}")), 1.0, 1.0, 0))
        .collect();
    assert_eq!(score(&many), 1.0);
    assert_eq!(score(&[]), 0.0);
}

#[test]
fn the_vote_factor_is_bounded_monotone_and_neutral_without_votes() {
    use stemedb_lens::vote_factor;
    assert_eq!(vote_factor(0.0), 1.0);
    let e = std::f64::consts::E;
    for b in [-1e9, -10.0, -1.0, -0.1, 0.1, 1.0, 10.0, 1e9] {
        let f = vote_factor(b);
        assert!((1.0 / e..=e).contains(&f), "{b}: {f}");
        assert!(vote_factor(b + 0.01) >= f, "monotone at {b}");
    }
    assert_eq!(
        vote_factor(f64::NAN),
        1.0,
        "no votes counted for a broken balance"
    );
}

#[test]
fn votes_move_consensus_and_the_layered_lens_names_its_layer() {
    let rows: Vec<Row> = vec![
        ("a", json!("red"), 1.0, 0.1, 1),
        ("b", json!("red"), 1.0, 0.1, 1),
        ("c", json!("blue"), 1.0, 0.1, 1),
    ];
    let mut cands = candidates(&rows);
    let winner = |cands: &[Candidate<'_>], lens| {
        let r = rank(lens, cands, &NOW);
        (cands[r.order[0]].agent_id.to_owned(), r.layer)
    };
    assert_eq!(
        winner(&cands, LensKind::Consensus).0,
        "b",
        "red, the later holder"
    );
    cands[2].vote_balance = 1.0; // one up-vote from a voter of trust 1
    cands[0].vote_balance = -1.0;
    assert_eq!(winner(&cands, LensKind::Consensus).0, "c");
    assert_eq!(
        winner(&cands, LensKind::Layered),
        ("c".to_owned(), Some("consensus"))
    );
    cands[1].rooted = true;
    cands[1].trust = 0.9;
    assert_eq!(
        winner(&cands, LensKind::Layered),
        ("b".to_owned(), Some("authority"))
    );
    cands[0].gold = true;
    assert_eq!(
        winner(&cands, LensKind::Layered),
        ("a".to_owned(), Some("gold_standard"))
    );
}
