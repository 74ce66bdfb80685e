//! The StemeDB behind Aphoria: [`Backend`] is what the commands need from it (record signed
//! records, read the claim groups through a lens, name trust roots); [`Embedded`] is the
//! default, a `stemedb::Db` in `.aphoria/db`. The binary adds a backend over HTTP
//! (`--server`).
use std::path::Path;

use serde_json::Value;
use stemedb::{Db, DbConfig, LensKind, Query, RecordView, Role, TruthPolicy};
use stemedb_core::SecretKey;

use crate::claims::Claim;
use crate::error::AphoriaError;
use crate::record::{self, EXPECT_PREFIX};

/// A claim or pack rule as stored: the record and the claim it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredClaim {
    /// The record id (hex).
    pub record: String,
    pub agent: String,
    pub sequence: u64,
    pub timestamp: String,
    /// `active`, `superseded`, `retracted`…
    pub stage: String,
    pub superseded_by: Option<String>,
    pub supersedes: Option<String>,
    pub claim: Claim,
}

/// One (pattern, predicate) group of claims and pack rules, ranked by a lens.
#[derive(Debug, Clone)]
pub struct ClaimGroup {
    pub pattern: String,
    pub predicate: String,
    pub winner: StoredClaim,
    pub members: Vec<StoredClaim>,
}

impl ClaimGroup {
    /// A group read back from the store: `subject` is `aphoria/expect/<pattern>`.
    pub fn read(
        subject: &str,
        predicate: &str,
        winner: StoredClaim,
        members: Vec<StoredClaim>,
    ) -> ClaimGroup {
        ClaimGroup {
            pattern: subject
                .strip_prefix(EXPECT_PREFIX)
                .unwrap_or(subject)
                .to_owned(),
            predicate: predicate.to_owned(),
            winner,
            members,
        }
    }
}

/// What one `record` call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    pub stored: usize,
    pub duplicates: usize,
    /// Records the store refused: each one's index in the call, and the reason.
    pub refused: Vec<(usize, String)>,
}

pub trait Backend {
    /// Stores signed records (wire form), in batches the store accepts.
    fn record(&mut self, wires: Vec<Value>) -> Result<Recorded, AphoriaError>;
    /// Every group under `aphoria/expect/`, ranked by `lens`, every page of it; with
    /// `history`, superseded and retracted records take part. Records that hold no claim are
    /// left out (a group whose winner holds none has `winner: None`).
    fn read_groups(
        &mut self,
        lens: LensKind,
        history: bool,
    ) -> Result<Vec<ReadGroup>, AphoriaError>;
    /// Makes `agent` a root of trust (an installed pack's agent).
    fn add_trust_root(&mut self, agent: &str) -> Result<(), AphoriaError>;

    /// Every group under `aphoria/expect/`, its active members ranked by `lens`.
    fn claim_groups(&mut self, lens: LensKind) -> Result<Vec<ClaimGroup>, AphoriaError> {
        let groups = self.read_groups(lens, false)?;
        Ok(groups
            .into_iter()
            .filter_map(|g| {
                let winner = g.winner?;
                Some(ClaimGroup::read(
                    &g.subject,
                    &g.predicate,
                    winner,
                    g.members,
                ))
            })
            .collect())
    }

    /// Every claim record ever stored, superseded ones included, by sequence.
    fn claim_history(&mut self) -> Result<Vec<StoredClaim>, AphoriaError> {
        let groups = self.read_groups(LensKind::Recency, true)?;
        let mut all: Vec<StoredClaim> = groups.into_iter().flat_map(|g| g.members).collect();
        all.sort_by_key(|c| c.sequence);
        Ok(all)
    }
}

/// One group as a backend read it, its records already turned into claims.
#[derive(Debug, Clone)]
pub struct ReadGroup {
    pub subject: String,
    pub predicate: String,
    pub winner: Option<StoredClaim>,
    pub members: Vec<StoredClaim>,
}

/// The embedded store.
pub struct Embedded {
    db: Db,
    /// Signs this store's role grants (`.aphoria/keys/`).
    server_key: SecretKey,
}

