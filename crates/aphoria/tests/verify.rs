//! `aphoria verify run` over a repository with planted facts: exactly the expected Pass,
//! Conflict, Missing and Unclaimed, and the documented exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod support;

use support::{Repo, verdicts};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// Every planted claim's verdict.
const PLANTED: [(&str, &str); 9] = [
    ("argon2-passwords", "missing"),
    ("forbid-unsafe", "pass"),
    ("hardened-unit", "pass"),
    ("loopback-only", "conflict"),
    ("no-unsafe", "pass"),
    ("no-unwrap", "conflict"),
    ("non-root-container", "conflict"),
    ("request-timeout", "pass"),
    ("tls-floor", "pass"),
];

/// Every observation no planted claim covers: (subject, predicate), hand-checked against the
/// fixture's files.
const UNCLAIMED: [(&str, &str); 15] = [
    (
        "planted/Cargo.toml::dependencies.serde",
        "dep.default_features",
    ),
    ("planted/Cargo.toml::dependencies.serde", "dep.features"),
    ("planted/Cargo.toml::dependencies.serde", "dep.version"),
    ("planted/Cargo.toml::package", "package.license"),
    ("planted/Cargo.toml::package", "rust.edition"),
    ("planted/Dockerfile", "docker.exposed_ports"),
    ("planted/Dockerfile::stage.1", "docker.base_image"),
    ("planted/Dockerfile::stage.1", "docker.base_image_pin"),
    ("planted/Dockerfile::stage.build", "docker.base_image"),
    ("planted/Dockerfile::stage.build", "docker.base_image_pin"),
    (
        "planted/deploy/planted.service::Service.ExecStart",
        "systemd.setting",
    ),
    (
        "planted/deploy/planted.service::Service.NoNewPrivileges",
        "systemd.setting",
    ),
    (
        "planted/deploy/planted.service::Service.PrivateTmp",
        "systemd.setting",
    ),
    (
        "planted/deploy/planted.service::Unit.Description",
        "systemd.setting",
    ),
    ("planted/planted::listen_address", "net.bind_address"),
];

#[test]
fn the_planted_repository_gives_exactly_the_expected_verdicts() {
    let repo = Repo::copy("planted");
    let answer = repo.json(&["verify", "run", "--json"], 1);
    assert_eq!(verdicts(&answer), pairs(&PLANTED));
    let mut unclaimed: Vec<(String, String)> = answer["verification"]["unclaimed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["subject"].as_str().unwrap().to_owned(),
                f["predicate"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    unclaimed.sort();
    assert_eq!(unclaimed, pairs(&UNCLAIMED));
    let conflict = |id: &str| {
        answer["verification"]["claims"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    let bind = conflict("loopback-only");
    assert_eq!(
        bind["violations"][0]["subject"],
        "planted/planted::listen_address"
    );
    assert_eq!(bind["violations"][0]["path"], "src/lib.rs");
    assert_eq!(
        conflict("no-unwrap")["violations"][0]["subject"],
        "planted/planted::parse_port"
    );
}

#[test]
fn exit_codes_follow_the_verdicts() {
    let repo = Repo::copy("planted");
    // 1: a conflict.
    assert_eq!(repo.run(&["verify", "run"]).0, 1);
    for id in ["loopback-only", "no-unwrap", "non-root-container"] {
        repo.ok(&["claims", "deprecate", id]);
    }
    // 0: no conflict left, a missing claim does not fail by default…
    let (code, out, _) = repo.run(&["verify", "run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pass 5, conflict 0, missing 1"), "{out}");
    // …unless asked to.
    assert_eq!(repo.run(&["verify", "run", "--fail-on-missing"]).0, 1);
    // 2: the command could not run, said in a sentence naming the file.
    std::fs::write(repo.path(".aphoria/claims.toml"), "[[claim]]\nid = 3\n").unwrap();
    let (code, _, err) = repo.run(&["verify", "run"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("aphoria: error: ") && err.contains("claims.toml"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "{err}"
    );
}

#[test]
fn verify_map_names_the_extractors_of_each_claim() {
    let repo = Repo::copy("planted");
    let map = repo.json(&["verify", "map", "--json"], 0);
    let row = |id: &str| {
        map.as_array()
            .unwrap()
            .iter()
            .find(|r| r["claim"] == id)
            .unwrap()["extractors"]
            .clone()
    };
    assert_eq!(row("no-unwrap"), serde_json::json!(["panics"]));
    assert_eq!(row("non-root-container"), serde_json::json!(["dockerfile"]));
}

#[test]
fn a_command_that_fails_signs_nothing() {
    let repo = Repo::copy("planted");
    let history =
        || std::fs::read_to_string(repo.path(".aphoria/history.jsonl")).unwrap_or_default();
    let base = [
        "--category",
        "c",
        "--subject",
        "planted/**",
        "--predicate",
        "rust.unsafe",
        "--invariant",
        "i",
    ];
    let with = |head: &[&'static str], tail: &[&'static str]| -> Vec<&'static str> {
        head.iter()
            .chain(base.iter())
            .chain(tail.iter())
            .copied()
            .collect()
    };
    let (code, _, err) = repo.run(&with(
        &["claims", "supersede", "nosuch", "--id", "newc"],
        &["--comparison", "absent"],
    ));
    assert_eq!((code, history().as_str()), (2, ""), "{err}");
    let (code, _, err) = repo.run(&with(
        &["claims", "create", "--id", "nul"],
        &["--comparison", "equals", "--expected", "null"],
    ));
    assert_eq!((code, history().as_str()), (2, ""), "{err}");
    assert!(err.contains("null"), "{err}");
    let (code, _, err) = repo.run(&["claims", "update", "no-unsafe", "--id", "other"]);
    assert_eq!((code, history().as_str()), (2, ""), "{err}");
    // A typo'd predicate cannot pass as `absent`: nothing could have been observed.
    repo.ok(&with(
        &["claims", "create", "--id", "typo"],
        &["--comparison", "absent"],
    )
    .iter()
    .map(|s| {
        if *s == "rust.unsafe" {
            "rust.unsafe_code"
        } else {
            s
        }
    })
    .collect::<Vec<_>>());
    let answer = repo.json(&["verify", "run", "--json"], 1);
    let typo = answer["verification"]["claims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "typo")
        .unwrap()
        .clone();
    assert_eq!(typo["verdict"], "missing", "{typo}");
    assert_eq!(typo["note"], "no extractor observes \"rust.unsafe_code\"");
    assert_eq!(history().lines().count(), 1, "only the successful create");
}
