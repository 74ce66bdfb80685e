//! The write and history commands a newcomer uses, against a child server: keygen, assert,
//! vote, trust, retract, reinstate, `log`, `show` and `sign`, and their errors as sentences.
use serde_json::Value;

use crate::child::ChildServer;
use crate::cli::run;

/// Runs a client command against `url`; its stdout, or a panic naming stderr.
fn ok(url: &str, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run(&[args, &["--server", url]].concat());
    assert!(ok, "{args:?} failed: {stderr}");
    stdout
}

/// Runs a client command that must fail; its stderr.
fn fails(url: &str, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run(&[args, &["--server", url]].concat());
    assert!(!ok, "{args:?} succeeded: {stdout}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
    stderr
}

/// A new key file `name` in `dir` (`stemedb keygen`); its path.
pub(crate) fn new_key(dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(name).to_str().unwrap().to_owned();
    assert!(run(&["keygen", "--out", &path]).0, "keygen {path}");
    path
}

/// The id a `--json` answer names.
fn id_of(answer: &str) -> String {
    let answer: Value = serde_json::from_str(answer).unwrap();
    answer["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_newcomer_writes_retracts_reinstates_and_reads_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(&dir.path().join("data"));
    let url = server.url.as_str();
    let (alice, bob) = (
        new_key(dir.path(), "alice.key"),
        new_key(dir.path(), "bob.key"),
    );
    let as_alice = ["--key", alice.as_str(), "--agent", "agent/alice"];
    let as_bob = ["--key", bob.as_str(), "--agent", "agent/bob"];
    let claim = [
        "--subject",
        "drug/x/dose",
        "--predicate",
        "mg",
        "--value",
        "81",
    ];
    let first = id_of(&ok(
        url,
        &[&["assert", "--json"][..], &as_alice, &claim].concat(),
    ));

    let vote = ok(url, &[&["vote", first.as_str()][..], &as_bob].concat());
    assert!(vote.starts_with("vote "), "{vote}");
    let trust = ok(
        url,
        &[&["trust", "agent/alice", "--weight", "0.8"][..], &as_bob].concat(),
    );
    assert!(
        trust.contains("agent/bob trusts agent/alice with weight 0.8"),
        "{trust}"
    );
    let retract = [
        &["retract", first.as_str(), "--reason", "typo", "--json"][..],
        &as_alice,
    ];
    let retraction = ok(url, &retract.concat());
    let retraction_id = id_of(&retraction);
    assert!(retraction.contains("\"retracted_count\":1"), "{retraction}");
    let show = ok(url, &["show", first.as_str()]);
    assert!(
        show.contains("verified offline") && show.contains("retracted"),
        "{show}"
    );
    assert!(show.contains("\"up\":1"), "the vote is shown: {show}");
    let reinstate = [
        &["reinstate", retraction_id.as_str(), "--reason", "no typo"][..],
        &as_alice,
    ];
    let reinstated = ok(url, &reinstate.concat());
    assert!(
        reinstated.contains("1 assertion(s) reinstated"),
        "{reinstated}"
    );

    let log = ok(url, &["log", "drug/x/dose"]);
    let kinds: Vec<&str> = log
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["reinstatement", "retraction", "vote", "assertion"],
        "{log}"
    );
    assert!(
        log.contains("\"typo\"") && log.contains("agent/bob votes 1"),
        "{log}"
    );
    let newest = ok(url, &["log", "drug/*", "-n", "1", "--json"]);
    assert_eq!(newest.lines().count(), 1, "{newest}");
    assert!(newest.contains("stemedb:retracts"), "{newest}");
}

/// Each mistake is refused by the server or the CLI, as a sentence that names the cause.
#[test]
fn write_and_history_mistakes_read_as_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(&dir.path().join("data"));
    let url = server.url.as_str();
    let key = new_key(dir.path(), "k.key");
    let signer = ["--key", key.as_str(), "--agent", "agent/k"];
    let unknown = "ab".repeat(32);
    let check = |args: &[&str], want: &str| {
        let stderr = fails(url, args);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    };
    check(
        &[&["retract", &unknown, "--reason", "r"][..], &signer].concat(),
        "target_exists",
    );
    let vote = [&["vote", "not-an-id"][..], &signer].concat();
    check(
        &vote,
        "signing stemedb:vote about \"not-an-id\": subject: must be 64 lowercase hex",
    );
    check(
        &[&["trust", "agent/x", "--weight", "2"][..], &signer].concat(),
        "--weight",
    );
    check(&["show", "xyz"], "is not a record id");
    check(&["show", &unknown], "404");
    let bare = url.trim_start_matches("http://");
    assert!(
        run(&["log", "drug/*", "--server", bare]).0,
        "a bare host:port is a server URL"
    );
    let no_key = std::process::Command::new(crate::child::BIN)
        .args([
            "log",
            "drug/*",
            "--server",
            url,
            "--api-key-file",
            "/nonexistent/admin.key",
        ])
        .env_remove("STEMEDB_API_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&no_key.stderr);
    assert!(
        stderr.contains("401")
            && stderr.contains("no API key was sent: looked for /nonexistent/admin.key"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&["log", "drug/*", "--server", "http://127.0.0.1:9"]);
    assert!(
        !ok && stderr.contains("nothing is listening at http://127.0.0.1:9"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    let (_, _, stderr) = run(&[
        "log",
        "drug/*",
        "--server",
        "http://127.0.0.1:9",
        "--verbose",
    ]);
    assert!(
        stderr.contains("Caused by:") && stderr.contains("Connection refused"),
        "{stderr}"
    );
}

/// `sign` prints a wire form that verifies, fills in what the flags give, and refuses a
/// signed body.
#[test]
fn sign_prints_a_verifiable_wire_form() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "k.key");
    let body = dir.path().join("body.json");
    std::fs::write(&body, r#"{"subject": "s/1", "predicate": "p", "value": 1}"#).unwrap();
    let body = body.to_str().unwrap();
    let (ok, stdout, stderr) = run(&["sign", body, "--key", &key, "--agent", "agent/k"]);
    assert!(ok, "{stderr}");
    let mut wire: serde_json::Map<String, Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(wire["agent_id"], "agent/k");
    let signature = wire.remove("signature").unwrap();
    let signature = stemedb::core::Signature::parse_field(signature.as_str().unwrap(), "s");
    let limits = stemedb::core::Limits::default();
    let record = stemedb::core::SignedAssertion::from_body(wire, signature.unwrap(), &limits);
    assert!(record.unwrap().verify(), "the signature verifies");
    let signed = dir.path().join("signed.json");
    std::fs::write(&signed, &stdout).unwrap();
    let (ok, _, stderr) = run(&["sign", signed.to_str().unwrap(), "--key", &key]);
    assert!(!ok && stderr.contains("already signed"), "{stderr}");
    let (ok, _, stderr) = run(&["sign", body, "--key", &key]);
    assert!(!ok && stderr.contains("agent_id"), "no agent: {stderr}");
}

/// `blame`, `diff`, `skeptic`, `provenance` and paged `query` explain the answers, against a
/// store where the answer to one group changed and another group appeared after a known time.
#[test]
fn blame_diff_skeptic_and_provenance_explain_the_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(&dir.path().join("data"));
    let url = server.url.as_str();
    let signer = |name: &str| {
        let path = new_key(dir.path(), name);
        vec![
            "--key".to_owned(),
            path,
            "--agent".to_owned(),
            format!("agent/{name}"),
        ]
    };
    let assert = |who: &[String], subject: &str, value: &str| {
        let who: Vec<&str> = who.iter().map(String::as_str).collect();
        let claim = ["--subject", subject, "--predicate", "mg", "--value", value];
        let extra = ["--source", "source/T", "--json"];
        id_of(&ok(url, &[&["assert"][..], &who, &claim, &extra].concat()))
    };
    let (alice, bob) = (signer("alice"), signer("bob"));
    let first = assert(&alice, "drug/y/dose", "81");
    let shown: Value = serde_json::from_str(&ok(url, &["show", &first, "--json"])).unwrap();
    let then = shown["recorded_at"].as_str().unwrap().to_owned();
    assert_eq!(shown["verified"], true);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert(&bob, "drug/y/dose", "100");
    assert(&bob, "drug/z/dose", "5");

    let check = |args: &[&str], wants: &[&str]| {
        let out = ok(url, args);
        for want in wants {
            assert!(out.contains(want), "{args:?} lacks {want:?}:\n{out}");
        }
        out
    };
    check(
        &["blame", "drug/y/dose", "mg"],
        &[
            "= 100",
            "by agent/bob",
            "why:",
            "beat:   81 by agent/alice",
            "provenance:",
            "source source/T",
        ],
    );
    check(
        &["diff", "--from", &then, "drug/*"],
        &[
            "~ drug/y/dose · mg: 81 (agent/alice",
            "→ 100 (agent/bob",
            "+ drug/z/dose · mg: 5",
            "1 changed, 1 added, 0 removed",
        ],
    );
    check(
        &["skeptic", "drug/y/dose", "mg"],
        &["conflict score", "81", "100"],
    );
    check(
        &["provenance", &first],
        &[
            "drug/y/dose · mg = 81",
            "signature valid",
            "source source/T",
        ],
    );
    check(
        &["query", "--subject", "drug/*", "--limit", "1"],
        &["more groups follow: add --cursor"],
    );
    let all = check(
        &["query", "--subject", "drug/*", "--limit", "1", "--all"],
        &["drug/z/dose"],
    );
    assert!(!all.contains("more groups follow"), "{all}");
    check(
        &["query", "--subject", "drug/y/dose", "--known-at", &then],
        &["81"],
    );
}

/// `api-key create|list|rotate|revoke` manage the server's keys (the secret alone on stdout,
/// once), and `completions` prints a script that knows every command.
#[test]
fn api_keys_are_managed_and_completions_know_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(&dir.path().join("data"));
    let url = server.url.as_str();
    let secret = ok(
        url,
        &["api-key", "create", "--name", "reader", "--role", "read"],
    );
    let secret = secret.trim();
    assert!(
        secret.starts_with("sdb_") && !secret.contains('\n'),
        "{secret}"
    );
    let with_key = |key: &str, args: &[&str]| {
        let (done, _, stderr) = run(&[args, &["--server", url, "--api-key", key]].concat());
        (done, stderr)
    };
    assert!(
        with_key(secret, &["query", "--subject", "s/*"]).0,
        "the new key reads"
    );
    let (done, stderr) = with_key(secret, &["api-key", "list"]);
    assert!(
        !done && stderr.contains("403"),
        "a read key manages no keys: {stderr}"
    );
    let listed: Value = serde_json::from_str(&ok(url, &["api-key", "list", "--json"])).unwrap();
    let reader = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "reader")
        .unwrap();
    let id = reader["id"].as_str().unwrap();
    let rotated = ok(url, &["api-key", "rotate", id]);
    assert!(
        rotated.trim().starts_with("sdb_") && rotated.trim() != secret,
        "{rotated}"
    );
    ok(url, &["api-key", "revoke", id]);
    assert!(
        !with_key(rotated.trim(), &["query", "--subject", "s/*"]).0,
        "revoked"
    );
    let table = ok(url, &["api-key", "list"]);
    assert!(
        table
            .lines()
            .any(|l| l.contains("reader") && l.contains("revoked")),
        "{table}"
    );
    fails(url, &["api-key", "revoke", "../x"]);
    let out = dir.path().join("writer.key");
    let out_arg = out.to_str().unwrap();
    let printed = ok(
        url,
        &[
            "api-key", "create", "--name", "w", "--role", "write", "--out", out_arg,
        ],
    );
    assert!(
        printed.is_empty(),
        "the secret goes to the file only: {printed}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a secret file is private from its creation");
    assert!(std::fs::read_to_string(&out).unwrap().starts_with("sdb_"));
    let again = fails(
        url,
        &["api-key", "create", "--name", "w2", "--out", out_arg],
    );
    assert!(again.contains("must not exist yet"), "{again}");

    let (done, script, _) = run(&["completions", "bash"]);
    assert!(done && script.contains("_stemedb"), "{script}");
    for command in ["retract", "import", "blame", "api-key"] {
        assert!(script.contains(command), "completions lack {command}");
    }
}
