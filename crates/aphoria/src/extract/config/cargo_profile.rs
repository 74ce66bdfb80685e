//! `cargo_profile`: every setting of a Cargo manifest's build profiles, per-package overrides
//! included (`profile.dev.package.blake3.opt-level`).
use toml::Table;

use super::support::{TomlLines, is_scalar, toml_to_json};
use crate::observe::{Extractor, FileKind, Input, Observation};

/// Reads `[profile.*]` of `Cargo.toml`.
pub struct CargoProfile;

impl Extractor for CargoProfile {
    fn name(&self) -> &'static str {
        "cargo_profile"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &["build.profile_setting"]
    }

    fn describe(&self) -> &'static str {
        "Reads every setting of a Cargo manifest's build profiles, per-package overrides included."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        if input.file.test_only || input.file.kind != FileKind::CargoManifest {
            return;
        }
        let Some(profiles) = input
            .toml
            .and_then(|root| root.get("profile"))
            .and_then(toml::Value::as_table)
        else {
            return;
        };
        let lines = TomlLines::new(&input.file.text);
        let mut path = vec!["profile".to_owned()];
        walk(input, &lines, &mut path, profiles, out);
    }
}

/// Emits every scalar under `table`, whose key path is `path`.
fn walk(
    input: &Input<'_>,
    lines: &TomlLines,
    path: &mut Vec<String>,
    table: &Table,
    out: &mut Vec<Observation>,
) {
    for (key, value) in table {
        path.push(key.clone());
        if let toml::Value::Table(inner) = value {
            walk(input, lines, path, inner, out);
        } else if let Some(json) = is_scalar(value).then(|| toml_to_json(value)).flatten() {
            out.push(Observation::new(
                input.file_subject(&path.join(".")),
                "build.profile_setting",
                json,
                &input.file.path,
                lines.line(path),
            ));
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::CargoProfile;
    use crate::extract::testing::{check, run};

    const MANIFEST: &str = r#"[workspace]
members = ["crates/*"]

[profile.dev.package.blake3]
opt-level = 3

[profile.dev.package.fjall]
debug-assertions = false

[profile.dev]
debug = "line-tables-only"

[profile.release]
lto = "thin"
codegen-units = 1
strip = true
# panic = "abort"
"#;

    #[test]
    fn every_profile_scalar() {
        let s = |key: &str| format!("repo/Cargo.toml::profile.{key}");
        let want = [
            (s("dev.package.blake3.opt-level"), json!(3)),
            (s("dev.package.fjall.debug-assertions"), json!(false)),
            (s("dev.debug"), json!("line-tables-only")),
            (s("release.lto"), json!("thin")),
            (s("release.codegen-units"), json!(1)),
            (s("release.strip"), json!(true)),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(s, v)| (s.as_str(), "build.profile_setting", v.clone()))
            .collect();
        check(&CargoProfile, "Cargo.toml", MANIFEST, &want);
        let found = run(&CargoProfile, "Cargo.toml", MANIFEST);
        let lto = found.iter().find(|o| o.subject.ends_with("release.lto"));
        assert_eq!(lto.map(|o| o.line), Some(14));
    }

    #[test]
    fn nothing_from_decoys() {
        // Workspace members and package settings are not profile settings.
        let text = "[package]\nname = \"x\"\nversion = \"1.0.0\"\n[workspace]\nmembers = [\"a\"]\n";
        check(&CargoProfile, "Cargo.toml", text, &[]);
        // A profile in a TOML file that is not a Cargo manifest is not Cargo's.
        check(
            &CargoProfile,
            "config/app.toml",
            "[profile.release]\nlto = true\n",
            &[],
        );
        check(
            &CargoProfile,
            "fuzz/Cargo.toml",
            "[profile.release]\ndebug = 1\n",
            &[],
        );
    }
}
