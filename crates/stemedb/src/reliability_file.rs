//! The newest reliability table kept in the data directory (`RELIABILITY`), so that the
//! evidence lens answers with it from the moment a restarted server opens, not as a plain vote
//! until the first pass over the store ends (7.7 s at 1 M stored with cold caches,
//! docs/benchmarks.md, "Twentieth session"; a pass grows with the store). The file names the
//! build that made it (the server's: a hash of its executable, `Db::set_build`). The start
//! makes its pass unless the table covers the whole log and this same build made it
//! (`Db::reliability_read_back_current`): a table of another build, or of none named, answers
//! only until the first pass, so a new build's evidence rules hold from that pass on.
//!
//! The table is derived state: a function of the log up to its sequence and of the evidence
//! settings. The log never rewrites a durable sequence, so a table made at sequence S stays
//! the table at S; the file says which settings made it and which record S holds, and a file
//! made with other settings, or over another log (the record at S is not the one it names), or
//! damaged is not used: the open says why (`ReliabilityAtOpen::Refused`), and the refresher
//! makes a new one as it would have anyway. Nothing else reads the file.
//!
//! Layout: two lines. The first is `stemedb reliability table 1 ` and the BLAKE3 (hex) of the
//! second; the second is the table as JSON (numbers as serde_json writes and reads them, which
//! keeps every `f64` exactly). Written to a temporary file and renamed over the last one,
//! without an fsync: a crash may leave an old, torn or empty file, which its checksum refuses.
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stemedb_core::AssertionId;

use crate::disputed::DisputedGroup;
use crate::reliability::{AgentReliabilityView, ReliabilityTable};
use crate::{Db, DbError};

/// The file's name in the data directory.
pub const RELIABILITY_FILE: &str = "RELIABILITY";

/// The first line's words before the checksum; the number is the layout's version.
const HEADER: &str = "stemedb reliability table 1 ";

/// What the open found in `RELIABILITY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReliabilityAtOpen {
    /// No file (a new data directory, or none saved yet).
    Missing,
    /// The table of this sequence, in use until the refresher makes a newer one.
    Loaded { sequence: u64 },
    /// A file the open did not use, and why.
    Refused { reason: String },
}

#[derive(Serialize, Deserialize)]
struct Saved {
    /// `EvidenceParams` and `TruthPolicy` as `Debug` writes them (`Db::settings`): a table
    /// made with other settings is not used.
    settings: String,
    sequence: u64,
    /// The id (hex) of the record at `sequence`.
    record_id: String,
    facts: usize,
    took_ms: u64,
    agents: Vec<SavedAgent>,
    disputed: Vec<SavedDisputed>,
    /// The build that made the table (`Db::set_build`); absent from files of runs that named
    /// none. Only a table of this same build over the whole log is taken as current at start.
    #[serde(default)]
    build: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct SavedAgent {
    agent_id: String,
    accuracy: f64,
    claims: usize,
    agreed: usize,
    copy_of: Option<String>,
    anchored: bool,
}

#[derive(Serialize, Deserialize)]
struct SavedDisputed {
    subject: String,
    predicate: String,
    claims: usize,
    dissenting: usize,
    values: usize,
}

impl Db {
    /// Keeps `table` in the data directory for the next open (the server's refresher calls this
    /// after each refresh). A table of sequence 0 (nothing weighed) is not kept.
    pub fn save_reliability(&self, table: &ReliabilityTable) -> Result<(), DbError> {
        if table.sequence == 0 {
            return Ok(());
        }
        let record_id = self.record_id_at(table.sequence)?.ok_or(DbError::Internal(
            "a reliability table names a sequence the log does not hold",
        ))?;
        let saved = saved(table, &self.settings(), &record_id, self.build());
        let body = serde_json::to_string(&saved)
            .map_err(|_| DbError::Internal("a reliability table did not serialize"))?;
        let text = format!(
            "{HEADER}{}\n{body}\n",
            blake3::hash(body.as_bytes()).to_hex()
        );
        let path = self.dir().join(RELIABILITY_FILE);
        let temporary = self.dir().join(format!("{RELIABILITY_FILE}.tmp"));
        // The free-space reserve is the log's: a derived file never eats into it.
        let reserve = self.config.disk_free_min_bytes;
        if reserve > 0 {
            let free_bytes = stemedb_store::free_bytes(self.dir())?;
            if free_bytes < reserve.saturating_add(text.len() as u64) {
                return Err(DbError::Store(stemedb_store::StoreError::DiskFull {
                    path: temporary,
                    free_bytes,
                    free_min_bytes: reserve,
                }));
            }
        }
        let io = |path: &std::path::Path| {
            let path = path.to_owned();
            move |source| DbError::Store(stemedb_store::StoreError::Io { path, source })
        };
        if let Err(e) = std::fs::write(&temporary, text).map_err(io(&temporary)) {
            let _ = std::fs::remove_file(&temporary);
            return Err(e);
        }
        std::fs::rename(&temporary, &path).map_err(io(&path))
    }

