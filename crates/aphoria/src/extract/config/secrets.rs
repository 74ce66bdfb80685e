//! `secrets`: credentials written into any file of the repository — cloud keys, private keys,
//! API tokens and literal passwords — reported by kind, never by text. Hand-rolled scanners;
//! no pattern below can match itself (markers are split across constants).
use std::collections::BTreeSet;

use serde_json::Value;

use super::password_assignment::has_password_assignment;
use crate::observe::{Extractor, Input, Observation, line_at};

/// The start of a PEM block; a private key's label follows it on the same line.
const PEM_BEGIN: &str = "-----BEGIN";
const PEM_PRIVATE_LABELS: [&str; 5] = [
    " PRIVATE KEY-----",
    " RSA PRIVATE KEY-----",
    " EC PRIVATE KEY-----",
    " OPENSSH PRIVATE KEY-----",
    " DSA PRIVATE KEY-----",
];

/// Base64 characters in a row that make a PEM block hold a key.
const KEY_MATERIAL_MIN: usize = 16;

/// Token prefixes (`scan` gives each body's length and alphabet).
const GITHUB_PREFIXES: [&str; 5] = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"];
const SLACK_PREFIXES: [&str; 4] = ["xoxb-", "xoxp-", "xoxa-", "xoxr-"];
const STRIPE_PREFIX: &str = "sk_live_";
const AWS_PREFIXES: [&str; 2] = ["AKIA", "ASIA"];

/// Looks for hardcoded credentials in every file.
pub struct Secrets;

impl Extractor for Secrets {
    fn name(&self) -> &'static str {
        "secrets"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &["secret.hardcoded"]
    }

    fn describe(&self) -> &'static str {
        "Finds credentials written into files (cloud keys, private keys, API tokens, literal \
         passwords) and reports their kinds, never their text."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let file = input.file;
        if file.test_only || is_generated(&file.path) {
            return;
        }
        let findings = scan(&file.text);
        let Some(line) = findings.iter().map(|(_, line)| *line).min() else {
            return;
        };
        let kinds: BTreeSet<&str> = findings.iter().map(|(kind, _)| *kind).collect();
        // A literal password is a guess from names and shapes; the other kinds are formats.
        let confidence = if kinds.iter().all(|k| *k == "password_assignment") {
            0.7
        } else {
            1.0
        };
        let kinds: Vec<&str> = kinds.into_iter().collect();
        let subject = input.file_subject("");
        let value = Value::from(kinds);
        out.push(
            Observation::new(subject, "secret.hardcoded", value, &file.path, line)
                .confidence(confidence),
        );
    }
}

/// Lock files, minified bundles and build output: generated, not authored.
fn is_generated(path: &str) -> bool {
    path.ends_with(".lock")
        || path.ends_with(".min.js")
        || path.starts_with("dist/")
        || path.contains("/dist/")
}

