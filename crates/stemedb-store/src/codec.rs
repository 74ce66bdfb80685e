//! The log record envelope (format version 1) and its checks.
//!
//! ```text
//! checksum[8] | envelope_version u8 = 1 | recorded_at i64 BE (µs) | signature[64] | canonical body bytes
//! ```
//! `checksum` is the first 8 bytes of BLAKE3(seq_be8 || everything after the checksum): it binds
//! the record to its log position and catches any flipped bit in the envelope. The body is also
//! covered by its id (BLAKE3 of the body), and the id by the signature.
use std::sync::Arc;

use stemedb_core::{AssertionId, Signature, Timestamp};

use crate::StoreError;

const ENVELOPE_VERSION: u8 = 1;
const HEADER_LEN: usize = 8 + 1 + 8 + 64;

/// A record as held in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub sequence: u64,
    pub recorded_at: Timestamp,
    pub signature: Signature,
    /// Private, as `id` is: the two stay each other's (read with [`StoredRecord::canonical`]).
    /// Shared: a read from the record cache clones the record, and a winner query hands the
    /// bytes on to its answer, without copying them.
    canonical: Arc<[u8]>,
    /// BLAKE3 of `canonical`, computed once when the record is made: records are read many
    /// times from the record cache, and hashing each read was 7 % of a reliability pass.
    id: AssertionId,
}

impl StoredRecord {
    pub fn new(
        sequence: u64,
        recorded_at: Timestamp,
        signature: Signature,
        canonical: impl Into<Arc<[u8]>>,
    ) -> Self {
        let canonical = canonical.into();
        let id = AssertionId::of_canonical(&canonical);
        Self {
            sequence,
            recorded_at,
            signature,
            canonical,
            id,
        }
    }

    /// The record's id: the BLAKE3 of its canonical bytes.
    pub fn id(&self) -> AssertionId {
        self.id
    }

    /// The body's canonical bytes (what the id hashes and the signature covers).
    pub fn canonical(&self) -> &[u8] {
        &self.canonical
    }

    /// The canonical bytes, taking the record apart.
    pub fn into_canonical(self) -> Arc<[u8]> {
        self.canonical
    }

    /// The typed assertion, with the widest limits (stored records passed stricter ones);
    /// a body that fails is damage, named by sequence.
    pub fn parse(&self) -> Result<stemedb_core::SignedAssertion, StoreError> {
        stemedb_core::SignedAssertion::from_canonical(
            &self.canonical,
            self.signature,
            &stemedb_core::Limits::default(),
        )
        .map_err(|e| StoreError::CorruptRecord {
            sequence: self.sequence,
            reason: format!("body is not a valid assertion: {e}"),
        })
    }
}

fn checksum(sequence: u64, rest: &[u8]) -> [u8; 8] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&sequence.to_be_bytes());
    hasher.update(rest);
    let mut out = [0u8; 8];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    out
}

/// Encodes a record's envelope from borrowed parts (the write path holds them in the signed
/// assertion already; no intermediate copy of the body).
pub fn encode_record(
    sequence: u64,
    recorded_at: Timestamp,
    signature: &Signature,
    canonical: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + canonical.len());
    out.extend_from_slice(&[0u8; 8]);
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&recorded_at.micros().to_be_bytes());
    out.extend_from_slice(&signature.0);
    out.extend_from_slice(canonical);
    let sum = checksum(sequence, &out[8..]);
    out[..8].copy_from_slice(&sum);
    out
}

/// Decodes and checks a log value stored under `sequence`.
pub fn decode_record(sequence: u64, bytes: &[u8]) -> Result<StoredRecord, StoreError> {
    let corrupt = |reason: String| StoreError::CorruptRecord { sequence, reason };
    if bytes.len() < HEADER_LEN + 2 {
        return Err(corrupt(format!(
            "envelope is {} bytes, shorter than its header",
            bytes.len()
        )));
    }
    let (sum, rest) = bytes.split_at(8);
    if sum != checksum(sequence, rest) {
        return Err(corrupt("checksum mismatch".into()));
    }
    if rest[0] != ENVELOPE_VERSION {
        return Err(corrupt(format!("unknown envelope version {}", rest[0])));
    }
    let mut micros = [0u8; 8];
    micros.copy_from_slice(&rest[1..9]);
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&rest[9..73]);
    Ok(StoredRecord::new(
        sequence,
        Timestamp::from_micros(i64::from_be_bytes(micros)),
        Signature(signature),
        &rest[73..],
    ))
}
