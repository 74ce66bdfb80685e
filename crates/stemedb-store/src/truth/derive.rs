//! Deriving truth-maintenance state from newly applied records, one record at a time and in
//! sequence order, so each sees the effects of all before it. Runs on the writer thread before
//! the group's fsync: for a group of plain records inside its log batch (one commit), otherwise
//! after the log commit, where a crash in between leaves the log ahead of the derived state and
//! `Store::open` derives the missing range again (`last_derived_sequence`).
use std::collections::BTreeMap;

use fjall::OwnedWriteBatch;
use stemedb_core::{AssertionId, SignedAssertion, Timestamp};

use super::read::{
    Bound, Mark, MarkKind, gold_in_group, has_role, holds_marker, live_causes, marks, stage_now,
    trust_map,
};
use super::{
    Epoch, EventKind, QuarantineRule, Role, Stage, TAG_EFFECT_BY_CAUSE, TAG_EFFECT_BY_TARGET,
    TAG_FIRST_SEEN, TAG_GOLD_GROUP, TAG_HAS_EVENTS, TAG_HELD_WHILE_RETRACTED, TAG_MARK, TAG_MARKED,
    TAG_PARENT, TAG_QUARANTINE, TAG_RETRACTED_NAME, TAG_STAGE, encode_event, key1, key2, name_key,
    name_prefix,
};
use crate::cache::{RareMarkers, TruthCache};
use crate::engine::Shared;
use crate::error::StoreError;
use crate::keys::{META_LAST_DERIVED, decode_seq};

use super::new_subjects::{first_seen_value, save_counts_if_due};

/// What deriving one record changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Derived {
    /// Assertions whose stage this record changed (retracted, restored, superseded, reviewed).
    pub changed: u64,
    /// False for a control record whose signer lacked the right (recorded, no effect).
    pub effective: bool,
    /// The record itself entered quarantine.
    pub quarantined: bool,
}

/// Derives each record in order. Writes accumulate in one batch, committed (not synced) before
/// any record whose derivation reads state an earlier record may have written: a control
/// record, or one with `derived_from` or `supersedes`; and after a record that writes another
/// record's stage (a control record, or one with `supersedes`). What ordinary records need from each
/// other inside a batch (first-seen subjects) lives in `Overlay`, the new-subject counts in
/// `NewSubjectWindows`.
pub(crate) fn derive_records(
    shared: &Shared,
    records: &[(u64, Timestamp, &SignedAssertion)],
) -> Result<Vec<Derived>, StoreError> {
    let (derived, batch) =
        forget_windows_on_error(shared, derive_in_batches(shared, records, shared.batch()))?;
    if !batch.is_empty() {
        // The windows already count this batch (and may have handed its counts to it to save).
        forget_windows_on_error(shared, batch.commit().map_err(StoreError::from))?;
    }
    Ok(derived)
}

/// Derives records none of which `may_change_other_groups` into `batch`, the batch that writes
/// them into the log, left uncommitted: the group's records and their truth state then reach
/// the engine in one commit. Sound because such a record's derivation reads only state that
/// records before the group wrote (quarantine and epoch rules, markers, the trust map) and,
/// for its own group, `Overlay`; never its own group's log or index keys. Most groups of single
/// writes are such groups, and the second commit a group cost 19 % of the writer's CPU under
/// single writes (docs/benchmarks.md, "Forty-third session").
pub(crate) fn derive_plain_into(
    shared: &Shared,
    batch: OwnedWriteBatch,
    records: &[(u64, Timestamp, &SignedAssertion)],
) -> Result<(Vec<Derived>, OwnedWriteBatch), StoreError> {
    assert!(
        all_plain(records),
        "only plain records are derived into their log batch"
    );
    forget_windows_on_error(shared, derive_in_batches(shared, records, batch))
}

/// Whether every record of `records` can be derived into its group's log batch
/// (`derive_plain_into`).
pub(crate) fn all_plain(records: &[(u64, Timestamp, &SignedAssertion)]) -> bool {
    records.iter().all(|(_, _, r)| !may_change_other_groups(r))
}

/// Passes `derived` on; on an error first clears the new-subject windows, which already count
/// the batch that will not be committed.
fn forget_windows_on_error<T>(
    shared: &Shared,
    derived: Result<T, StoreError>,
) -> Result<T, StoreError> {
    if derived.is_err() {
        forget_new_subject_windows(shared);
    }
    derived
}

