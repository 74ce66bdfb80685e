//! A repository's `.aphoria/` directory and what the commands do with it.
//!
//! ```text
//! .aphoria/claims.toml     the claims, as authors write them              (in git)
//! .aphoria/history.jsonl   every claim change, signed, one record a line  (in git)
//! .aphoria/packs/*.jsonl   installed trust packs (audit exports)          (in git)
//! .aphoria/keys/           this checkout's agent keys, mode 0600          (ignored)
//! .aphoria/db/             the embedded StemeDB                            (ignored)
//! ```
//! The store is rebuilt from the files in git: opening replays the history and the packs
//! (each checked again), so a fresh clone verifies the same way as the author's checkout.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use stemedb::LensKind;

use crate::claims::{Claim, ClaimsFile, Status};
use crate::error::AphoriaError;
use crate::extract;
use crate::pack::{self, Pack};
use crate::record::{self, AUTHOR_AGENT_PREFIX, EXTRACTOR_AGENT_PREFIX, Keys, Provenance};
use crate::scan::{self, ScanReport};
use crate::store::{Backend, StoredClaim};
use crate::verify::{self, Origin, Overridden, Rule, Verification};

const IGNORED: &str = "# Local to this checkout: keys and the embedded store.\nkeys/\ndb/\n";

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
    pub fn keys(&self) -> Keys {
        Keys::new(&self.dir.join("keys"))
    }
    pub fn db(&self) -> PathBuf {
        self.dir.join("db")
    }

    /// Makes `.aphoria/` with its `.gitignore` when missing.
    pub fn init(&self) -> Result<(), AphoriaError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| AphoriaError::io(&self.dir, e))?;
        let ignore = self.dir.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(&ignore, IGNORED).map_err(|e| AphoriaError::io(&ignore, e))?;
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
    named.unwrap_or_else(|| {
        root.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repo".to_owned())
    })
}

/// Makes `.aphoria/` if missing and opens its embedded store (the default backend).
pub fn open_embedded(layout: &Layout) -> Result<crate::store::Embedded, AphoriaError> {
    layout.init()?;
    let server_key = layout.keys().key_for("aphoria/store")?;
    crate::store::Embedded::open(&layout.db(), server_key)
}

/// A repository opened for Aphoria: its layout, its store, and the author who signs.
pub struct Project<'s> {
    pub layout: Layout,
    pub store: &'s mut dyn Backend,
    pub author: String,
    /// Packs found in `.aphoria/packs/`, checked and stored.
    pub packs: Vec<Pack>,
}

