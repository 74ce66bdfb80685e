//! `panics`: where production code can panic — `.unwrap()`, `.expect(..)` and the panicking
//! macros (`panic!`, `unreachable!`, `todo!`, `unimplemented!`; asserts are not counted).
use syn::{Expr, Macro};

use super::syntax::macro_name;
use super::tally::Tally;
use super::visit::{Cx, Hook, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const UNWRAP: &str = "rust.unwrap_calls";
const EXPECT: &str = "rust.expect_calls";
const MACROS: &str = "rust.panic_macros";

const PANIC_MACROS: [&str; 4] = ["panic", "unreachable", "todo", "unimplemented"];

/// Counts unwraps, expects and panicking macros per fn outside tests.
pub struct Panics;

#[derive(Default)]
struct Counter {
    tally: Tally,
}

impl Hook for Counter {
    fn expr(&mut self, cx: &Cx<'_>, expr: &Expr) {
        let Expr::MethodCall(call) = expr else { return };
        let pred = match (call.method.to_string().as_str(), call.args.len()) {
            ("unwrap", 0) => UNWRAP,
            ("expect", 1) => EXPECT,
            _ => return,
        };
        self.tally.count(cx.item, pred, line_of(call.method.span()));
    }

    fn mac(&mut self, cx: &Cx<'_>, mac: &Macro) {
        if PANIC_MACROS.contains(&macro_name(mac).as_str()) {
            let line = mac
                .path
                .segments
                .last()
                .map_or(1, |s| line_of(s.ident.span()));
            self.tally.count(cx.item, MACROS, line);
        }
    }
}

impl Extractor for Panics {
    fn name(&self) -> &'static str {
        "panics"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[UNWRAP, EXPECT, MACROS]
    }

    fn describe(&self) -> &'static str {
        "Counts .unwrap() and .expect(..) calls and panic!/unreachable!/todo!/unimplemented! per fn outside tests."
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

    use super::Panics;
    use crate::extract::testing::{check, run};

    const CODE: &str = r#"
        pub fn load(p: &str) -> Config {
            let text = std::fs::read_to_string(p).unwrap();
            let n: u32 = text.parse().expect("a number");
            let m = text.lines().next().unwrap();
            println!("{}", text.trim().parse::<u8>().unwrap());
            if n == 0 { panic!("zero") }
            match n { 1 => todo!(), 2 => std::unreachable!("two"), _ => {} }
            assert!(n > 3, "small");
            debug_assert_eq!(n, 4);
            Config
        }
        pub fn fine(o: Option<u8>, r: Result<u8, E>) -> u8 {
            let a = o.unwrap_or(0);
            let b = r.unwrap_or_default();
            let c = o.expect_none_like();
            let d = Option::unwrap(o);
            let e = expect(1, 2);
            a + b
        }
        impl Config {
            fn get(&self) -> u8 { self.x.unwrap() }
        }
        static RE: Lazy<Regex> = Lazy::new(|| Regex::new("a+").unwrap());
        #[cfg(test)]
        mod tests {
            fn f() { None::<u8>.unwrap(); panic!() }
        }
        #[tokio::test]
        async fn t() { None::<u8>.unwrap(); }
    "#;

    #[test]
    fn counts_panics_per_fn() {
        let e = Panics;
        check(
            &e,
            "src/config.rs",
            CODE,
            &[
                ("repo/demo/config::load", "rust.unwrap_calls", json!(3)),
                ("repo/demo/config::load", "rust.expect_calls", json!(1)),
                ("repo/demo/config::load", "rust.panic_macros", json!(3)),
                (
                    "repo/demo/config::Config::get",
                    "rust.unwrap_calls",
                    json!(1),
                ),
                ("repo/demo/config::RE", "rust.unwrap_calls", json!(1)),
            ],
        );
        check(
            &e,
            "src/lib.rs",
            "fn main() { x.unwrap(); }",
            &[("repo/demo::main", "rust.unwrap_calls", json!(1))],
        );
        check(&e, "benches/b.rs", CODE, &[]);
        check(
            &e,
            "src/lib.rs",
            "// x.unwrap()\nfn f() { let s = \"x.unwrap()\"; }",
            &[],
        );
        // A test module in a file of its own, and a file gated on test.
        check(&e, "src/store/tests.rs", CODE, &[]);
        check(
            &e,
            "src/store/helpers.rs",
            "#![cfg(test)]\nfn f() { x.unwrap(); }",
            &[],
        );
    }

    #[test]
    fn lines_are_the_first_finding_even_inside_macros() {
        let code = "fn f() {\n    println!(\n        \"{}\",\n        x.unwrap()\n    );\n    y.unwrap();\n}\n";
        let found = run(&Panics, "src/lib.rs", code);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].path.as_str(), found[0].line), ("src/lib.rs", 4));
        assert_eq!(found[0].value, json!(2));
    }
}
