//! Where things are: a repository's `.aphoria/` directory, the user's agent keys, the
//! repository's name, and the commit a scan reads.
//!
//! ```text
//! .aphoria/claims.toml      the claims, as authors write them              (in git)
//! .aphoria/history.jsonl    every claim change, signed, one record a line  (in git; merge=union)
//! .aphoria/packs/*.jsonl    installed trust packs (audit exports)          (in git)
//! .aphoria/db/              the embedded StemeDB                            (ignored)
//! .aphoria/keys/            the embedded store's own key                   (ignored)
//! ~/.config/aphoria/keys/   the user's agent keys, mode 0600 ($APHORIA_KEYS) (never in a repo)
//! ```
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::claims::ClaimsFile;
use crate::error::AphoriaError;
use crate::record::{self, Keys, Provenance};
use crate::store::Embedded;

const IGNORED: &str = "# Local to this checkout: the embedded store and its key.\nkeys/\ndb/\n";
/// Branches that each append to the history merge by keeping both sides' lines.
const ATTRIBUTES: &str = "history.jsonl merge=union\n";

/// The paths of `.aphoria/` under a repository root.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_owned(),
            dir: root.join(".aphoria"),
        }
    }
    pub fn claims(&self) -> PathBuf {
        self.dir.join("claims.toml")
    }
    pub fn history(&self) -> PathBuf {
        self.dir.join("history.jsonl")
    }
    pub fn packs(&self) -> PathBuf {
        self.dir.join("packs")
    }
    pub fn db(&self) -> PathBuf {
        self.dir.join("db")
    }

    /// The user's agent keys: `$APHORIA_KEYS`, else `~/.config/aphoria/keys`. They belong to
    /// the person, not the checkout, so one author signs as one key in every clone (a key per
    /// checkout would make a second clone's signature clash with the history's).
    pub fn keys(&self) -> Keys {
        let dir = std::env::var_os("APHORIA_KEYS")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/aphoria/keys"))
            })
            .unwrap_or_else(|| self.dir.join("keys"));
        Keys::new(&dir)
    }

    /// Makes `.aphoria/` with its `.gitignore` and `.gitattributes` when missing.
    pub fn init(&self) -> Result<(), AphoriaError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| AphoriaError::io(&self.dir, e))?;
        for (name, text) in [(".gitignore", IGNORED), (".gitattributes", ATTRIBUTES)] {
            let path = self.dir.join(name);
            if !path.exists() {
                std::fs::write(&path, text).map_err(|e| AphoriaError::io(&path, e))?;
            }
        }
        Ok(())
    }
}

/// The repository's name, the first segment of every subject: `flag` (`--repo`), else `repo`
/// in the claims file, else the root directory's name.
pub fn repo_name(root: &Path, flag: Option<&str>) -> String {
    if let Some(name) = flag {
        return name.to_owned();
    }
    let named = ClaimsFile::load(&Layout::new(root).claims())
        .ok()
        .and_then(|f| f.repo);
    named.unwrap_or_else(|| dir_name(root))
}

/// The name of the directory `root` (made absolute first: `.` has none of its own).
pub fn dir_name(root: &Path) -> String {
    let absolute = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".to_owned())
}

/// Makes `.aphoria/` if missing and opens its embedded store (the default backend), whose
/// role grants are signed by a key kept beside it.
pub fn open_embedded(layout: &Layout) -> Result<Embedded, AphoriaError> {
    layout.init()?;
    let server_key = Keys::new(&layout.dir.join("keys")).key_for("aphoria/store")?;
    Embedded::open(&layout.db(), server_key)
}

/// The commit checked out at `root` and its time; `<hash>+dirty` when tracked files differ
/// from it (what was read is not exactly that commit); outside git, `worktree` and now.
pub fn commit_of(root: &Path) -> Provenance {
    let text = git(root, &["log", "-1", "--format=%H %cI"]).unwrap_or_default();
    match text.trim().split_once(' ') {
        Some((hash, time)) => {
            let dirty = git(root, &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.trim().is_empty());
            Provenance {
                commit: if dirty {
                    format!("{hash}+dirty")
                } else {
                    hash.to_owned()
                },
                timestamp: normalize_time(time),
            }
        }
        None => Provenance {
            commit: "worktree".to_owned(),
            timestamp: record::now_rfc3339(),
        },
    }
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// git's `%cI` carries the committer's offset; one form (UTC) keeps ids stable across
/// machines.
fn normalize_time(text: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok())
        .unwrap_or_else(record::now_rfc3339)
}
