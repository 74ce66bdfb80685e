//! Assertion ids: BLAKE3-256 of the canonical bytes, shown as lowercase hex.
use std::fmt;
use std::str::FromStr;

use crate::ValidationError;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssertionId(pub [u8; 32]);

impl AssertionId {
    /// The id of a body: BLAKE3-256 over its canonical (RFC 8785) bytes.
    pub fn of_canonical(canonical: &[u8]) -> Self {
        Self(*blake3::hash(canonical).as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lowercase hex characters; `field` names the field in the error.
    pub fn parse_field(text: &str, field: &str) -> Result<Self, ValidationError> {
        parse_lower_hex::<32>(text).map(Self).ok_or_else(|| {
            ValidationError::new(
                field,
                "assertion_id",
                "must be 64 lowercase hex characters (an assertion id)",
            )
        })
    }
}

/// Decodes exactly `N` bytes of lowercase hex; uppercase is refused so that one value has one spelling.
pub(crate) fn parse_lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

impl fmt::Display for AssertionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for AssertionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AssertionId({})", self.to_hex())
    }
}

impl FromStr for AssertionId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_field(s, "id")
    }
}