impl<'s> Project<'s> {
    /// Replays the history and the packs into `store`.
    pub fn open(
        layout: Layout,
        store: &'s mut dyn Backend,
        author: &str,
    ) -> Result<Project<'s>, AphoriaError> {
        let mut project = Project {
            layout,
            store,
            author: format!("{AUTHOR_AGENT_PREFIX}{author}"),
            packs: Vec::new(),
        };
        project.replay_history()?;
        project.load_packs()?;
        Ok(project)
    }

    fn replay_history(&mut self) -> Result<(), AphoriaError> {
        let path = self.layout.history();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(AphoriaError::io(&path, e)),
        };
        let mut wires = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let wire: Value = serde_json::from_str(line)
                .map_err(|e| AphoriaError::bad_file(&path, format!("line {}: {e}", i + 1)))?;
            wires.push(wire);
        }
        let recorded = self.store.record(wires)?;
        match recorded.refused.first() {
            Some(why) => Err(AphoriaError::bad_file(
                &path,
                format!("a record was refused: {why}"),
            )),
            None => Ok(()),
        }
    }

    fn load_packs(&mut self) -> Result<(), AphoriaError> {
        let dir = self.layout.packs();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).map_err(|e| AphoriaError::io(&path, e))?;
            let pack = pack::read(&path, &bytes)?;
            pack::install(&pack, &mut *self.store)?;
            self.packs.push(pack);
        }
        Ok(())
    }

    /// Checks a pack file, stores it, makes its agent a root and keeps a copy in
    /// `.aphoria/packs/<name>.jsonl`.
    pub fn install_pack(&mut self, path: &Path) -> Result<Pack, AphoriaError> {
        let bytes = std::fs::read(path).map_err(|e| AphoriaError::io(path, e))?;
        let pack = pack::read(path, &bytes)?;
        pack::install(&pack, &mut *self.store)?;
        let dir = self.layout.packs();
        std::fs::create_dir_all(&dir).map_err(|e| AphoriaError::io(&dir, e))?;
        let copy = dir.join(format!("{}.jsonl", pack.name));
        std::fs::write(&copy, &bytes).map_err(|e| AphoriaError::io(&copy, e))?;
        self.packs.push(pack.clone());
        Ok(pack)
    }

    pub fn claims(&self) -> Result<ClaimsFile, AphoriaError> {
        ClaimsFile::load(&self.layout.claims())
    }

    /// The latest stored record of claim `id`, any author.
    fn latest(&mut self, id: &str) -> Result<Option<StoredClaim>, AphoriaError> {
        let history = self.store.claim_history()?;
        Ok(history
            .into_iter()
            .rev()
            .find(|c| c.claim.id == id && !is_pack(&c.agent)))
    }

    /// Signs `claim` as a new version replacing `replaces` (a record id), stores it, and
    /// appends it to the history file when `keep` is set.
    fn sign(
        &mut self,
        claim: &Claim,
        replaces: Option<&str>,
        keep: bool,
    ) -> Result<String, AphoriaError> {
        let key = self.layout.keys().key_for(&self.author)?;
        let supersedes = replaces
            .map(|id| stemedb_core::AssertionId::parse_field(id, "supersedes"))
            .transpose()
            .map_err(|e| AphoriaError::bad_claim(&claim.id, e.to_string()))?;
        let wire = record::claim_wire(
            claim,
            &self.author,
            &key,
            &record::now_rfc3339(),
            supersedes.as_ref(),
        )?;
        let recorded = self.store.record(vec![wire.clone()])?;
        if let Some(why) = recorded.refused.first() {
            return Err(AphoriaError::bad_claim(
                &claim.id,
                format!("refused by the store: {why}"),
            ));
        }
        if keep {
            self.append_history(&wire)?;
        }
        let id = stemedb_core::SignedAssertion::from_wire(wire, &stemedb_core::Limits::default())
            .map_err(|e| AphoriaError::bad_claim(&claim.id, e.to_string()))?;
        Ok(id.id.to_hex())
    }

    fn append_history(&self, wire: &Value) -> Result<(), AphoriaError> {
        let path = self.layout.history();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| AphoriaError::io(&path, e))?;
        let line = format!("{wire}\n");
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| AphoriaError::io(&path, e))
    }

    /// `claims create`.
    pub fn create(&mut self, claim: Claim) -> Result<String, AphoriaError> {
        let mut file = self.claims()?;
        if file.get(&claim.id).is_some() {
            return Err(AphoriaError::bad_claim(
                &claim.id,
                "exists already; use `claims update`",
            ));
        }
        claim.check()?;
        let record = self.sign(&claim, None, true)?;
        file.claims.push(claim);
        file.save(&self.layout.claims())?;
        Ok(record)
    }

    /// `claims update`: a new version of claim `id`, made by `change`, superseding the last.
    pub fn update(
        &mut self,
        id: &str,
        change: &dyn Fn(&mut Claim),
    ) -> Result<String, AphoriaError> {
        let mut file = self.claims()?;
        let claim = file.get_mut(id)?;
        change(claim);
        claim.id = id.to_owned();
        claim.check()?;
        let claim = claim.clone();
        let previous = self.latest(id)?.map(|c| c.record);
        let record = self.sign(&claim, previous.as_deref(), true)?;
        file.save(&self.layout.claims())?;
        Ok(record)
    }

    /// `claims supersede`: claim `old` gives way to `new` (a new id), whose record supersedes
    /// the old one's.
    pub fn supersede(&mut self, old: &str, new: Claim) -> Result<String, AphoriaError> {
        let mut file = self.claims()?;
        if file.get(&new.id).is_some() {
            return Err(AphoriaError::bad_claim(&new.id, "exists already"));
        }
        new.check()?;
        let previous = self.latest(old)?.map(|c| c.record);
        let record = self.sign(&new, previous.as_deref(), true)?;
        let old_claim = file.get_mut(old)?;
        old_claim.status = Status::Superseded;
        old_claim.superseded_by = Some(new.id.clone());
        file.claims.push(new);
        file.save(&self.layout.claims())?;
        Ok(record)
    }

    /// Brings the store up to the claims file: a claim written or edited by hand gets a new
    /// signed version. With `keep`, the versions also go into the history file.
    pub fn sync(&mut self, keep: bool) -> Result<Vec<String>, AphoriaError> {
        let file = self.claims()?;
        let mut signed = Vec::new();
        for claim in &file.claims {
            let latest = self.latest(&claim.id)?;
            let recorded = latest.as_ref().is_some_and(|l| {
                // A superseded claim is recorded by the record that superseded it.
                &l.claim == claim || (claim.status == Status::Superseded && l.stage == "superseded")
            });
            if recorded {
                continue;
            }
            let previous = latest.map(|l| l.record);
            self.sign(claim, previous.as_deref(), keep)?;
            signed.push(claim.id.clone());
        }
        Ok(signed)
    }

    /// Every version of claim `id`, oldest first: its records and, through `supersedes`,
    /// the records it replaced (under another id too).
    pub fn history(&mut self, id: &str) -> Result<Vec<StoredClaim>, AphoriaError> {
        let all = self.store.claim_history()?;
        let Some(mut at) = all.iter().rev().find(|c| c.claim.id == id).cloned() else {
            return Err(AphoriaError::UnknownClaim(id.to_owned()));
        };
        let mut chain = vec![at.clone()];
        while let Some(prev) = at
            .supersedes
            .as_ref()
            .and_then(|s| all.iter().find(|c| &c.record == s))
        {
            if chain.iter().any(|c| c.record == prev.record) {
                break; // a cycle cannot be signed, but never loop on one
            }
            chain.push(prev.clone());
            at = prev.clone();
        }
        chain.reverse();
        Ok(chain)
    }

    /// Scans, records the observations (unless `dry`), and judges every claim.
    pub fn verify(
        &mut self,
        repo: &str,
        dry: bool,
    ) -> Result<(ScanReport, Verification), AphoriaError> {
        let extractors = extract::all();
        let report = scan::scan(&self.layout.root, repo, &extractors)?;
        if !dry {
            self.record_observations(&report)?;
        }
        self.sync(false)?;
        let (rules, lost) = self.rules()?;
        let verification = verify::verify(&rules, &report.observations, &lost);
        Ok((report, verification))
    }

    fn record_observations(&mut self, report: &ScanReport) -> Result<(), AphoriaError> {
        let at = commit_of(&self.layout.root);
        let keys = self.layout.keys();
        let mut wires = Vec::with_capacity(report.observations.len());
        let mut key_cache: std::collections::HashMap<&str, stemedb_core::SecretKey> =
            Default::default();
        for o in &report.observations {
            let key = match key_cache.get(o.extractor) {
                Some(k) => k.clone(),
                None => {
                    let k = keys.key_for(&format!("{EXTRACTOR_AGENT_PREFIX}{}", o.extractor))?;
                    key_cache.insert(o.extractor, k.clone());
                    k
                }
            };
            wires.push(record::observation_wire(o, &key, &at)?);
        }
        let recorded = self.store.record(wires)?;
        if let Some(why) = recorded.refused.first() {
            return Err(AphoriaError::Store(format!(
                "{} observations refused; the first: {why}",
                recorded.refused.len()
            )));
        }
        Ok(())
    }

    /// The rules in force: the project's claims and every installed pack's, and the project
    /// claims that lost their group to a pack rule under the authority lens.
    pub fn rules(&mut self) -> Result<(Vec<Rule>, Vec<Overridden>), AphoriaError> {
        let file = self.claims()?;
        let mut rules: Vec<Rule> = file
            .claims
            .iter()
            .map(|c| Rule {
                claim: c.clone(),
                origin: Origin::Project,
            })
            .collect();
        let mut lost = Vec::new();
        for group in self.store.claim_groups(LensKind::Authority)? {
            for member in group.members.iter().filter(|m| is_pack(&m.agent)) {
                rules.push(Rule {
                    claim: member.claim.clone(),
                    origin: Origin::Pack {
                        pack: record::pack_name(&member.agent).unwrap_or("").to_owned(),
                        agent: member.agent.clone(),
                        record: member.record.clone(),
                    },
                });
            }
            let winner = &group.winner;
            let Some(pack) = record::pack_name(&winner.agent) else {
                continue;
            };
            lost.extend(
                file.claims
                    .iter()
                    .filter(|c| {
                        c.is_active()
                            && c.subject == group.pattern
                            && c.predicate == group.predicate
                            && (c.comparison, &c.expected)
                                != (winner.claim.comparison, &winner.claim.expected)
                    })
                    .map(|c| Overridden {
                        claim: c.id.clone(),
                        pack: pack.to_owned(),
                        pack_rule: winner.claim.id.clone(),
                        agent: winner.agent.clone(),
                        record: winner.record.clone(),
                        expectation: winner.claim.expectation(),
                    }),
            );
        }
        Ok((rules, lost))
    }
}

fn is_pack(agent: &str) -> bool {
    record::pack_name(agent).is_some()
}

/// The commit checked out at `root` and its time; outside git, `worktree` and now.
pub fn commit_of(root: &Path) -> Provenance {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["log", "-1", "--format=%H %cI"])
        .output();
    let text = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => String::new(),
    };
    match text.split_once(' ') {
        Some((hash, time)) => Provenance {
            commit: hash.to_owned(),
            timestamp: normalize_time(time),
        },
        None => Provenance {
            commit: "worktree".to_owned(),
            timestamp: record::now_rfc3339(),
        },
    }
}

/// git's `%cI` carries the committer's offset; StemeDB timestamps are read in any offset, but
/// one form keeps ids stable across machines: UTC.
fn normalize_time(text: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok())
        .unwrap_or_else(record::now_rfc3339)
}
