//! Truth maintenance state: lifecycle stages with their history, what each retraction changed,
//! control-record marks (retractions, votes, trust, gold standards), the derived_from reverse
//! index, quarantine, epochs and roles. All of it lives in the `truth` keyspace under one-byte
//! tags (docs/file-format.md §Truth keyspace) and is derived from the log by the writer
//! (`derive.rs`) right after each commit, before the fsync that acknowledges it.
mod control;
mod derive;
mod new_subjects;
pub(crate) mod read;

use crate::cache::{Epoch, TruthCache};
use crate::engine::Shared;
use crate::error::StoreError;
use crate::keys::{META_LAST_DERIVED, META_NEW_SUBJECTS_SAVED, decode_seq};
pub(crate) use crate::keys::{be_u64, tail_u64};
use crate::role::Role;

pub use derive::Derived;
pub(crate) use derive::{all_plain, derive_plain_into, derive_records, forget_new_subject_windows};
pub(crate) use new_subjects::{CountsAtOpen, save_counts};
pub use read::{Bound, Mark, MarkKind, QuarantineEntry, StageAt, VoteTally};

/// Where an assertion is in its life. Only `Active` assertions take part in lenses by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Active,
    Retracted,
    Superseded,
    Quarantined,
    Rejected,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Active => "active",
            Stage::Retracted => "retracted",
            Stage::Superseded => "superseded",
            Stage::Quarantined => "quarantined",
            Stage::Rejected => "rejected",
        }
    }

    fn code(self) -> u8 {
        match self {
            Stage::Active => 0,
            Stage::Retracted => 1,
            Stage::Superseded => 2,
            Stage::Quarantined => 3,
            Stage::Rejected => 4,
        }
    }

    fn from_code(code: u8) -> Option<Stage> {
        Some(match code {
            0 => Stage::Active,
            1 => Stage::Retracted,
            2 => Stage::Superseded,
            3 => Stage::Quarantined,
            4 => Stage::Rejected,
            _ => return None,
        })
    }
}

/// Why a stage event happened; decides what a reinstatement restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Retract,
    Supersede,
    Quarantine,
    Review,
    Restore,
}

impl EventKind {
    fn code(self) -> u8 {
        match self {
            EventKind::Retract => b'r',
            EventKind::Supersede => b's',
            EventKind::Quarantine => b'q',
            EventKind::Review => b'v',
            EventKind::Restore => b'o',
        }
    }

    fn from_code(code: u8) -> Option<EventKind> {
        Some(match code {
            b'r' => EventKind::Retract,
            b's' => EventKind::Supersede,
            b'q' => EventKind::Quarantine,
            b'v' => EventKind::Review,
            b'o' => EventKind::Restore,
            _ => return None,
        })
    }
}

/// Why an assertion was quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarantineRule {
    /// A low-trust agent contradicted a gold-standard assertion.
    LowTrustContradictsGold,
    /// The agent created more new subjects in the window than allowed.
    NewSubjectBurst,
}

impl QuarantineRule {
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineRule::LowTrustContradictsGold => "low_trust_contradicts_gold",
            QuarantineRule::NewSubjectBurst => "new_subject_burst",
        }
    }
    fn code(self) -> u8 {
        match self {
            QuarantineRule::LowTrustContradictsGold => 1,
            QuarantineRule::NewSubjectBurst => 2,
        }
    }
    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(QuarantineRule::LowTrustContradictsGold),
            2 => Some(QuarantineRule::NewSubjectBurst),
            _ => None,
        }
    }
}

