//! Provenance: the chain behind one assertion — the assertion, each cited source with the
//! assertions that describe it, and each derived-from assertion, recursively to a depth limit.
//! Every node's signature is checked here, on the server, from the stored bytes.
use std::collections::HashSet;

use serde_json::{Value, json};
use stemedb_core::{AssertionId, SignedAssertion};
use stemedb_store::{Bound, MarkKind};

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

impl Db {
    /// The provenance tree of `id` as of `bound`; `None` when the id is not stored.
    pub fn provenance(&self, id: &AssertionId, bound: Bound) -> Result<Option<Value>, DbError> {
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
    ) -> Result<Option<Value>, DbError> {
        let Some(record) = self.get_at(id, bound)? else {
            return Ok(None);
        };
        let mut node = node_json(&record);
        if !seen.insert(*id) {
            node["cycle"] = json!(true);
            return Ok(Some(node));
        }
        let body = self.body_of(&record)?;
        let mut sources = Vec::new();
        for subject in &body.body.sources {
            sources.push(self.source_json(subject, bound)?);
        }
        node["sources"] = Value::Array(sources);
        let mut parents = Vec::new();
        let mut missing = Vec::new();
        if depth < depth_max {
            for parent in &body.body.derived_from {
                match self.provenance_node(parent, bound, depth + 1, depth_max, seen)? {
                    Some(p) => parents.push(p),
                    None => missing.push(json!(parent.to_hex())),
                }
            }
        } else if !body.body.derived_from.is_empty() {
            node["truncated"] = json!(true);
        }
        node["derived_from"] = Value::Array(parents);
        if !missing.is_empty() {
            node["missing"] = Value::Array(missing);
        }
        Ok(Some(node))
    }

    /// A cited source: its describing assertions and whether it stands retracted.
    fn source_json(&self, subject: &str, bound: Bound) -> Result<Value, DbError> {
        let mut describing = Vec::new();
        for sequence in self.store.sequences_about(subject, bound.seq_max)? {
            if let Some(stored) = self.store.get_by_sequence(sequence)? {
                let view = self.view_at(stored, bound)?;
                if bound
                    .as_of_micros
                    .is_none_or(|t| view.timestamp.micros() <= t)
                {
                    describing.push(node_json(&view));
                }
            }
        }
        let retractions: Vec<Value> = self
            .store
            .marks(subject, bound)?
            .into_iter()
            .filter(|m| m.kind == MarkKind::Retraction && m.effective)
            .filter_map(|m| self.store.get_by_sequence(m.seq).ok().flatten())
            .map(|s| json!(s.id().to_hex()))
            .collect();
        Ok(json!({
            "subject": subject,
            "retracted_by": retractions,
            "assertions": describing,
        }))
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

fn node_json(record: &RecordView) -> Value {
    json!({
        "assertion": record.to_json(),
        "signature_valid": signature_valid(record),
    })
}