    /// What a kept table must have been made with to be used: the evidence settings and the
    /// truth policy (trust decay and hops set the anchors; the content rules, what is admitted).
    fn settings(&self) -> String {
        format!("{:?} {:?}", self.config.evidence, self.config.policy)
    }

    /// Reads `RELIABILITY` and returns the table to start with, if it is this log's under
    /// these settings; with what the open found.
    /// The table comes with the build its file names.
    pub(crate) fn load_reliability(
        &self,
    ) -> (
        Option<(ReliabilityTable, Option<String>)>,
        ReliabilityAtOpen,
    ) {
        let refused = |reason: String| (None, ReliabilityAtOpen::Refused { reason });
        let path = self.dir().join(RELIABILITY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (None, ReliabilityAtOpen::Missing);
            }
            Err(e) => return refused(format!("{} could not be read: {e}", path.display())),
        };
        let saved = match parse(&text) {
            Ok(saved) => saved,
            Err(reason) => return refused(reason),
        };
        if saved.settings != self.settings() {
            return refused("it was made with other evidence or truth settings".into());
        }
        match self.record_id_at(saved.sequence) {
            Ok(Some(id)) if id.to_hex() == saved.record_id => {}
            Ok(_) => {
                return refused(format!(
                    "the log does not hold the record it was made over at sequence {}",
                    saved.sequence
                ));
            }
            Err(e) => return refused(format!("the record at sequence {}: {e}", saved.sequence)),
        }
        let sequence = saved.sequence;
        let build = saved.build.clone();
        (
            Some((table(saved), build)),
            ReliabilityAtOpen::Loaded { sequence },
        )
    }

    /// Deletes the kept table, if there is one: called before derived state is rebuilt in
    /// place (`rebuild_indexes`, `restore`, a re-derivation at open), after which a table made over the
    /// old state, however well it matches the log, settings and build, may no longer be the one
    /// a pass computes (a rebuild repairs damaged indexes, and runs under its own settings).
    pub(crate) fn forget_kept_reliability(&self) -> Result<(), DbError> {
        let path = self.dir().join(RELIABILITY_FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(DbError::Store(stemedb_store::StoreError::Io {
                    path,
                    source: e,
                }))
            }
            _ => Ok(()),
        }
    }

    /// The id of the record at `sequence`, if the log holds one.
    fn record_id_at(&self, sequence: u64) -> Result<Option<AssertionId>, DbError> {
        if sequence == 0 || sequence > self.store.last_sequence() {
            return Ok(None);
        }
        Ok(self.store.get_by_sequence(sequence)?.map(|r| r.id()))
    }
}

/// The file's text as a table, its checksum and layout checked.
fn parse(text: &str) -> Result<Saved, String> {
    let mut lines = text.lines();
    let (Some(header), Some(body), None) = (lines.next(), lines.next(), lines.next()) else {
        return Err("it is not two lines (cut short, or not this file)".into());
    };
    let Some(checksum) = header.strip_prefix(HEADER) else {
        return Err("its first line is not a reliability table's of this version".into());
    };
    if blake3::hash(body.as_bytes()).to_hex().as_str() != checksum {
        return Err("its checksum does not match (damaged)".into());
    }
    serde_json::from_str(body).map_err(|e| format!("its table does not parse: {e}"))
}

fn saved(
    table: &ReliabilityTable,
    settings: &str,
    record_id: &AssertionId,
    build: Option<&str>,
) -> Saved {
    let mut agents: Vec<SavedAgent> = table
        .agents()
        .map(|a| SavedAgent {
            agent_id: a.agent_id.clone(),
            accuracy: a.accuracy,
            claims: a.claims,
            agreed: a.agreed,
            copy_of: a.copy_of.clone(),
            anchored: a.anchored,
        })
        .collect();
    agents.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    Saved {
        settings: settings.to_owned(),
        sequence: table.sequence,
        record_id: record_id.to_hex(),
        facts: table.facts,
        took_ms: u64::try_from(table.took.as_millis()).unwrap_or(u64::MAX),
        agents,
        disputed: table
            .disputed
            .iter()
            .map(|d| SavedDisputed {
                subject: d.subject.clone(),
                predicate: d.predicate.clone(),
                claims: d.claims,
                dissenting: d.dissenting,
                values: d.values,
            })
            .collect(),
        build: build.map(str::to_owned),
    }
}

fn table(saved: Saved) -> ReliabilityTable {
    let agents = saved.agents.into_iter().map(|a| AgentReliabilityView {
        agent_id: a.agent_id,
        accuracy: a.accuracy,
        claims: a.claims,
        agreed: a.agreed,
        copy_of: a.copy_of,
        anchored: a.anchored,
    });
    let disputed = saved
        .disputed
        .into_iter()
        .map(|d| DisputedGroup {
            subject: d.subject,
            predicate: d.predicate,
            claims: d.claims,
            dissenting: d.dissenting,
            values: d.values,
        })
        .collect();
    ReliabilityTable::from_parts(
        saved.sequence,
        saved.facts,
        Duration::from_millis(saved.took_ms),
        disputed,
        agents,
    )
}
