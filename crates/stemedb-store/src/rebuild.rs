//! Rebuilding every index from the log (`stemedb rebuild-indexes`): the indexes and agent
//! bindings are cleared and re-applied record by record through the same `apply` path the
//! writer uses, then truth-maintenance state is derived again. The log is only read.
use std::collections::HashSet;

use fjall::{Keyspace, PersistMode};
use stemedb_core::{Limits, SignedAssertion};

use crate::codec::decode_record;
use crate::keys::seq_key;
use crate::writer::apply;
use crate::{Store, StoreError};

/// Records re-applied per write batch.
const REBUILD_BATCH_RECORDS: u64 = 10_000;

impl Store {
    /// Rebuilds every index, the agent bindings and the truth state from the log. Run it on a
    /// directory no server holds. A record that cannot be read stops the rebuild, named.
    /// Returns the number of records re-applied.
    pub fn rebuild_indexes(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64, StoreError> {
        let shared = &self.shared;
        let ks = &shared.ks;
        for keyspace in [
            &ks.ids,
            &ks.by_subject,
            &ks.by_agent,
            &ks.by_source,
            &ks.by_valid_time,
            &ks.agents,
        ] {
            clear_keyspace(shared, keyspace)?;
        }
        let last = self.last_sequence();
        let mut bound_agents: HashSet<String> = HashSet::new();
        let mut batch = shared.db.batch();
        for sequence in 1..=last {
            let bytes = ks
                .log
                .get(seq_key(sequence))?
                .ok_or(StoreError::CorruptRecord {
                    sequence,
                    reason: "missing from the log".into(),
                })?;
            let stored = decode_record(sequence, &bytes)?;
            let record = SignedAssertion::from_canonical(
                &stored.canonical,
                stored.signature,
                &Limits::default(),
            )
            .map_err(|e| StoreError::CorruptRecord {
                sequence,
                reason: format!("body is not a valid assertion: {e}"),
            })?;
            // The first record of an agent binds it, as it did at ingest.
            if bound_agents.insert(record.body.agent_id.clone()) {
                let mut value = record.body.public_key.to_bytes().to_vec();
                value.extend_from_slice(&sequence.to_be_bytes());
                batch.insert(&ks.agents, record.body.agent_id.as_bytes(), value);
            }
            apply(shared, &mut batch, sequence, stored.recorded_at, &record);
            if sequence % REBUILD_BATCH_RECORDS == 0 || sequence == last {
                batch.commit()?;
                batch = shared.db.batch();
                progress(sequence, last);
            }
        }
        crate::truth::clear(shared)?;
        crate::truth::recover(shared, last)?;
        shared.db.persist(PersistMode::SyncAll)?;
        Ok(last)
    }
}

/// Removes every key of a keyspace, in batches.
pub(crate) fn clear_keyspace(
    shared: &crate::store::Shared,
    keyspace: &Keyspace,
) -> Result<(), StoreError> {
    loop {
        let mut batch = shared.db.batch();
        for guard in keyspace.iter().take(10_000) {
            batch.remove(keyspace, guard.key()?);
        }
        if batch.is_empty() {
            return Ok(());
        }
        batch.commit()?;
    }
}
