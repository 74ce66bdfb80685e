//! The identifier rule for new records: `subject`, `predicate`, `agent_id` and each `sources`
//! entry must be in Unicode NFC and hold no invisible or bidi format character (General_Category
//! Cf, the fixed list below), so that text that looks the same is the same key (docs/signing.md).
use crate::{AssertionBody, ValidationError};

/// General_Category Cf (format characters) as of Unicode 16.0, inclusive ranges: zero-width
/// characters, bidi marks, embeddings, overrides and isolates, the byte order mark, soft hyphen,
/// interlinear annotation, tag characters and others. Fixed here (not taken from whatever tables
/// a library ships) so that every implementation refuses exactly the same characters.
pub const INVISIBLE_CHAR_RANGES: [(u32, u32); 21] = [
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Whether `c` is one of [`INVISIBLE_CHAR_RANGES`].
pub fn is_invisible_char(c: char) -> bool {
    let c = u32::from(c);
    INVISIBLE_CHAR_RANGES
        .iter()
        .any(|&(low, high)| (low..=high).contains(&c))
}

/// Checks one identifier: no invisible character (checked first), then NFC. Control characters
/// (Cc) are refused earlier, by the body rules, with rule `no_control_chars`.
pub fn check_identifier(text: &str, field: &str) -> Result<(), ValidationError> {
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| is_invisible_char(c)) {
        return Err(ValidationError::new(
            field,
            "invisible_char",
            format!(
                "holds the invisible or bidi format character U+{:04X} at byte {at}; identifiers may not",
                u32::from(c)
            ),
        ));
    }
    if !unicode_normalization::is_nfc(text) {
        return Err(ValidationError::new(
            field,
            "nfc",
            "is not in Unicode Normalization Form C (NFC); normalize it before signing",
        ));
    }
    Ok(())
}

/// The identifier rule over a body, in field order: subject, predicate, agent_id, sources.
/// Applied to new records only (wire input and signing); stored records are not re-checked.
pub(crate) fn check_identifiers(body: &AssertionBody) -> Result<(), ValidationError> {
    check_identifier(&body.subject, "subject")?;
    check_identifier(&body.predicate, "predicate")?;
    check_identifier(&body.agent_id, "agent_id")?;
    body.sources
        .iter()
        .enumerate()
        .try_for_each(|(i, s)| check_identifier(s, &format!("sources[{i}]")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranges_are_sorted_and_disjoint() {
        for pair in INVISIBLE_CHAR_RANGES.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn identifiers_table() {
        for (text, want) in [
            ("drug/aspirin", None),
            ("word/\u{d55c}\u{ad6d}\u{c5b4}/caf\u{e9}", None),
            ("a b\u{2028}c", None),
            ("drug/cafe\u{301}", Some("nfc")),
            ("\u{212b}", Some("nfc")),
            ("a\u{200b}b", Some("invisible_char")),
            ("a\u{200d}b", Some("invisible_char")),
            ("a\u{202e}b", Some("invisible_char")),
            ("a\u{e007f}", Some("invisible_char")),
            ("cafe\u{301}\u{feff}", Some("invisible_char")),
        ] {
            let got = check_identifier(text, "subject").err().map(|e| e.rule);
            assert_eq!(got, want, "{text:?}");
        }
    }
}
