//! RFC 8785 (JCS) bytes of a JSON value, written in one pass into one buffer.
//!
//! Why not `serde_json_canonicalizer`: it writes every object into buffers of its own and parses
//! each key back from JSON to sort it, which made canonicalizing a body 7 % of the server's CPU
//! per single write (docs/benchmarks.md, "Fifteenth session"). The rules are few and fixed:
//!
//! - members sorted by their names as UTF-16 code units, unescaped (RFC 8785 §3.2.3);
//! - strings escape only `"`, `\` and the controls below U+0020, with the short forms
//!   `\b \t \n \f \r` and `\u00xx` (lowercase hex) for the rest; nothing else (§3.2.2.2);
//! - numbers as ECMAScript writes a double (§3.2.2.3): every number is taken as the double it
//!   denotes, as `serde_json_canonicalizer` does, and written by `ryu-js`;
//! - no whitespace.
//!
//! Invariant: for every `serde_json::Value` the bytes equal `serde_json_canonicalizer::to_vec`'s
//! (a differential property test in `tests/canonical.rs` holds both to it), since ids made by
//! clients with any RFC 8785 implementation must match the server's.
use serde_json::{Map, Number, Value};

/// Appends the canonical bytes of `value` to `out`.
pub(crate) fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

/// Appends the canonical bytes of an object to `out`.
pub(crate) fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    // The map's own order is bytewise (or insertion order, should a dependency turn on
    // serde_json's `preserve_order`); only sorting by UTF-16 is the rule.
    if !members.is_sorted_by(|a, b| utf16_order(a.0, b.0).is_le()) {
        members.sort_unstable_by(|a, b| utf16_order(a.0, b.0));
    }
    out.push(b'{');
    for (i, (name, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_value(value, out);
    }
    out.push(b'}');
}

/// Names ordered by their UTF-16 code units. ASCII names (every field of a body) compare as
/// bytes, which is the same order.
fn utf16_order(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// A number as the double it denotes, written as ECMAScript writes it. A `serde_json::Number`
/// always has a finite double (it holds no NaN or infinity).
fn write_number(n: &Number, out: &mut Vec<u8>) {
    match n.as_f64() {
        Some(double) if double.is_finite() => {
            let mut buffer = ryu_js::Buffer::new();
            out.extend_from_slice(buffer.format_finite(double).as_bytes());
        }
        // Unreachable without serde_json's `arbitrary_precision`; written as parsed.
        _ => out.extend_from_slice(n.to_string().as_bytes()),
    }
}

/// A string with only the escapes RFC 8785 asks for.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        write_escape(b, out);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The escape of `"`, `\` or a control character.
fn write_escape(b: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short: &[u8] = match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        0x08 => b"\\b",
        0x09 => b"\\t",
        0x0A => b"\\n",
        0x0C => b"\\f",
        0x0D => b"\\r",
        _ => {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xF)]);
            return;
        }
    };
    out.extend_from_slice(short);
}
