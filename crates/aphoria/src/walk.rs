//! Finding and reading a repository's files: which files (git's list when there is one, so
//! ignored files are never read), what kind each is, which package and module it belongs to,
//! whether it is test code, and its parse — done once per file for every extractor.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::crate_tree;
use crate::error::AphoriaError;
use crate::observe::{FileKind, Input, SourceFile};

/// Files larger than this are not read (generated or vendored, not authored).
pub const FILE_BYTES_MAX: u64 = 1024 * 1024;

/// Directories never read: build output, installed packages and vendored third-party code
/// (its claims are its authors', not this repository's), whether git lists them or not.
const SKIPPED_DIRS: [&str; 5] = ["target", "node_modules", "dist", "vendor", "venv"];

/// Path segments that mark code that never runs in production.
const TEST_SEGMENTS: [&str; 7] = [
    "tests", "benches", "examples", "fuzz", "testdata", "fixtures", "test",
];

/// The kind of the file at `path` (relative), from its name and, for scripts, first line.
pub fn classify(path: &str, text: &str) -> FileKind {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match (name, ext) {
        ("Cargo.toml", _) => FileKind::CargoManifest,
        ("Cargo.lock" | "rust-toolchain.toml", _) => FileKind::Other,
        ("Dockerfile" | "Containerfile", _) | (_, "dockerfile") => FileKind::Dockerfile,
        (_, "rs") => FileKind::Rust,
        _ if path.starts_with(".aphoria/") => FileKind::Other,
        (_, "toml") => FileKind::Toml,
        (_, "json") => FileKind::Json,
        (_, "service" | "socket" | "timer") => FileKind::SystemdUnit,
        (_, "sh" | "bash") => FileKind::Shell,
        _ if is_shell_shebang(text) => FileKind::Shell,
        _ => FileKind::Other,
    }
}

fn is_shell_shebang(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("");
    first.starts_with("#!")
        && ["/sh", "/bash", "env sh", "env bash"]
            .iter()
            .any(|s| first.contains(s))
}

/// The module path of a Rust file inside its package: the part after the last `src/`, with
/// `lib.rs`, `main.rs` and `mod.rs` naming their directory (`""` for the crate root and for
/// files that are not Rust).
pub fn module_path(path: &str) -> String {
    let inner = match path.rfind("/src/") {
        Some(at) => &path[at + 5..],
        None => path.strip_prefix("src/").unwrap_or(path),
    };
    let Some(stem) = inner.strip_suffix(".rs") else {
        return String::new();
    };
    let mut parts: Vec<&str> = stem.split('/').collect();
    if matches!(parts.last(), Some(&"mod")) || parts.as_slice() == ["lib"] || parts == ["main"] {
        parts.pop();
    }
    parts.join("::")
}

/// True when `path` lies under a directory of test, bench, example, fuzz or fixture code, or
/// its name says it is a test (`x_test.json`, `test_x.py`, `x.test.ts`, `x.spec.js`) — test
/// data such as Wycheproof vectors holds sample keys and passwords on purpose.
pub fn is_test_path(path: &str) -> bool {
    let mut parts = path.split('/').rev();
    let name = parts.next().unwrap_or("");
    let stem = name.split('.').next().unwrap_or(name);
    let named_test = stem.ends_with("_test")
        || stem.ends_with("_tests")
        || stem.starts_with("test_")
        || name.contains(".test.")
        || name.contains(".spec.");
    named_test || parts.any(|d| TEST_SEGMENTS.contains(&d))
}

/// Deepest bracket nesting a Rust file may have to be parsed: syn recurses once per level, and
/// a generated file nested tens of thousands deep would overflow any stack. Written code stays
/// far below.
pub const NESTING_MAX: usize = 1000;

/// The deepest nesting of `(`, `[` and `{` in `text`, brackets in strings and comments
/// included (an overestimate, which only errs towards not parsing a pathological file).
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A file's parse, made once and lent to every extractor.
#[derive(Default)]
pub struct Parsed {
    pub rust: Option<syn::File>,
    pub toml: Option<toml::Table>,
    pub json: Option<Value>,
    /// Why a file of a parsed kind did not parse.
    pub error: Option<String>,
}

