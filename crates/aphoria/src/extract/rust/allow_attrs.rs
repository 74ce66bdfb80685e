//! `allow_attrs`: which lints each item silences with `#[allow(..)]` or `#[expect(..)]`.
use syn::{AttrStyle, Attribute};

use super::tally::Tally;
use super::visit::{Cx, Hook, Node, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const ALLOWED: &str = "rust.allowed_lints";

/// Lists the lints silenced on each item outside tests.
pub struct AllowAttrs;

/// The lints a lint attribute (`allow(a, clippy::b, reason = "..")`) names, paths joined
/// with `::`; empty when the arguments do not parse.
pub(super) fn lint_names(attr: &Attribute) -> Vec<String> {
    let mut names = Vec::new();
    let parsed = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("reason") {
            // `reason = "..."` explains the attribute; it is no lint.
            return meta.value()?.parse::<syn::LitStr>().map(drop);
        }
        let segments: Vec<String> = meta
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        names.push(segments.join("::"));
        Ok(())
    });
    match parsed {
        Ok(()) => names,
        Err(_) => Vec::new(),
    }
}

#[derive(Default)]
struct Allows {
    tally: Tally,
}

impl Hook for Allows {
    fn item(&mut self, cx: &Cx<'_>, attrs: &[Attribute], _node: Node<'_>) {
        for attr in attrs {
            let silences = attr.path().is_ident("allow") || attr.path().is_ident("expect");
            if !silences || !matches!(attr.style, AttrStyle::Outer) {
                continue;
            }
            for lint in lint_names(attr) {
                self.tally
                    .list(cx.item, ALLOWED, line_of(attr.pound_token.span), &lint);
            }
        }
    }
}

impl Extractor for AllowAttrs {
    fn name(&self) -> &'static str {
        "allow_attrs"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[ALLOWED]
    }

    fn describe(&self) -> &'static str {
        "Lists the lints each item outside tests silences with #[allow(..)] or #[expect(..)]."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let mut allows = Allows::default();
        if walk_input(input, &mut allows) {
            allows.tally.emit(input, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::AllowAttrs;
    use crate::extract::testing::check;

    const CODE: &str = r#"
        #![allow(dead_code)]
        #[allow(clippy::unwrap_used, clippy::expect_used)]
        #[allow(clippy::unwrap_used)]
        pub fn load() {}
        #[expect(unused, reason = "kept for the next release")]
        const LIMIT: u32 = 3;
        #[allow(clippy::large_enum_variant)]
        pub enum Msg { A, B }
        #[allow(missing_docs)]
        pub struct S;
        #[allow(clippy::new_without_default)]
        impl S {
            #[allow(clippy::too_many_arguments)]
            pub fn new() -> S { S }
        }
        #[allow(unused_imports)]
        mod inner {}
        #[derive(Debug)]
        #[cfg_attr(feature = "x", allow(unused))]
        pub struct Plain;
        #[cfg(test)]
        #[allow(clippy::unwrap_used)]
        mod tests {
            #[allow(unused)]
            fn f() {}
        }
        #[test]
        #[allow(clippy::unwrap_used)]
        fn t() {}
    "#;

    #[test]
    fn lists_allowed_lints_per_item() {
        let e = AllowAttrs;
        let list = |l: &[&str]| json!(l);
        check(
            &e,
            "src/io.rs",
            CODE,
            &[
                (
                    "repo/demo/io::load",
                    "rust.allowed_lints",
                    list(&["clippy::expect_used", "clippy::unwrap_used"]),
                ),
                (
                    "repo/demo/io::LIMIT",
                    "rust.allowed_lints",
                    list(&["unused"]),
                ),
                (
                    "repo/demo/io::Msg",
                    "rust.allowed_lints",
                    list(&["clippy::large_enum_variant"]),
                ),
                (
                    "repo/demo/io::S",
                    "rust.allowed_lints",
                    list(&["clippy::new_without_default", "missing_docs"]),
                ),
                (
                    "repo/demo/io::S::new",
                    "rust.allowed_lints",
                    list(&["clippy::too_many_arguments"]),
                ),
                (
                    "repo/demo/io::inner",
                    "rust.allowed_lints",
                    list(&["unused_imports"]),
                ),
            ],
        );
        check(&e, "tests/io.rs", CODE, &[]);
        check(
            &e,
            "src/lib.rs",
            "#![allow(unused)]\n/// allow(unused)\nfn f() {}",
            &[],
        );
    }
}
