//! A repository opened for Aphoria: the store rebuilt from what is in git (the history of
//! claims, the trust packs), then the rules in force and the verdicts. Claim changes are in
//! `edit.rs`; paths in `layout.rs`.
//!
//! Only checked things become rules: a history line must be a claim signed by an author
//! (`aphoria/author/…`), about the subject and predicate its claim names; a pack rule must
//! come from a pack file that verifies (`pack.rs`). Nothing else stored in the same groups
//! (a record someone signed as a pack agent and slipped into the history, a pack removed
//! since) can win over a project's claim.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use stemedb::LensKind;

use crate::claims::ClaimsFile;
use crate::error::AphoriaError;
use crate::extract;
use crate::layout::{self, Layout};
use crate::pack::{self, Pack};
use crate::record::{self, AUTHOR_AGENT_PREFIX, EXPECT_PREFIX, EXTRACTOR_AGENT_PREFIX};
use crate::scan::{self, ScanReport};
use crate::store::Backend;
use crate::verify::{self, Origin, Overridden, Rule, Verification};

pub struct Project<'s> {
    pub layout: Layout,
    pub store: &'s mut dyn Backend,
    /// The agent that signs claim changes: `aphoria/author/<name>`.
    pub author: String,
    /// Packs in `.aphoria/packs/`, checked and stored.
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
        let mut lines = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let bad = |why: String| AphoriaError::bad_file(&path, format!("line {}: {why}", i + 1));
            let wire: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
            check_author_record(&wire).map_err(bad)?;
            wires.push(wire);
            lines.push(i + 1);
        }
        let recorded = self.store.record(wires)?;
        match recorded.refused.first() {
            Some((index, why)) => {
                let line = lines.get(*index).copied().unwrap_or(0);
                Err(AphoriaError::bad_file(
                    &path,
                    format!("line {line}: refused by the store: {why}"),
                ))
            }
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
            let pack = self.check_and_store(&path)?;
            self.packs.push(pack);
        }
        Ok(())
    }

    /// Reads, checks and stores one pack file; every error names the file.
    fn check_and_store(&mut self, path: &Path) -> Result<Pack, AphoriaError> {
        let bytes = std::fs::read(path).map_err(|e| AphoriaError::io(path, e))?;
        let pack = pack::read(path, &bytes)?;
        if let Some(other) = self.packs.iter().find(|p| p.name == pack.name) {
            return Err(AphoriaError::BadPack {
                path: path.to_owned(),
                message: format!(
                    "pack {} is already installed, signed by key {}",
                    other.name, other.public_key
                ),
            });
        }
        pack::install(&pack, &mut *self.store).map_err(|e| AphoriaError::BadPack {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Ok(pack)
    }

    /// Checks a pack file, stores it, makes its agent a root and keeps a copy in
    /// `.aphoria/packs/<name>.jsonl`.
    pub fn install_pack(&mut self, path: &Path) -> Result<Pack, AphoriaError> {
        let bytes = std::fs::read(path).map_err(|e| AphoriaError::io(path, e))?;
        let incoming = pack::read(path, &bytes)?;
        // Reinstalling a pack (a new version by the same key) replaces its file.
        self.packs
            .retain(|p| !(p.name == incoming.name && p.public_key == incoming.public_key));
        let pack = self.check_and_store(path)?;
        let dir = self.layout.packs();
        std::fs::create_dir_all(&dir).map_err(|e| AphoriaError::io(&dir, e))?;
        let copy = dir.join(format!("{}.jsonl", pack.name));
        std::fs::write(&copy, &bytes).map_err(|e| AphoriaError::io(&copy, e))?;
        self.packs.push(pack.clone());
        Ok(pack)
    }

    /// Removes an installed pack's file: its rules are no longer enforced. (Its records and
    /// its agent's role stay in the store's log, which never forgets; rules come from files.)
    pub fn remove_pack(&mut self, name: &str) -> Result<(), AphoriaError> {
        let path = self.layout.packs().join(format!("{name}.jsonl"));
        if !crate::claims::valid_id(name) || !path.exists() {
            return Err(AphoriaError::BadPack {
                path,
                message: "no such pack is installed".into(),
            });
        }
        std::fs::remove_file(&path).map_err(|e| AphoriaError::io(&path, e))?;
        self.packs.retain(|p| p.name != name);
        Ok(())
    }

    pub fn claims(&self) -> Result<ClaimsFile, AphoriaError> {
        ClaimsFile::load(&self.layout.claims())
    }

    /// Scans, records the observations (unless `dry`), and judges every claim in
    /// `claims.toml` and every installed pack's rule. Signs no claim.
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
        let (rules, lost) = self.rules()?;
        let observable: HashSet<&str> = extractors
            .iter()
            .flat_map(|e| e.predicates())
            .copied()
            .collect();
        let verification = verify::verify(&rules, &report.observations, &lost, &|p| {
            observable.contains(p)
        });
        Ok((report, verification))
    }

    fn record_observations(&mut self, report: &ScanReport) -> Result<(), AphoriaError> {
        let at = layout::commit_of(&self.layout.root);
        let keys = self.layout.keys();
        let mut signing: std::collections::HashMap<&str, stemedb_core::SecretKey> =
            Default::default();
        let mut wires = Vec::with_capacity(report.observations.len());
        for o in &report.observations {
            if !signing.contains_key(o.extractor) {
                let key = keys.key_for(&format!("{EXTRACTOR_AGENT_PREFIX}{}", o.extractor))?;
                signing.insert(o.extractor, key);
            }
            if let Some(key) = signing.get(o.extractor) {
                wires.push(record::observation_wire(o, key, &at)?);
            }
        }
        let recorded = self.store.record(wires)?;
        if let Some((index, why)) = recorded.refused.first() {
            let o = report.observations.get(*index);
            let what = o
                .map(|o| format!("{} {}", o.subject, o.predicate))
                .unwrap_or_default();
            let hint = if why.contains("bound to") {
                format!(
                    " (the store holds this extractor's earlier observations under another key: \
                     use the key directory that made them, APHORIA_KEYS, now {}; or, for the \
                     embedded store, move .aphoria/db aside and it is rebuilt from git)",
                    keys.dir().display()
                )
            } else {
                String::new()
            };
            return Err(AphoriaError::Store(format!(
                "{} observation(s) refused; the first, {what}: {why}{hint}",
                recorded.refused.len()
            )));
        }
        Ok(())
    }

    /// The rules in force — the project's claims and every installed pack's rules — and the
    /// project claims that lost their group to an installed pack's rule under the authority
    /// lens while admitting something the rule forbids.
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
        for pack in &self.packs {
            for (rule, record) in pack.rules.iter().zip(&pack.records) {
                rules.push(Rule {
                    claim: rule.clone(),
                    origin: Origin::Pack {
                        pack: pack.name.clone(),
                        agent: pack.agent.clone(),
                        record: record.clone(),
                    },
                });
            }
        }
        let mut lost = Vec::new();
        for group in self.store.claim_groups(LensKind::Authority)? {
            let winner = &group.winner;
            let Some(pack) = self
                .packs
                .iter()
                .find(|p| p.agent == winner.agent && p.records.contains(&winner.record))
            else {
                continue; // no installed pack's rule won this group
            };
            lost.extend(
                file.claims
                    .iter()
                    .filter(|c| {
                        c.is_active()
                            && c.subject == group.pattern
                            && c.predicate == group.predicate
                    })
                    .filter(|c| !c.admits_no_more_than(&winner.claim))
                    .map(|c| Overridden {
                        claim: c.id.clone(),
                        pack: pack.name.clone(),
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

/// A history line must be a claim signed by an author, about the subject and predicate its
/// claim names (a record signed as anyone else, or about something else, is refused).
fn check_author_record(wire: &Value) -> Result<(), String> {
    let field = |name: &str| wire.get(name).and_then(Value::as_str).unwrap_or("");
    let agent = field("agent_id");
    if !agent.starts_with(AUTHOR_AGENT_PREFIX) {
        return Err(format!(
            "signed by {agent:?}, not an author ({AUTHOR_AGENT_PREFIX}…)"
        ));
    }
    let claim = wire
        .get("value")
        .and_then(record::claim_of)
        .ok_or_else(|| "holds no claim".to_owned())?;
    let subject = format!("{EXPECT_PREFIX}{}", claim.subject);
    if field("subject") != subject || field("predicate") != claim.predicate {
        return Err(format!(
            "record about {:?} {:?} holds claim {} about another subject or predicate",
            field("subject"),
            field("predicate"),
            claim.id
        ));
    }
    Ok(())
}
