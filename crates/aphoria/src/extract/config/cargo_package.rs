//! `cargo_package`: the edition, minimum Rust version and license of a Cargo manifest's
//! `[package]` and `[workspace.package]`.
use serde_json::Value;

use super::support::TomlLines;
use crate::observe::{Extractor, FileKind, Input, Observation};

/// The fields read, and the predicate each becomes.
const FIELDS: [(&str, &str); 3] = [
    ("edition", "rust.edition"),
    ("rust-version", "rust.msrv"),
    ("license", "package.license"),
];

/// Reads the package metadata of `Cargo.toml`.
pub struct CargoPackage;

impl Extractor for CargoPackage {
    fn name(&self) -> &'static str {
        "cargo_package"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &["rust.edition", "rust.msrv", "package.license"]
    }

    fn describe(&self) -> &'static str {
        "Reads the edition, rust-version and license of a Cargo manifest's package and workspace."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        if input.file.test_only || input.file.kind != FileKind::CargoManifest {
            return;
        }
        let Some(root) = input.toml else { return };
        let lines = TomlLines::new(&input.file.text);
        let workspace = root.get("workspace").and_then(|w| w.get("package"));
        let tables = [
            (vec!["package"], root.get("package")),
            (vec!["workspace", "package"], workspace),
        ];
        for (prefix, table) in tables {
            let Some(table) = table.and_then(toml::Value::as_table) else {
                continue;
            };
            let subject = input.file_subject(&prefix.join("."));
            for (field, predicate) in FIELDS {
                let Some(value) = table.get(field).and_then(written) else {
                    continue;
                };
                let mut path = prefix.clone();
                path.push(field);
                out.push(Observation::new(
                    subject.clone(),
                    predicate,
                    Value::from(value),
                    &input.file.path,
                    lines.line(&path),
                ));
            }
        }
    }
}

/// A string as written, `"workspace"` for `field.workspace = true`, else nothing.
fn written(value: &toml::Value) -> Option<&str> {
    match value {
        toml::Value::String(s) => Some(s),
        toml::Value::Table(t) => {
            (t.get("workspace").and_then(toml::Value::as_bool) == Some(true)).then_some("workspace")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::CargoPackage;
    use crate::extract::testing::check;

    #[test]
    fn package_and_workspace_metadata() {
        let text = r#"[workspace.package]
version = "0.3.1"
edition = "2024"
rust-version = "1.90"
license = "Apache-2.0"
"#;
        let s = "repo/Cargo.toml::workspace.package";
        check(
            &CargoPackage,
            "Cargo.toml",
            text,
            &[
                (s, "rust.edition", json!("2024")),
                (s, "rust.msrv", json!("1.90")),
                (s, "package.license", json!("Apache-2.0")),
            ],
        );
        let text = "[package]\nname = \"a\"\nversion.workspace = true\nedition.workspace = true\n\
                    rust-version = { workspace = true }\nlicense = \"MIT OR Apache-2.0\"\n";
        let s = "repo/crates/a/Cargo.toml::package";
        check(
            &CargoPackage,
            "crates/a/Cargo.toml",
            text,
            &[
                (s, "rust.edition", json!("workspace")),
                (s, "rust.msrv", json!("workspace")),
                (s, "package.license", json!("MIT OR Apache-2.0")),
            ],
        );
    }

    #[test]
    fn nothing_from_decoys() {
        // A version is not an edition; an unset field says nothing; `workspace = false` is
        // not inheritance; a license file is not a license.
        let text = "[package]\nname = \"a\"\nversion = \"2021.1.0\"\nedition = { workspace = false }\n\
                    license-file = \"LICENSE\"\n# edition = \"2018\"\n";
        check(&CargoPackage, "Cargo.toml", text, &[]);
        check(
            &CargoPackage,
            "pyproject.toml",
            "[package]\nlicense = \"MIT\"\n",
            &[],
        );
        let text = "[package]\nedition = \"2021\"\n";
        check(&CargoPackage, "examples/demo/Cargo.toml", text, &[]);
    }
}
