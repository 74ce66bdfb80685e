//! `stemedb import`: JSON Lines and CSV, signed locally, posted in batches, a summary with
//! reasons, and a resumed import that stores nothing twice.
use serde_json::Value;

use crate::child::ChildServer;
use crate::cli::run;
use crate::cli_git::new_key;

#[test]
fn import_signs_posts_summarises_and_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(&dir.path().join("data"));
    let key = new_key(dir.path(), "k.key");
    let rows = [
        r#"{"subject": "drug/a", "predicate": "mg", "value": 1}"#,
        r#"{"subject": "drug/b", "predicate": "mg", "value": 2, "confidence": 1.5}"#,
        "",
        r#"{"subject": "drug/c", "predicate": "mg", "value": 3, "sources": ["source/T"]}"#,
        r#"{"subject": "drug/d", "predicate": "mg", "value": 4}"#,
    ];
    let file = dir.path().join("rows.jsonl");
    std::fs::write(&file, rows.join("\n")).unwrap();
    let file = file.to_str().unwrap().to_owned();
    let state = format!("{file}.import-state");
    let import = |extra: &[&str]| {
        let base = ["import", file.as_str(), "--key", &key, "--agent", "agent/k"];
        let server_args = ["--server", server.url.as_str(), "--batch-size", "2"];
        run(&[&base[..], &server_args, extra].concat())
    };
    let (ok, stdout, stderr) = import(&[]);
    assert!(
        !ok && stderr.contains("1 rows were refused"),
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains("stored 3, already stored 0, refused 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(first: data row 2): confidence"),
        "{stdout}"
    );

    // Run again with every row done: the summary is the file's, refusal included.
    let (ok, stdout, stderr) = import(&[]);
    assert!(
        !ok && stderr.contains("1 rows were refused"),
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains("stored 3, already stored 0, refused 1"),
        "all done: {stdout}"
    );

    // An interruption after the first batch (rows 1 and 2: one stored, one refused), as the
    // state after it reads: the rows after it are sent again and signed to the same bytes
    // (the first start's timestamp), so the server stores none of them twice, and the row
    // refused before the interruption is still counted and named.
    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    saved["rows_done"] = 2.into();
    saved["tally"]["stored"] = 1.into();
    std::fs::write(&state, saved.to_string()).unwrap();
    let (ok, stdout, _) = import(&[]);
    assert!(
        !ok && stdout.contains("stored 1, already stored 2, refused 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(first: data row 2): confidence"),
        "{stdout}"
    );
    let (_, stdout, _) = import(&["--restart"]);
    assert!(
        stdout.contains("stored 0, already stored 3"),
        "from the first row again, nothing stored twice: {stdout}"
    );

    std::fs::write(&file, "{\"subject\": \"x\"}\n").unwrap();
    let (ok, _, stderr) = import(&[]);
    assert!(
        !ok && stderr.contains("pass --restart"),
        "another file: {stderr}"
    );
    std::fs::write(&file, "not json\n").unwrap();
    let (ok, _, stderr) = import(&["--restart"]);
    assert!(!ok && stderr.contains("line 1: not JSON"), "{stderr}");
    let base = ["import", file.as_str(), "--key", &key, "--agent", "agent/k"];
    let (ok, _, stderr) = run(&[&base[..], &["--batch-size", "10001"]].concat());
    assert!(
        !ok && stderr.contains("--batch-size must be 1 to 10000"),
        "{stderr}"
    );
    // A line past --line-bytes-max stops the import, named, without being read whole.
    let long = format!("{{\"subject\": \"{}\"}}\n", "x".repeat(2_000));
    std::fs::write(&file, long).unwrap();
    let server_args = [
        "--server",
        server.url.as_str(),
        "--restart",
        "--line-bytes-max",
        "1000",
    ];
    let (ok, _, stderr) = run(&[&base[..], &server_args].concat());
    assert!(
        !ok && stderr.contains("reading line 1: longer than 1000 bytes"),
        "{stderr}"
    );
}

#[test]
fn import_reads_csv_with_quoting_and_sources() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(&dir.path().join("data"));
    let key = new_key(dir.path(), "k.key");
    let file = dir.path().join("rows.csv");
    let csv = "subject,predicate,value,confidence,sources\n\
               drug/a,level,high,0.5,source/A;source/B\n\
               drug/b,level,\"a \"\"quoted\"\", cell\",,\n\
               drug/c,mg,81,,\n";
    std::fs::write(&file, csv).unwrap();
    let url = server.url.as_str();
    let args = [
        "import",
        file.to_str().unwrap(),
        "--key",
        &key,
        "--agent",
        "agent/k",
    ];
    let (ok, stdout, stderr) = run(&[&args[..], &["--server", url]].concat());
    assert!(ok && stdout.contains("stored 3"), "{stdout}{stderr}");
    let (ok, stdout, _) = run(&["query", "--subject", "drug/*", "--server", url, "--json"]);
    assert!(ok);
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    let values: Vec<Value> = answer["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["winner"]["value"].clone())
        .collect();
    let want = serde_json::json!(["high", "a \"quoted\", cell", 81]);
    assert_eq!(Value::Array(values), want);
    assert_eq!(
        answer["groups"][0]["winner"]["sources"],
        serde_json::json!(["source/A", "source/B"])
    );
    std::fs::write(&file, "subject,value\nx,1\n").unwrap();
    let (ok, _, stderr) = run(&[&args[..], &["--server", url, "--restart"]].concat());
    assert!(!ok && stderr.contains("no predicate column"), "{stderr}");
}
