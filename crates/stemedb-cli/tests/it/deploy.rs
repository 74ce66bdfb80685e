//! The deployment files name real things: every metric in the Prometheus alert rules and the
//! Grafana dashboard is exposed by `/metrics`, and the dashboard is valid JSON.
use std::collections::BTreeSet;

use serde_json::json;

use crate::harness::{TestServer, claim};

fn deploy_file(name: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    std::fs::read_to_string(root.join(name)).unwrap_or_else(|e| panic!("deploy/{name}: {e}"))
}

/// Every `stemedb_…` identifier in a text.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(found) = text[i..].find("stemedb_") {
        let start = i + found;
        let preceded_by_word =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if !preceded_by_word {
            names.insert(text[start..end].to_owned());
        }
        i = end;
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_rules_and_the_dashboard_name_only_exposed_metrics() {
    let server = TestServer::start().await;
    let c = &server.client;
    c.assert(&claim(
        1,
        "deploy/x",
        "p",
        json!(1),
        1.0,
        "2025-01-01T00:00:00Z",
    ))
    .await
    .unwrap();
    c.query(&[
        ("subject", "deploy/x"),
        ("predicate", "p"),
        ("lens", "consensus"),
    ])
    .await
    .unwrap();
    assert!(
        c.get("not-an-id").await.is_err(),
        "an error, so errors_total has a series"
    );
    let exposed = crate::harness::get_text(&format!("{}/metrics", server.url)).await;
    let exposed = metric_names(&exposed);
    let dashboard = deploy_file("grafana/stemedb-dashboard.json");
    let parsed: serde_json::Value =
        serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(!parsed["panels"].as_array().unwrap().is_empty());
    for file in [
        "prometheus/stemedb-alerts.yml",
        "grafana/stemedb-dashboard.json",
    ] {
        let named = metric_names(&deploy_file(file));
        let missing: Vec<&String> = named.iter().filter(|n| !exposed.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "deploy/{file} names metrics /metrics lacks: {missing:?}"
        );
        assert!(
            named.len() >= 8,
            "deploy/{file} covers the metrics: {named:?}"
        );
    }
}

#[test]
fn the_example_config_sets_every_setting_and_loads() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/stemedb.example.toml");
    let show = |extra: &[&str]| {
        let out = std::process::Command::new(crate::child::BIN)
            .args(["config", "show", "--json"])
            .args(extra)
            .arg("--config")
            .arg(&example)
            .env_remove("STEMEDB_DATA_DIR")
            .env_remove("STEMEDB_BIND_ADDR")
            .output()
            .unwrap();
        let out = crate::child::succeeded(out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let shown = show(&[]);
    let settings = shown.as_object().unwrap();
    assert!(settings.len() >= 18, "{shown}");
    for (name, setting) in settings {
        // A secret does not belong in a file copied from an example; the example says to
        // give STEMEDB_ROOT_API_KEY and STEMEDB_MASTER_KEY through the environment.
        if !["config", "root_api_key", "master_key"].contains(&name.as_str()) {
            assert_eq!(
                setting["source"], "file",
                "deploy/stemedb.example.toml sets {name}"
            );
        }
    }
    assert_eq!(settings["data_dir"]["value"], "/var/lib/stemedb/data");
    let flagged = show(&["--request-timeout-ms", "5"]);
    let setting = &flagged["request_timeout_ms"];
    assert_eq!(
        (&setting["value"], &setting["source"]),
        (&json!("5"), &json!("flag")),
        "a flag beats the file"
    );
}

/// The value of the first `key: value` line of a YAML text whose key is `key` (the shipped
/// files are flat enough for this; no YAML parser is built for a test).
fn yaml_value(text: &str, key: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("deploy/prometheus/prometheus.yml has no {key}"))
}

/// The shipped scrape configuration works against a server as shipped (`/metrics` needs a
/// read key): its job is the one the alert rules select, and a scrape made the way it says
/// (scheme, path, a Bearer key read from its credentials file) answers; without the key, 401.
#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_scrape_configuration_scrapes_a_server_that_requires_a_key() {
    let config = deploy_file("prometheus/prometheus.yml");
    let alerts = deploy_file("prometheus/stemedb-alerts.yml");
    let job = yaml_value(&config, "- job_name");
    assert!(
        alerts.contains(&format!("job=\"{job}\"")),
        "the alert rules select job {job}"
    );
    assert_eq!(yaml_value(&config, "type"), "Bearer");
    let (scheme, path) = (
        yaml_value(&config, "scheme"),
        yaml_value(&config, "metrics_path"),
    );
    assert!(yaml_value(&config, "credentials_file").starts_with('/'));

    let server = TestServer::start().await;
    let read_key = crate::harness::create_api_key(&server.url, "prometheus", "read").await;
    // What the operator writes into the credentials file, read back as Prometheus does.
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("stemedb-read.key");
    std::fs::write(&credentials, format!("{read_key}\n")).unwrap();
    let key = std::fs::read_to_string(&credentials)
        .unwrap()
        .trim()
        .to_owned();
    let address = server.url.strip_prefix("http://").unwrap();
    let target = format!("{scheme}://{address}{path}");
    let plain = crate::harness::unkeyed();
    let refused = plain.get(&target).send().await.unwrap();
    assert_eq!(refused.status(), 401, "/metrics needs a key as shipped");
    let scraped = plain
        .get(&target)
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(text.contains("stemedb_assertions_total"), "{text}");
}

