//! Changing claims: every change is checked whole first, then signed, stored and appended to
//! `.aphoria/history.jsonl`, then `claims.toml` is rewritten (atomically). A change that is
//! refused leaves both files as they were; nothing is signed for a command that fails.
use std::io::Write;

use serde_json::Value;
use stemedb_core::{AssertionId, Limits, SignedAssertion};

use crate::claims::{Claim, ClaimsFile, Status};
use crate::error::AphoriaError;
use crate::project::Project;
use crate::record;
use crate::store::StoredClaim;

/// What a change signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    /// The new version's record id.
    Record(String),
    /// The claim already says this: nothing was signed.
    Unchanged,
}

impl std::fmt::Display for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signed::Record(id) => write!(f, "record {id}"),
            Signed::Unchanged => f.write_str("unchanged: nothing signed"),
        }
    }
}

impl Project<'_> {
    /// `claims create`. Names the repository in the claims file the first time it is written,
    /// so subjects do not depend on the directory a clone sits in.
    pub fn create(&mut self, claim: Claim, repo: &str) -> Result<Signed, AphoriaError> {
        let mut file = self.claims()?;
        if file.get(&claim.id).is_some() {
            return Err(AphoriaError::bad_claim(
                &claim.id,
                "exists already; use `claims update`",
            ));
        }
        file.repo.get_or_insert_with(|| repo.to_owned());
        file.claims.push(claim.clone());
        self.commit(&file, &claim, None)
    }

    /// `claims update` and `claims deprecate`: a new version of claim `id`, made by
    /// `change`, superseding the last. Nothing is signed when nothing changed.
    pub fn update(
        &mut self,
        id: &str,
        change: &dyn Fn(&mut Claim),
    ) -> Result<Signed, AphoriaError> {
        let mut file = self.claims()?;
        let claim = file.get_mut(id)?;
        let before = claim.clone();
        change(claim);
        claim.id = id.to_owned();
        if *claim == before {
            return Ok(Signed::Unchanged);
        }
        let claim = claim.clone();
        let previous = self.latest(id)?.map(|c| c.record);
        self.commit(&file, &claim, previous.as_deref())
    }

    /// `claims supersede`: claim `old` gives way to `new` (a new id), whose record supersedes
    /// the old one's.
    pub fn supersede(&mut self, old: &str, new: Claim) -> Result<Signed, AphoriaError> {
        let mut file = self.claims()?;
        if file.get(&new.id).is_some() {
            return Err(AphoriaError::bad_claim(&new.id, "exists already"));
        }
        let old_claim = file.get_mut(old)?;
        old_claim.status = Status::Superseded;
        old_claim.superseded_by = Some(new.id.clone());
        file.claims.push(new.clone());
        let previous = self.latest(old)?.map(|c| c.record);
        self.commit(&file, &new, previous.as_deref())
    }

    /// `claims sync`: signs every claim written or edited by hand in `claims.toml` into the
    /// store and the history.
    pub fn sync(&mut self) -> Result<Vec<String>, AphoriaError> {
        let file = self.claims()?;
        let mut signed = Vec::new();
        for claim in &file.claims {
            let latest = self.latest(&claim.id)?;
            let recorded = latest.as_ref().is_some_and(|l| {
                // A superseded claim is recorded by the record that superseded it.
                &l.claim == claim || (claim.status == Status::Superseded && l.stage == "superseded")
            });
            if !recorded {
                let previous = latest.map(|l| l.record);
                self.sign_and_keep(claim, previous.as_deref())?;
                signed.push(claim.id.clone());
            }
        }
        Ok(signed)
    }

    /// Every version of claim `id`, oldest first: its records and, through `supersedes`,
    /// the records it replaced (under another id too).
    pub fn history(&mut self, id: &str) -> Result<Vec<StoredClaim>, AphoriaError> {
        let all = self.authored()?;
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

    /// Claim records signed by authors, by sequence.
    fn authored(&mut self) -> Result<Vec<StoredClaim>, AphoriaError> {
        let all = self.store.claim_history()?;
        Ok(all
            .into_iter()
            .filter(|c| c.agent.starts_with(record::AUTHOR_AGENT_PREFIX))
            .collect())
    }

    /// The latest authored record of claim `id`.
    fn latest(&mut self, id: &str) -> Result<Option<StoredClaim>, AphoriaError> {
        Ok(self
            .authored()?
            .into_iter()
            .rev()
            .find(|c| c.claim.id == id))
    }

    /// Checks the whole file and renders it, signs `claim`, then writes the file: a file that
    /// cannot be written is refused before anything is signed.
    fn commit(
        &mut self,
        file: &ClaimsFile,
        claim: &Claim,
        replaces: Option<&str>,
    ) -> Result<Signed, AphoriaError> {
        let text = file.render()?;
        let record = self.sign_and_keep(claim, replaces)?;
        ClaimsFile::write(&self.layout.claims(), &text)?;
        Ok(Signed::Record(record))
    }

    /// Signs `claim` as a new version replacing `replaces`, stores it and appends it to the
    /// history. The record id.
    fn sign_and_keep(
        &mut self,
        claim: &Claim,
        replaces: Option<&str>,
    ) -> Result<String, AphoriaError> {
        let key = self.layout.keys().key_for(&self.author)?;
        let supersedes = replaces
            .map(|id| AssertionId::parse_field(id, "supersedes"))
            .transpose()
            .map_err(|e| AphoriaError::bad_claim(&claim.id, e.to_string()))?;
        let wire = record::claim_wire(
            claim,
            &self.author,
            &key,
            &record::now_rfc3339(),
            supersedes.as_ref(),
        )?;
        let id = SignedAssertion::from_wire(wire.clone(), &Limits::default())
            .map_err(|e| AphoriaError::bad_claim(&claim.id, e.to_string()))?
            .id
            .to_hex();
        let recorded = self.store.record(vec![wire.clone()])?;
        if let Some((_, why)) = recorded.refused.first() {
            let hint = if why.contains("bound to") {
                format!(
                    "; {} signed earlier versions with another key: use that key (copy it into {}) or sign as another --author",
                    self.author,
                    self.layout.keys().dir().display()
                )
            } else {
                String::new()
            };
            return Err(AphoriaError::bad_claim(
                &claim.id,
                format!("refused by the store: {why}{hint}"),
            ));
        }
        self.append_history(&wire)?;
        Ok(id)
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
}
