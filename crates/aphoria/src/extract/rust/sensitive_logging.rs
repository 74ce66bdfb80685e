//! `sensitive_logging`: logging and printing macros that name a secret — an identifier or a
//! `{name}` placeholder such as `password`, `api_key`, `token`.
use proc_macro2::{TokenStream, TokenTree};
use syn::Macro;

use super::syntax::{macro_name, token_str};
use super::tally::Tally;
use super::visit::{Cx, Hook, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const SENSITIVE: &str = "log.sensitive_field";

const LOG_MACROS: [&str; 10] = [
    "trace", "debug", "info", "warn", "error", "event", "println", "eprintln", "print", "eprint",
];
const SECRET_WORDS: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
];
/// A last word saying the name is about a secret, not the secret (`token_count`, `secret_name`).
const ABOUT_WORDS: [&str; 15] = [
    "count", "len", "length", "size", "kind", "type", "id", "name", "path", "file", "ttl",
    "expiry", "expires", "present", "missing",
];

/// Lists secret-named values in logging and printing macros per fn outside tests.
pub struct SensitiveLogging;

/// True when one of the name's `_`-separated words is a secret's (`api_key`, `db_password`);
/// `tokens`, `tokenizer`, `is_secret` and `token_count` are not.
fn is_secret_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    let words: Vec<&str> = lower.split('_').filter(|w| !w.is_empty()).collect();
    let (Some(first), Some(last)) = (words.first(), words.last()) else {
        return false;
    };
    if words.len() > 1 && (ABOUT_WORDS.contains(last) || matches!(*first, "is" | "has")) {
        return false;
    }
    words.iter().any(|w| SECRET_WORDS.contains(w))
        || words
            .windows(2)
            .any(|w| matches!(w, ["api" | "private", "key"]))
}

/// The identifiers of a format string's inline placeholders (`{token}`, `{password:?}`).
fn placeholders(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(after) = rest.strip_prefix('{') {
            rest = after; // `{{` is a literal brace
            continue;
        }
        let end = rest.find(['}', ':']).unwrap_or(rest.len());
        let name = rest[..end].trim();
        let ident = name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if ident {
            names.push(name.to_owned());
        }
    }
    names
}

#[derive(Default)]
struct Finder {
    tally: Tally,
}

impl Finder {
    fn tokens(&mut self, item: &str, tokens: TokenStream) {
        for token in tokens {
            match &token {
                TokenTree::Ident(ident) => {
                    self.name(item, &ident.to_string(), line_of(ident.span()))
                }
                TokenTree::Group(group) => self.tokens(item, group.stream()),
                TokenTree::Literal(_) => {
                    let Some(lit) = token_str(&token) else {
                        continue;
                    };
                    for name in placeholders(&lit.value()) {
                        self.name(item, &name, line_of(lit.span()));
                    }
                }
                TokenTree::Punct(_) => {}
            }
        }
    }

    fn name(&mut self, item: &str, name: &str, line: usize) {
        if is_secret_name(name) {
            self.tally.list(item, SENSITIVE, line, name);
        }
    }
}

impl Hook for Finder {
    fn mac(&mut self, cx: &Cx<'_>, mac: &Macro) {
        if LOG_MACROS.contains(&macro_name(mac).as_str()) {
            self.tokens(cx.item, mac.tokens.clone());
        }
    }
}

impl Extractor for SensitiveLogging {
    fn name(&self) -> &'static str {
        "sensitive_logging"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[SENSITIVE]
    }

    fn describe(&self) -> &'static str {
        "Lists secret-named identifiers and placeholders (password, token, api_key...) in logging and printing macros per fn outside tests."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let mut finder = Finder::default();
        if walk_input(input, &mut finder) {
            finder.tally.emit(input, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{SensitiveLogging, is_secret_name, placeholders};
    use crate::extract::testing::check;

    #[test]
    fn secret_names_are_whole_words() {
        for yes in [
            "password",
            "db_password",
            "API_KEY",
            "apikey",
            "private_key",
            "client_secret",
            "credentials",
            "token",
        ] {
            assert!(is_secret_name(yes), "{yes}");
        }
        for no in [
            "tokens",
            "tokenizer",
            "keystone",
            "key",
            "private",
            "token_count",
            "secret_name",
            "is_secret",
            "passwords_x1",
        ] {
            assert!(!is_secret_name(no), "{no}");
        }
        assert_eq!(placeholders("{a} {{b}} {c:?} {0} {} {d.e}"), ["a", "c"]);
    }

    const CODE: &str = r#"
        pub fn login(user: &str, password: &str, cfg: &Config) {
            tracing::info!(user, token = %cfg.session, "login");
            debug!("user {user} password {password}");
            println!("{:?}", cfg.api_key);
            log::warn!("{}", format!("{}", cfg.private_key));
        }
        pub fn fine(tokens: &[Token], tokenizer: &T, token_count: usize) {
            info!("parsed {} tokens with {tokenizer:?}", tokens.len());
            info!(token_count, "password reset requested");
            let s = format!("{password}", password = 1);
            tracing::info_span!("token");
        }
        #[cfg(test)]
        mod tests {
            fn f(password: &str) { println!("{password}"); }
        }
    "#;

    #[test]
    fn lists_secret_names_in_logs() {
        let e = SensitiveLogging;
        check(
            &e,
            "src/auth.rs",
            CODE,
            &[(
                "repo/demo/auth::login",
                "log.sensitive_field",
                json!(["api_key", "password", "private_key", "token"]),
            )],
        );
        check(&e, "tests/auth.rs", CODE, &[]);
    }
}
