//! `tsconfig`: the strictness options a TypeScript `tsconfig*.json` writes.
use serde_json::Value;

use super::support::json_line;
use crate::observe::{Extractor, FileKind, Input, Observation};

/// The compiler options read: those that decide how strictly types are checked.
const OPTIONS: [&str; 3] = ["strict", "noImplicitAny", "strictNullChecks"];

/// Reads `tsconfig*.json`.
pub struct Tsconfig;

impl Extractor for Tsconfig {
    fn name(&self) -> &'static str {
        "tsconfig"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &["ts.compiler_option"]
    }

    fn describe(&self) -> &'static str {
        "Reads the strict, noImplicitAny and strictNullChecks options a tsconfig writes."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let file = input.file;
        let name = file.path.rsplit('/').next().unwrap_or(&file.path);
        let is_tsconfig = name.starts_with("tsconfig") && name.ends_with(".json");
        if file.test_only || file.kind != FileKind::Json || !is_tsconfig {
            return;
        }
        // A tsconfig with comments or trailing commas is not JSON: nothing is read from it.
        let Some(options) = input
            .json
            .and_then(|root| root.get("compilerOptions"))
            .and_then(Value::as_object)
        else {
            return;
        };
        for option in OPTIONS {
            let Some(on) = options.get(option).and_then(Value::as_bool) else {
                continue;
            };
            out.push(Observation::new(
                input.file_subject(&format!("compilerOptions.{option}")),
                "ts.compiler_option",
                Value::Bool(on),
                &file.path,
                json_line(&file.text, &["compilerOptions", option]),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Tsconfig;
    use crate::extract::testing::check;

    #[test]
    fn strictness_options() {
        let text = r#"{
  "compilerOptions": { "strict": true, "noImplicitAny": false, "target": "es2022" }
}"#;
        check(
            &Tsconfig,
            "web/tsconfig.json",
            text,
            &[
                (
                    "repo/web/tsconfig.json::compilerOptions.strict",
                    "ts.compiler_option",
                    json!(true),
                ),
                (
                    "repo/web/tsconfig.json::compilerOptions.noImplicitAny",
                    "ts.compiler_option",
                    json!(false),
                ),
            ],
        );
        let text =
            r#"{ "extends": "./tsconfig.json", "compilerOptions": { "strictNullChecks": true } }"#;
        check(
            &Tsconfig,
            "tsconfig.build.json",
            text,
            &[(
                "repo/tsconfig.build.json::compilerOptions.strictNullChecks",
                "ts.compiler_option",
                json!(true),
            )],
        );
    }

    #[test]
    fn nothing_from_decoys() {
        let text = r#"{ "compilerOptions": { "strict": true } }"#;
        // Not a tsconfig; a test fixture; a string is not a bool; options outside
        // compilerOptions; a tsconfig with comments (not JSON).
        check(&Tsconfig, "web/settings.json", text, &[]);
        check(&Tsconfig, "tests/fixtures/tsconfig.json", text, &[]);
        let text = r#"{ "compilerOptions": { "strict": "true" }, "strict": true }"#;
        check(&Tsconfig, "tsconfig.json", text, &[]);
        let text = "{\n  // strict everywhere\n  \"compilerOptions\": { \"strict\": true, },\n}\n";
        check(&Tsconfig, "tsconfig.json", text, &[]);
    }
}
