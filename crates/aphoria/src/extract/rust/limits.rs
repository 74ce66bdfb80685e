//! `limits`: the numbers behind constants named like limits (`MAX_BODY_BYTES`,
//! `READ_TIMEOUT`), when the value is written as a literal in the source.
use serde_json::json;
use syn::Attribute;

use super::syntax::{duration_ms, int_value};
use super::tally::Tally;
use super::visit::{Cx, Hook, Node, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const VALUE: &str = "limit.value";

/// Name segments that make a constant a limit (a trailing `S` is allowed: `TIMEOUTS`).
const WORDS: [&str; 12] = [
    "TIMEOUT", "LIMIT", "MAX", "MAXIMUM", "MIN", "MINIMUM", "BYTES", "SIZE", "DEADLINE",
    "INTERVAL", "RETRIES", "CAPACITY",
];
/// Unit segments that make a constant a limit when they are not its first word (`IDLE_MS`).
const UNITS: [&str; 3] = ["MS", "SECS", "MILLIS"];

/// Reads literal values of limit-like constants and statics.
pub struct Limits;

/// True when the constant's name has a limit word as one of its `_`-separated segments
/// (so `ADMIN_ID` is not a `MIN` and `TERMINAL` not a `MIN`).
fn is_limit_name(name: &str) -> bool {
    let upper = name.to_uppercase();
    upper.split('_').enumerate().any(|(i, seg)| {
        let singular = seg.strip_suffix('S').unwrap_or(seg);
        WORDS.contains(&seg) || WORDS.contains(&singular) || (i > 0 && UNITS.contains(&seg))
    })
}

#[derive(Default)]
struct Reader {
    tally: Tally,
}

impl Hook for Reader {
    fn item(&mut self, cx: &Cx<'_>, _attrs: &[Attribute], node: Node<'_>) {
        // A const inside a fn body has no subject of its own.
        let Node::Const { ident, expr } = node else {
            return;
        };
        if cx.nested || !is_limit_name(&ident.to_string()) {
            return;
        }
        if let Some(n) = int_value(expr).or_else(|| duration_ms(expr)) {
            self.tally
                .value(cx.item, VALUE, line_of(ident.span()), json!(n));
        }
    }
}

impl Extractor for Limits {
    fn name(&self) -> &'static str {
        "limits"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[VALUE]
    }

    fn describe(&self) -> &'static str {
        "Reads the literal value (integers, products and shifts of them, Durations in milliseconds) of consts and statics named like limits (MAX, TIMEOUT, BYTES...)."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let mut reader = Reader::default();
        if walk_input(input, &mut reader) {
            reader.tally.emit(input, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Limits, is_limit_name};
    use crate::extract::testing::check;

    #[test]
    fn limit_names_are_whole_words() {
        for yes in [
            "MAX_BODY_BYTES",
            "READ_TIMEOUT",
            "IDLE_MS",
            "POOL_CAPACITY",
            "MAX_RETRIES",
            "LIMITS",
            "FILE_BYTES_MAX",
        ] {
            assert!(is_limit_name(yes), "{yes}");
        }
        for no in [
            "ADMIN_ID",
            "TERMINAL",
            "MS_PER_SEC",
            "MAXIMAL_MUNCH_X",
            "VERSION",
            "SIZED_THING",
        ] {
            assert!(!is_limit_name(no), "{no}");
        }
    }

    const CODE: &str = r#"
        pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
        pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(30);
        const IDLE_MS: u64 = 1_500;
        static RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
        const TICK_INTERVAL: Duration = Duration::from_micros(1500);
        const BATCH_SIZE: u32 = 0x100;
        const MAX_FRAME_BYTES: usize = 1 << 20;
        const MAX_SHIFTED: u64 = 3 << 63;
        const MIN_PEERS: usize = (3);
        const MAX_LEN: usize = OTHER + 1;
        const MAX_NAME: &str = "max";
        const PAGE_SIZE: usize = size_of::<u64>() * 8;
        const ADMIN_ID: u32 = 7;
        const GREETING: u32 = 1;
        impl Pool {
            const CAPACITY: usize = 16;
        }
        trait Store { const MAX_KEYS: usize = 1000; }
        mod inner { pub const CONNECT_TIMEOUT_SECS: u64 = 10; }
        fn f() { const MAX_LOCAL: u32 = 3; }
        #[cfg(test)]
        const MAX_TEST: u32 = 1;
    "#;

    #[test]
    fn reads_literal_limits() {
        let e = Limits;
        check(
            &e,
            "src/limits.rs",
            CODE,
            &[
                (
                    "repo/demo/limits::MAX_BODY_BYTES",
                    "limit.value",
                    json!(67_108_864),
                ),
                (
                    "repo/demo/limits::READ_TIMEOUT",
                    "limit.value",
                    json!(30_000),
                ),
                ("repo/demo/limits::IDLE_MS", "limit.value", json!(1500)),
                (
                    "repo/demo/limits::RETRY_INTERVAL",
                    "limit.value",
                    json!(250),
                ),
                ("repo/demo/limits::BATCH_SIZE", "limit.value", json!(256)),
                (
                    "repo/demo/limits::MAX_FRAME_BYTES",
                    "limit.value",
                    json!(1_048_576),
                ),
                ("repo/demo/limits::MIN_PEERS", "limit.value", json!(3)),
                ("repo/demo/limits::Pool::CAPACITY", "limit.value", json!(16)),
                (
                    "repo/demo/limits::Store::MAX_KEYS",
                    "limit.value",
                    json!(1000),
                ),
                (
                    "repo/demo/limits::inner::CONNECT_TIMEOUT_SECS",
                    "limit.value",
                    json!(10),
                ),
            ],
        );
        check(&e, "tests/limits.rs", CODE, &[]);
    }
}
