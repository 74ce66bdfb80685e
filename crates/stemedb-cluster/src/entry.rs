//! The one wire shape of a log entry in the replicated stream: a version byte, the record's
//! 64-byte signature, then its canonical body bytes (the bytes its id hashes). The message id
//! (`Nats-Msg-Id`) is the record's id in hex, so the stream drops a re-sent record within its
//! duplicate window. Every node checks what it reads: an entry that fails (an unknown version,
//! a short or malformed body, a signature that does not verify) is refused by name and stores
//! nothing, identically on every node.
use stemedb::core::{Limits, Signature, SignedAssertion};

/// The entry layout this build writes and reads.
const ENTRY_VERSION: u8 = 1;
const SIGNATURE_BYTES: usize = 64;

/// Why a stream entry was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("entry of {len} bytes is too short to hold a version byte and a signature")]
    Short { len: usize },
    #[error("entry has layout version {found}; this build reads only version {ENTRY_VERSION}")]
    UnknownVersion { found: u8 },
    #[error("entry body is not a valid assertion: {0}")]
    Body(String),
    #[error("entry's signature does not verify for assertion {id}")]
    Signature { id: String },
}

/// Encodes a verified record as a stream entry.
pub fn encode_entry(record: &SignedAssertion) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + SIGNATURE_BYTES + record.canonical.len());
    bytes.push(ENTRY_VERSION);
    bytes.extend_from_slice(&record.signature.0);
    bytes.extend_from_slice(&record.canonical);
    bytes
}

/// Decodes and verifies a stream entry. The body rules are the widest (`Limits::default`),
/// as for stored records: the publishing node applied its own, stricter ones.
pub fn decode_entry(bytes: &[u8]) -> Result<SignedAssertion, EntryError> {
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(EntryError::Short { len: 0 });
    };
    if version != ENTRY_VERSION {
        return Err(EntryError::UnknownVersion { found: version });
    }
    let (Some(signature), Some(canonical)) =
        (rest.get(..SIGNATURE_BYTES), rest.get(SIGNATURE_BYTES..))
    else {
        return Err(EntryError::Short { len: bytes.len() });
    };
    let mut sig = [0u8; SIGNATURE_BYTES];
    sig.copy_from_slice(signature);
    let record = SignedAssertion::from_canonical(canonical, Signature(sig), &Limits::default())
        .map_err(|e| EntryError::Body(e.to_string()))?;
    if !record.verify() {
        return Err(EntryError::Signature {
            id: record.id.to_hex(),
        });
    }
    Ok(record)
}
