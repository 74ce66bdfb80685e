//! Provenance: the chain behind one assertion — the assertion, each cited source with the
//! assertions that describe it, and each derived-from assertion, recursively to a depth limit.
//! Every node's signature is checked here, on the server, from the stored bytes.
use std::collections::HashSet;

use serde_json::value::RawValue;
use stemedb_core::{AssertionId, SignedAssertion};
use stemedb_store::{Bound, MarkKind};
use stemedb_wire::{ProvenanceLeaf, SourceNode};

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

impl Db {
    /// The provenance tree of `id` as of `bound`; `None` when the id is not stored.
    pub fn provenance(
        &self,
        id: &AssertionId,
        bound: Bound,
    ) -> Result<Option<ProvenanceTree>, DbError> {
        let mut seen = HashSet::new();
        let depth_max = self.config.provenance_depth_max;
        if self.get_at(id, bound)?.is_none() {
            return Ok(None);
        }
        self.provenance_node(id, bound, 0, depth_max, &mut seen)
    }

    fn provenance_node(
        &self,
        id: &AssertionId,
        bound: Bound,
        depth: usize,
        depth_max: usize,
        seen: &mut HashSet<AssertionId>,
    ) -> Result<Option<ProvenanceTree>, DbError> {
        let Some(record) = self.get_at(id, bound)? else {
            return Ok(None);
        };
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
        if !seen.insert(*id) {
            node.cycle = true;
            return Ok(Some(node));
        }
        let body = self.body_of(&record)?;
        let mut sources = Vec::new();
        for subject in &body.body.sources {
            sources.push(self.source_node(subject, bound)?);
        }
        node.sources = Some(sources);
        let mut parents = Vec::new();
        let mut missing = Vec::new();
        if depth < depth_max {
            for parent in &body.body.derived_from {
                match self.provenance_node(parent, bound, depth + 1, depth_max, seen)? {
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

    /// A cited source: its describing assertions and whether it stands retracted.
    fn source_node(
        &self,
        subject: &str,
        bound: Bound,
    ) -> Result<SourceNode<Box<RawValue>>, DbError> {
        let mut describing = Vec::new();
        for sequence in self.store.sequences_about(subject, bound.seq_max)? {
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
        Ok(SourceNode {
            assertions: describing,
            retracted_by,
            subject: subject.to_owned(),
        })
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