impl Embedded {
    /// Opens (or makes) the store in `dir`. Aphoria's extractors create thousands of new
    /// subjects in one run, so the new-subject burst rule, meant for unknown agents flooding
    /// a shared server, is off here.
    pub fn open(dir: &Path, server_key: SecretKey) -> Result<Embedded, AphoriaError> {
        let config = DbConfig {
            policy: TruthPolicy {
                new_subjects_burst_max: 0,
                ..TruthPolicy::default()
            },
            ..DbConfig::default()
        };
        let db = Db::open(dir, config)?;
        Ok(Embedded { db, server_key })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    fn query_all(
        &self,
        lens: LensKind,
        history: bool,
        each: &mut dyn FnMut(stemedb::GroupResult),
    ) -> Result<(), AphoriaError> {
        let mut query = Query::new(format!("{EXPECT_PREFIX}*"));
        query.lens = lens;
        query.include_superseded = history;
        query.include_retracted = history;
        query.limit = Some(self.db.config().query_groups_max);
        query.assertions_limit = Some(self.db.config().query_assertions_max);
        loop {
            let page = self.db.query(&query)?;
            for mut group in page.groups {
                self.rest_of_group(&query, &mut group)?;
                each(group);
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => return Ok(()),
            }
        }
    }

    /// Appends the group's later pages (a claim with more versions than one page holds).
    fn rest_of_group(
        &self,
        query: &Query,
        group: &mut stemedb::GroupResult,
    ) -> Result<(), AphoriaError> {
        let mut cursor = group.assertions_cursor.take();
        while let Some(c) = cursor {
            let mut next = query.clone();
            next.cursor = None;
            next.assertions_cursor = Some(c);
            let page = self.db.query(&next)?;
            let Some(more) = page.groups.into_iter().next() else {
                break;
            };
            group.assertions.extend(more.assertions);
            cursor = more.assertions_cursor;
        }
        Ok(())
    }
}

/// The stored claim a record holds; `None` for a record that holds no claim.
pub fn stored_claim(view: &RecordView) -> Option<StoredClaim> {
    let claim = record::claim_of(&view.value)?;
    let superseded_by = match view.lifecycle.stage {
        stemedb::Stage::Superseded => view.lifecycle.cause.map(|id| id.to_hex()),
        _ => None,
    };
    Some(StoredClaim {
        record: view.id.to_hex(),
        agent: view.agent_id.clone(),
        sequence: view.sequence,
        timestamp: view.timestamp.to_rfc3339(),
        stage: view.lifecycle.stage.as_str().to_owned(),
        superseded_by,
        supersedes: record::supersedes_of(&view.canonical),
        claim,
    })
}

impl Backend for Embedded {
    fn record(&mut self, wires: Vec<Value>) -> Result<Recorded, AphoriaError> {
        let mut recorded = Recorded::default();
        let batch = self.db.config().batch_len_max.max(1);
        let mut wires = wires.into_iter().peekable();
        let mut index = 0;
        while wires.peek().is_some() {
            let chunk: Vec<Value> = wires.by_ref().take(batch).collect();
            for outcome in self.db.ingest_batch(chunk)? {
                match outcome {
                    Ok(i) if i.duplicate => recorded.duplicates += 1,
                    Ok(_) => recorded.stored += 1,
                    Err(e) => recorded.refused.push((index, e.to_string())),
                }
                index += 1;
            }
        }
        Ok(recorded)
    }

    fn read_groups(
        &mut self,
        lens: LensKind,
        history: bool,
    ) -> Result<Vec<ReadGroup>, AphoriaError> {
        let mut groups = Vec::new();
        self.query_all(lens, history, &mut |g| {
            groups.push(ReadGroup {
                winner: stored_claim(&g.winner),
                members: g.assertions.iter().filter_map(stored_claim).collect(),
                subject: g.subject,
                predicate: g.predicate,
            });
        })?;
        Ok(groups)
    }

    fn add_trust_root(&mut self, agent: &str) -> Result<(), AphoriaError> {
        self.db
            .grant_role(Role::TrustRoot, agent, &self.server_key)?;
        Ok(())
    }
}
