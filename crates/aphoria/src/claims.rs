//! Authored claims: the `.aphoria/claims.toml` format, its rules, and the comparison of a
//! claim's expectation with an observed value.
//!
//! ```toml
//! repo = "stemedb"                    # optional: the first segment of every subject
//!
//! [[claim]]
//! id = "no-unsafe"                    # unique; lowercase letters, digits, - _ .
//! category = "security"
//! subject = "stemedb/**"              # a pattern (crate::pattern)
//! predicate = "rust.unsafe"
//! comparison = "absent"               # equals | at_least | at_most | one_of | absent | present
//! # expected = 0                      # required except for absent and present
//! invariant = "No unsafe code anywhere."
//! consequence = "Memory safety would rest on review."
//! evidence = "Cargo.toml: [workspace.lints.rust] unsafe_code = forbid"
//! status = "active"                   # active | deprecated | superseded (default active)
//! superseded_by = "other-id"          # set by `aphoria claims supersede`
//! ```
use std::cmp::Ordering;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AphoriaError;

/// How a claim's `expected` is compared with what was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Equals,
    AtLeast,
    AtMost,
    OneOf,
    /// Nothing matching may be observed.
    Absent,
    /// Something matching must be observed.
    Present,
}

impl Comparison {
    pub const ALL: [Comparison; 6] = [
        Comparison::Equals,
        Comparison::AtLeast,
        Comparison::AtMost,
        Comparison::OneOf,
        Comparison::Absent,
        Comparison::Present,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Equals => "equals",
            Comparison::AtLeast => "at_least",
            Comparison::AtMost => "at_most",
            Comparison::OneOf => "one_of",
            Comparison::Absent => "absent",
            Comparison::Present => "present",
        }
    }

    pub fn parse(text: &str) -> Option<Comparison> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    fn needs_expected(self) -> bool {
        !matches!(self, Comparison::Absent | Comparison::Present)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Active,
    Deprecated,
    Superseded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Deprecated => "deprecated",
            Status::Superseded => "superseded",
        }
    }
}

/// One claim as written in `claims.toml` (and, signed, as an assertion's value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub id: String,
    pub category: String,
    pub subject: String,
    pub predicate: String,
    pub comparison: Comparison,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    pub invariant: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consequence: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evidence: String,
    #[serde(default, skip_serializing_if = "is_active")]
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

fn is_active(status: &Status) -> bool {
    *status == Status::Active
}

