//! The one wire shape of a log entry in the replicated stream: a version byte, a 32-byte
//! authentication tag, then one frame per record — the canonical body's length (u32,
//! big-endian), the record's 64-byte signature, the canonical body bytes (the bytes its id
//! hashes). The records of a group of writes (`sink.rs`) travel as chunks of frames, each entry
//! below the server's payload limit, in order. The message id (`Nats-Msg-Id`) is the record's id for
//! one record, and a hash of the chunk's ids for a chunk, so the stream drops an entry re-sent
//! within its duplicate window.
//!
//! The tag is a keyed BLAKE3 of the version byte and the frames, under a key derived from the
//! custodial master key every node shares ([`EntryKey`]). It says that a node of this cluster
//! wrote the entry after checking and verifying its records as a single node checks a write,
//! so a node applying it parses the bodies (the id is their hash) but does not verify every
//! signature again: that was 20 µs of a follower's ~65 µs per record. The signatures stay in
//! the records, verifiable offline (`stemedb check`, audit exports). An entry whose tag does not
//! match was not written by a node of this cluster, or was altered: it is refused whole, like
//! any damaged entry, identically on every node holding the cluster's key. A node holding
//! another key is refused at start (`Cluster::start` checks its key against the admin stream).
use stemedb::core::{Limits, Signature, SignedAssertion};

/// The entry layout this build writes and reads (1, before the tag, is no longer read).
const ENTRY_VERSION: u8 = 2;
const TAG_BYTES: usize = 32;
const SIGNATURE_BYTES: usize = 64;
const LENGTH_BYTES: usize = 4;
/// A frame's bytes besides the canonical body.
pub const FRAME_OVERHEAD_BYTES: usize = LENGTH_BYTES + SIGNATURE_BYTES;
/// An entry's bytes besides its frames.
pub const ENTRY_OVERHEAD_BYTES: usize = 1 + TAG_BYTES;
/// BLAKE3 key-derivation contexts: one key per stream, so that an entry of one stream is never
/// taken as an entry of the other.
const LOG_KEY_CONTEXT: &str = "stemedb 2026-12 cluster log entry tag";
const ADMIN_KEY_CONTEXT: &str = "stemedb 2026-12 cluster admin entry tag";
const HEARTBEAT_KEY_CONTEXT: &str = "stemedb 2026-12 cluster heartbeat tag";

/// The key that tags a stream's entries, derived from the custodial master key (configuration,
/// the same on every node). Never printed.
#[derive(Clone)]
pub struct EntryKey([u8; 32]);

impl std::fmt::Debug for EntryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntryKey(****)")
    }
}

impl EntryKey {
    /// The key of the log stream's entries.
    pub fn for_log(master_key: &[u8; 32]) -> EntryKey {
        EntryKey(blake3::derive_key(LOG_KEY_CONTEXT, master_key))
    }

    /// The key of the admin stream's entries.
    pub fn for_admin(master_key: &[u8; 32]) -> EntryKey {
        EntryKey(blake3::derive_key(ADMIN_KEY_CONTEXT, master_key))
    }

    /// The key of the nodes' heartbeats: the members subject is open to any NATS client, and
    /// an untagged heartbeat from one made a member (and a metric series) of any name.
    pub fn for_heartbeat(master_key: &[u8; 32]) -> EntryKey {
        EntryKey(blake3::derive_key(HEARTBEAT_KEY_CONTEXT, master_key))
    }

    /// The tag of `parts`, hashed one after the other.
    pub(crate) fn tag(&self, parts: &[&[u8]]) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize()
    }

    /// Whether `tag` is the tag of `parts` (compared in constant time).
    pub(crate) fn matches(&self, tag: &[u8; TAG_BYTES], parts: &[&[u8]]) -> bool {
        self.tag(parts) == blake3::Hash::from_bytes(*tag)
    }
}

