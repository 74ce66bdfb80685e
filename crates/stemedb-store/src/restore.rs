//! Restoring records from a backup into an empty data directory, keeping each record's
//! sequence, `recorded_at` and signature exactly, and the roles with the sequence after which
//! they hold. Records go through the writer's own apply path; truth state is derived again.
use crate::codec::{StoredRecord, encode_record};
use crate::error::StoreError;
use crate::keys::{META_LAST_APPLIED, seq_key};
use crate::rebuild::Reapply;
use crate::role::Role;
use crate::store::Store;

impl Store {
    /// Every role grant as (role, agent, the sequence after which it holds) that holds after
    /// a sequence up to `upto`, for backups: a manifest lists the grants of the records it
    /// covers, never one derived past them (a later record, or one still being synced).
    pub fn role_grants(&self, upto: u64) -> Vec<(Role, String, u64)> {
        let Ok(shared) = self.shared() else {
            return Vec::new();
        };
        let upto = upto.min(self.last_sequence());
        let mut out: Vec<(Role, String, u64)> = shared
            .truth_cache()
            .map(|c| {
                c.roles
                    .iter()
                    .filter(|(_, s)| **s <= upto)
                    .map(|((r, a), s)| (*r, a.clone(), *s))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| (a.2, &a.1).cmp(&(b.2, &b.1)));
        out
    }

    /// Restores `records` (sequences 1..=N in order, already verified by the caller) and
    /// `roles` into this store, which must be empty. The writer is stopped first: the store
    /// takes no other writes afterwards (close it and open it again to serve).
    pub fn restore(
        &self,
        records: impl IntoIterator<Item = StoredRecord>,
        roles: &[(Role, String, u64)],
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, StoreError> {
        if self.last_sequence() != 0 {
            return Err(StoreError::CorruptMeta {
                key: "last_applied_sequence",
                reason: "a restore needs an empty data directory".into(),
            });
        }
        self.stop_writer()?;
        let engine = self.shared()?;
        let shared = &*engine;
        let mut reapply = Reapply::default();
        let mut batch = shared.batch();
        let mut last = 0u64;
        for stored in records {
            let sequence = stored.sequence;
            if sequence != last + 1 {
                return Err(StoreError::CorruptRecord {
                    sequence,
                    reason: format!("the backup skips from sequence {last} to {sequence}"),
                });
            }
            let record = stored.parse()?;
            batch.insert(
                &shared.ks().log,
                seq_key(sequence),
                encode_record(
                    sequence,
                    stored.recorded_at,
                    &stored.signature,
                    stored.canonical(),
                ),
            );
            reapply.record(shared, &mut batch, &stored, &record)?;
            last = sequence;
            if last.is_multiple_of(10_000) {
                reapply.flush(shared, &mut batch);
                batch.insert(&shared.ks().meta, META_LAST_APPLIED, last.to_be_bytes());
                batch.commit()?;
                batch = shared.batch();
                progress(last);
            }
        }
        reapply.flush(shared, &mut batch);
        batch.insert(&shared.ks().meta, META_LAST_APPLIED, last.to_be_bytes());
        batch.commit()?;
        progress(last);
        // A grant after the last restored record belongs to records this restore leaves out
        // (`--to-sequence` below a manifest's end): granted here, it would hold with no record
        // of it in the log.
        for (role, agent, after) in roles.iter().filter(|(_, _, after)| *after <= last) {
            shared
                .ks()
                .meta
                .insert(format!("{}{agent}", role.key_prefix()), after.to_be_bytes())?;
        }
        shared.sync()?;
        // Summaries that readers cached while the restore ran are void; the count goes up
        // before the durable sequence does (the order `group_cache.rs`'s invariant needs).
        shared.note_groups_rebuild();
        shared.publish_durable(last);
        crate::truth::rederive(shared, last)?;
        // Readers saw the truth state half-derived while it ran: no answer kept until now
        // holds (`answers_rebuilds`).
        shared.note_answers_rebuilt();
        Ok(last)
    }
}
