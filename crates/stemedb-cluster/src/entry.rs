//! The one wire shape of a log entry in the replicated stream: a version byte, then one frame
//! per record — the canonical body's length (u32, big-endian), the record's 64-byte signature,
//! the canonical body bytes (the bytes its id hashes). A single write is one frame; a batch
//! travels as chunks of frames, each entry below the server's payload limit, in order. The
//! message id (`Nats-Msg-Id`) is the record's id for one record, and a hash of the chunk's
//! ids for a chunk, so the stream drops an entry re-sent within its duplicate window.
//!
//! Every node checks what it reads: an entry that fails (an unknown version, a truncated
//! frame, a malformed body, a signature that does not verify) is refused whole, by name, and
//! stores nothing, identically on every node.
use stemedb::core::{Limits, Signature, SignedAssertion};

/// The entry layout this build writes and reads.
const ENTRY_VERSION: u8 = 1;
const SIGNATURE_BYTES: usize = 64;
const LENGTH_BYTES: usize = 4;
/// A frame's bytes besides the canonical body.
pub const FRAME_OVERHEAD_BYTES: usize = LENGTH_BYTES + SIGNATURE_BYTES;

/// Why a stream entry was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("entry is empty")]
    Empty,
    #[error("entry has layout version {found}; this build reads only version {ENTRY_VERSION}")]
    UnknownVersion { found: u8 },
    #[error("frame {frame} is truncated at byte {at}")]
    Truncated { frame: usize, at: usize },
    #[error("entry holds no record")]
    NoRecord,
    #[error("frame {frame}'s body is not a valid assertion: {reason}")]
    Body { frame: usize, reason: String },
    #[error("frame {frame}'s signature does not verify for assertion {id}")]
    Signature { frame: usize, id: String },
}

/// The size of `record`'s frame.
pub fn frame_bytes(record: &SignedAssertion) -> usize {
    FRAME_OVERHEAD_BYTES + record.canonical.len()
}

/// Encodes verified records as one stream entry.
pub fn encode_entry(records: &[SignedAssertion]) -> Vec<u8> {
    let size = 1 + records.iter().map(frame_bytes).sum::<usize>();
    let mut bytes = Vec::with_capacity(size);
    bytes.push(ENTRY_VERSION);
    for record in records {
        // Canonical bodies are bounded far below 4 GiB by the body limits.
        let len = u32::try_from(record.canonical.len()).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&record.signature.0);
        bytes.extend_from_slice(&record.canonical);
    }
    bytes
}

/// Decodes and verifies a stream entry (signatures checked as one batch). The body rules are
/// the widest (`Limits::default`), as for stored records: the publishing node applied its own.
pub fn decode_entry(bytes: &[u8]) -> Result<Vec<SignedAssertion>, EntryError> {
    decode_entries(&[bytes])
        .pop()
        .unwrap_or(Err(EntryError::Empty))
}

/// Decodes and verifies many entries, one verdict per entry, with the signatures of all of
/// them checked as one batch: a batch of a few hundred costs less per signature than one of
/// 50 (past ~190 points the multiscalar multiplication switches from Straus to Pippenger),
/// and an applier reads runs of entries at a time. A bad signature refuses its own entry only.
pub fn decode_entries(entries: &[&[u8]]) -> Vec<Result<Vec<SignedAssertion>, EntryError>> {
    let mut decoded: Vec<_> = entries.iter().map(|bytes| parse_entry(bytes)).collect();
    let records = decoded.iter().flat_map(|entry| entry.iter().flatten());
    let mut verdicts = SignedAssertion::verify_all(records).into_iter();
    for entry in &mut decoded {
        let Ok(records) = entry else { continue };
        let ok: Vec<bool> = verdicts.by_ref().take(records.len()).collect();
        if let Some(frame) = ok.iter().position(|ok| !ok) {
            let id = records[frame].id.to_hex();
            *entry = Err(EntryError::Signature { frame, id });
        }
    }
    decoded
}

/// Splits an entry into its records, checking layout and bodies but not signatures.
fn parse_entry(bytes: &[u8]) -> Result<Vec<SignedAssertion>, EntryError> {
    let (&version, mut rest) = bytes.split_first().ok_or(EntryError::Empty)?;
    if version != ENTRY_VERSION {
        return Err(EntryError::UnknownVersion { found: version });
    }
    let mut records = Vec::new();
    while !rest.is_empty() {
        let frame = records.len();
        let at = bytes.len() - rest.len();
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
    let (mut start, mut size) = (0, 1);
    for (i, record) in records.iter().enumerate() {
        let frame = frame_bytes(record);
        if i > start && size + frame > entry_bytes_max {
            out.push(&records[start..i]);
            (start, size) = (i, 1);
        }
        size += frame;
    }
    if start < records.len() {
        out.push(&records[start..]);
    }
    out
}
