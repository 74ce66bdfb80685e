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
    let key = |name: &str| {
        let path = dir.path().join(name).to_str().unwrap().to_owned();
        assert!(run(&["keygen", "--out", &path]).0);
        path
    };
    let (alice, bob) = (key("alice.key"), key("bob.key"));
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
    let key = dir.path().join("k.key").to_str().unwrap().to_owned();
    assert!(run(&["keygen", "--out", &key]).0);
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
    let (ok, _, stderr) = run(&["log", "drug/*", "--server", "http://127.0.0.1:9"]);
    assert!(
        !ok && stderr.contains("nothing is listening at http://127.0.0.1:9"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
}

/// `sign` prints a wire form that verifies, fills in what the flags give, and refuses a
/// signed body.
#[test]
fn sign_prints_a_verifiable_wire_form() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key").to_str().unwrap().to_owned();
    assert!(run(&["keygen", "--out", &key]).0);
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