impl Parsed {
    pub fn of(file: &SourceFile) -> Parsed {
        let mut parsed = Parsed::default();
        match file.kind {
            FileKind::Rust if nesting(&file.text) > NESTING_MAX => {
                parsed.error = Some(format!("nested deeper than {NESTING_MAX} brackets"));
            }
            FileKind::Rust => match syn::parse_file(&file.text) {
                Ok(tree) => parsed.rust = Some(tree),
                Err(e) => parsed.error = Some(format!("line {}: {e}", e.span().start().line)),
            },
            FileKind::CargoManifest | FileKind::Toml => match file.text.parse::<toml::Table>() {
                Ok(table) => parsed.toml = Some(table),
                Err(e) => parsed.error = Some(e.message().to_owned()),
            },
            FileKind::Json => match serde_json::from_str(&file.text) {
                Ok(value) => parsed.json = Some(value),
                Err(e) => parsed.error = Some(e.to_string()),
            },
            _ => {}
        }
        parsed
    }

    pub fn input<'a>(&'a self, repo: &'a str, file: &'a SourceFile) -> Input<'a> {
        Input {
            repo,
            file,
            rust: self.rust.as_ref(),
            toml: self.toml.as_ref(),
            json: self.json.as_ref(),
        }
    }
}

/// A repository's files as read, and the files of a kind Aphoria parses that were too large
/// to read (said in the scan's report: claims about them would otherwise go missing without
/// a word).
pub struct RepoFiles {
    pub files: Vec<SourceFile>,
    pub too_large: Vec<String>,
}

/// Every text file of the repository at `root`, sorted by path, with its package.
pub fn read_repo(root: &Path) -> Result<RepoFiles, AphoriaError> {
    let paths = match git_files(root) {
        Some(paths) => paths,
        None => walk_dir(root)?,
    };
    let manifests = manifests(root, &paths);
    let mut files = Vec::new();
    let mut too_large = Vec::new();
    // Aphoria's own files are what it writes, not what the repository says.
    for rel in paths.into_iter().filter(|p| !p.starts_with(".aphoria/")) {
        let full = root.join(&rel);
        let Ok(meta) = std::fs::metadata(&full) else {
            continue; // listed by git but deleted in the work tree
        };
        if !meta.is_file() {
            continue;
        }
        if meta.len() > FILE_BYTES_MAX {
            if classify(&rel, "") != FileKind::Other {
                too_large.push(rel);
            }
            continue;
        }
        let bytes = std::fs::read(&full).map_err(|e| AphoriaError::io(&full, e))?;
        let Ok(text) = String::from_utf8(bytes) else {
            continue; // binary
        };
        let module =
            crate_tree::module_under(&rel, &manifests.roots).unwrap_or_else(|| module_path(&rel));
        files.push(SourceFile {
            kind: classify(&rel, &text),
            package: package_of(&manifests.packages, &rel),
            module,
            test_only: is_test_path(&rel),
            path: rel,
            text,
        });
    }
    mark_cfg_test_modules(&mut files);
    Ok(RepoFiles { files, too_large })
}

/// Marks as test code the files of modules declared out of line under `#[cfg(test)]`, and
/// everything below them.
fn mark_cfg_test_modules(files: &mut [SourceFile]) {
    let children: Vec<String> = files
        .iter()
        .filter(|f| f.kind == FileKind::Rust)
        .flat_map(|f| crate_tree::cfg_test_children(&f.path, &f.text))
        .collect();
    for file in files.iter_mut() {
        let under = |c: &String| match c.ends_with('/') {
            true => file.path.starts_with(c.as_str()),
            false => &file.path == c,
        };
        if children.iter().any(under) {
            file.test_only = true;
        }
    }
}

/// `git ls-files` (tracked and untracked, not ignored), or `None` outside a git work tree.
fn git_files(root: &Path) -> Option<Vec<String>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let mut paths: Vec<String> = text
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    paths.retain(|p| !in_skipped_dir(p));
    paths.sort();
    paths.dedup();
    Some(paths)
}

/// Whether `path` (relative, `/`-separated) lies under a directory named in `SKIPPED_DIRS`.
fn in_skipped_dir(path: &str) -> bool {
    let mut dirs = path.split('/');
    dirs.next_back();
    dirs.any(|d| SKIPPED_DIRS.contains(&d))
}

