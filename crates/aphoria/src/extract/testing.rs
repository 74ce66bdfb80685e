//! The one check helper of the extractor tables: run one extractor over one small fixture
//! file and compare everything it found with what it must find — the list is exact, so an
//! extra observation (noise) fails the test as surely as a missing one.
use serde_json::Value;

use crate::observe::{Extractor, Observation, SourceFile};
use crate::walk;

/// Runs `extractor` over a file at `path` (relative, deciding its kind, module and whether
/// it is test code) holding `text`, in package `demo` of repository `repo`.
pub fn run(extractor: &dyn Extractor, path: &str, text: &str) -> Vec<Observation> {
    let file = SourceFile {
        path: path.to_owned(),
        text: text.to_owned(),
        kind: walk::classify(path, text),
        package: Some("demo".to_owned()),
        module: walk::module_path(path),
        test_only: walk::is_test_path(path),
    };
    let parsed = walk::Parsed::of(&file);
    let input = parsed.input("repo", &file);
    let mut out = Vec::new();
    extractor.extract(&input, &mut out);
    for o in &out {
        assert!(
            extractor.predicates().contains(&o.predicate.as_str()),
            "{} emitted undeclared predicate {}",
            extractor.name(),
            o.predicate
        );
    }
    out
}

/// Checks that `extractor` finds exactly `want` — (subject, predicate, value) — in the file,
/// in any order.
pub fn check(extractor: &dyn Extractor, path: &str, text: &str, want: &[(&str, &str, Value)]) {
    let mut got: Vec<(String, String, Value)> = run(extractor, path, text)
        .into_iter()
        .map(|o| (o.subject, o.predicate, o.value))
        .collect();
    let mut want: Vec<(String, String, Value)> = want
        .iter()
        .map(|(s, p, v)| (s.to_string(), p.to_string(), v.clone()))
        .collect();
    got.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(
        got,
        want,
        "{} over {path}: got (left) differs from want (right)",
        extractor.name()
    );
}
