//! `unsafe_code`: how much `unsafe` each item holds — blocks, fns, impls and traits.
use syn::{Attribute, Expr};

use super::tally::Tally;
use super::visit::{Cx, Hook, Node, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const UNSAFE: &str = "rust.unsafe";

/// Counts `unsafe` blocks, fns, impls and traits per enclosing item.
pub struct UnsafeCode;

#[derive(Default)]
struct Counter {
    tally: Tally,
}

impl Hook for Counter {
    fn item(&mut self, cx: &Cx<'_>, _attrs: &[Attribute], node: Node<'_>) {
        let token = match node {
            Node::Fn(sig) => sig.unsafety.as_ref(),
            Node::Impl(i) => i.unsafety.as_ref(),
            Node::Trait(t) => t.unsafety.as_ref(),
            _ => None,
        };
        if let Some(token) = token {
            self.tally.count(cx.item, UNSAFE, line_of(token.span));
        }
    }

    fn expr(&mut self, cx: &Cx<'_>, expr: &Expr) {
        if let Expr::Unsafe(block) = expr {
            self.tally
                .count(cx.item, UNSAFE, line_of(block.unsafe_token.span));
        }
    }
}

impl Extractor for UnsafeCode {
    fn name(&self) -> &'static str {
        "unsafe_code"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[UNSAFE]
    }

    fn describe(&self) -> &'static str {
        "Counts unsafe blocks, unsafe fns, unsafe impls and unsafe traits in each item outside tests."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let mut counter = Counter::default();
        if walk_input(input, &mut counter) {
            counter.tally.emit(input, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::UnsafeCode;
    use crate::extract::testing::check;

    const CODE: &str = r#"
        pub fn read(p: *const u8) -> u8 {
            let a = unsafe { *p };
            let b = unsafe { *p.add(1) };
            a + b
        }
        pub unsafe fn raw() {}
        pub fn safe() -> u8 { 1 }
        struct Buf;
        unsafe impl Send for Buf {}
        impl Buf {
            fn peek(&self, p: *const u8) -> u8 { unsafe { *p } }
        }
        pub unsafe trait Raw {}
        mod inner {
            fn deep() { unsafe { core::hint::unreachable_unchecked() } }
        }
        #[cfg(test)]
        mod tests {
            fn helper() { unsafe {} }
        }
        #[test]
        fn t() { unsafe {} }
    "#;

    #[test]
    fn counts_unsafe_per_item() {
        let e = UnsafeCode;
        check(
            &e,
            "src/mem.rs",
            CODE,
            &[
                ("repo/demo/mem::read", "rust.unsafe", json!(2)),
                ("repo/demo/mem::raw", "rust.unsafe", json!(1)),
                ("repo/demo/mem::Buf", "rust.unsafe", json!(1)),
                ("repo/demo/mem::Buf::peek", "rust.unsafe", json!(1)),
                ("repo/demo/mem::Raw", "rust.unsafe", json!(1)),
                ("repo/demo/mem::inner::deep", "rust.unsafe", json!(1)),
            ],
        );
        check(
            &e,
            "src/lib.rs",
            "fn f() { unsafe {} }",
            &[("repo/demo::f", "rust.unsafe", json!(1))],
        );
        check(&e, "tests/x.rs", CODE, &[]);
        check(
            &e,
            "src/lib.rs",
            "fn f() { let unsafe_ = 1; } // unsafe { }",
            &[],
        );
        check(
            &e,
            "src/lib.rs",
            "#[cfg(all(test, unix))] fn f() { unsafe {} }",
            &[],
        );
    }
}