// Key tags inside the `truth` keyspace.
pub(crate) const TAG_STAGE: u8 = b'S';
pub(crate) const TAG_EFFECT_BY_CAUSE: u8 = b'C';
pub(crate) const TAG_EFFECT_BY_TARGET: u8 = b'T';
pub(crate) const TAG_PARENT: u8 = b'P';
pub(crate) const TAG_MARK: u8 = b'M';
pub(crate) const TAG_QUARANTINE: u8 = b'Q';
pub(crate) const TAG_GOLD: u8 = b'G';
pub(crate) const TAG_NEW_SUBJECT: u8 = b'N';
pub(crate) const TAG_EPOCH: u8 = b'E';
/// `X name 0x00 0u64`: present once a subject has an effective retraction (a point lookup that
/// spares scanning marks for every ordinary record).
pub(crate) const TAG_RETRACTED_NAME: u8 = b'X';
/// `K name 0x00 0u64`: present once any control record is marked under `name`; readers of
/// marks (votes on every consensus candidate, `GET /v1/assertions/{id}`) start with this
/// bloom-filtered point lookup instead of a range seek.
pub(crate) const TAG_MARKED: u8 = b'K';
/// `g subject 0x00 predicate 0x00`: present once the group has an effective gold standard.
pub(crate) const TAG_GOLD_GROUP: u8 = b'g';
/// `H target`: present once a record has any stage event; reads of records without one (the
/// common case) are a bloom-filtered point lookup instead of a range seek.
pub(crate) const TAG_HAS_EVENTS: u8 = b'H';
/// `F subject 0x00 0u64` → first sequence: subjects seen, for the new-subject rule.
pub(crate) const TAG_FIRST_SEEN: u8 = b'F';
/// Superseded while retracted: remembered so that a reinstatement restores `superseded`.
pub(crate) const TAG_SUPERSEDED_WHILE_RETRACTED: u8 = b'U';
/// `W target` → its quarantine rule's code: a held record while a retraction holds it. Moved
/// here from `Q` when it is retracted (it is not waiting for a review it cannot take: a review
/// acts on quarantined records only), and back to `Q` when a reinstatement returns it to
/// quarantine; a record the rules hold as it arrives retracted starts here. Read by
/// `stage_without_retraction`.
pub(crate) const TAG_HELD_WHILE_RETRACTED: u8 = b'W';
/// `R role 0x00 agent` → the sequence of the `stemedb:grants-role` record that granted it.
pub(crate) const TAG_ROLE: u8 = b'R';

/// The truth key of a role granted by a record.
pub(crate) fn role_key(role: Role, agent: &str) -> Vec<u8> {
    let mut key = vec![TAG_ROLE];
    key.extend_from_slice(role.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(agent.as_bytes());
    key
}

pub(crate) fn key2(tag: u8, a: u64, b: u64) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = tag;
    key[1..9].copy_from_slice(&a.to_be_bytes());
    key[9..].copy_from_slice(&b.to_be_bytes());
    key
}

pub(crate) fn key1(tag: u8, a: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = tag;
    key[1..].copy_from_slice(&a.to_be_bytes());
    key
}

/// `tag name 0x00` (then, for full keys, `seq_be8`).
pub(crate) fn name_prefix(tag: u8, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 10);
    key.push(tag);
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    key
}

pub(crate) fn name_key(tag: u8, name: &str, seq: u64) -> Vec<u8> {
    let mut key = name_prefix(tag, name);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// A stage event's value: `stage u8 | kind u8 | cause_seq be8 | valid_micros be8`.
pub(crate) fn encode_event(stage: Stage, kind: EventKind, cause: u64, micros: i64) -> [u8; 18] {
    let mut v = [0u8; 18];
    v[0] = stage.code();
    v[1] = kind.code();
    v[2..10].copy_from_slice(&cause.to_be_bytes());
    v[10..].copy_from_slice(&micros.to_be_bytes());
    v
}

/// A decoded stage event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub seq: u64,
    pub stage: Stage,
    pub kind: EventKind,
    pub cause: u64,
    pub micros: i64,
}

pub(crate) fn decode_event(key: &[u8], value: &[u8]) -> Result<Event, StoreError> {
    let bad = |reason: &str| StoreError::CorruptIndex {
        index: "truth/stages",
        reason: reason.to_owned(),
    };
    let stage = value
        .first()
        .copied()
        .and_then(Stage::from_code)
        .ok_or_else(|| bad("unknown stage"))?;
    let kind = value
        .get(1)
        .copied()
        .and_then(EventKind::from_code)
        .ok_or_else(|| bad("unknown event kind"))?;
    Ok(Event {
        seq: tail_u64(key, "truth/stages")?,
        stage,
        kind,
        cause: be_u64(value, 2, "truth/stages")?,
        micros: be_u64(value, 10, "truth/stages")? as i64,
    })
}

