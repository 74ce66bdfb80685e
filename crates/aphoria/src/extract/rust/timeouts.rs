//! `timeouts`: timeouts set in code with a literal `Duration` (`.timeout(Duration::from_secs(5))`,
//! `set_read_timeout(Some(..))`, `tokio::time::timeout(Duration::from_millis(..), fut)`).
use syn::Expr;

use super::syntax::{call_path, duration_ms};
use super::tally::Tally;
use super::visit::{Cx, Hook, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const TIMEOUT: &str = "net.timeout_ms";

const METHODS: [&str; 7] = [
    "timeout",
    "connect_timeout",
    "read_timeout",
    "write_timeout",
    "pool_idle_timeout",
    "set_read_timeout",
    "set_write_timeout",
];

/// Reads literal timeouts, in milliseconds, per fn outside tests.
pub struct Timeouts;

/// The milliseconds of `Duration::from_x(lit)`, also inside `Some(..)`.
fn millis(arg: &Expr) -> Option<u64> {
    if let Expr::Call(call) = arg {
        let is_some = call_path(arg).is_some_and(|p| p.is_ident("Some"));
        if let (true, Some(inner)) = (is_some && call.args.len() == 1, call.args.first()) {
            return duration_ms(inner);
        }
    }
    duration_ms(arg)
}

#[derive(Default)]
struct Reader {
    tally: Tally,
}

impl Hook for Reader {
    fn expr(&mut self, cx: &Cx<'_>, expr: &Expr) {
        let (ms, line) = match expr {
            Expr::MethodCall(call) if call.args.len() == 1 => {
                if !METHODS.contains(&call.method.to_string().as_str()) {
                    return;
                }
                let Some(ms) = call.args.first().and_then(millis) else {
                    return;
                };
                (ms, line_of(call.method.span()))
            }
            // `tokio::time::timeout(duration, future)`, also imported as `timeout(..)`.
            Expr::Call(call) if call.args.len() == 2 => {
                let Some(name) = call_path(expr).and_then(|p| p.segments.last()) else {
                    return;
                };
                if name.ident != "timeout" {
                    return;
                }
                let Some(ms) = call.args.first().and_then(duration_ms) else {
                    return;
                };
                (ms, line_of(name.ident.span()))
            }
            _ => return,
        };
        self.tally.int(cx.item, TIMEOUT, line, ms);
    }
}

impl Extractor for Timeouts {
    fn name(&self) -> &'static str {
        "timeouts"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[TIMEOUT]
    }

    fn describe(&self) -> &'static str {
        "Reads timeouts set with a literal Duration (.timeout, .connect_timeout, set_read_timeout...) in milliseconds per fn."
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

    use super::Timeouts;
    use crate::extract::testing::check;

    const CODE: &str = r#"
        pub fn client() -> Client {
            Client::builder()
                .timeout(Duration::from_secs(30))
                .connect_timeout(std::time::Duration::from_millis(500))
                .pool_idle_timeout(Some(Duration::from_secs(30)))
                .build()
        }
        pub fn socket(s: &TcpStream) {
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        }
        pub async fn call() {
            tokio::time::timeout(Duration::from_millis(250), work()).await;
        }
        pub fn dynamic(s: &TcpStream, d: Duration) {
            s.set_read_timeout(Some(d)).ok();
            s.set_write_timeout(None).ok();
            b.timeout(Duration::from_secs(SECS));
            b.sleep(Duration::from_secs(3));
            b.timeout(Duration::from_secs(3), 4);
        }
        #[cfg(test)]
        mod tests {
            fn f() { b.timeout(Duration::from_secs(1)); }
        }
    "#;

    #[test]
    fn reads_literal_timeouts() {
        let e = Timeouts;
        check(
            &e,
            "src/http.rs",
            CODE,
            &[
                (
                    "repo/demo/http::client",
                    "net.timeout_ms",
                    json!([500, 30_000]),
                ),
                ("repo/demo/http::socket", "net.timeout_ms", json!(5000)),
                ("repo/demo/http::call", "net.timeout_ms", json!(250)),
            ],
        );
        check(&e, "tests/http.rs", CODE, &[]);
    }
}
