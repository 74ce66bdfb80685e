//! Trust chains: best product of weight × decay over at most `hops_max` hops from a root,
//! the default without a path, cycles, ties, and independence from the order of statements.
use stemedb_lens::{TrustEdge, TrustParams, compute_trust};

fn edges(list: &[(&str, &str, f64)]) -> Vec<TrustEdge> {
    list.iter()
        .map(|(a, b, w)| TrustEdge {
            truster: (*a).into(),
            trustee: (*b).into(),
            weight: *w,
        })
        .collect()
}

/// (case, roots, statements, agent, expected trust, expected path)
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str, f64)],
    &'static str,
    f64,
    Option<&'static [&'static str]>,
);

fn check(case: &Case, params: TrustParams) {
    let (name, roots, statements, agent, trust, path) = case;
    let roots: Vec<String> = roots.iter().map(|r| (*r).into()).collect();
    let map = compute_trust(&roots, &edges(statements), params);
    assert!(
        (map.trust(agent) - trust).abs() < 1e-12,
        "{name}: trust {} ≠ {trust}",
        map.trust(agent)
    );
    let found: Option<Vec<&str>> = map
        .entry(agent)
        .map(|e| e.path.iter().map(String::as_str).collect());
    assert_eq!(found.as_deref(), *path, "{name}: path");
    let mut reversed = edges(statements);
    reversed.reverse();
    let again = compute_trust(&roots, &reversed, params);
    assert_eq!(
        again.entry(agent).map(|e| e.path.clone()),
        map.entry(agent).map(|e| e.path.clone()),
        "{name}: the order of statements does not matter"
    );
}

#[test]
fn trust_flows_along_the_best_chain_within_the_hop_limit() {
    let cases: &[Case] = &[
        ("a root has trust 1", &["r"], &[], "r", 1.0, Some(&["r"])),
        (
            "no path: the default",
            &["r"],
            &[("x", "y", 1.0)],
            "y",
            0.1,
            None,
        ),
        (
            "one hop",
            &["r"],
            &[("r", "a", 0.5)],
            "a",
            0.45,
            Some(&["r", "a"]),
        ),
        (
            "three hops multiply weight × decay",
            &["r"],
            &[("r", "a", 1.0), ("a", "b", 1.0), ("b", "c", 0.9)],
            "c",
            0.9 * 0.9 * 0.9 * 0.9,
            Some(&["r", "a", "b", "c"]),
        ),
        (
            "a longer chain wins when its product is higher",
            &["r"],
            &[("r", "c", 0.3), ("r", "a", 1.0), ("a", "c", 1.0)],
            "c",
            0.81,
            Some(&["r", "a", "c"]),
        ),
        (
            "cycles never help and never loop",
            &["r"],
            &[
                ("r", "a", 1.0),
                ("a", "b", 1.0),
                ("b", "a", 1.0),
                ("b", "r", 1.0),
            ],
            "b",
            0.81,
            Some(&["r", "a", "b"]),
        ),
        (
            "weight 0 removes an edge",
            &["r"],
            &[("r", "a", 0.0)],
            "a",
            0.1,
            None,
        ),
        (
            "a root stays 1 even when trusted by others",
            &["r"],
            &[("x", "r", 0.2)],
            "r",
            1.0,
            Some(&["r"]),
        ),
        (
            "ties go to the smaller predecessor name",
            &["r"],
            &[
                ("r", "b", 1.0),
                ("r", "a", 1.0),
                ("b", "c", 1.0),
                ("a", "c", 1.0),
            ],
            "c",
            0.81,
            Some(&["r", "a", "c"]),
        ),
    ];
    for case in cases {
        check(case, TrustParams::default());
    }
}

#[test]
fn chains_longer_than_the_hop_limit_are_not_followed() {
    let chain: Vec<(String, String)> = (0..9)
        .map(|i| (format!("n{i}"), format!("n{}", i + 1)))
        .collect();
    let statements: Vec<TrustEdge> = chain
        .iter()
        .map(|(a, b)| TrustEdge {
            truster: a.clone(),
            trustee: b.clone(),
            weight: 1.0,
        })
        .collect();
    let map = compute_trust(&["n0".into()], &statements, TrustParams::default());
    assert_eq!(map.entry("n8").map(|e| e.depth()), Some(8));
    assert!((map.trust("n8") - 0.9f64.powi(8)).abs() < 1e-12);
    assert!(map.entry("n9").is_none(), "nine hops is past the limit");
    assert_eq!(map.trust("n9"), 0.1);
}