/// The shipped unit files with the binary's path replaced by this build's, in `dir`.
fn units_with_this_binary(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/systemd");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path())
            .unwrap()
            .replace("/usr/local/bin/stemedb", crate::child::BIN);
        let path = dir.join(entry.file_name());
        std::fs::write(&path, text).unwrap();
        out.push(path);
    }
    out.sort();
    out
}

/// `systemd-analyze verify` accepts every unit (unknown keys, bad commands and missing units
/// are errors), with this build's binary where the units name `/usr/local/bin/stemedb`.
#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let units = units_with_this_binary(dir.path());
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze is needed to check the units: {e}"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && !said.contains("Unknown"), "{said}");
}

/// The shell script a unit's `ExecStart=/bin/sh -c '…'` runs, as systemd hands it to sh
/// (`%%` is a literal `%`; the scripts use no backslashes, so systemd's C unescaping is moot),
/// with the unit's paths moved to the test's.
fn exec_start_script(unit: &str, paths: &[(&str, String)]) -> String {
    let text = deploy_file(&format!("systemd/{unit}"));
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/bin/sh -c '"))
        .unwrap_or_else(|| panic!("{unit}: ExecStart=/bin/sh -c '…'"));
    let mut script = line.strip_suffix('\'').unwrap().replace("%%", "%");
    for (from, to) in paths {
        script = script.replace(from, to);
    }
    script
}

fn run_script(script: &str, env: &[(&str, String)]) -> (bool, String) {
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", script])
        .env_remove("STEMEDB_API_KEY")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// The backup unit, run as shipped against a real server (its key from the unit's
/// `STEMEDB_API_KEY_FILE`, not from the environment), makes a verified backup; the verify unit
/// then verifies the newest chain, also when the newest backup is an incremental.
#[test]
fn the_backup_and_verify_units_run_against_a_real_server() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("lib/data");
    let backups = root.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let server = crate::child::ChildServer::start(&data);
    let root_key = [("STEMEDB_API_KEY", crate::harness::ROOT_KEY.to_owned())];
    let write = |tag: &str| {
        format!(
            "{} load-test --server {} --mode batch --count 20 --batch-size 10 --clients 1 --tag {tag}",
            crate::child::BIN,
            server.url
        )
    };
    let (ok, said) = run_script(&write("first"), &root_key);
    assert!(ok, "records to back up: {said}");
    // What the server writes at a first start without a configured key (this test configures
    // one, so it writes the same file by hand).
    std::fs::write(data.join("admin.key"), crate::harness::ROOT_KEY).unwrap();
    let key_file = unit_key_file("stemedb-backup.service", &data);
    let server_pub = data.join("server.pub");
    let paths = [
        ("http://127.0.0.1:18180", server.url.clone()),
        ("/usr/local/bin/stemedb", crate::child::BIN.to_owned()),
        ("/var/backups/stemedb", backups.to_str().unwrap().to_owned()),
        (
            "/etc/stemedb/server.pub",
            server_pub.to_str().unwrap().to_owned(),
        ),
    ];
    let env = [("STEMEDB_API_KEY_FILE", key_file)];
    let (ok, said) = run_script(&exec_start_script("stemedb-backup.service", &paths), &env);
    assert!(
        ok && said.contains("verified 1 backup"),
        "the backup unit: {said}"
    );
    let (ok, said) = run_script(&write("second"), &root_key);
    assert!(ok, "more records for an incremental: {said}");

    let full = std::fs::read_dir(&backups)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let incremental = backups.join("99999999T999999Z");
    let (ok, said) = run_script(
        &format!(
            "{} backup --server {} --out {} --since {} --server-key {}",
            crate::child::BIN,
            server.url,
            incremental.display(),
            full.display(),
            server_pub.display()
        ),
        &root_key,
    );
    assert!(ok, "an incremental backup: {said}");
    let verify_env = [(
        "STEMEDB_API_KEY_FILE",
        unit_key_file("stemedb-verify.service", &data),
    )];
    let (ok, said) = run_script(
        &exec_start_script("stemedb-verify.service", &paths),
        &verify_env,
    );
    assert!(
        ok && said.contains("verified 2 backup") && said.contains("reported to"),
        "the verify unit checks the chain ending in an incremental and reports it: {said}"
    );
    let scrape = format!(
        "curl -fsS -H \"X-API-Key: $STEMEDB_API_KEY\" {}/metrics",
        server.url
    );
    let (ok, metrics) = run_script(&scrape, &root_key);
    assert!(ok, "scraping /metrics: {metrics}");
    for gauge in [
        "stemedb_last_backup_timestamp_seconds",
        "stemedb_last_verified_backup_timestamp_seconds",
    ] {
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{gauge} ")))
            .and_then(|v| v.parse::<f64>().ok());
        assert!(value.is_some_and(|t| t > 1.0e9), "{gauge}: {value:?}");
    }
}

/// The key file a unit names in `Environment=STEMEDB_API_KEY_FILE=`, moved into `data`.
fn unit_key_file(unit: &str, data: &std::path::Path) -> String {
    deploy_file(&format!("systemd/{unit}"))
        .lines()
        .find_map(|l| l.strip_prefix("Environment=STEMEDB_API_KEY_FILE="))
        .unwrap_or_else(|| panic!("{unit} names its key file"))
        .replace("/var/lib/stemedb/data", data.to_str().unwrap())
}
