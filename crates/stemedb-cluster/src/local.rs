//! Entries this node published, kept until its own applier reads them back. Bytes equal (by
//! BLAKE3) to what this node encoded from records it had already parsed and verified decode to
//! exactly those records, so the applier takes them as they are instead of parsing and
//! verifying them a second time. Every other node still checks the entry in full; identical
//! bytes give identical verdicts, so the replicas stay equal.
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use stemedb::core::SignedAssertion;

/// Entries kept at most; the oldest go first (one whose publish failed, or that the stream
/// dropped as a duplicate, is never read back).
const KEPT_MAX: usize = 4_096;

type Digest = [u8; 32];

#[derive(Default)]
struct Kept {
    by_digest: HashMap<Digest, (u64, Vec<SignedAssertion>)>,
    by_age: BTreeMap<u64, Digest>,
    next: u64,
}

#[derive(Default)]
pub(crate) struct LocalEntries(Mutex<Kept>);

fn digest(payload: &[u8]) -> Digest {
    *blake3::hash(payload).as_bytes()
}

impl LocalEntries {
    /// Remembers the records behind a payload this node is about to publish.
    pub fn remember(&self, payload: &[u8], records: &[SignedAssertion]) {
        let Ok(mut kept) = self.0.lock() else { return };
        let (key, age) = (digest(payload), kept.next);
        kept.next += 1;
        if let Some((old_age, _)) = kept.by_digest.insert(key, (age, records.to_vec())) {
            kept.by_age.remove(&old_age);
        }
        kept.by_age.insert(age, key);
        while kept.by_age.len() > KEPT_MAX {
            if let Some((_, oldest)) = kept.by_age.pop_first() {
                kept.by_digest.remove(&oldest);
            }
        }
    }

    /// The records behind `payload` if this node published exactly these bytes.
    pub fn take(&self, payload: &[u8]) -> Option<Vec<SignedAssertion>> {
        let mut kept = self.0.lock().ok()?;
        let (age, records) = kept.by_digest.remove(&digest(payload))?;
        kept.by_age.remove(&age);
        Some(records)
    }
}
