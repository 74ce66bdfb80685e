//! `sql_strings`: SQL statements built by string formatting or concatenation (`format!("SELECT
//! .. WHERE id = {id}")`, `"DELETE FROM t WHERE x = ".to_string() + &x`) — the shape of an
//! injection, whatever the values turn out to be.
use syn::{Expr, Macro};

use super::syntax::{first_str_token, macro_name, str_lit};
use super::tally::Tally;
use super::visit::{Cx, Hook, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const BUILT: &str = "sql.built_from_strings";

const FORMAT_MACROS: [&str; 4] = ["format", "write", "writeln", "format_args"];

/// A statement keyword, and words of which one must follow it when the keyword is not
/// written in capitals (`"update {} failed"` is English, `"UPDATE {t} SET .."` is SQL).
const STATEMENTS: [(&str, &[&str]); 8] = [
    ("SELECT", &["FROM"]),
    ("INSERT", &["INTO"]),
    ("UPDATE", &["SET"]),
    ("DELETE", &["FROM"]),
    ("DROP", &["TABLE", "INDEX", "VIEW", "DATABASE", "SCHEMA"]),
    ("CREATE", &["TABLE", "INDEX", "VIEW", "DATABASE", "SCHEMA"]),
    ("ALTER", &["TABLE", "INDEX", "VIEW", "DATABASE", "SCHEMA"]),
    ("WITH", &["AS"]),
];

/// Counts SQL statements built from strings per fn outside tests.
pub struct SqlStrings;

/// True when `text` starts (after whitespace) with a statement keyword and a space, and reads
/// as SQL rather than prose.
fn is_sql(text: &str) -> bool {
    let text = text.trim_start();
    let Some(end) = text.find(char::is_whitespace) else {
        return false;
    };
    let (word, rest) = text.split_at(end);
    let Some((keyword, companions)) = STATEMENTS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(word))
    else {
        return false;
    };
    word == *keyword
        || rest
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .any(|w| companions.iter().any(|c| c.eq_ignore_ascii_case(w)))
}

/// True when a format string has a `{..}` placeholder (`{{` is an escaped brace).
fn has_placeholder(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '{' && chars.next() != Some('{') {
            return true;
        }
    }
    false
}

/// The string literal a concatenation starts from: `"..".to_string()`, `String::from("..")`.
fn start_literal(expr: &Expr) -> Option<&syn::LitStr> {
    match expr {
        Expr::MethodCall(m) if m.args.is_empty() => start_literal(&m.receiver),
        Expr::Call(c) if c.args.len() == 1 => c.args.first().and_then(str_lit),
        _ => str_lit(expr),
    }
}

#[derive(Default)]
struct Counter {
    tally: Tally,
}

impl Hook for Counter {
    fn expr(&mut self, cx: &Cx<'_>, expr: &Expr) {
        let Expr::Binary(b) = expr else { return };
        if !matches!(b.op, syn::BinOp::Add(_)) || str_lit(&b.right).is_some() {
            return;
        }
        if let Some(lit) = start_literal(&b.left).filter(|lit| is_sql(&lit.value())) {
            self.tally.count(cx.item, BUILT, line_of(lit.span()));
        }
    }

    fn mac(&mut self, cx: &Cx<'_>, mac: &Macro) {
        if !FORMAT_MACROS.contains(&macro_name(mac).as_str()) {
            return;
        }
        let Some(lit) = first_str_token(&mac.tokens) else {
            return;
        };
        let text = lit.value();
        if is_sql(&text) && has_placeholder(&text) {
            self.tally.count(cx.item, BUILT, line_of(lit.span()));
        }
    }
}

impl Extractor for SqlStrings {
    fn name(&self) -> &'static str {
        "sql_strings"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[BUILT]
    }

    fn describe(&self) -> &'static str {
        "Counts SQL statements built with format!/write! placeholders or string concatenation per fn outside tests."
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

    use super::SqlStrings;
    use crate::extract::testing::check;

    const CODE: &str = r#"
        pub fn find(db: &Db, id: &str, t: &str) {
            db.query(&format!("SELECT * FROM users WHERE id = '{}'", id));
            db.query(&format!("  select name from {t} where x = 1"));
            let mut q = String::new();
            write!(q, "DELETE FROM sessions WHERE user = {id}").ok();
            db.query(&("UPDATE t SET a = 1 WHERE id = ".to_string() + id));
        }
        pub fn build(name: &str) -> String {
            String::from("INSERT INTO log VALUES (") + name + ")"
        }
        pub fn safe(db: &Db, id: &str) {
            db.query("SELECT * FROM users WHERE id = $1", &[&id]);
            let a = format!("SELECT 1 FROM {{braces}}");
            let b = format!("update {} failed", id);
            let c = format!("delete {n} files?", n = 3);
            let d = format!("with {} items", 3);
            let e = format!("selection {}", id);
            let f = "SELECT a ".to_string() + "FROM b";
            let g = println!("SELECT * FROM t WHERE id = {}", id);
        }
        #[cfg(test)]
        mod tests {
            fn f(id: u8) { format!("SELECT * FROM t WHERE id = {id}"); }
        }
    "#;

    #[test]
    fn counts_sql_built_from_strings() {
        let e = SqlStrings;
        check(
            &e,
            "src/db.rs",
            CODE,
            &[
                ("repo/demo/db::find", "sql.built_from_strings", json!(4)),
                ("repo/demo/db::build", "sql.built_from_strings", json!(1)),
            ],
        );
        check(&e, "tests/db.rs", CODE, &[]);
    }
}