/// Loads the in-memory views only, deriving nothing: for an open that will derive everything
/// again (`StoreOptions::derive_at_open`).
pub(crate) fn load(shared: &Shared, last_applied: u64) -> Result<(), StoreError> {
    load_cache(shared, last_applied)
}

/// Loads the in-memory views, counts again the new subjects a crash left unsaved
/// (`new_subjects.rs`), derives any records the log holds beyond the derived state (a crash
/// between a group's log commit and its derivation leaves such a range) and saves the counts
/// (unless `counts` says to leave them).
pub(crate) fn recover(
    shared: &Shared,
    last_applied: u64,
    counts: CountsAtOpen,
) -> Result<(), StoreError> {
    load_cache(shared, last_applied)?;
    let last_derived = match shared.ks().meta.get(META_LAST_DERIVED)? {
        Some(v) => decode_seq(&v, "meta/last_derived_sequence")?,
        None => 0,
    };
    // Derived ≤ applied: the writer derives a group only after committing it. Read from disk,
    // so a violation is damage to report, not a bug to assert.
    if last_derived > last_applied {
        return Err(StoreError::CorruptMeta {
            key: "last_derived_sequence",
            reason: format!("{last_derived} is above last_applied_sequence {last_applied}"),
        });
    }
    new_subjects::replay_counts(shared, last_derived, counts)?;
    let mut seq = last_derived + 1;
    while seq <= last_applied {
        let end = (seq + 1024).min(last_applied + 1);
        let mut loaded = Vec::new();
        for s in seq..end {
            let stored = shared.read_record(s)?;
            let record = stored.parse()?;
            loaded.push((s, stored.recorded_at, record));
        }
        let refs: Vec<_> = loaded.iter().map(|(s, t, r)| (*s, *t, r)).collect();
        derive_records(shared, &refs)?;
        seq = end;
    }
    if counts == CountsAtOpen::Save {
        save_counts(shared)?;
    }
    shared.sync()?;
    Ok(())
}

fn load_cache(shared: &Shared, last_applied: u64) -> Result<(), StoreError> {
    shared.new_subject_windows()?.clear();
    let mut cache = TruthCache::default();
    load_legacy_roles(shared, &mut cache, last_applied)?;
    for role in [Role::Curator, Role::TrustRoot] {
        let mut prefix = vec![TAG_ROLE];
        prefix.extend_from_slice(role.as_str().as_bytes());
        prefix.push(0);
        for guard in shared.ks().truth.prefix(&prefix) {
            let (key, value) = guard.into_inner()?;
            let agent = utf8_tail(&key, prefix.len(), "truth/roles")?;
            let granted = decode_seq(&value, "truth/roles")?;
            cache.roles.entry((role, agent)).or_insert(granted);
        }
    }
    for guard in shared.ks().truth.prefix([TAG_EPOCH]) {
        let (key, value) = guard.into_inner()?;
        let prefix = value
            .get(16..)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or(StoreError::CorruptIndex {
                index: "truth/epochs",
                reason: "prefix is not UTF-8".into(),
            })?;
        cache.epochs.push(Epoch {
            seq: tail_u64(&key, "truth/epochs")?,
            prefix: prefix.to_owned(),
            before_micros: be_u64(&value, 0, "truth/epochs")? as i64,
            valid_micros: be_u64(&value, 8, "truth/epochs")? as i64,
        });
    }
    for tag in [TAG_RETRACTED_NAME, TAG_GOLD_GROUP] {
        for guard in shared.ks().truth.prefix([tag]) {
            cache.markers.add(&guard.key()?);
        }
    }
    for guard in shared.ks().truth.prefix([TAG_MARKED]) {
        cache.marked.add(&guard.key()?);
    }
    for guard in shared.ks().truth.prefix([TAG_HAS_EVENTS]) {
        cache
            .events
            .set(tail_u64(&guard.key()?, "truth/has-events")?);
    }
    *shared.truth_cache_mut()? = cache;
    Ok(())
}

