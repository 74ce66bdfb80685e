//! `cargo_deps`: each dependency a Cargo manifest declares — its version requirement, whether
//! default features are on, and its features — one subject per dependency table and name.
use serde_json::Value;
use toml::Table;

use super::support::TomlLines;
use crate::observe::{Extractor, FileKind, Input, Observation};

/// The dependency tables of a package (also found under `target.<cfg>`).
const DEP_TABLES: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];

/// Reads the dependency tables of `Cargo.toml`.
pub struct CargoDeps;

impl Extractor for CargoDeps {
    fn name(&self) -> &'static str {
        "cargo_deps"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &["dep.version", "dep.default_features", "dep.features"]
    }

    fn describe(&self) -> &'static str {
        "Reads every dependency of a Cargo manifest: its version requirement (or workspace, \
         path, git), default-features when written, and its features."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        if input.file.test_only || input.file.kind != FileKind::CargoManifest {
            return;
        }
        let Some(root) = input.toml else { return };
        let lines = TomlLines::new(&input.file.text);
        for (prefix, table) in dep_tables(root) {
            for (name, spec) in table {
                let mut path = prefix.clone();
                path.push(name.clone());
                emit_dep(input, &lines, &path, spec, out);
            }
        }
    }
}

/// Every dependency table of the manifest with its key path.
fn dep_tables(root: &Table) -> Vec<(Vec<String>, &Table)> {
    let mut found = Vec::new();
    for name in DEP_TABLES {
        if let Some(table) = root.get(name).and_then(toml::Value::as_table) {
            found.push((vec![name.to_owned()], table));
        }
    }
    let workspace = root.get("workspace").and_then(|w| w.get("dependencies"));
    if let Some(table) = workspace.and_then(toml::Value::as_table) {
        found.push((
            vec!["workspace".to_owned(), "dependencies".to_owned()],
            table,
        ));
    }
    let targets = root.get("target").and_then(toml::Value::as_table);
    for (cfg, target) in targets.into_iter().flatten() {
        for name in DEP_TABLES {
            if let Some(table) = target.get(name).and_then(toml::Value::as_table) {
                let path = vec!["target".to_owned(), cfg.clone(), name.to_owned()];
                found.push((path, table));
            }
        }
    }
    found
}

fn emit_dep(
    input: &Input<'_>,
    lines: &TomlLines,
    path: &[String],
    spec: &toml::Value,
    out: &mut Vec<Observation>,
) {
    let subject = input.file_subject(&path.join("."));
    let line = lines.line(path);
    let mut push = |predicate: &str, value: Value| {
        out.push(Observation::new(
            subject.clone(),
            predicate,
            value,
            &input.file.path,
            line,
        ));
    };
    let table = match spec {
        toml::Value::String(version) => return push("dep.version", Value::from(version.as_str())),
        toml::Value::Table(table) => table,
        _ => return,
    };
    if let Some(version) = version_of(table) {
        push("dep.version", Value::from(version));
    }
    // Cargo reads both spellings (the underscore one before edition 2024).
    let default = table
        .get("default-features")
        .or_else(|| table.get("default_features"));
    if let Some(on) = default.and_then(toml::Value::as_bool) {
        push("dep.default_features", Value::Bool(on));
    }
    let mut features: Vec<&str> = table
        .get("features")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
        .collect();
    features.sort_unstable();
    features.dedup();
    if !features.is_empty() {
        push("dep.features", Value::from(features));
    }
}

/// The version requirement as written, or where the dependency comes from when no version
/// is written.
fn version_of(table: &Table) -> Option<&str> {
    if table.get("workspace").and_then(toml::Value::as_bool) == Some(true) {
        return Some("workspace");
    }
    if let Some(version) = table.get("version").and_then(toml::Value::as_str) {
        return Some(version);
    }
    if table.contains_key("path") {
        return Some("path");
    }
    table.contains_key("git").then_some("git")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::CargoDeps;
    use crate::extract::testing::check;

    const MANIFEST: &str = r#"[package]
name = "demo"
version = "0.3.1"

[dependencies]
serde = { version = "1.0.200", default-features = false, features = ["std", "derive", "std"] }
anyhow.workspace = true
local = { path = "../local" }
forked = { git = "https://example.com/forked.git", branch = "main" }
both = { path = "../both", version = "0.2" }
plain = "0.4"
empty-features = { version = "2", features = [] }

[dev-dependencies]
tempfile = "3"

[build-dependencies.cc]
version = "1.1"
default_features = true

[workspace.dependencies]
tokio = { version = "1", features = ["rt"] }

[target.'cfg(unix)'.dependencies]
libc = "0.2"
"#;

    #[test]
    fn dependencies_of_every_table() {
        let s = |key: &str| format!("repo/Cargo.toml::{key}");
        let want = [
            (s("dependencies.serde"), "dep.version", json!("1.0.200")),
            (
                s("dependencies.serde"),
                "dep.default_features",
                json!(false),
            ),
            (
                s("dependencies.serde"),
                "dep.features",
                json!(["derive", "std"]),
            ),
            (s("dependencies.anyhow"), "dep.version", json!("workspace")),
            (s("dependencies.local"), "dep.version", json!("path")),
            (s("dependencies.forked"), "dep.version", json!("git")),
            (s("dependencies.both"), "dep.version", json!("0.2")),
            (s("dependencies.plain"), "dep.version", json!("0.4")),
            (s("dependencies.empty-features"), "dep.version", json!("2")),
            (s("dev-dependencies.tempfile"), "dep.version", json!("3")),
            (s("build-dependencies.cc"), "dep.version", json!("1.1")),
            (
                s("build-dependencies.cc"),
                "dep.default_features",
                json!(true),
            ),
            (s("workspace.dependencies.tokio"), "dep.version", json!("1")),
            (
                s("workspace.dependencies.tokio"),
                "dep.features",
                json!(["rt"]),
            ),
            (
                s("target.cfg(unix).dependencies.libc"),
                "dep.version",
                json!("0.2"),
            ),
        ];
        let want: Vec<(&str, &str, serde_json::Value)> = want
            .iter()
            .map(|(s, p, v)| (s.as_str(), *p, v.clone()))
            .collect();
        check(&CargoDeps, "Cargo.toml", MANIFEST, &want);
    }

    #[test]
    fn lines_point_at_the_dependency() {
        let found = crate::extract::testing::run(&CargoDeps, "Cargo.toml", MANIFEST);
        let line = |subject: &str| {
            found
                .iter()
                .find(|o| o.subject.ends_with(subject))
                .map(|o| o.line)
        };
        assert_eq!(line("::dependencies.serde"), Some(6));
        assert_eq!(line("::dependencies.anyhow"), Some(7));
        assert_eq!(line("::build-dependencies.cc"), Some(17));
        assert_eq!(line("::target.cfg(unix).dependencies.libc"), Some(25));
    }

    #[test]
    fn nothing_from_decoys() {
        // A package version is not a dependency; a commented-out dependency is not one.
        let text =
            "[package]\nname = \"x\"\nversion = \"1.0.0\"\n\n[dependencies]\n# serde = \"1\"\n";
        check(&CargoDeps, "Cargo.toml", text, &[]);
        // Test fixtures declare nothing about the project.
        let text = "[dependencies]\nserde = \"1\"\n";
        check(&CargoDeps, "tests/fixtures/app/Cargo.toml", text, &[]);
        // A manifest that does not parse says nothing.
        check(&CargoDeps, "Cargo.toml", "[dependencies\nserde = 1", &[]);
    }
}
