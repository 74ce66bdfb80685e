//! `crate_lints`: the lint levels a crate root sets with `#![forbid/deny/warn/allow(..)]`.
use std::collections::BTreeMap;

use serde_json::json;
use syn::AttrStyle;

use super::allow_attrs::lint_names;
use crate::observe::{Extractor, Input, Observation, line_of};

const LEVEL: &str = "rust.lint_level";
const LEVELS: [&str; 4] = ["forbid", "deny", "warn", "allow"];

/// Reads the crate-wide lint levels of a crate root file.
pub struct CrateLints;

impl Extractor for CrateLints {
    fn name(&self) -> &'static str {
        "crate_lints"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[LEVEL]
    }

    fn describe(&self) -> &'static str {
        "Reads the lint level (forbid, deny, warn, allow) a crate root sets for each lint with inner attributes."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let Some(file) = input.rust else { return };
        if input.file.test_only || !input.file.module.is_empty() {
            return;
        }
        // lint → (level, line of its first mention)
        let mut levels: BTreeMap<String, (&str, usize)> = BTreeMap::new();
        for attr in &file.attrs {
            let Some(level) = LEVELS.iter().find(|l| attr.path().is_ident(l)) else {
                continue;
            };
            if !matches!(attr.style, AttrStyle::Inner(_)) {
                continue;
            }
            let line = line_of(attr.pound_token.span);
            for lint in lint_names(attr) {
                let entry = levels.entry(lint).or_insert((level, line));
                // A later attribute overrides an earlier one, but nothing overrides forbid.
                if entry.0 != "forbid" {
                    entry.0 = level;
                }
            }
        }
        for (lint, (level, line)) in levels {
            let subject = input.rust_subject(&format!("lint.{lint}"));
            out.push(Observation::new(
                subject,
                LEVEL,
                json!(level),
                &input.file.path,
                line,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::CrateLints;
    use crate::extract::testing::check;

    const ROOT: &str = r#"
        //! The crate.
        #![forbid(unsafe_code)]
        #![deny(missing_docs, clippy::unwrap_used)]
        #![warn(clippy::pedantic)]
        #![allow(clippy::module_name_repetitions, reason = "names read better")]
        #![allow(unsafe_code)]
        #![cfg_attr(not(test), deny(clippy::expect_used))]
        #![doc = "deny(x)"]
        #[allow(dead_code)]
        fn f() {}
    "#;

    #[test]
    fn reads_crate_root_lint_levels() {
        let e = CrateLints;
        check(
            &e,
            "src/lib.rs",
            ROOT,
            &[
                (
                    "repo/demo::lint.unsafe_code",
                    "rust.lint_level",
                    json!("forbid"),
                ),
                (
                    "repo/demo::lint.missing_docs",
                    "rust.lint_level",
                    json!("deny"),
                ),
                (
                    "repo/demo::lint.clippy::unwrap_used",
                    "rust.lint_level",
                    json!("deny"),
                ),
                (
                    "repo/demo::lint.clippy::pedantic",
                    "rust.lint_level",
                    json!("warn"),
                ),
                (
                    "repo/demo::lint.clippy::module_name_repetitions",
                    "rust.lint_level",
                    json!("allow"),
                ),
            ],
        );
        check(
            &e,
            "src/main.rs",
            "#![deny(warnings)]\n#![warn(warnings)]\nfn main() {}",
            &[("repo/demo::lint.warnings", "rust.lint_level", json!("warn"))],
        );
        check(&e, "src/net.rs", ROOT, &[]);
        check(&e, "tests/it.rs", ROOT, &[]);
    }
}