fn walk_dir(root: &Path) -> Result<Vec<String>, AphoriaError> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let entries = std::fs::read_dir(&dir).map_err(|e| AphoriaError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| AphoriaError::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = rel.join(&name);
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_str()) {
                    stack.push(child);
                }
            } else if kind.is_file() {
                out.push(child.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What the manifests say: package directories (relative, `""` for the root) with their
/// names, from every `Cargo.toml` with a `[package]` and every `package.json` with a `name`;
/// and the crate roots `Cargo.toml` files name (`crate_tree::source_roots`).
#[derive(Debug, Default)]
struct Manifests {
    packages: BTreeMap<String, String>,
    roots: Vec<String>,
}

fn manifests(root: &Path, paths: &[String]) -> Manifests {
    let mut found = Manifests::default();
    for rel in paths {
        let (dir, name) = match rel.rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None => ("", rel.as_str()),
        };
        if name != "Cargo.toml" && name != "package.json" {
            continue;
        }
        let path = root.join(rel);
        // Read only within the cap every file is read with (`read_repo` reports it).
        if std::fs::metadata(&path).map_or(true, |m| m.len() > FILE_BYTES_MAX) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let package = if name == "Cargo.toml" {
            let Ok(table) = text.parse::<toml::Table>() else {
                continue;
            };
            found.roots.extend(crate_tree::source_roots(dir, &table));
            table
                .get("package")
                .and_then(|p| p.get("name")?.as_str().map(str::to_owned))
        } else {
            serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("name")?.as_str().map(str::to_owned))
        };
        if let Some(package) = package {
            found.packages.insert(dir.to_owned(), package);
        }
    }
    found
}

/// The package of the nearest package directory above `rel`.
fn package_of(packages: &BTreeMap<String, String>, rel: &str) -> Option<String> {
    let mut dir = rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    loop {
        if let Some(name) = packages.get(dir) {
            return Some(name.clone());
        }
        if dir.is_empty() {
            return None;
        }
        dir = dir.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, kind: FileKind, module: &str, test_only: bool) {
        assert_eq!(classify(path, ""), kind, "kind of {path}");
        assert_eq!(module_path(path), module, "module of {path}");
        assert_eq!(is_test_path(path), test_only, "test_only of {path}");
    }

    #[test]
    fn skipped_dirs_are_matched_by_whole_segment() {
        let check = |path: &str, skipped: bool| {
            assert_eq!(in_skipped_dir(path), skipped, "{path}");
        };
        check("vendor/fjall/src/lib.rs", true);
        check("crates/a/target/debug/build.rs", true);
        check("web/node_modules/x/index.js", true);
        check("vendor", false);
        check("crates/vendored/src/lib.rs", false);
        check("src/vendor.rs", false);
        check("crates/a/src/lib.rs", false);
    }

    #[test]
    fn paths_decide_kind_module_and_test_code() {
        check("src/lib.rs", FileKind::Rust, "", false);
        check("crates/a/src/main.rs", FileKind::Rust, "", false);
        check("crates/a/src/store/mod.rs", FileKind::Rust, "store", false);
        check(
            "crates/a/src/store/writer.rs",
            FileKind::Rust,
            "store::writer",
            false,
        );
        check(
            "crates/a/tests/it/main.rs",
            FileKind::Rust,
            "crates::a::tests::it::main",
            true,
        );
        check("crates/a/Cargo.toml", FileKind::CargoManifest, "", false);
        check("Cargo.lock", FileKind::Other, "", false);
        check("deploy/x.toml", FileKind::Toml, "", false);
        check(".aphoria/claims.toml", FileKind::Other, "", false);
        check("deploy/stemedb.service", FileKind::SystemdUnit, "", false);
        check("Dockerfile", FileKind::Dockerfile, "", false);
        check("scripts/x.sh", FileKind::Shell, "", false);
        check("examples/x.rs", FileKind::Rust, "examples::x", true);
        check("src/data/ecdsa_test.json", FileKind::Json, "", true);
        check("src/client.test.ts", FileKind::Other, "", true);
        check("src/latest.rs", FileKind::Rust, "latest", false);
        assert_eq!(
            classify("bin/run", "#!/usr/bin/env bash\n"),
            FileKind::Shell
        );
        assert_eq!(
            classify("bin/run", "#!/usr/bin/env python3\n"),
            FileKind::Other
        );
    }
}

#[cfg(test)]
mod nesting_tests {
    use super::*;

    #[test]
    fn a_pathologically_nested_file_is_reported_not_parsed() {
        let deep = format!("fn f() {{ {}{} }}", "(".repeat(30_000), ")".repeat(30_000));
        let file = SourceFile {
            path: "src/deep.rs".into(),
            text: deep,
            kind: FileKind::Rust,
            package: None,
            module: "deep".into(),
            test_only: false,
        };
        let parsed = Parsed::of(&file);
        assert!(parsed.rust.is_none());
        assert_eq!(
            parsed.error.as_deref(),
            Some("nested deeper than 1000 brackets")
        );
        assert_eq!(nesting("fn f() { g([1, (2)]) }"), 4);
    }
}
