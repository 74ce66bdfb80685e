//! What an extractor sees and what it says: [`SourceFile`], [`Input`], [`Observation`] and the
//! [`Extractor`] trait every extractor implements.
//!
//! Invariants every extractor keeps (checked by `tests/extractors.rs` over the fixtures and by
//! the scanner, which drops and counts a repeat):
//! - an extractor emits at most one observation per (subject, predicate): a second finding of
//!   the same fact in the same place is aggregated (a count, a list of lines);
//! - it emits only predicates it declares in [`Extractor::predicates`];
//! - it reports nothing from test code (files under `tests/`, `benches/`, `examples/`, items
//!   under `#[cfg(test)]` or `#[test]`) unless the predicate is about tests.
use serde_json::Value;

/// The kind of a file, decided once by the walker from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Rust,
    /// `Cargo.toml`.
    CargoManifest,
    /// Any other `.toml` except `Cargo.lock`, `rust-toolchain.toml` and `.aphoria/` files.
    Toml,
    /// `package.json`, `tsconfig.json` and other `.json` files.
    Json,
    /// `Dockerfile`, `Containerfile`, `*.dockerfile`.
    Dockerfile,
    /// systemd units: `.service`, `.socket`, `.timer`.
    SystemdUnit,
    /// `.sh` files and files starting with a `#!` naming a shell.
    Shell,
    /// Anything else read as text (secrets are looked for in every text file).
    Other,
}

/// One file of the repository, as read from disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Relative to the repository root, `/`-separated.
    pub path: String,
    pub text: String,
    pub kind: FileKind,
    /// The package the file belongs to (nearest `Cargo.toml` or `package.json` above it).
    pub package: Option<String>,
    /// For Rust files: the module path inside the package (`""` for a crate root,
    /// `store::writer` for `src/store/writer.rs`).
    pub module: String,
    /// Under `tests/`, `benches/`, `examples/` or `fuzz/`: code that never runs in production.
    pub test_only: bool,
}

/// What an extractor is given: the file and, when the file parsed, its syntax tree.
pub struct Input<'a> {
    /// The repository's name: the first segment of every subject.
    pub repo: &'a str,
    pub file: &'a SourceFile,
    /// Set for `FileKind::Rust` files that parsed.
    pub rust: Option<&'a syn::File>,
    /// Set for `FileKind::CargoManifest` and `FileKind::Toml` files that parsed.
    pub toml: Option<&'a toml::Table>,
    /// Set for `FileKind::Json` files that parsed.
    pub json: Option<&'a Value>,
}

impl Input<'_> {
    /// The subject of a Rust item: `repo/package/module::item` (`repo/package::item` at the
    /// crate root). `item` is `fn_name`, `Type::method`, `CONST_NAME` or `""` for the module.
    pub fn rust_subject(&self, item: &str) -> String {
        let package = self.file.package.as_deref().unwrap_or("_");
        let module = &self.file.module;
        match (module.is_empty(), item.is_empty()) {
            (true, true) => format!("{}/{package}", self.repo),
            (true, false) => format!("{}/{package}::{item}", self.repo),
            (false, true) => format!("{}/{package}/{module}", self.repo),
            (false, false) => format!("{}/{package}/{module}::{item}", self.repo),
        }
    }

    /// The subject of a key in a configuration file: `repo/path::key` (`repo/path` for the
    /// file itself). Keys, not line numbers, so a subject survives edits around it; the line
    /// goes in the observation.
    pub fn file_subject(&self, key: &str) -> String {
        if key.is_empty() {
            format!("{}/{}", self.repo, self.file.path)
        } else {
            format!("{}/{}::{key}", self.repo, self.file.path)
        }
    }
}

/// One fact an extractor read from the code, before it is signed.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub subject: String,
    /// From the vocabulary in docs/aphoria.md.
    pub predicate: String,
    pub value: Value,
    /// In [0, 1]: 1 for what a parser read outright, lower for a heuristic.
    pub confidence: f64,
    /// Where it was read: a path relative to the repository root, and a 1-based line.
    pub path: String,
    pub line: usize,
    /// The extractor's name; set by the scanner.
    pub extractor: &'static str,
}

impl Observation {
    /// An observation with confidence 1.
    pub fn new(
        subject: impl Into<String>,
        predicate: &str,
        value: Value,
        path: &str,
        line: usize,
    ) -> Self {
        Self {
            subject: subject.into(),
            predicate: predicate.to_owned(),
            value,
            confidence: 1.0,
            path: path.to_owned(),
            line,
            extractor: "",
        }
    }

    pub fn confidence(mut self, confidence: f64) -> Self {
        self.confidence = confidence;
        self
    }
}

/// Reads one kind of fact from files. Implementations are stateless; the scanner calls
/// `extract` once per file, with every file of the repository.
pub trait Extractor: Send + Sync {
    /// Short and stable: the extractor's agent is `aphoria/extractor/<name>`.
    fn name(&self) -> &'static str;
    /// Every predicate it may emit: the claims it can verify (`aphoria verify map`).
    fn predicates(&self) -> &'static [&'static str];
    /// One sentence for `aphoria extractors`.
    fn describe(&self) -> &'static str;
    /// Appends what it finds in `input` to `out`. Must not fail: a file it cannot read is
    /// simply a file it has nothing to say about.
    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>);
}

/// The 1-based line of a syn span's start.
pub fn line_of(span: proc_macro2::Span) -> usize {
    span.start().line
}

/// The 1-based line on which byte `offset` of `text` lies.
pub fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
