//! The evidence lens on one group: votes by earned accuracy, echoes of a copied agent not
//! counted, gold first, numbers by their vote-weighted median.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use serde_json::{Value, json};
use stemedb_core::{AssertionId, Timestamp};
use stemedb_lens::{Candidate, LensContext, LensKind, claim_vote, rank};

/// (agent, value, accuracy, copy of, gold)
type Row = (&'static str, Value, f64, Option<&'static str>, bool);

fn candidates(rows: &[Row]) -> Vec<Candidate<'_>> {
    rows.iter()
        .enumerate()
        .map(|(i, (agent, value, accuracy, copy_of, gold))| Candidate {
            id: AssertionId::of_canonical(agent.as_bytes()),
            sequence: i as u64 + 1,
            timestamp: Timestamp::from_micros(i as i64 * 60_000_000),
            confidence: 0.9,
            trust: 0.1,
            value,
            agent_id: agent,
            vote_balance: 0.0,
            gold: *gold,
            rooted: false,
            accuracy: *accuracy,
            copy_of: *copy_of,
        })
        .collect()
}

/// The evidence lens must rank `rows` with `winner`'s claim first, every claim ranked.
fn check(name: &str, rows: &[Row], winner: &str) {
    let cands = candidates(rows);
    let context = LensContext {
        now: Timestamp::from_micros(0),
    };
    let ranking = rank(LensKind::Evidence, &cands, &context);
    assert_eq!(
        ranking.order.len(),
        rows.len(),
        "{name}: every claim ranked"
    );
    assert_eq!(
        cands[ranking.order[0]].agent_id, winner,
        "{name}: {}",
        ranking.explanation
    );
    assert!(ranking.explanation.starts_with("evidence: "), "{name}");
}

#[test]
fn the_evidence_lens_picks_its_winners() {
    let cases: Vec<(&str, Vec<Row>, &str)> = vec![
        (
            "two accurate agents outvote three poor ones",
            vec![
                ("a", json!("x"), 0.9, None, false),
                ("b", json!("x"), 0.85, None, false),
                ("c", json!("y"), 0.4, None, false),
                ("d", json!("y"), 0.4, None, false),
                ("e", json!("y"), 0.4, None, false),
            ],
            "a",
        ),
        (
            "an echo of a copied agent is not counted",
            vec![
                ("leader", json!("x"), 0.7, None, false),
                ("copy", json!("x"), 0.7, Some("leader"), false),
                ("other", json!("y"), 0.75, None, false),
            ],
            "other",
        ),
        (
            "the same claims without the copy mark: two votes beat one",
            vec![
                ("leader", json!("x"), 0.7, None, false),
                ("copy", json!("x"), 0.7, None, false),
                ("other", json!("y"), 0.75, None, false),
            ],
            "copy", // "x" wins; between equals, the later claim first (as authority ranks)
        ),
        (
            "a copy that disagrees with its source counts",
            vec![
                ("leader", json!("x"), 0.7, None, false),
                ("copy", json!("y"), 0.7, Some("leader"), false),
                ("other", json!("y"), 0.7, None, false),
            ],
            "other", // "y" wins with both votes
        ),
        (
            "a gold mark wins over any vote",
            vec![
                ("a", json!("x"), 0.99, None, false),
                ("b", json!("x"), 0.99, None, false),
                ("curated", json!("y"), 0.2, None, true),
            ],
            "curated",
        ),
        (
            "numbers: the vote-weighted median, not the plurality",
            vec![
                ("low", json!(5), 0.6, None, false),
                ("mid", json!(10), 0.9, None, false),
                ("high", json!(20), 0.6, None, false),
                ("high2", json!(20), 0.5, None, false),
            ],
            "mid",
        ),
    ];
    for (name, rows, winner) in &cases {
        check(name, rows, winner);
    }
}

#[test]
fn a_vote_grows_with_accuracy_and_is_never_negative() {
    let votes: Vec<f64> = [0.01, 0.2, 0.34, 0.5, 0.7, 0.9, 0.99, 1.0]
        .iter()
        .map(|p| claim_vote(*p, 2))
        .collect();
    assert!(
        votes.windows(2).all(|w| w[0] <= w[1]),
        "monotone: {votes:?}"
    );
    assert_eq!(votes[0], 0.0, "an agent mostly wrong casts no vote");
    assert!(votes.iter().all(|v| v.is_finite() && *v >= 0.0));
    // More values to be wrong among make agreement on one more telling.
    assert!(claim_vote(0.7, 5) > claim_vote(0.7, 2));
}