impl Claim {
    /// Refuses a claim that could never be judged, naming the field.
    pub fn check(&self) -> Result<(), AphoriaError> {
        let bad = |message: String| Err(AphoriaError::bad_claim(&self.id, message));
        if !valid_id(&self.id) {
            return bad("id must be 1 to 64 of a-z 0-9 - _ . ".into());
        }
        for (name, text) in [
            ("category", &self.category),
            ("subject", &self.subject),
            ("predicate", &self.predicate),
            ("invariant", &self.invariant),
        ] {
            if text.trim().is_empty() {
                return bad(format!("{name} is empty"));
            }
        }
        match (&self.expected, self.comparison) {
            (None, c) if c.needs_expected() => {
                bad(format!("comparison {} needs `expected`", c.as_str()))
            }
            (Some(_), c) if !c.needs_expected() => {
                bad(format!("comparison {} takes no `expected`", c.as_str()))
            }
            (Some(v), _) if has_null(v) => {
                bad("`expected` holds a null, which TOML cannot write".into())
            }
            (Some(v), Comparison::OneOf) if !v.is_array() => {
                bad("comparison one_of needs `expected` to be a list".into())
            }
            (Some(v), Comparison::AtLeast | Comparison::AtMost) if ordered(v).is_none() => {
                bad("at_least and at_most need a number or a dotted version such as \"1.2\"".into())
            }
            _ => Ok(()),
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    /// Whether `observed` meets the expectation. An observed list meets it when every
    /// element does (a list of bind scopes is loopback only if each one is), except under
    /// `equals` with a list expected, which compares the lists whole.
    pub fn satisfied_by(&self, observed: &Value) -> bool {
        let expected = self.expected.as_ref().unwrap_or(&Value::Null);
        match (self.comparison, observed) {
            (Comparison::Absent, _) => false,
            (Comparison::Present, _) => true,
            (Comparison::Equals, Value::Array(_)) if expected.is_array() => {
                same(observed, expected)
            }
            (c, Value::Array(items)) => items.iter().all(|v| compare_one(c, expected, v)),
            (c, v) => compare_one(c, expected, v),
        }
    }

    /// Whether every value this claim accepts is one `rule` accepts too: a claim as strict as
    /// a pack's rule, or stricter, does not contradict it (`equals "loopback"` under a rule
    /// `one_of ["loopback"]`; `at_least "1.3"` under `at_least "1.2"`).
    pub fn admits_no_more_than(&self, rule: &Claim) -> bool {
        let mine = self.expected.as_ref().unwrap_or(&Value::Null);
        let theirs = rule.expected.as_ref().unwrap_or(&Value::Null);
        match (self.comparison, rule.comparison) {
            (Comparison::Equals, _) => rule.satisfied_by(mine),
            (Comparison::OneOf, _) => mine
                .as_array()
                .is_some_and(|list| list.iter().all(|v| rule.satisfied_by(v))),
            (Comparison::AtLeast, Comparison::AtLeast) => {
                order(mine, theirs).is_some_and(|o| o != Ordering::Less)
            }
            (Comparison::AtMost, Comparison::AtMost) => {
                order(mine, theirs).is_some_and(|o| o != Ordering::Greater)
            }
            (Comparison::Absent, Comparison::Absent) => true,
            (Comparison::Present, Comparison::Present) => true,
            _ => false,
        }
    }

    /// The expectation in words: `equals 81`, `absent`.
    pub fn expectation(&self) -> String {
        match &self.expected {
            Some(v) => format!("{} {v}", self.comparison.as_str()),
            None => self.comparison.as_str().to_owned(),
        }
    }
}

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(items) => items.iter().any(has_null),
        Value::Object(map) => map.values().any(has_null),
        _ => false,
    }
}

/// A claim id, pack name or author name: 1 to 64 of `a-z 0-9 - _ .`, not starting with a dot
/// (so it is safe as a file name: no `/`, no `..`).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

fn compare_one(c: Comparison, expected: &Value, observed: &Value) -> bool {
    match c {
        Comparison::Equals => same(observed, expected),
        Comparison::OneOf => expected
            .as_array()
            .is_some_and(|list| list.iter().any(|e| same(observed, e))),
        Comparison::AtLeast => order(observed, expected).is_some_and(|o| o != Ordering::Less),
        Comparison::AtMost => order(observed, expected).is_some_and(|o| o != Ordering::Greater),
        Comparison::Absent => false,
        Comparison::Present => true,
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

/// A value on an order: a number, or a dotted version whose parts are numbers. A version may
/// carry a requirement operator as Cargo and npm write them (`^1.2`, `~1.2`, `=1.0.3`,
/// `>=1`: the version it names is compared) and a pre-release (`1.2.3-beta`, which comes
/// before `1.2.3`); build metadata (`+x`) is ignored.
#[derive(Debug, PartialEq, PartialOrd)]
enum Ordered {
    Number(f64),
    Version(Vec<u64>, bool),
}

fn ordered(v: &Value) -> Option<Ordered> {
    match v {
        Value::Number(n) => n.as_f64().map(Ordered::Number),
        Value::String(s) => {
            let trimmed = s
                .trim()
                .trim_start_matches(['^', '~', '=', '>', '<', ' ', 'v', 'V']);
            let core_and_pre = trimmed.split('+').next().unwrap_or(trimmed);
            let (core, pre) = match core_and_pre.split_once('-') {
                Some((core, _)) => (core, true),
                None => (core_and_pre, false),
            };
            let parts: Option<Vec<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
            parts
                .filter(|p| !p.is_empty())
                .map(|p| Ordered::Version(p, pre))
        }
        _ => None,
    }
}

fn order(observed: &Value, expected: &Value) -> Option<Ordering> {
    match (ordered(observed)?, ordered(expected)?) {
        (Ordered::Number(a), Ordered::Number(b)) => a.partial_cmp(&b),
        (Ordered::Version(a, pa), Ordered::Version(b, pb)) => Some(version_order(&a, pa, &b, pb)),
        // "1.2" against 1.2: read the number as a version.
        (Ordered::Version(a, pa), Ordered::Number(b)) => {
            number_version(b).map(|b| version_order(&a, pa, &b, false))
        }
        (Ordered::Number(a), Ordered::Version(b, pb)) => {
            number_version(a).map(|a| version_order(&a, false, &b, pb))
        }
    }
}

/// Core first; on an equal core a pre-release comes first.
fn version_order(a: &[u64], a_pre: bool, b: &[u64], b_pre: bool) -> Ordering {
    version_cmp(a, b).then(b_pre.cmp(&a_pre))
}

fn number_version(n: f64) -> Option<Vec<u64>> {
    match ordered(&Value::String(n.to_string()))? {
        Ordered::Version(v, _) => Some(v),
        Ordered::Number(_) => None,
    }
}

/// Versions compare part by part, missing parts counting as 0 (`1.2` = `1.2.0`).
fn version_cmp(a: &[u64], b: &[u64]) -> Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| a.get(i).unwrap_or(&0).cmp(b.get(i).unwrap_or(&0)))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// The claims file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimsFile {
    /// The repository's name, the first segment of every subject (so subjects do not depend
    /// on the directory a clone sits in); `--repo` overrides it, the directory's name is the
    /// default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, rename = "claim")]
    pub claims: Vec<Claim>,
}