/// A message as an entry: its tag, then its bytes (admin changes and heartbeats).
pub(crate) fn seal(key: &EntryKey, change: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(TAG_BYTES + change.len());
    entry.extend_from_slice(key.tag(&[change]).as_bytes());
    entry.extend_from_slice(change);
    entry
}

/// The bytes an entry carries, if its tag matches.
pub(crate) fn open<'a>(key: &EntryKey, entry: &'a [u8]) -> Option<&'a [u8]> {
    let (tag, change) = entry.split_first_chunk::<TAG_BYTES>()?;
    key.matches(tag, &[change]).then_some(change)
}

/// Why a stream entry was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("entry is empty")]
    Empty,
    #[error("entry has layout version {found}; this build reads only version {ENTRY_VERSION}")]
    UnknownVersion { found: u8 },
    #[error(
        "entry's authentication tag does not match: a node with another master key wrote it, or \
         it was altered"
    )]
    Unauthenticated,
    #[error("frame {frame} is truncated at byte {at}")]
    Truncated { frame: usize, at: usize },
    #[error("entry holds no record")]
    NoRecord,
    #[error("frame {frame}'s body is not a valid assertion: {reason}")]
    Body { frame: usize, reason: String },
}

impl EntryError {
    /// The metric label of the refusal: `unauthenticated` (the tag, the version), else
    /// `malformed` (which only a bug in the node that wrote an authentic entry could cause).
    pub fn kind(&self) -> &'static str {
        match self {
            EntryError::Empty | EntryError::UnknownVersion { .. } | EntryError::Unauthenticated => {
                "unauthenticated"
            }
            _ => "malformed",
        }
    }
}

/// The size of `record`'s frame.
pub fn frame_bytes(record: &SignedAssertion) -> usize {
    FRAME_OVERHEAD_BYTES + record.canonical.len()
}

/// Encodes verified records as one tagged stream entry.
pub fn encode_entry(key: &EntryKey, records: &[SignedAssertion]) -> Vec<u8> {
    let size = ENTRY_OVERHEAD_BYTES + records.iter().map(frame_bytes).sum::<usize>();
    let mut bytes = Vec::with_capacity(size);
    bytes.push(ENTRY_VERSION);
    bytes.extend_from_slice(&[0; TAG_BYTES]);
    for record in records {
        // Canonical bodies are bounded far below 4 GiB by the body limits.
        let len = u32::try_from(record.canonical.len()).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&record.signature.0);
        bytes.extend_from_slice(&record.canonical);
    }
    let tag = key.tag(&[&[ENTRY_VERSION], &bytes[ENTRY_OVERHEAD_BYTES..]]);
    bytes[1..ENTRY_OVERHEAD_BYTES].copy_from_slice(tag.as_bytes());
    bytes
}

/// Authenticates a stream entry and decodes its records. The body rules are the widest
/// (`Limits::default`), as for stored records: the publishing node applied its own, and
/// verified every signature before it wrote the entry.
pub fn decode_entry(key: &EntryKey, bytes: &[u8]) -> Result<Vec<SignedAssertion>, EntryError> {
    let (&version, rest) = bytes.split_first().ok_or(EntryError::Empty)?;
    if version != ENTRY_VERSION {
        return Err(EntryError::UnknownVersion { found: version });
    }
    let (tag, frames) = rest
        .split_first_chunk::<TAG_BYTES>()
        .ok_or(EntryError::Unauthenticated)?;
    if !key.matches(tag, &[&[version], frames]) {
        return Err(EntryError::Unauthenticated);
    }
    parse_frames(frames, ENTRY_OVERHEAD_BYTES)
}

