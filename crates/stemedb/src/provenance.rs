//! Provenance: the chain behind one assertion — the assertion, each cited source with the
//! assertions that describe it, and each derived-from assertion, recursively to a depth limit.
//! Every node's signature is checked here, on the server, from the stored bytes.
//!
//! The walk is bounded three ways, since one request names its start and the store decides
//! how far it reaches: the depth (`provenance_depth_max`), the records one answer lists
//! (`provenance_records_max`: nodes and sources' describing records together; where it runs
//! out, the node says `truncated`), and the request's deadline, under a read slot like any
//! other large read. A source cited by many nodes is read once per answer.
use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::value::RawValue;
use stemedb_core::{AssertionId, SignedAssertion};
use stemedb_store::{Bound, MarkKind};
use stemedb_wire::{ProvenanceLeaf, SourceNode};

use crate::query::check_deadline;
use crate::{Db, DbError, RecordView};

/// Whether a stored record's body hashes to its id and its signature verifies.
pub fn signature_valid(record: &RecordView) -> bool {
    SignedAssertion::from_canonical(
        &record.canonical,
        record.signature,
        &stemedb_core::Limits::default(),
    )
    .is_ok_and(|a| a.id == record.id && a.verify())
}

/// A provenance node with each record as the JSON text it is served as.
pub type ProvenanceTree = stemedb_wire::ProvenanceNode<Box<RawValue>>;

/// One provenance answer's walk: what it has visited, and what it may still list.
struct Walk {
    bound: Bound,
    depth_max: usize,
    deadline: Option<Instant>,
    seen: HashSet<AssertionId>,
    /// Sources already read in this answer, with whether their list was cut short.
    sources: HashMap<String, (SourceNode<Box<RawValue>>, bool)>,
    /// Records this answer may still list.
    records_left: usize,
    /// Records read, for the deadline check.
    visited: usize,
}

impl Walk {
    /// Takes one record from the budget; `false` when none is left.
    fn take(&mut self) -> Result<bool, DbError> {
        self.visited += 1;
        check_deadline(self.deadline, self.visited, "provenance")?;
        if self.records_left == 0 {
            return Ok(false);
        }
        self.records_left -= 1;
        Ok(true)
    }
}

impl Db {
    /// The provenance tree of `id` as of `bound`; `None` when the id is not stored. Stops with
    /// [`DbError::DeadlineExceeded`] once `deadline` passes.
    pub fn provenance(
        &self,
        id: &AssertionId,
        bound: Bound,
        deadline: Option<Instant>,
    ) -> Result<Option<ProvenanceTree>, DbError> {
        let _slot = self.read_slots.acquire(deadline, "provenance")?;
        if self.get_at(id, bound)?.is_none() {
            return Ok(None);
        }
        let mut walk = Walk {
            bound,
            depth_max: self.config.provenance_depth_max,
            deadline,
            seen: HashSet::new(),
            sources: HashMap::new(),
            records_left: self.config.provenance_records_max.max(1),
            visited: 0,
        };
        self.provenance_node(id, 0, &mut walk)
    }

    fn provenance_node(
        &self,
        id: &AssertionId,
        depth: usize,
        walk: &mut Walk,
    ) -> Result<Option<ProvenanceTree>, DbError> {
        let bound = walk.bound;
        let Some(record) = self.get_at(id, bound)? else {
            return Ok(None);
        };
        // The start always has room (the budget is at least 1); a later node without room is
        // left out by its parent, which says `truncated`.
        let _ = walk.take()?;
        let leaf = leaf(&record)?;
        let mut node = ProvenanceTree {
            assertion: leaf.assertion,
            cycle: false,
            derived_from: None,
            missing: None,
            signature_valid: leaf.signature_valid,
            sources: None,
            truncated: false,
        };
        if !walk.seen.insert(*id) {
            node.cycle = true;
            return Ok(Some(node));
        }
        let body = self.body_of(&record)?;
        let mut sources = Vec::new();
        for subject in &body.body.sources {
            let (source, cut) = self.source_node(subject, walk)?;
            sources.push(source);
            node.truncated |= cut;
        }
        node.sources = Some(sources);
        let mut parents = Vec::new();
        let mut missing = Vec::new();
        if depth < walk.depth_max {
            for parent in &body.body.derived_from {
                if walk.records_left == 0 {
                    node.truncated = true;
                    break;
                }
                match self.provenance_node(parent, depth + 1, walk)? {
                    Some(p) => parents.push(p),
                    None => missing.push(parent.to_hex()),
                }
            }
        } else if !body.body.derived_from.is_empty() {
            node.truncated = true;
        }
        node.derived_from = Some(parents);
        node.missing = (!missing.is_empty()).then_some(missing);
        Ok(Some(node))
    }

    /// A cited source: its describing assertions (as many as the walk has room for, and
    /// whether that cut the list short) and whether it stands retracted. Read once per answer.
    fn source_node(
        &self,
        subject: &str,
        walk: &mut Walk,
    ) -> Result<(SourceNode<Box<RawValue>>, bool), DbError> {
        if let Some((known, known_cut)) = walk.sources.get(subject) {
            // Listed again, so counted again: what the answer holds is what the budget bounds.
            let mut source = known.clone();
            let room = walk.records_left.min(source.assertions.len());
            let cut = *known_cut || room < source.assertions.len();
            source.assertions.truncate(room);
            walk.records_left -= room;
            walk.visited += 1;
            check_deadline(walk.deadline, walk.visited, "provenance")?;
            return Ok((source, cut));
        }
        let bound = walk.bound;
        let mut describing = Vec::new();
        let mut cut = false;
        // One more than the budget has room for: whether the list is cut shows, and a source
        // described by millions of records is not read whole.
        let count_max = walk.records_left.saturating_add(1);
        for sequence in self
            .store
            .sequences_about(subject, bound.seq_max, count_max)?
        {
            if !walk.take()? {
                cut = true;
                break;
            }
            if let Some(stored) = self.store.get_by_sequence(sequence)? {
                let view = self.view_at(stored, bound)?;
                if bound
                    .as_of_micros
                    .is_none_or(|t| view.timestamp.micros() <= t)
                {
                    describing.push(leaf(&view)?);
                }
            }
        }
        let retracted_by: Vec<String> = self
            .store
            .marks(subject, bound)?
            .into_iter()
            .filter(|m| m.kind == MarkKind::Retraction && m.effective)
            .filter_map(|m| self.store.get_by_sequence(m.seq).ok().flatten())
            .map(|s| s.id().to_hex())
            .collect();
        let source = SourceNode {
            assertions: describing,
            retracted_by,
            subject: subject.to_owned(),
        };
        walk.sources
            .insert(subject.to_owned(), (source.clone(), cut));
        Ok((source, cut))
    }

    pub(crate) fn body_of(&self, record: &RecordView) -> Result<SignedAssertion, DbError> {
        SignedAssertion::from_canonical(
            &record.canonical,
            record.signature,
            &stemedb_core::Limits::default(),
        )
        .map_err(|e| {
            DbError::Store(stemedb_store::StoreError::CorruptRecord {
                sequence: record.sequence,
                reason: format!("body is not a valid assertion: {e}"),
            })
        })
    }
}

/// A record with the check of its signature.
fn leaf(record: &RecordView) -> Result<ProvenanceLeaf<Box<RawValue>>, DbError> {
    Ok(ProvenanceLeaf {
        assertion: record.to_raw_json()?,
        signature_valid: signature_valid(record),
    })
}
