//! Rebuilding every index from the log (`stemedb rebuild-indexes`): the indexes and agent
//! bindings are cleared and re-applied record by record through the same `apply` path the
//! writer uses, then truth-maintenance state is derived again. The log is only read.
use std::collections::HashSet;

use fjall::OwnedWriteBatch;
use stemedb_core::SignedAssertion;

use crate::codec::StoredRecord;
use crate::engine::Shared;
use crate::error::StoreError;
use crate::groups::GroupOverlay;
use crate::store::Store;
use crate::writer::apply;

/// Records re-applied per write batch.
const REBUILD_BATCH_RECORDS: u64 = 10_000;

impl Store {
    /// Rebuilds every index, the agent bindings and the truth state from the log. Run it on a
    /// directory no server holds. A record that cannot be read stops the rebuild, named.
    /// Returns the number of records re-applied.
    pub fn rebuild_indexes(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64, StoreError> {
        let engine = self.shared()?;
        let shared = &*engine;
        let ks = shared.ks();
        // A rebuild cut short leaves the indexes partial, each batch whole (records, their
        // keys and their groups' summaries); `check` names what is missing and the next
        // rebuild starts over. A directory not yet in format 5 keeps keying every record in
        // `by_subject` until the end, so that its readers (which may walk it) miss none.
        shared.note_groups_rebuild();
        for keyspace in [
            &ks.ids,
            &ks.by_subject,
            &ks.by_agent,
            &ks.by_source,
            &ks.agents,
            &ks.groups,
        ] {
            shared.clear_keyspace(keyspace)?;
        }
        shared.agent_keys()?.clear();
        let last = self.last_sequence();
        let mut reapply = Reapply::default();
        let mut batch = shared.batch();
        for sequence in 1..=last {
            let stored = shared.read_record(sequence)?;
            let record = stored.parse()?;
            reapply.record(shared, &mut batch, &stored, &record)?;
            if sequence.is_multiple_of(REBUILD_BATCH_RECORDS) || sequence == last {
                reapply.flush(shared, &mut batch);
                batch.commit()?;
                batch = shared.batch();
                progress(sequence, last);
            }
        }
        shared.sync()?;
        shared.note_groups_rebuild();
        crate::store::mark_groups_built(self.dir())?;
        self.set_rebuilt_whole();
        crate::truth::rederive(shared, last)?;
        // A rebuild repairs derived state: no answer kept from before it or during it holds.
        shared.note_answers_rebuilt();
        Ok(last)
    }
}

/// What re-applying records one by one carries between them: the agents already bound, and
/// the group summaries the open batch changes. Shared by rebuild and restore.
#[derive(Default)]
pub(crate) struct Reapply {
    bound_agents: HashSet<String>,
    groups: GroupOverlay,
}

impl Reapply {
    /// Re-applies one stored record through the writer's apply path, binding its agent when
    /// it is the agent's first record (as at ingest).
    pub(crate) fn record(
        &mut self,
        shared: &Shared,
        batch: &mut OwnedWriteBatch,
        stored: &StoredRecord,
        record: &SignedAssertion,
    ) -> Result<(), StoreError> {
        if self.bound_agents.insert(record.body.agent_id.clone()) {
            let mut value = record.body.public_key.to_bytes().to_vec();
            value.extend_from_slice(&stored.sequence.to_be_bytes());
            batch.insert(&shared.ks().agents, record.body.agent_id.as_bytes(), value);
        }
        let (sequence, recorded_at) = (stored.sequence, stored.recorded_at);
        apply(
            shared,
            batch,
            &mut self.groups,
            None,
            sequence,
            recorded_at,
            record,
        )
        .map(|_| ())
    }

    /// Puts the group summaries changed since the last flush into `batch`, before its commit.
    pub(crate) fn flush(&mut self, shared: &Shared, batch: &mut OwnedWriteBatch) {
        self.groups.flush(shared, batch);
    }
}
