//! `aphoria --server`: the same verdicts, history and pack through a real StemeDB server on
//! loopback as through the embedded store.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod support;

use stemedb::Db;
use stemedb_server::{AppState, ServerConfig};
use support::{Repo, verdicts};

const ROOT_KEY: &str = "aphoria-test-root-key-not-secret-0123456789";

/// Starts a server over a fresh data directory; its URL and the directory's guard.
async fn start() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::default();
    config.auth.root_api_key = Some(ROOT_KEY.to_owned());
    let db = Db::open(dir.path(), config.db.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (state, _) = AppState::open(db, config).unwrap();
    tokio::spawn(stemedb_server::serve(
        listener,
        state,
        std::future::pending::<()>(),
    ));
    (url, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_backend_gives_the_embedded_verdicts() {
    let (url, _dir) = start().await;
    let outcome = tokio::task::spawn_blocking(move || {
        let repo = Repo::copy("planted");
        let embedded = repo.json(&["verify", "run", "--json"], 1);
        let remote = ["--server", url.as_str(), "--api-key", ROOT_KEY];
        let mut args = remote.to_vec();
        args.extend(["verify", "run", "--json"]);
        let served = repo.json(&args, 1);
        assert_eq!(verdicts(&served), verdicts(&embedded));
        // A pack through the server: its agent becomes the server's trust root.
        let rules = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/packs/rfc8446-strict.toml"
        );
        let pack = repo.root.parent().unwrap().join("strict.jsonl");
        repo.ok(&[
            "pack",
            "build",
            rules,
            "--name",
            "rfc8446-strict",
            "--out",
            pack.to_str().unwrap(),
        ]);
        let mut install = remote.to_vec();
        install.extend(["pack", "install", pack.to_str().unwrap()]);
        repo.ok(&install);
        let after = repo.json(&args, 1);
        let floor = after["verification"]["claims"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "tls-floor")
            .unwrap()
            .clone();
        assert_eq!(floor["overridden_by"]["pack"], "rfc8446-strict", "{floor}");
    })
    .await;
    outcome.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_there_is_named() {
    let outcome = tokio::task::spawn_blocking(|| {
        let repo = Repo::copy("planted");
        let (code, _, err) = repo.run(&["--server", "http://127.0.0.1:9", "verify", "run"]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("127.0.0.1:9") && !err.contains("panicked"),
            "{err}"
        );
    })
    .await;
    outcome.unwrap();
}
