//! The flywheel commands over the planted repository: coverage in its three formats, the
//! claims document, suggestions, and the pre-commit hook.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod support;

use support::Repo;

#[test]
fn coverage_docs_explain_and_suggest() {
    let repo = Repo::copy("planted");
    let rows = repo.json(
        &["coverage", "--format", "json", "--sort-by", "unclaimed"],
        0,
    );
    let rows = rows.as_array().unwrap();
    let row = |m: &str| rows.iter().find(|r| r["module"] == m).unwrap().clone();
    assert_eq!(row("planted/Cargo.toml")["observations"], 5);
    assert_eq!(row("planted/Cargo.toml")["claimed"], 0);
    assert_eq!(row("planted/planted")["claimed"], 5, "{rows:?}");
    let unclaimed: Vec<u64> = rows
        .iter()
        .map(|r| r["unclaimed"].as_u64().unwrap())
        .collect();
    assert!(
        unclaimed.windows(2).all(|w| w[0] >= w[1]),
        "sorted by unclaimed: {unclaimed:?}"
    );
    let table = repo.ok(&["coverage"]);
    assert!(table.contains("with observations and no claim"), "{table}");
    let markdown = repo.ok(&["coverage", "--format", "markdown"]);
    assert!(markdown.contains("| `planted/Dockerfile` |"), "{markdown}");
    let (code, _, err) = repo.run(&["coverage", "--sort-by", "size"]);
    assert!(code == 2 && err.contains("--sort-by \"size\""), "{err}");

    let out = repo.path("CLAIMS.md");
    repo.ok(&["docs", "generate", "--output", out.to_str().unwrap()]);
    let doc = std::fs::read_to_string(&out).unwrap();
    for part in [
        "## security",
        "### `loopback-only` (active)",
        "- **Verdict:** conflict (1 observed)",
        "A default install is reachable",
    ] {
        assert!(doc.contains(part), "{part:?} missing from:\n{doc}");
    }
    let json = repo.json(&["docs", "generate", "--format", "json"], 0);
    assert_eq!(json["claims"].as_array().unwrap().len(), 9);
    assert!(repo.ok(&["explain"]).contains("## operations"));

    let suggested = repo.json(&["suggest", "--json"], 0);
    let pins = suggested
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["claim"]["predicate"] == "docker.base_image_pin")
        .unwrap()
        .clone();
    assert_eq!(pins["claim"]["expected"], "tag");
    assert_eq!(pins["claim"]["subject"], "planted/Dockerfile**");
    assert_eq!(pins["covers"], 2);
}

/// A file of a kind Aphoria reads but too large to read is named in the scan's report (claims
/// about it would otherwise go missing without a word); a large file of another kind is not.
#[test]
fn a_scan_names_the_files_too_large_to_read() {
    let repo = Repo::copy("planted");
    let huge = format!("// {}\n", "x".repeat(1024 * 1024));
    std::fs::write(repo.path("src/huge.rs"), &huge).unwrap();
    std::fs::write(repo.path("huge.bin"), &huge).unwrap();
    let out = repo.json(&["scan", "--json"], 0);
    let unparsed: Vec<(String, String)> =
        serde_json::from_value(out["report"]["unparsed"].clone()).unwrap();
    assert_eq!(
        unparsed,
        [(
            "src/huge.rs".to_owned(),
            "larger than 1048576 bytes, not read".to_owned()
        )],
        "{out}"
    );
    assert!(
        repo.ok(&["scan"])
            .contains("did not parse: src/huge.rs: larger than")
    );
}

#[test]
fn the_pre_commit_hook_installs_once() {
    let repo = Repo::copy("planted");
    let (code, _, err) = repo.run(&["verify", "install-hook"]);
    assert_eq!(code, 2, "not a git work tree yet: {err}");
    std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&repo.root)
        .status()
        .unwrap();
    repo.ok(&["verify", "install-hook"]);
    let hook = repo.path(".git/hooks/pre-commit");
    let text = std::fs::read_to_string(&hook).unwrap();
    assert!(text.contains("aphoria verify run --dry-run"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&hook).unwrap().permissions().mode() & 0o111,
            0o111
        );
    }
    let (code, _, err) = repo.run(&["verify", "install-hook"]);
    assert!(code == 2 && err.contains("exists"), "{err}");
}
