//! Key layouts of the index keyspaces (docs/file-format.md). Names never contain control
//! characters (the model rejects them), so 0x00 is a safe separator.
use crate::StoreError;

pub const SEP: u8 = 0x00;

/// `meta` key: the last sequence applied to the log and indexes.
pub(crate) const META_LAST_APPLIED: &[u8] = b"last_applied_sequence";
/// `meta` key: cluster mode's last stream sequence applied, written in the same atomic batch
/// as the records that entry (and every one before it) brought.
pub(crate) const META_STREAM_APPLIED: &[u8] = b"last_stream_sequence";
/// `meta` key: the last sequence whose truth-maintenance state is derived (≤ last applied).
pub(crate) const META_LAST_DERIVED: &[u8] = b"last_derived_sequence";
/// `meta` key: the last sequence whose new subjects the saved `N` counters hold (≤ last derived;
/// `truth/new_subjects.rs`).
pub(crate) const META_NEW_SUBJECTS_SAVED: &[u8] = b"new_subjects_saved_sequence";

/// FNV-1a of a key: cheap, for spreading the store's own keys (group prefixes) over shards
/// and slots. Not a defence against chosen keys: a collision there must only cost time.
pub(crate) fn fnv1a(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub fn seq_key(sequence: u64) -> [u8; 8] {
    sequence.to_be_bytes()
}

/// `name 0x00 seq_be8`: used by the agent and source indexes.
pub fn name_seq_key(name: &str, sequence: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 9);
    key.extend_from_slice(name.as_bytes());
    key.push(SEP);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// `name 0x00`: the prefix of every agent/source index key of `name`.
pub fn name_seq_prefix(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 1);
    key.extend_from_slice(name.as_bytes());
    key.push(SEP);
    key
}

/// `subject 0x00 predicate 0x00 seq_be8`: serves exact subject+predicate, exact subject
/// (prefix `subject 0x00`) and subject-prefix (prefix `drug/`) scans from one ordered keyspace.
pub fn subject_predicate_key(subject: &str, predicate: &str, sequence: u64) -> Vec<u8> {
    group_sequence_key(&group_prefix(subject, predicate, 8), sequence)
}

/// `group sequence`: the `by_subject` key of `sequence` in the group whose prefix is `group`.
pub(crate) fn group_sequence_key(group: &[u8], sequence: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(group.len() + 8);
    key.extend_from_slice(group);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// `subject 0x00 predicate 0x00`: the prefix of a group's `by_subject` keys, and its `groups`
/// key; `room` more bytes are reserved.
pub fn group_prefix(subject: &str, predicate: &str, room: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(subject.len() + predicate.len() + 2 + room);
    key.extend_from_slice(subject.as_bytes());
    key.push(SEP);
    key.extend_from_slice(predicate.as_bytes());
    key.push(SEP);
    key
}

/// The (subject, predicate) a `by_subject` key belongs to, and its sequence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub subject: String,
    pub predicate: String,
}

impl GroupKey {
    /// Splits a `by_subject` key into its group and sequence.
    pub fn parse(key: &[u8]) -> Result<(GroupKey, u64), StoreError> {
        let bad = |reason: &str| StoreError::CorruptIndex {
            index: "by_subject",
            reason: reason.to_owned(),
        };
        if key.len() < 10 {
            return Err(bad("key too short"));
        }
        let (names, seq) = key.split_at(key.len() - 8);
        let seq_bytes: [u8; 8] = seq.try_into().map_err(|_| bad("bad sequence bytes"))?;
        let group = Self::parse_names(names).map_err(bad)?;
        Ok((group, u64::from_be_bytes(seq_bytes)))
    }

    /// Reads a group's `groups` key, `subject 0x00 predicate 0x00` (its `by_subject` prefix).
    pub fn parse_prefix(key: &[u8]) -> Result<GroupKey, StoreError> {
        Self::parse_names(key).map_err(|reason| StoreError::CorruptIndex {
            index: "groups",
            reason: reason.to_owned(),
        })
    }

    /// `subject 0x00 predicate 0x00`, or why it is not one.
    fn parse_names(names: &[u8]) -> Result<GroupKey, &'static str> {
        let names = names.strip_suffix(&[SEP]).ok_or("missing separator")?;
        let split = names
            .iter()
            .position(|b| *b == SEP)
            .ok_or("missing separator")?;
        let subject = std::str::from_utf8(&names[..split]).map_err(|_| "subject is not UTF-8")?;
        let predicate =
            std::str::from_utf8(&names[split + 1..]).map_err(|_| "predicate is not UTF-8")?;
        Ok(GroupKey {
            subject: subject.to_owned(),
            predicate: predicate.to_owned(),
        })
    }

    /// The smallest key strictly after every key of this group: `subject 0x00 predicate 0x01`.
    pub fn resume_after(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.subject.len() + self.predicate.len() + 2);
        key.extend_from_slice(self.subject.as_bytes());
        key.push(SEP);
        key.extend_from_slice(self.predicate.as_bytes());
        key.push(0x01);
        key
    }
}

/// A big-endian sequence stored as an index or meta value.
pub(crate) fn decode_seq(bytes: &[u8], index: &'static str) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::CorruptIndex {
            index,
            reason: format!("sequence value is {} bytes", bytes.len()),
        })
}

/// An `agents` value: the agent's public key, then (40 bytes) the sequence of its first
/// record, written together with it. A value of 32 bytes is read as the key alone, as the
/// writer always has; any other length is damage, named with `agent`. One reading for the
/// writer (which needs the key of a binding not yet durable) and the readers (which show a
/// binding only once its first record is durable).
pub(crate) fn decode_binding(
    agent: &str,
    value: &[u8],
) -> Result<([u8; 32], Option<u64>), StoreError> {
    let damaged = || StoreError::CorruptIndex {
        index: "agents",
        reason: format!(
            "the binding of {agent:?} is {} bytes (32 or 40 expected)",
            value.len()
        ),
    };
    let key = value
        .get(..32)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(damaged)?;
    let first = match value.len() {
        32 => None,
        40 => value
            .get(32..)
            .map(|b| decode_seq(b, "agents"))
            .transpose()?,
        _ => return Err(damaged()),
    };
    Ok((key, first))
}

/// The trailing big-endian u64 of a key.
pub(crate) fn tail_u64(key: &[u8], index: &'static str) -> Result<u64, StoreError> {
    key.len()
        .checked_sub(8)
        .and_then(|start| key.get(start..))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::CorruptIndex {
            index,
            reason: format!("key of {} bytes has no sequence", key.len()),
        })
}

pub(crate) fn be_u64(bytes: &[u8], at: usize, index: &'static str) -> Result<u64, StoreError> {
    bytes
        .get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::CorruptIndex {
            index,
            reason: format!("value of {} bytes is too short", bytes.len()),
        })
}
