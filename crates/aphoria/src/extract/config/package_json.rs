//! `package_json`: the dependencies, license and Node engine of an npm `package.json`.
use serde_json::Value;

use super::support::json_line;
use crate::observe::{Extractor, FileKind, Input, Observation};

/// The dependency tables of a package.
const DEP_TABLES: [&str; 4] = [
    "dependencies",
    "devDependencies",
    "peerDependencies",
    "optionalDependencies",
];

/// Reads `package.json`.
pub struct PackageJson;

impl Extractor for PackageJson {
    fn name(&self) -> &'static str {
        "package_json"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &["dep.version", "package.license", "config.value"]
    }

    fn describe(&self) -> &'static str {
        "Reads the dependency versions, license and engines.node of an npm package.json."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let file = input.file;
        let name = file.path.rsplit('/').next().unwrap_or(&file.path);
        if file.test_only || file.kind != FileKind::Json || name != "package.json" {
            return;
        }
        let Some(root) = input.json.and_then(Value::as_object) else {
            return;
        };
        let mut push = |keys: &[&str], subject_key: &str, predicate: &str, value: &str| {
            out.push(Observation::new(
                input.file_subject(subject_key),
                predicate,
                Value::from(value),
                &file.path,
                json_line(&file.text, keys),
            ));
        };
        for table in DEP_TABLES {
            let Some(deps) = root.get(table).and_then(Value::as_object) else {
                continue;
            };
            for (dep, version) in deps {
                if let Some(version) = version.as_str() {
                    let key = format!("{table}.{dep}");
                    push(&[table, dep], &key, "dep.version", version);
                }
            }
        }
        if let Some(license) = root.get("license").and_then(Value::as_str) {
            push(&["license"], "package", "package.license", license);
        }
        let node = root.get("engines").and_then(|e| e.get("node"));
        if let Some(node) = node.and_then(Value::as_str) {
            push(&["engines", "node"], "engines.node", "config.value", node);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::PackageJson;
    use crate::extract::testing::{check, run};

    const PACKAGE: &str = r#"{
  "name": "console",
  "version": "1.4.0",
  "license": "MIT",
  "engines": { "node": ">=20" },
  "dependencies": {
    "react": "^18.2.0",
    "@scope/pkg": "workspace:*"
  },
  "devDependencies": {
    "typescript": "~5.4.0"
  },
  "peerDependencies": { "react-dom": "18.x" },
  "optionalDependencies": { "odd": 3 },
  "scripts": { "build": "vite build" }
}
"#;

    #[test]
    fn dependencies_license_and_engine() {
        let s = |key: &str| format!("repo/web/package.json::{key}");
        let want = [
            (s("dependencies.react"), "dep.version", json!("^18.2.0")),
            (
                s("dependencies.@scope/pkg"),
                "dep.version",
                json!("workspace:*"),
            ),
            (
                s("devDependencies.typescript"),
                "dep.version",
                json!("~5.4.0"),
            ),
            (
                s("peerDependencies.react-dom"),
                "dep.version",
                json!("18.x"),
            ),
            (s("package"), "package.license", json!("MIT")),
            (s("engines.node"), "config.value", json!(">=20")),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(s, p, v)| (s.as_str(), *p, v.clone()))
            .collect();
        check(&PackageJson, "web/package.json", PACKAGE, &want);
        let found = run(&PackageJson, "web/package.json", PACKAGE);
        let typescript = found.iter().find(|o| o.subject.ends_with("typescript"));
        assert_eq!(typescript.map(|o| o.line), Some(11));
    }

    #[test]
    fn nothing_from_decoys() {
        // Another JSON file with the same keys, a package's own version, an old-style
        // license object, a test fixture, a file that does not parse.
        check(&PackageJson, "web/deps.json", PACKAGE, &[]);
        let text = r#"{ "version": "1.0.0", "license": { "type": "MIT" } }"#;
        check(&PackageJson, "package.json", text, &[]);
        check(&PackageJson, "test/fixtures/package.json", PACKAGE, &[]);
        check(
            &PackageJson,
            "package.json",
            "{ \"license\": \"MIT\", }",
            &[],
        );
    }
}