/// Empties the new-subject windows, unsaved counts included, after a derivation or commit that
/// failed: they may count records that are not committed, and the open that follows counts
/// again from disk and the log. (A poisoned lock is left alone: the error that failed the
/// derivation is the one to report.)
pub(crate) fn forget_new_subject_windows(shared: &Shared) {
    if let Ok(mut windows) = shared.new_subject_windows() {
        windows.clear();
    }
}

/// Derives `records` into `batch` (committing it first where a record reads fresh state, and
/// after one that writes another record's stage) and returns the batch holding the rest,
/// uncommitted, with `last_derived_sequence` (and the new-subject counts when due) written into it.
fn derive_in_batches(
    shared: &Shared,
    records: &[(u64, Timestamp, &SignedAssertion)],
    mut batch: OwnedWriteBatch,
) -> Result<(Vec<Derived>, OwnedWriteBatch), StoreError> {
    let mut out = Vec::with_capacity(records.len());
    let mut overlay = Overlay::default();
    // The last sequence derived into `batch`: written once per commit, with the state it
    // covers (a write per record was one of about eight key writes an assertion costs).
    let mut derived_upto = None;
    for &(seq, recorded_at, record) in records {
        let body = &record.body;
        // Such a record also reads state fresh: what the batch holds is committed first.
        let reads_fresh = may_change_other_groups(record);
        if reads_fresh {
            shared.note_answers_change(seq);
        }
        if reads_fresh && !batch.is_empty() {
            batch = flush(shared, batch, &mut overlay, derived_upto.take())?;
        }
        let mut deriver = Deriver {
            shared,
            batch: &mut batch,
            overlay: &mut overlay,
            seq,
            recorded_at,
            record,
        };
        out.push(deriver.derive()?);
        derived_upto = Some(seq);
        // Committed after a record that changes another record's stage too: a control record,
        // or a `supersedes`. Any later record may read such a stage (the quarantine rule reads
        // its group's gold standards'), so a superseded gold standard left in the batch still
        // held a later contradicting record when a group (or a re-derivation, which is one
        // long group) had both. Found by tests/it/differential.
        if body.control.is_some() || body.supersedes.is_some() {
            batch = flush(shared, batch, &mut overlay, derived_upto.take())?;
        }
    }
    if let Some(seq) = derived_upto {
        batch.insert(&shared.ks().meta, META_LAST_DERIVED, seq.to_be_bytes());
        save_counts_if_due(shared, &mut batch, seq)?;
    }
    Ok((out, batch))
}

/// Whether deriving `record` may change the answer of a group it is not in: a control
/// record (a retraction, a vote, a trust statement, a grant, ...), a `supersedes`, or a
/// `derived_from` (kept with the plain ones' exceptions deliberately wide: a wrong "no" here
/// serves a stale answer, a wrong "yes" only costs cached answers). A plain assertion changes
/// only its own stage, in its own group.
pub(crate) fn may_change_other_groups(record: &SignedAssertion) -> bool {
    let body = &record.body;
    body.control.is_some() || body.supersedes.is_some() || !body.derived_from.is_empty()
}

/// Commits `batch`, with `last_derived_sequence` (and the new-subject counts when due) when it
/// derived any record.
fn flush(
    shared: &Shared,
    mut batch: OwnedWriteBatch,
    overlay: &mut Overlay,
    derived_upto: Option<u64>,
) -> Result<OwnedWriteBatch, StoreError> {
    if let Some(seq) = derived_upto {
        batch.insert(&shared.ks().meta, META_LAST_DERIVED, seq.to_be_bytes());
        save_counts_if_due(shared, &mut batch, seq)?;
    }
    batch.commit()?;
    *overlay = Overlay::default();
    Ok(shared.batch())
}

/// Truth state written into the pending batch that later records of the same batch read.
#[derive(Default)]
struct Overlay {
    /// Subjects first seen in this batch.
    first_seen: foldhash::HashSet<String>,
}

pub(super) struct Deriver<'a> {
    pub(super) shared: &'a Shared,
    pub(super) batch: &'a mut OwnedWriteBatch,
    overlay: &'a mut Overlay,
    pub(super) seq: u64,
    pub(super) recorded_at: Timestamp,
    pub(super) record: &'a SignedAssertion,
}