/// Every kind found in `text`, each with the line of its first finding.
fn scan(text: &str) -> Vec<(&'static str, usize)> {
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let upper_digit = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let slack = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    let tokens: [(&'static str, Option<usize>); 4] = [
        (
            "aws_access_key_id",
            find_token(text, &AWS_PREFIXES, 16, Some(16), upper_digit),
        ),
        (
            "github_token",
            find_token(text, &GITHUB_PREFIXES, 36, None, alnum),
        ),
        (
            "slack_token",
            find_token(text, &SLACK_PREFIXES, 10, None, slack),
        ),
        (
            "stripe_live_key",
            find_token(text, &[STRIPE_PREFIX], 16, None, alnum),
        ),
    ];
    let mut found: Vec<(&'static str, usize)> = tokens
        .into_iter()
        .filter_map(|(kind, at)| Some((kind, line_at(text, at?))))
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    let pem = (0..lines.len()).find(|&i| {
        let next = lines.get(i + 1).copied().unwrap_or("");
        has_private_key(lines[i], next)
    });
    if let Some(i) = pem {
        found.push(("private_key_pem", i + 1));
    }
    if let Some(i) = lines.iter().position(|l| has_password_assignment(l)) {
        found.push(("password_assignment", i + 1));
    }
    found
}

/// The byte offset of the first `prefix` + body, where the body has at least `min` (and,
/// with `exact`, exactly that many) bytes of `class`, and neither end touches a letter or
/// digit.
fn find_token(
    text: &str,
    prefixes: &[&str],
    min: usize,
    exact: Option<usize>,
    class: impl Fn(u8) -> bool,
) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut first: Option<usize> = None;
    for prefix in prefixes {
        for (at, _) in text.match_indices(prefix) {
            if at > 0 && bytes[at - 1].is_ascii_alphanumeric() {
                continue;
            }
            let body = at + prefix.len();
            let len = bytes[body..].iter().take_while(|&&b| class(b)).count();
            let after = bytes.get(body + len);
            let fits = match exact {
                Some(n) => len == n && !after.is_some_and(|b| b.is_ascii_alphanumeric()),
                None => len >= min,
            };
            if fits {
                first = Some(first.map_or(at, |f| f.min(at)));
                break;
            }
        }
    }
    first
}

/// True when `line` opens a private key's PEM block and key material follows, on the same
/// line (a string with `\n` escapes) or the next: a bare marker, as in documentation or a
/// pattern, holds no key.
fn has_private_key(line: &str, next: &str) -> bool {
    line.match_indices(PEM_BEGIN).any(|(at, _)| {
        let rest = &line[at + PEM_BEGIN.len()..];
        PEM_PRIVATE_LABELS.iter().any(|label| {
            rest.strip_prefix(label)
                .is_some_and(|after| has_base64_run(after) || has_base64_run(next))
        })
    })
}

/// At least [`KEY_MATERIAL_MIN`] base64 characters in a row.
fn has_base64_run(s: &str) -> bool {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/'))
        .any(|run| run.len() >= KEY_MATERIAL_MIN)
}

#[cfg(test)]
mod tests {
    //! Every credential-shaped fixture is assembled at run time, so that this file, scanned
    //! with the rest of the repository, holds none.
    use serde_json::json;

    use super::{PEM_BEGIN, Secrets};
    use crate::extract::testing::{check, run};

    fn aws() -> String {
        format!("{}{}", "AKIA", "Q3EXAMPLEXAMPLE1")
    }

    fn github() -> String {
        format!("{}{}", "ghp_", "aB3".repeat(12))
    }

    fn assign(name: &str, sep: &str, literal: &str) -> String {
        format!("{name}{sep}\"{literal}\"\n")
    }

    #[test]
    fn every_kind_by_name_never_by_text() {
        let text = [
            "# production settings\n".to_owned(),
            format!("aws_key = \"{}\"\n", aws()),
            format!("{}{}\n", PEM_BEGIN, " OPENSSH PRIVATE KEY-----"),
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n".to_owned(),
            format!("gh = {}\n", github()),
            format!("slack: {}{}\n", "xoxb-", "1234-5678-abcdEF"),
            format!("stripe={}{}\n", "sk_live_", "4eC39HqLyjWDarjtT1zdp7dc"),
            assign("DB_PASSWORD", "=", &format!("{}{}", "hunter2", "Hunter2")),
        ]
        .concat();
        let want = json!([
            "aws_access_key_id",
            "github_token",
            "password_assignment",
            "private_key_pem",
            "slack_token",
            "stripe_live_key"
        ]);
        check(
            &Secrets,
            "deploy/prod.env",
            &text,
            &[("repo/deploy/prod.env", "secret.hardcoded", want)],
        );
        let found = run(&Secrets, "deploy/prod.env", &text);
        assert_eq!(
            found
                .iter()
                .map(|o| (o.line, o.confidence))
                .collect::<Vec<_>>(),
            [(2, 1.0)]
        );
        assert!(
            !found[0].value.to_string().contains("Q3EXAMPLE"),
            "a secret's text leaked"
        );
    }

    #[test]
    fn a_literal_password_alone_is_a_guess() {
        let text = assign(
            "    let db_password",
            " = ",
            &format!("{}{}", "s3cr3t", "Pa55w0rd"),
        );
        let want = json!(["password_assignment"]);
        check(
            &Secrets,
            "src/lib.rs",
            &text,
            &[("repo/src/lib.rs", "secret.hardcoded", want)],
        );
        let found = run(&Secrets, "src/lib.rs", &text);
        let confidences: Vec<f64> = found.iter().map(|o| o.confidence).collect();
        assert_eq!(confidences, [0.7]);
    }

    #[test]
    fn tokens_in_rust_source() {
        let text = format!("const GH: &str = \"{}\";\n", github());
        let want = [(
            "repo/crates/a/src/lib.rs",
            "secret.hardcoded",
            json!(["github_token"]),
        )];
        check(&Secrets, "crates/a/src/lib.rs", &text, &want);
    }

    #[test]
    fn nothing_from_decoys() {
        let decoys = [
            // A placeholder password; multi-byte text before an assignment.
            "password = \"changeme\"\n".to_owned(),
            "const ms = (s) => (s === null ? \"\u{2014}\" : s);\n".to_owned(),
            // Token-shaped but not tokens: too short, glued to a word, a public key.
            format!("id = \"{}{}\"\n", "AKIA", "SHORT123"),
            format!("id = \"x{}\"\n", aws()),
            format!("id = \"{}7\"\n", aws()),
            format!("{}{}\n", "ghp_", "abc"),
            format!(
                "{}{}\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n",
                PEM_BEGIN, " PUBLIC KEY-----"
            ),
            // A bare marker, as in documentation, a pattern or an empty block.
            format!("/// {}{}\n/// ```\n", PEM_BEGIN, " PRIVATE KEY-----"),
            format!(
                "{}{}\\n{}{}\\n",
                PEM_BEGIN, " RSA PRIVATE KEY-----", "-----END", " RSA"
            ),
            format!("{}{}\n", "sk_test_", "4eC39HqLyjWDarjtT1zdp7dc"),
        ];
        for text in &decoys {
            check(&Secrets, "config/app.toml", text, &[]);
        }
        // Real-looking secrets in test code, lock files, minified bundles and build output.
        let text = format!("key = \"{}\"\n", aws());
        for path in [
            "tests/fixtures/prod.env",
            "Cargo.lock",
            "web/app.min.js",
            "web/dist/a.js",
            "dist/x.js",
        ] {
            check(&Secrets, path, &text, &[]);
        }
    }
}