/// Splits an entry's frames (starting at byte `offset` of the entry) into records, checking
/// layout and bodies.
fn parse_frames(frames: &[u8], offset: usize) -> Result<Vec<SignedAssertion>, EntryError> {
    let mut records = Vec::new();
    let mut rest = frames;
    while !rest.is_empty() {
        let frame = records.len();
        let at = offset + frames.len() - rest.len();
        let truncated = EntryError::Truncated { frame, at };
        let (len, after) = rest
            .split_first_chunk::<LENGTH_BYTES>()
            .ok_or(truncated.clone())?;
        let (signature, after) = after
            .split_first_chunk::<SIGNATURE_BYTES>()
            .ok_or(truncated.clone())?;
        let len = u32::from_be_bytes(*len) as usize;
        let canonical = after.get(..len).ok_or(truncated)?;
        let record =
            SignedAssertion::from_canonical(canonical, Signature(*signature), &Limits::default())
                .map_err(|e| EntryError::Body {
                frame,
                reason: e.to_string(),
            })?;
        records.push(record);
        rest = &after[len..];
    }
    if records.is_empty() {
        return Err(EntryError::NoRecord);
    }
    Ok(records)
}

/// The message id of an entry: the record's id for one record, else a BLAKE3 over the ids.
pub fn entry_id(records: &[SignedAssertion]) -> String {
    match records {
        [one] => one.id.to_hex(),
        many => {
            let mut hasher = blake3::Hasher::new();
            for record in many {
                hasher.update(record.id.as_bytes());
            }
            format!("chunk-{}", hasher.finalize().to_hex())
        }
    }
}

/// Splits records into chunks whose entries stay within `entry_bytes_max`, in order (a
/// record larger than that alone is a chunk of its own; the payload check at start keeps
/// every record below the server's limit).
pub fn chunks(records: &[SignedAssertion], entry_bytes_max: usize) -> Vec<&[SignedAssertion]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, ENTRY_OVERHEAD_BYTES);
    for (i, record) in records.iter().enumerate() {
        let frame = frame_bytes(record);
        if i > start && size + frame > entry_bytes_max {
            out.push(&records[start..i]);
            (start, size) = (i, ENTRY_OVERHEAD_BYTES);
        }
        size += frame;
    }
    if start < records.len() {
        out.push(&records[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{ENTRY_OVERHEAD_BYTES, ENTRY_VERSION, EntryError, EntryKey, decode_entry};

    /// `frames` as an authentic entry: tagged with `key` whatever they hold.
    fn tagged(key: &EntryKey, frames: &[u8]) -> Vec<u8> {
        let mut bytes = vec![ENTRY_VERSION];
        bytes.extend_from_slice(key.tag(&[&[ENTRY_VERSION], frames]).as_bytes());
        bytes.extend_from_slice(frames);
        bytes
    }

    /// An authentic entry can only be malformed through a bug in the node that wrote it; it is
    /// refused by name, alike on every node.
    #[test]
    fn an_authentic_but_malformed_entry_is_refused_by_name() {
        let key = EntryKey::for_log(&[3; 32]);
        let frame_of = |body: &[u8]| {
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&[0; 64]);
            frame.extend_from_slice(body);
            frame
        };
        let at = ENTRY_OVERHEAD_BYTES;
        let cases: Vec<(&str, Vec<u8>, EntryError)> = vec![
            ("no frame", Vec::new(), EntryError::NoRecord),
            (
                "cut in a length",
                vec![0, 0],
                EntryError::Truncated { frame: 0, at },
            ),
            (
                "cut in a body",
                frame_of(b"{}")[..69].to_vec(),
                EntryError::Truncated { frame: 0, at },
            ),
        ];
        for (name, frames, expected) in cases {
            let got = decode_entry(&key, &tagged(&key, &frames)).map(|records| records.len());
            assert_eq!(got, Err(expected.clone()), "{name}");
            assert_eq!(expected.kind(), "malformed", "{name}");
        }
        let not_json = decode_entry(&key, &tagged(&key, &frame_of(b"not json")));
        assert!(
            matches!(&not_json, Err(EntryError::Body { frame: 0, .. })),
            "{not_json:?}"
        );
    }
}
