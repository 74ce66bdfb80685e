//! Shared by the integration tests: a copy of a fixture repository in a temporary directory,
//! and the `aphoria` binary run over it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

/// A fixture copied to `<tmp>/<name>` (so the repository's name is `name`).
pub struct Repo {
    _tmp: TempDir,
    pub root: PathBuf,
    /// The agent keys the commands use (`APHORIA_KEYS`), in the temporary directory.
    pub keys: PathBuf,
}

impl Repo {
    pub fn copy(fixture: &str) -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(fixture);
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        copy_dir(&from, &root);
        let keys = tmp.path().join("keys");
        Repo {
            _tmp: tmp,
            root,
            keys,
        }
    }

    /// Another machine from now on: a key directory of its own.
    pub fn new_machine(&mut self, name: &str) {
        self.keys = self._tmp.path().join(format!("keys-{name}"));
    }

    /// Runs `aphoria --root <root> args…` with a fixed author: (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_aphoria"))
            .arg("--root")
            .arg(&self.root)
            .args(["--author", "tester"])
            .args(args)
            .env("APHORIA_KEYS", &self.keys)
            .env_remove("APHORIA_SERVER")
            .env_remove("STEMEDB_API_KEY")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs a command that prints JSON and must exit with `code`.
    pub fn json(&self, args: &[&str], code: i32) -> Value {
        let (got, out, err) = self.run(args);
        assert_eq!(
            got, code,
            "aphoria {args:?}: exit {got}\nstdout: {out}\nstderr: {err}"
        );
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(
            code, 0,
            "aphoria {args:?}: exit {code}\nstdout: {out}\nstderr: {err}"
        );
        out
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `{claim id: verdict}` of a `verify run --json` answer.
pub fn verdicts(answer: &Value) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = answer["verification"]["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    list.sort();
    list
}
