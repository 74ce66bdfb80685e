//! `cargo_lints`: the level a Cargo manifest gives each lint in `[lints.<tool>]` and
//! `[workspace.lints.<tool>]`.
use serde_json::Value;
use toml::Table;

use super::support::TomlLines;
use crate::observe::{Extractor, FileKind, Input, Observation};

/// Reads the lint tables of `Cargo.toml`.
pub struct CargoLints;

impl Extractor for CargoLints {
    fn name(&self) -> &'static str {
        "cargo_lints"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &["rust.lint_level"]
    }

    fn describe(&self) -> &'static str {
        "Reads the level of every lint set in a Cargo manifest's [lints] and [workspace.lints]."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        if input.file.test_only || input.file.kind != FileKind::CargoManifest {
            return;
        }
        let Some(root) = input.toml else { return };
        let lines = TomlLines::new(&input.file.text);
        let workspace = root.get("workspace").and_then(|w| w.get("lints"));
        let tables = [
            (vec!["lints"], root.get("lints")),
            (vec!["workspace", "lints"], workspace),
        ];
        for (prefix, tools) in tables {
            let Some(tools) = tools.and_then(toml::Value::as_table) else {
                continue;
            };
            for (tool, lints) in tools {
                // `[lints] workspace = true` inherits; it names no lint.
                let Some(lints) = lints.as_table() else {
                    continue;
                };
                emit_tool(input, &lines, &prefix, tool, lints, out);
            }
        }
    }
}

fn emit_tool(
    input: &Input<'_>,
    lines: &TomlLines,
    prefix: &[&str],
    tool: &str,
    lints: &Table,
    out: &mut Vec<Observation>,
) {
    for (lint, spec) in lints {
        let level = match spec {
            toml::Value::String(level) => level.as_str(),
            toml::Value::Table(t) => match t.get("level").and_then(toml::Value::as_str) {
                Some(level) => level,
                None => continue,
            },
            _ => continue,
        };
        let mut path: Vec<&str> = prefix.to_vec();
        path.extend([tool, lint.as_str()]);
        out.push(Observation::new(
            input.file_subject(&path.join(".")),
            "rust.lint_level",
            Value::from(level),
            &input.file.path,
            lines.line(&path),
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::CargoLints;
    use crate::extract::testing::check;

    #[test]
    fn lint_levels_from_both_tables() {
        let text = r#"[workspace.lints.rust]
unsafe_code = "forbid"
missing_docs = { level = "warn", priority = -1 }

[workspace.lints.clippy]
unwrap_used = "warn"
# expect_used = "deny"
"#;
        check(
            &CargoLints,
            "Cargo.toml",
            text,
            &[
                (
                    "repo/Cargo.toml::workspace.lints.rust.unsafe_code",
                    "rust.lint_level",
                    json!("forbid"),
                ),
                (
                    "repo/Cargo.toml::workspace.lints.rust.missing_docs",
                    "rust.lint_level",
                    json!("warn"),
                ),
                (
                    "repo/Cargo.toml::workspace.lints.clippy.unwrap_used",
                    "rust.lint_level",
                    json!("warn"),
                ),
            ],
        );
        let text = "[lints.clippy]\ndbg_macro = \"deny\"\n";
        check(
            &CargoLints,
            "crates/a/Cargo.toml",
            text,
            &[(
                "repo/crates/a/Cargo.toml::lints.clippy.dbg_macro",
                "rust.lint_level",
                json!("deny"),
            )],
        );
    }

    #[test]
    fn nothing_from_decoys() {
        // Inheriting the workspace's lints names no lint; a level-less table is no level.
        let text = "[lints]\nworkspace = true\n\n[lints.rust]\nodd = { priority = 1 }\n";
        check(&CargoLints, "crates/a/Cargo.toml", text, &[]);
        // A `[lints]`-looking table in another TOML file is not Cargo's.
        check(
            &CargoLints,
            "deploy/lints.toml",
            "[lints.rust]\nx = \"deny\"\n",
            &[],
        );
        let text = "[lints.rust]\nunsafe_code = \"forbid\"\n";
        check(&CargoLints, "examples/demo/Cargo.toml", text, &[]);
    }
}