/// The parts of a stored record derivation needs.
pub(super) struct Target {
    pub(super) seq: u64,
    pub(super) record: SignedAssertion,
}

impl Deriver<'_> {
    fn derive(&mut self) -> Result<Derived, StoreError> {
        match self.record.body.control.clone() {
            None => self.ordinary(),
            Some(control) => self.control(control),
        }
    }

    pub(super) fn micros(&self) -> i64 {
        self.record.body.timestamp.micros()
    }

    pub(super) fn agent(&self) -> &str {
        &self.record.body.agent_id
    }

    pub(super) fn is_curator(&self) -> bool {
        has_role(self.shared, Role::Curator, self.agent(), self.seq)
    }

    /// Writes a stage event of `target`. A held record's place in the review list follows its
    /// stage: out of it (`Q` → `W`) when retracted or superseded, back (`W` → `Q`) when a
    /// reinstatement returns it to quarantine.
    pub(super) fn event(
        &mut self,
        target: u64,
        stage: Stage,
        kind: EventKind,
        cause: u64,
        micros: i64,
    ) -> Result<(), StoreError> {
        // Another record's stage changes its group's answer. `may_change_other_groups` has
        // already said so for every kind of record that does this; this says it again
        // where it happens, so that a new kind cannot forget it.
        if target != self.seq {
            self.shared.note_answers_change(self.seq);
        }
        // The bit first (`EventBits`: a poisoned lock fails every later read of it too).
        if let Ok(mut cache) = self.shared.truth_cache_mut() {
            cache.events.set(target);
        }
        self.batch
            .insert(&self.shared.ks().truth, key1(TAG_HAS_EVENTS, target), []);
        self.batch.insert(
            &self.shared.ks().truth,
            key2(TAG_STAGE, target, self.seq),
            encode_event(stage, kind, cause, micros),
        );
        match (stage, kind) {
            (Stage::Quarantined, EventKind::Restore) => {
                self.move_hold(target, TAG_HELD_WHILE_RETRACTED, TAG_QUARANTINE)
            }
            // Held on arrival (`Q` follows), or a review (which removes `Q` itself).
            (Stage::Quarantined, _) | (_, EventKind::Review) => Ok(()),
            // Retracted or superseded: no longer waiting for a review.
            _ => self.move_hold(target, TAG_QUARANTINE, TAG_HELD_WHILE_RETRACTED),
        }
    }

    /// Moves `target`'s quarantine rule from the `from` key to the `to` key, if it has one.
    fn move_hold(&mut self, target: u64, from: u8, to: u8) -> Result<(), StoreError> {
        let truth = &self.shared.ks().truth;
        if let Some(rule) = truth.get(key1(from, target))? {
            self.batch.remove(truth, key1(from, target));
            self.batch.insert(truth, key1(to, target), rule.to_vec());
        }
        Ok(())
    }

    pub(super) fn mark(
        &mut self,
        target: &str,
        kind: MarkKind,
        effective: bool,
        cascade: bool,
        number: f64,
    ) {
        // A vote, a dispute, a trust statement or a gold mark changes other groups' answers
        // (as `event` does).
        self.shared.note_answers_change(self.seq);
        let mark = Mark {
            seq: self.seq,
            kind,
            effective,
            cascade,
            valid_micros: self.micros(),
            number,
            agent: self.agent().to_owned(),
        };
        self.batch.insert(
            &self.shared.ks().truth,
            name_key(TAG_MARK, target, self.seq),
            mark.encode(),
        );
        self.marker(|c| &mut c.marked, name_key(TAG_MARKED, target, 0));
        if kind == MarkKind::Retraction && effective {
            self.rare_marker(name_key(TAG_RETRACTED_NAME, target, 0));
        }
    }

    /// Writes one of the truth keyspace's rare markers (`X`, `g`).
    pub(super) fn rare_marker(&mut self, key: Vec<u8>) {
        self.marker(|c| &mut c.markers, key);
    }

    /// Writes a marker key, adding it to the in-memory set `set` picks first (`RareMarkers`: a
    /// poisoned lock fails every later read of the set too, so the set never answers no for a
    /// key on disk).
    fn marker(&mut self, set: fn(&mut TruthCache) -> &mut RareMarkers, key: Vec<u8>) {
        if let Ok(mut cache) = self.shared.truth_cache_mut() {
            set(&mut cache).add(&key);
        }
        self.batch.insert(&self.shared.ks().truth, key, []);
    }

    pub(super) fn load(&self, id: &AssertionId) -> Result<Option<Target>, StoreError> {
        let Some(seq_bytes) = self.shared.ks().ids.get(id.as_bytes())? else {
            return Ok(None);
        };
        let seq = decode_seq(&seq_bytes, "ids")?;
        load_seq(self.shared, seq).map(Some)
    }

    /// An ordinary assertion: supersession, the derived_from index, then its first stage.
    fn ordinary(&mut self) -> Result<Derived, StoreError> {
        let mut derived = Derived {
            effective: true,
            ..Derived::default()
        };
        if let Some(old) = self.record.body.supersedes {
            derived.changed += self.supersede(&old)?;
        }
        // cause → (its valid time, whether it goes on to this record's dependents).
        let mut causes: BTreeMap<u64, (i64, bool)> = BTreeMap::new();
        let mut reach = |cause: u64, micros: i64, cascade: bool| {
            let slot = causes.entry(cause).or_insert((micros, false));
            slot.1 |= cascade;
        };
        for parent in &self.record.body.derived_from.clone() {
            let Some(seq_bytes) = self.shared.ks().ids.get(parent.as_bytes())? else {
                continue;
            };
            let parent_seq = decode_seq(&seq_bytes, "ids")?;
            self.batch.insert(
                &self.shared.ks().truth,
                key2(TAG_PARENT, parent_seq, self.seq),
                [],
            );
            if stage_now(self.shared, parent_seq)?.stage == Stage::Retracted {
                let cascading = live_causes(self.shared, parent_seq)?.into_iter();
                for (cause, micros, _) in cascading.filter(|c| c.2) {
                    reach(cause, micros, true);
                }
            }
        }
        let subject = self.record.body.subject.clone();
        for name in self.record.body.sources.iter().chain([&subject]) {
            // A point lookup (bloom-filtered) spares the scan for the common case: a subject
            // nobody ever retracted.
            if !holds_rare_marker(self.shared, &name_key(TAG_RETRACTED_NAME, name, 0))? {
                continue;
            }
            for mark in marks(self.shared, name)? {
                // A standing retraction reaches later citers when it cascades; later
                // assertions about the subject itself only when the signer had authority over
                // them: a curator, or the same agent (docs/truth.md, "Who"). A record about
                // the subject that also cites it is a citer too, as it is for a retraction
                // arriving after it (`citers`). Found by tests/it/differential.
                let about = *name == subject
                    && (mark.agent == self.agent()
                        || has_role(self.shared, Role::Curator, &mark.agent, mark.seq));
                let citing = mark.cascade && self.record.body.sources.contains(name);
                let reaches = about || citing;
                let applies = mark.kind == MarkKind::Retraction && mark.effective && reaches;
                if applies && stage_now(self.shared, mark.seq)?.stage != Stage::Retracted {
                    // A retraction without cascade that reaches this record (its own or a
                    // curator's about the subject) must not pass on to records deriving from
                    // it: the same as when this record was already stored at the retraction
                    // (`retract_tree` without cascade). Found by tests/it/differential.
                    reach(mark.seq, mark.valid_micros, mark.cascade);
                }
            }
        }
        if let Some((&first, &(micros, _))) = causes.iter().next() {
            self.event(
                self.seq,
                Stage::Retracted,
                EventKind::Retract,
                first,
                micros,
            )?;
            for (cause, (micros, cascade)) in causes {
                self.effect(cause, self.seq, micros, cascade);
            }
            // Its stage without the retraction, for a reinstatement, judged as for any
            // arrival: an epoch covering it (without this a reinstated record came back
            // active under the epoch; found by tests/it/differential), else the quarantine
            // rules. A record they hold is kept as held while retracted (`W`, as a held record
            // retracted later is) and answered as held; a reinstatement returns it to
            // quarantine (`stage_without_retraction` reads `W`).
            // Without this a low-trust agent passed a record contradicting a gold standard:
            // retract the subject, write, reinstate.
            if let Some(epoch) = self.covering_epoch()? {
                self.supersede_while_retracted(self.seq, epoch.seq, &[Stage::Active])?;
            } else if let Some(rule) = self.quarantine_rule()? {
                self.batch.insert(
                    &self.shared.ks().truth,
                    key1(TAG_HELD_WHILE_RETRACTED, self.seq),
                    [rule.code()],
                );
                derived.quarantined = true;
            }
            return Ok(derived);
        }
        if let Some(epoch) = self.covering_epoch()? {
            self.event(
                self.seq,
                Stage::Superseded,
                EventKind::Supersede,
                epoch.seq,
                epoch.valid_micros,
            )?;
            return Ok(derived);
        }
        if let Some(rule) = self.quarantine_rule()? {
            self.event(
                self.seq,
                Stage::Quarantined,
                EventKind::Quarantine,
                self.seq,
                self.micros(),
            )?;
            self.batch.insert(
                &self.shared.ks().truth,
                key1(TAG_QUARANTINE, self.seq),
                [rule.code()],
            );
            derived.quarantined = true;
        }
        Ok(derived)
    }

    /// Records that retraction `cause` reaches `target`; `cascade` says whether it goes on to
    /// the target's dependents (so that records derived later inherit it or not).
    pub(super) fn effect(&mut self, cause: u64, target: u64, cause_micros: i64, cascade: bool) {
        let truth = &self.shared.ks().truth;
        self.batch
            .insert(truth, key2(TAG_EFFECT_BY_CAUSE, cause, target), []);
        let mut value = cause_micros.to_be_bytes().to_vec();
        value.push(u8::from(cascade));
        self.batch
            .insert(truth, key2(TAG_EFFECT_BY_TARGET, target, cause), value);
    }

    /// `supersedes`: takes effect from the same agent or a curator; returns 1 when it did.
    fn supersede(&mut self, old: &AssertionId) -> Result<u64, StoreError> {
        let Some(target) = self.load(old)? else {
            return Ok(0);
        };
        if target.record.body.agent_id != self.agent() && !self.is_curator() {
            return Ok(0);
        }
        match stage_now(self.shared, target.seq)?.stage {
            Stage::Active | Stage::Quarantined => {
                self.event(
                    target.seq,
                    Stage::Superseded,
                    EventKind::Supersede,
                    self.seq,
                    self.micros(),
                )?;
                Ok(1)
            }
            // Remembered for a reinstatement only where the supersession would have taken
            // effect without the retraction (the first one wins, as for a record not
            // retracted); a later one overwrote it before. Found by tests/it/differential.
            Stage::Retracted => {
                let over = [Stage::Active, Stage::Quarantined];
                self.supersede_while_retracted(target.seq, self.seq, &over)?;
                Ok(0)
            }
            _ => Ok(0),
        }
    }

    fn covering_epoch(&self) -> Result<Option<Epoch>, StoreError> {
        let body = &self.record.body;
        let epochs = self.shared.truth_cache()?.epochs.clone();
        for epoch in epochs {
            if epoch.seq < self.seq
                && body.subject.starts_with(&epoch.prefix)
                && body.timestamp.micros() < epoch.before_micros
                && stage_now(self.shared, epoch.seq)?.stage != Stage::Retracted
            {
                return Ok(Some(epoch));
            }
        }
        Ok(None)
    }

    /// The signer's trust as of this record: the trust statements before it (derivation runs
    /// in sequence order, so no later one is derived yet) and the roots granted before it.
    /// A re-derivation knows every grant of the log from the start, so a root granted later
    /// must be left out: with `Bound::latest()` it counted, and a record the live writer had
    /// quarantined (low trust) came back active from a re-derivation. Found by
    /// tests/it/differential. The live writer never sees a later grant (a grant takes the
    /// durable sequence), so it keeps the cached latest map.
    fn trust(&self) -> Result<f64, StoreError> {
        let later_root = self
            .shared
            .truth_cache()?
            .roles
            .iter()
            .any(|((role, _), granted)| *role == Role::TrustRoot && *granted >= self.seq);
        let bound = if later_root {
            Bound {
                seq_max: self.seq - 1,
                as_of_micros: None,
            }
        } else {
            Bound::latest()
        };
        Ok(trust_map(self.shared, bound)?.trust(self.agent()))
    }

    /// The content-defence rules, in order (docs/truth.md §Quarantine). A new subject's `F`
    /// key is written here, with whether the burst rule counted it (`new_subjects.rs`).
    fn quarantine_rule(&mut self) -> Result<Option<QuarantineRule>, StoreError> {
        let subject_is_new = self.subject_is_new()?;
        let mut counted = false;
        let rule = match self.gold_rule()? {
            Some(rule) => Some(rule),
            None if subject_is_new => {
                let policy = self.shared.policy();
                counted = policy.new_subjects_burst_max > 0
                    && self.trust()? < policy.quarantine_trust_min;
                let burst = counted && self.new_subject_count()? >= policy.new_subjects_burst_max;
                burst.then_some(QuarantineRule::NewSubjectBurst)
            }
            None => None,
        };
        if subject_is_new {
            self.first_seen(counted)?;
        }
        Ok(rule)
    }

    /// The low-trust-contradicts-gold rule: a signer below the trust threshold contradicting
    /// an active gold standard of the record's group.
    fn gold_rule(&self) -> Result<Option<QuarantineRule>, StoreError> {
        let policy = &self.shared.policy();
        let body = &self.record.body;
        let group_marker = gold_marker(&body.subject, &body.predicate);
        if !holds_rare_marker(self.shared, &group_marker)? {
            return Ok(None);
        }
        let golds = gold_in_group(self.shared, &body.subject, &body.predicate)?;
        if golds.is_empty() || self.trust()? >= policy.quarantine_trust_min {
            return Ok(None);
        }
        let value = self.record.body_json.get("value");
        for gold in golds {
            let gold_record = load_seq(self.shared, gold)?;
            let same = gold_record
                .record
                .body_json
                .get("value")
                .zip(value)
                .is_some_and(|(a, b)| stemedb_lens::agrees(a, b, policy.gold_number_tolerance));
            if !same && stage_now(self.shared, gold)?.stage == Stage::Active {
                return Ok(Some(QuarantineRule::LowTrustContradictsGold));
            }
        }
        Ok(None)
    }

    /// True when no earlier record has this subject. Asks the writer's memory
    /// (`NewSubjectWindows`), then the pending batch, then the engine.
    fn subject_is_new(&mut self) -> Result<bool, StoreError> {
        let subject = &self.record.body.subject;
        if self.overlay.first_seen.contains(subject)
            || self.shared.new_subject_windows()?.seen(subject)
        {
            return Ok(false);
        }
        let key = name_key(TAG_FIRST_SEEN, subject, 0);
        let seen = self.shared.ks().truth.get(&key)?.is_some();
        if seen {
            self.shared.new_subject_windows()?.see(subject);
        }
        Ok(!seen)
    }

    /// Remembers this record's subject as seen (its `F` key, once, when it is new).
    fn first_seen(&mut self, counted: bool) -> Result<(), StoreError> {
        let subject = &self.record.body.subject;
        self.batch.insert(
            &self.shared.ks().truth,
            name_key(TAG_FIRST_SEEN, subject, 0),
            first_seen_value(self.seq, counted),
        );
        self.overlay.first_seen.insert(subject.clone());
        self.shared.new_subject_windows()?.see(subject);
        Ok(())
    }
}

/// Whether the truth keyspace holds the rare marker `key` (`X`, `g`).
fn holds_rare_marker(shared: &Shared, key: &[u8]) -> Result<bool, StoreError> {
    holds_marker(shared, |c| &c.markers, key)
}

/// Every sequence below `seq_below` of the groups under `prefix`, in key order.
pub(super) fn scan_all(
    shared: &Shared,
    prefix: &[u8],
    seq_below: u64,
) -> Result<Vec<u64>, StoreError> {
    crate::group_walk::sequences_under(shared, prefix, seq_below.saturating_sub(1))
}

/// Reads and parses the record at `seq` (widest limits: stored records passed stricter ones).
pub(super) fn load_seq(shared: &Shared, seq: u64) -> Result<Target, StoreError> {
    let record = shared.read_record(seq)?.parse()?;
    Ok(Target { seq, record })
}

/// `g subject 0x00 predicate 0x00`: present once a group has an effective gold standard.
pub(super) fn gold_marker(subject: &str, predicate: &str) -> Vec<u8> {
    let mut key = name_prefix(TAG_GOLD_GROUP, subject);
    key.extend_from_slice(predicate.as_bytes());
    key.push(0);
    key
}