impl ClaimsFile {
    /// Reads and checks `path`; a missing file is an empty set of claims.
    pub fn load(path: &Path) -> Result<ClaimsFile, AphoriaError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(AphoriaError::io(path, e)),
        };
        Self::parse(&text).map_err(|e| match e {
            AphoriaError::BadFile { message, .. } => AphoriaError::bad_file(path, message),
            other => other,
        })
    }

    pub fn parse(text: &str) -> Result<ClaimsFile, AphoriaError> {
        let file: ClaimsFile = toml::from_str(text)
            .map_err(|e| AphoriaError::bad_file(Path::new("claims.toml"), e.to_string()))?;
        file.check()?;
        Ok(file)
    }

    fn check(&self) -> Result<(), AphoriaError> {
        let mut seen = std::collections::HashSet::new();
        for claim in &self.claims {
            claim.check()?;
            if !seen.insert(claim.id.as_str()) {
                return Err(AphoriaError::bad_claim(&claim.id, "id used twice"));
            }
        }
        Ok(())
    }

    /// The file's text, checked: what `write` puts on disk. (Comments in a hand-written
    /// file are not kept: the commands write the claims alone.)
    pub fn render(&self) -> Result<String, AphoriaError> {
        self.check()?;
        toml::to_string_pretty(self).map_err(|e| {
            AphoriaError::bad_file(Path::new("claims.toml"), format!("cannot write: {e}"))
        })
    }

    /// Writes `text` whole: to a temporary file of this process, synced, renamed over
    /// `path`, and the directory synced, so a crash leaves the old file or the new one.
    pub fn write(path: &Path, text: &str) -> Result<(), AphoriaError> {
        use std::io::Write;
        let tmp = path.with_extension(format!("toml.{}.tmp", std::process::id()));
        let mut file = std::fs::File::create(&tmp).map_err(|e| AphoriaError::io(&tmp, e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| AphoriaError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| AphoriaError::io(path, e))?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| AphoriaError::io(dir, e))?;
        }
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Claim> {
        self.claims.iter().find(|c| c.id == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Result<&mut Claim, AphoriaError> {
        self.claims
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| AphoriaError::UnknownClaim(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(comparison: &str, expected: Option<Value>) -> Claim {
        Claim {
            id: "c".into(),
            category: "security".into(),
            subject: "repo/**".into(),
            predicate: "p".into(),
            comparison: Comparison::parse(comparison).unwrap_or(Comparison::Equals),
            expected,
            invariant: "i".into(),
            consequence: String::new(),
            evidence: String::new(),
            status: Status::Active,
            superseded_by: None,
        }
    }

    fn check(comparison: &str, expected: Value, observed: Value, want: bool) {
        let c = claim(comparison, Some(expected.clone()));
        assert_eq!(
            c.satisfied_by(&observed),
            want,
            "{comparison} {expected} against {observed}"
        );
    }

    #[test]
    fn comparisons() {
        check("equals", json!(81), json!(81.0), true);
        check("equals", json!("loopback"), json!("other"), false);
        check(
            "equals",
            json!("loopback"),
            json!(["loopback", "loopback"]),
            true,
        );
        check("equals", json!(["a", "b"]), json!(["a", "b"]), true);
        check("equals", json!(["a", "b"]), json!(["a"]), false);
        check("one_of", json!(["1.2", "1.3"]), json!(["1.3"]), true);
        check("one_of", json!(["1.3"]), json!(["1.2", "1.3"]), false);
        check("at_least", json!("1.2"), json!("1.3"), true);
        check("at_least", json!("1.2"), json!("1.10"), true);
        check("at_least", json!("1.2"), json!("1.1"), false);
        check("at_least", json!(1.2), json!("1.2.0"), true);
        check("at_most", json!(30000), json!(60000), false);
        check("at_most", json!(30000), json!(1000), true);
        check("at_most", json!(30000), json!("fast"), false);
        check("at_least", json!("1.0"), json!("^1.2"), true);
        check("at_least", json!("1.3"), json!("=1.2.9"), false);
        check("at_least", json!("1.2.3"), json!("1.2.3-beta"), false);
        check("at_least", json!("1.2.3-beta"), json!("1.2.3"), true);
        check("at_most", json!("2"), json!(">=1.5"), true);
    }

    #[test]
    fn stricter_claims_do_not_contradict_a_rule() {
        let admits = |mine: Claim, rule: Claim, want: bool| {
            let (m, r) = (mine.expectation(), rule.expectation());
            assert_eq!(mine.admits_no_more_than(&rule), want, "{m} under {r}");
        };
        let c = claim;
        let v = |x: Value| Some(x);
        admits(
            c("equals", v(json!("lo"))),
            c("one_of", v(json!(["lo"]))),
            true,
        );
        admits(c("equals", v(json!(1))), c("equals", v(json!(1.0))), true);
        admits(
            c("at_least", v(json!("1.3"))),
            c("at_least", v(json!("1.2"))),
            true,
        );
        admits(
            c("at_least", v(json!("1.2"))),
            c("at_least", v(json!("1.3"))),
            false,
        );
        admits(c("present", None), c("equals", v(json!("lo"))), false);
        admits(
            c("one_of", v(json!(["a", "b"]))),
            c("one_of", v(json!(["a"]))),
            false,
        );
        admits(c("absent", None), c("absent", None), true);
    }

    #[test]
    fn claims_that_cannot_be_judged_are_refused() {
        let bad = |c: Claim, want: &str| {
            let got = c.check().map_err(|e| e.to_string());
            assert!(
                matches!(&got, Err(e) if e.contains(want)),
                "{got:?} lacks {want}"
            );
        };
        bad(claim("equals", None), "needs `expected`");
        bad(claim("absent", Some(json!(1))), "takes no `expected`");
        bad(claim("one_of", Some(json!(1))), "list");
        bad(
            claim("at_least", Some(json!("fast"))),
            "number or a dotted version",
        );
        bad(claim("equals", Some(Value::Null)), "null");
        bad(claim("one_of", Some(json!([1, null]))), "null");
        let mut c = claim("present", None);
        c.id = "Has Space".into();
        bad(c, "id must be");
        assert!(claim("present", None).check().is_ok());
    }

    #[test]
    fn the_file_round_trips_and_refuses_repeats_and_unknown_fields() {
        let text = r#"
[[claim]]
id = "a"
category = "security"
subject = "repo/**"
predicate = "rust.unsafe"
comparison = "absent"
invariant = "No unsafe code."

[[claim]]
id = "b"
category = "ops"
subject = "repo/**"
predicate = "net.bind_ip_scope"
comparison = "equals"
expected = "loopback"
invariant = "Loopback by default."
"#;
        let file = ClaimsFile::parse(text).unwrap_or_default();
        assert_eq!(file.claims.len(), 2);
        let again = ClaimsFile::parse(&toml::to_string_pretty(&file).unwrap_or_default());
        assert_eq!(again.ok(), Some(file));
        let twice = format!(
            "{text}\n{}",
            &text[text.find("[[claim]]\nid = \"b\"").unwrap_or(0)..]
        );
        assert!(ClaimsFile::parse(&twice).is_err());
        assert!(ClaimsFile::parse("[[claim]]\nid = \"x\"\nwhat = 1\n").is_err());
    }
}
