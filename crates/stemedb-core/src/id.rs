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
        lower_hex(&self.0)
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
/// A table lookup per character: every write's key and signature pass here, and the `hex`
/// crate's decoder (which also takes uppercase, checked apart) cost 2,600 instructions a record
/// of batch ingest (docs/benchmarks.md, "Nineteenth session").
pub(crate) fn parse_lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = (
            LOWER_HEX[usize::from(pair[0])],
            LOWER_HEX[usize::from(pair[1])],
        );
        if high == NOT_HEX || low == NOT_HEX {
            return None;
        }
        *byte = high << 4 | low;
    }
    Some(out)
}

/// `bytes` as lowercase hex, two digits a byte. Every write's answer carries its id in hex,
/// and the `hex` crate's encoder, a character at a time through an iterator, cost 2,400
/// instructions an id (docs/benchmarks.md, "Nineteenth session").
pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Marks a byte that is not a lowercase hex digit in [`LOWER_HEX`].
const NOT_HEX: u8 = 0xff;

/// Each byte's value as a lowercase hex digit, or [`NOT_HEX`].
const LOWER_HEX: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut digit = 0;
    while digit < 16 {
        table[b"0123456789abcdef"[digit] as usize] = digit as u8;
        digit += 1;
    }
    table
};

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

#[cfg(test)]
mod tests {
    use super::{lower_hex, parse_lower_hex};

    #[test]
    fn lowercase_hex_of_the_exact_length_decodes_and_nothing_else_does_and_bytes_encode_back() {
        let every_byte: String = (0..=255u8).map(|b| format!("{b:02x}")).collect();
        let cases: &[(&str, &str, Option<[u8; 2]>)] = &[
            ("lowercase", "0aff", Some([0x0a, 0xff])),
            ("digits only", "1234", Some([0x12, 0x34])),
            ("uppercase", "0AFF", None),
            ("mixed case", "0aFf", None),
            ("too short", "0af", None),
            ("too long", "0aff0", None),
            ("empty", "", None),
            ("a letter past f", "0g00", None),
            ("a space", "0a f", None),
            ("a sign", "+0af", None),
            ("a multi-byte character", "é0a", None),
            ("a NUL byte", "0a\0f", None),
        ];
        for (name, text, expected) in cases {
            check(name, text, *expected);
        }
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(lower_hex(&all), every_byte, "every byte value, encoded");
        assert_eq!(
            lower_hex(&all),
            hex::encode(&all),
            "as the hex crate encodes"
        );
        let decoded = parse_lower_hex::<256>(&every_byte);
        let expected: Vec<u8> = (0..=255u8).collect();
        assert_eq!(
            decoded.map(|d| d.to_vec()),
            Some(expected),
            "every byte value"
        );
    }

    fn check(name: &str, text: &str, expected: Option<[u8; 2]>) {
        assert_eq!(parse_lower_hex::<2>(text), expected, "{name}: {text:?}");
    }
}
