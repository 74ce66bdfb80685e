//! One pass over a repository: every file read and parsed once, every extractor run over it,
//! repeats dropped (an extractor saying the same fact twice is a bug, counted, never stored),
//! and counts per extractor for the report.
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::error::AphoriaError;
use crate::observe::{Extractor, Observation, SourceFile};
use crate::walk::{self, Parsed};

#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    #[serde(skip)]
    pub observations: Vec<Observation>,
    pub files: usize,
    /// Files of a parsed kind that did not parse, or were too large to read: (path, why).
    /// Nothing is read from them.
    pub unparsed: Vec<(String, String)>,
    /// Observations dropped because their extractor already said the same (subject,
    /// predicate) elsewhere in the scan.
    pub repeats_dropped: usize,
    pub per_extractor: BTreeMap<String, usize>,
    pub elapsed_ms: u64,
}

/// Scans the repository at `root`, whose subjects start with `repo`.
pub fn scan(
    root: &Path,
    repo: &str,
    extractors: &[Box<dyn Extractor>],
) -> Result<ScanReport, AphoriaError> {
    let started = Instant::now();
    let walk::RepoFiles { files, too_large } = walk::read_repo(root)?;
    // syn's parser recurses with the nesting of the source; a deeply nested file (generated
    // code) must not overflow the caller's stack, so parsing runs on a thread with room.
    let mut report = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("aphoria-scan".into())
            .stack_size(SCAN_STACK_BYTES)
            .spawn_scoped(scope, || scan_files(&files, repo, extractors))
            .map_err(|e| AphoriaError::io(root, e))?
            .join()
            .map_err(|_| AphoriaError::bad_file(root, "an extractor failed on a file"))
    })?;
    let why = format!("larger than {} bytes, not read", walk::FILE_BYTES_MAX);
    report
        .unparsed
        .extend(too_large.into_iter().map(|path| (path, why.clone())));
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// The scanning thread's stack: syn needs some per level of nesting.
const SCAN_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Runs every extractor over `files`.
pub fn scan_files(
    files: &[SourceFile],
    repo: &str,
    extractors: &[Box<dyn Extractor>],
) -> ScanReport {
    let mut report = ScanReport {
        files: files.len(),
        per_extractor: extractors
            .iter()
            .map(|e| (e.name().to_owned(), 0))
            .collect(),
        ..ScanReport::default()
    };
    let mut seen: HashSet<(&'static str, String, String)> = HashSet::new();
    let mut found = Vec::new();
    for file in files {
        let parsed = Parsed::of(file);
        if let Some(why) = &parsed.error {
            report.unparsed.push((file.path.clone(), why.clone()));
        }
        let input = parsed.input(repo, file);
        for extractor in extractors {
            found.clear();
            extractor.extract(&input, &mut found);
            for mut o in found.drain(..) {
                o.extractor = extractor.name();
                let key = (o.extractor, o.subject.clone(), o.predicate.clone());
                if !seen.insert(key) {
                    report.repeats_dropped += 1;
                    continue;
                }
                *report
                    .per_extractor
                    .entry(o.extractor.to_owned())
                    .or_default() += 1;
                report.observations.push(o);
            }
        }
    }
    report
}