/// Roles granted before grants were records (kept in `meta` under `role/…` by earlier
/// versions and by restores of their backups): administrator state, not derived, so a
/// re-derivation keeps them. One that holds after a sequence past `last_applied` is not
/// loaded: restores before the twenty-sixth session wrote every grant a backup's manifest
/// listed, including grants made after its last record, which would otherwise come to hold
/// when the store reached that sequence, with nothing in its log to show for them (and
/// `Db::grant_role`, which sees only durable grants, would append a record for them again
/// at every call).
fn load_legacy_roles(
    shared: &Shared,
    cache: &mut TruthCache,
    last_applied: u64,
) -> Result<(), StoreError> {
    for role in [Role::Curator, Role::TrustRoot] {
        let prefix = role.key_prefix();
        for guard in shared.ks().meta.prefix(prefix) {
            let (key, value) = guard.into_inner()?;
            let agent = utf8_tail(&key, prefix.len(), "meta/role")?;
            let after = decode_seq(&value, "meta/role")?;
            if after <= last_applied {
                cache.roles.insert((role, agent), after);
            }
        }
    }
    Ok(())
}

/// The UTF-8 text of `key` after its first `start` bytes.
fn utf8_tail(key: &[u8], start: usize, index: &'static str) -> Result<String, StoreError> {
    key.get(start..)
        .and_then(|tail| std::str::from_utf8(tail).ok())
        .map(str::to_owned)
        .ok_or(StoreError::CorruptIndex {
            index,
            reason: "agent id is not UTF-8".into(),
        })
}

/// The version of the rules that derive truth-maintenance state from the log. State derived
/// under older rules is derived again when the store is opened for writing, so that it always
/// equals what these rules derive from the log (the differential test's invariant, across
/// upgrades too). History: 1 (no key) until December 2026; 2: a record arriving retracted is
/// judged by the quarantine rules, and a held record leaves the review list while retracted
/// (`TAG_HELD_WHILE_RETRACTED`); 3: and when superseded.
pub const TRUTH_RULES_VERSION: u64 = 3;
const META_TRUTH_RULES: &[u8] = b"truth_rules_version";

/// Whether the derived state was made by [`TRUTH_RULES_VERSION`].
pub(crate) fn rules_are_current(shared: &Shared) -> Result<bool, StoreError> {
    let version = match shared.ks().meta.get(META_TRUTH_RULES)? {
        Some(v) => decode_seq(&v, "meta/truth_rules_version")?,
        None => 1,
    };
    if version > TRUTH_RULES_VERSION {
        return Err(StoreError::CorruptMeta {
            key: "truth_rules_version",
            reason: format!(
                "{version} is newer than this release's {TRUTH_RULES_VERSION}: open it with the \
                 release that wrote it"
            ),
        });
    }
    Ok(version == TRUTH_RULES_VERSION)
}

/// Records that the derived state is [`TRUTH_RULES_VERSION`]'s (after deriving it whole).
pub(crate) fn mark_rules_current(shared: &Shared) -> Result<(), StoreError> {
    shared
        .ks()
        .meta
        .insert(META_TRUTH_RULES, TRUTH_RULES_VERSION.to_be_bytes())?;
    shared.sync()?;
    Ok(())
}

/// Derives the truth state again from the whole log: [`clear`], [`recover`], then records the
/// rules' version. Used at open (older rules, or `rederive_truth`), by `rebuild-indexes` and by
/// a restore.
pub(crate) fn rederive(shared: &Shared, last_applied: u64) -> Result<(), StoreError> {
    clear(shared)?;
    recover(shared, last_applied, CountsAtOpen::Save)?;
    mark_rules_current(shared)
}

/// Removes every derived truth key, `last_derived_sequence` and the rules' version, so that
/// `recover` derives the whole log again. The two `meta` keys go first, made durable before
/// any truth key is removed: a crash in the middle then leaves a store that the next open
/// derives again, never half-cleared state marked current.
fn clear(shared: &Shared) -> Result<(), StoreError> {
    shared.ks().meta.remove(META_TRUTH_RULES)?;
    shared.ks().meta.remove(META_NEW_SUBJECTS_SAVED)?;
    shared.ks().meta.remove(META_LAST_DERIVED)?;
    shared.sync()?;
    shared.new_subject_windows()?.clear();
    shared.clear_keyspace(&shared.ks().truth)?;
    shared.sync()?;
    Ok(())
}
