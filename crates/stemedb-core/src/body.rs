//! The signed assertion body: parsing the wire form, the contract's limits, canonical bytes and id.
use serde_json::{Map, Value};

use crate::control::{Control, parse_control};
use crate::ident::check_identifiers;
use crate::signing::check_new_key;
use crate::{
    AssertionId, CoreError, JSON_SAFE_INTEGER_MAX, PublicKey, SecretKey, Signature, Timestamp,
    ValidationError,
};

/// The wire-only field that carries the signature; it is never part of the signed bytes.
pub const SIGNATURE_FIELD: &str = "signature";

/// Every field a body may carry. Anything else is rejected.
pub const FIELD_NAMES: [&str; 12] = [
    "subject",
    "predicate",
    "value",
    "confidence",
    "agent_id",
    "public_key",
    "timestamp",
    "sources",
    "provenance",
    "derived_from",
    "supersedes",
    "custodial",
];

/// The contract's size limits (docs/signing.md). Defaults are the published contract; a server
/// may only tighten them.
#[derive(Debug, Clone)]
pub struct Limits {
    pub subject_bytes_max: usize,
    pub predicate_bytes_max: usize,
    pub value_bytes_max: usize,
    pub agent_id_bytes_max: usize,
    pub sources_len_max: usize,
    pub provenance_bytes_max: usize,
    pub derived_from_len_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            subject_bytes_max: 1024,
            predicate_bytes_max: 256,
            value_bytes_max: 64 * 1024,
            agent_id_bytes_max: 256,
            sources_len_max: 64,
            provenance_bytes_max: 4 * 1024,
            derived_from_len_max: 256,
        }
    }
}

/// The typed view of a valid body. `value` is not copied here: it is read from the signed JSON
/// (`SignedAssertion::body_json`), so a 64 KiB value is held once.
#[derive(Debug, Clone)]
pub struct AssertionBody {
    pub subject: String,
    pub predicate: String,
    /// As sent; `None` means the default, 1.
    pub confidence: Option<f64>,
    pub agent_id: String,
    pub public_key: PublicKey,
    pub timestamp: Timestamp,
    pub sources: Vec<String>,
    pub provenance: Option<String>,
    pub derived_from: Vec<AssertionId>,
    pub supersedes: Option<AssertionId>,
    /// `true`: the server signed this body with the key it holds for the agent (custodial
    /// signing, docs/security.md). Signed like every field, so it cannot be added or removed.
    pub custodial: bool,
    /// The typed meaning of a `stemedb:` control record; `None` for ordinary assertions.
    pub control: Option<Control>,
}

impl AssertionBody {
    /// Confidence with the default applied.
    pub fn confidence_or_default(&self) -> f64 {
        self.confidence.unwrap_or(1.0)
    }
}

/// A body with its canonical bytes, id and signature. The signature is not yet checked:
/// call [`SignedAssertion::verify`] or [`crate::verify_many`].
#[derive(Debug, Clone)]
pub struct SignedAssertion {
    pub body: AssertionBody,
    /// The body object exactly as signed (without `signature`).
    pub body_json: Map<String, Value>,
    /// RFC 8785 bytes of `body_json`.
    pub canonical: Vec<u8>,
    pub id: AssertionId,
    pub signature: Signature,
}

impl SignedAssertion {
    /// Parses the wire form (body + `signature`) from raw JSON bytes, refusing a repeated key
    /// at any depth (rule `duplicate_key`).
    pub fn from_wire_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, CoreError> {
        Self::from_wire(crate::parse_json_strict(bytes)?, limits)
    }

    /// Parses the wire form of a new record from a JSON value: every body rule plus the rules
    /// for new records: identifiers (NFC, no invisible characters), then the key
    /// ([`crate::check_new_key`]). A value parsed from bytes must come from
    /// [`crate::parse_json_strict`], or a repeated key has already been silently dropped.
    pub fn from_wire(value: Value, limits: &Limits) -> Result<Self, CoreError> {
        let Value::Object(mut map) = value else {
            return Err(
                ValidationError::new("$", "object", "an assertion must be a JSON object").into(),
            );
        };
        let signature = match map.remove(SIGNATURE_FIELD) {
            Some(Value::String(s)) => Signature::parse_field(&s, SIGNATURE_FIELD)?,
            Some(_) => {
                return Err(
                    ValidationError::new(SIGNATURE_FIELD, "string", "must be a string").into(),
                );
            }
            None => {
                return Err(
                    ValidationError::new(SIGNATURE_FIELD, "required", "is required").into(),
                );
            }
        };
        let assertion = Self::from_body(map, signature, limits)?;
        check_identifiers(&assertion.body)?;
        check_new_key(&assertion.body.public_key, "public_key")?;
        Ok(assertion)
    }

    /// Validates a body object (no `signature` inside) and pairs it with a signature. The body
    /// rules only: the identifier rule is for new records ([`SignedAssertion::from_wire`],
    /// [`SignedAssertion::sign`]), so that records stored before it still verify.
    pub fn from_body(
        body_json: Map<String, Value>,
        signature: Signature,
        limits: &Limits,
    ) -> Result<Self, CoreError> {
        let (body, canonical, id) = prepare(&body_json, limits)?;
        Ok(Self {
            body,
            body_json,
            canonical,
            id,
            signature,
        })
    }

    /// Validates a body and signs it with `key` (whose public key must match `public_key`).
    pub fn sign(
        body_json: Map<String, Value>,
        key: &SecretKey,
        limits: &Limits,
    ) -> Result<Self, CoreError> {
        let mut assertion = Self::from_body(body_json, Signature([0; 64]), limits)?;
        check_identifiers(&assertion.body)?;
        check_new_key(&assertion.body.public_key, "public_key")?;
        if assertion.body.public_key != key.public_key() {
            return Err(CoreError::BadKey(
                "public_key in the body is not the signing key's".into(),
            ));
        }
        assertion.signature = key.sign(&assertion.id);
        Ok(assertion)
    }

    /// Rebuilds a stored assertion from its canonical bytes and signature.
    pub fn from_canonical(
        canonical: &[u8],
        signature: Signature,
        limits: &Limits,
    ) -> Result<Self, CoreError> {
        let value: Value = serde_json::from_slice(canonical)
            .map_err(|e| CoreError::MalformedJson(e.to_string()))?;
        let Value::Object(body_json) = value else {
            return Err(
                ValidationError::new("$", "object", "an assertion must be a JSON object").into(),
            );
        };
        let body = parse_body(&body_json, limits)?;
        check_value_size(&body_json, canonical.len(), limits)?;
        let id = AssertionId::of_canonical(canonical);
        Ok(Self {
            body,
            body_json,
            canonical: canonical.to_vec(),
            id,
            signature,
        })
    }

    pub fn verify(&self) -> bool {
        self.body.public_key.verify(&self.id, &self.signature)
    }

    /// Verifies many records' signatures as one batch ([`crate::verify_many`]); one verdict
    /// per record, in order.
    pub fn verify_all<'a>(records: impl IntoIterator<Item = &'a SignedAssertion>) -> Vec<bool> {
        let checks: Vec<_> = records
            .into_iter()
            .map(|r| (r.body.public_key, r.id, r.signature))
            .collect();
        crate::verify_many(&checks)
    }

    /// The wire form: the body plus `signature`.
    pub fn to_wire(&self) -> Value {
        let mut map = self.body_json.clone();
        map.insert(
            SIGNATURE_FIELD.into(),
            Value::String(self.signature.to_hex()),
        );
        Value::Object(map)
    }
}

/// Validates a body and computes its canonical bytes and id.
fn prepare(
    body_json: &Map<String, Value>,
    limits: &Limits,
) -> Result<(AssertionBody, Vec<u8>, AssertionId), CoreError> {
    let body = parse_body(body_json, limits)?;
    let canonical = canonical_bytes(body_json)?;
    check_value_size(body_json, canonical.len(), limits)?;
    let id = AssertionId::of_canonical(&canonical);
    Ok((body, canonical, id))
}

/// The value's canonical form is a part of the body's, so a body no longer than the limit
/// needs no second serialization; only a longer one has its value measured on its own.
fn check_value_size(
    body_json: &Map<String, Value>,
    canonical_len: usize,
    limits: &Limits,
) -> Result<(), ValidationError> {
    if canonical_len <= limits.value_bytes_max {
        return Ok(());
    }
    let value_len = body_json.get("value").map_or(0, |v| {
        let mut bytes = Vec::new();
        crate::canonical::write_value(v, &mut bytes);
        bytes.len()
    });
    if value_len > limits.value_bytes_max {
        return Err(ValidationError::new(
            "value",
            "max_bytes",
            format!(
                "is {value_len} bytes serialized; at most {} allowed",
                limits.value_bytes_max
            ),
        ));
    }
    Ok(())
}

/// RFC 8785 (JCS) bytes of a body object (`canonical.rs`). Never fails today: a
/// `serde_json` value always has canonical bytes; the `Result` keeps room for a rule that may.
pub fn canonical_bytes(body: &Map<String, Value>) -> Result<Vec<u8>, CoreError> {
    let mut bytes = Vec::with_capacity(512);
    crate::canonical::write_object(body, &mut bytes);
    Ok(bytes)
}

fn parse_body(map: &Map<String, Value>, limits: &Limits) -> Result<AssertionBody, ValidationError> {
    if let Some(unknown) = map.keys().find(|k| !FIELD_NAMES.contains(&k.as_str())) {
        return Err(ValidationError::new(
            unknown.clone(),
            "unknown_field",
            "is not a field of an assertion",
        ));
    }
    check_integers(map)?;
    if !map.contains_key("value") {
        return Err(required("value"));
    }
    let subject = path_string(map, "subject", limits.subject_bytes_max)?;
    let predicate = path_string(map, "predicate", limits.predicate_bytes_max)?;
    let control = parse_control(
        &subject,
        &predicate,
        map.get("value").unwrap_or(&Value::Null),
    )?;
    Ok(AssertionBody {
        subject,
        predicate,
        control,
        confidence: optional_confidence(map)?,
        agent_id: path_string(map, "agent_id", limits.agent_id_bytes_max)?,
        public_key: PublicKey::parse_field(required_str(map, "public_key")?, "public_key")?,
        timestamp: Timestamp::parse_field(required_str(map, "timestamp")?, "timestamp")?,
        sources: sources(map, limits)?,
        provenance: optional_text(map, "provenance", limits.provenance_bytes_max)?,
        derived_from: derived_from(map, limits)?,
        custodial: match map.get("custodial") {
            None => false,
            Some(Value::Bool(true)) => true,
            Some(_) => {
                return Err(ValidationError::new(
                    "custodial",
                    "true_if_present",
                    "must be true when present (it marks a server-signed record)",
                ));
            }
        },
        supersedes: match map.get("supersedes") {
            None => None,
            Some(Value::String(s)) => Some(AssertionId::parse_field(s, "supersedes")?),
            Some(_) => {
                return Err(ValidationError::new(
                    "supersedes",
                    "string",
                    "must be a string",
                ));
            }
        },
    })
}

fn required(field: &str) -> ValidationError {
    ValidationError::new(field, "required", "is required")
}

fn required_str<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a str, ValidationError> {
    match map.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ValidationError::new(field, "string", "must be a string")),
        None => Err(required(field)),
    }
}

/// A name used as an index key: 1..=max bytes, no control characters (they delimit keys on disk).
fn check_name(text: &str, field: &str, max: usize) -> Result<(), ValidationError> {
    if text.is_empty() || text.len() > max {
        return Err(ValidationError::new(
            field,
            "length",
            format!("must be 1 to {max} bytes long; got {} bytes", text.len()),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "no_control_chars",
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn path_string(
    map: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<String, ValidationError> {
    let text = required_str(map, field)?;
    check_name(text, field, max)?;
    Ok(text.to_owned())
}

fn optional_confidence(map: &Map<String, Value>) -> Result<Option<f64>, ValidationError> {
    match map.get("confidence") {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(c) if (0.0..=1.0).contains(&c) => Ok(Some(c)),
            _ => Err(ValidationError::new(
                "confidence",
                "range_0_1",
                format!("must be between 0 and 1; got {n}"),
            )),
        },
        Some(_) => Err(ValidationError::new(
            "confidence",
            "number",
            "must be a number between 0 and 1",
        )),
    }
}

fn optional_text(
    map: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if s.len() <= max => Ok(Some(s.clone())),
        Some(Value::String(s)) => Err(ValidationError::new(
            field,
            "max_bytes",
            format!("is {} bytes; at most {max} allowed", s.len()),
        )),
        Some(_) => Err(ValidationError::new(field, "string", "must be a string")),
    }
}

fn string_array<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    max_len: usize,
) -> Result<Vec<&'a str>, ValidationError> {
    let items = match map.get(field) {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ValidationError::new(
                field,
                "array",
                "must be an array of strings",
            ));
        }
    };
    if items.len() > max_len {
        return Err(ValidationError::new(
            field,
            "max_items",
            format!("has {} items; at most {max_len} allowed", items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str().ok_or_else(|| {
                ValidationError::new(format!("{field}[{i}]"), "string", "must be a string")
            })
        })
        .collect()
}

fn sources(map: &Map<String, Value>, limits: &Limits) -> Result<Vec<String>, ValidationError> {
    let items = string_array(map, "sources", limits.sources_len_max)?;
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            check_name(s, &format!("sources[{i}]"), limits.subject_bytes_max)
                .map(|()| (*s).to_owned())
        })
        .collect()
}

fn derived_from(
    map: &Map<String, Value>,
    limits: &Limits,
) -> Result<Vec<AssertionId>, ValidationError> {
    let items = string_array(map, "derived_from", limits.derived_from_len_max)?;
    items
        .iter()
        .enumerate()
        .map(|(i, s)| AssertionId::parse_field(s, &format!("derived_from[{i}]")))
        .collect()
}

/// Rejects integers outside ±(2^53 − 1) anywhere in the body: beyond that, languages disagree on
/// the number and so on the canonical bytes. "Integer" means a number the canonical form writes
/// as an integer token: any integral value of magnitude below 1e21 (larger ones are written with
/// an exponent, `1e+21`, and read back as the same double everywhere). The error names the
/// first such number's path (`value.n`, `value[2]`), built only when there is one: every write
/// passes here, and a path string per field cost an allocation each.
fn check_integers(map: &Map<String, Value>) -> Result<(), ValidationError> {
    let found = map.iter().find_map(|(key, value)| {
        unsafe_integer(value).map(|(rest, n)| (format!("{key}{rest}"), n))
    });
    match found {
        None => Ok(()),
        Some((path, n)) => Err(ValidationError::new(
            path,
            "safe_integer",
            format!("integer {n} is outside ±(2^53−1); send it as a string"),
        )),
    }
}

/// The first integer out of range inside `value`, with its path below `value` (empty for the
/// value itself), depth first.
fn unsafe_integer(value: &Value) -> Option<(String, &serde_json::Number)> {
    match value {
        Value::Number(n) => integer_out_of_range(n).then(|| (String::new(), n)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| unsafe_integer(v).map(|(rest, n)| (format!("[{i}]{rest}"), n))),
        Value::Object(map) => map
            .iter()
            .find_map(|(key, v)| unsafe_integer(v).map(|(rest, n)| (format!(".{key}{rest}"), n))),
        _ => None,
    }
}

/// RFC 8785 writes every integral number below 1e21 as a plain integer token, so the rule
/// covers integral floats too (1.5e16 becomes 15000000000000000).
fn integer_out_of_range(n: &serde_json::Number) -> bool {
    match (n.as_u64(), n.as_i64(), n.as_f64()) {
        (Some(u), _, _) => u > JSON_SAFE_INTEGER_MAX,
        (None, Some(i), _) => i.unsigned_abs() > JSON_SAFE_INTEGER_MAX,
        (None, None, Some(f)) => {
            f.fract() == 0.0 && f.abs() > JSON_SAFE_INTEGER_MAX as f64 && f.abs() < 1e21
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::check_integers;

    #[test]
    fn an_unsafe_integer_is_named_by_its_path() {
        let big = json!(9_007_199_254_740_992u64);
        let cases = [
            (
                "nothing out of range",
                json!({"value": 1, "confidence": 0.5}),
                None,
            ),
            (
                "the largest safe integer",
                json!({"value": 9_007_199_254_740_991u64}),
                None,
            ),
            ("a field", json!({"value": big}), Some("value")),
            (
                "a negative one",
                json!({"value": -9_007_199_254_740_992i64}),
                Some("value"),
            ),
            ("an integral float", json!({"value": 1.5e16}), Some("value")),
            (
                "past 1e21, written with an exponent",
                json!({"value": 1e21}),
                None,
            ),
            (
                "inside an object",
                json!({"value": {"n": big}}),
                Some("value.n"),
            ),
            (
                "inside an array",
                json!({"value": [1, 2, big]}),
                Some("value[2]"),
            ),
            (
                "deep",
                json!({"value": {"a": [0, {"b": big}]}}),
                Some("value.a[1].b"),
            ),
            (
                "the first of two",
                json!({"a": {"x": big}, "b": big}),
                Some("a.x"),
            ),
        ];
        for (name, body, path) in cases {
            check(name, body, path);
        }
    }

    fn check(name: &str, body: Value, path: Option<&str>) {
        let Value::Object(map) = body else {
            panic!("{name}: a case is an object");
        };
        let map: Map<String, Value> = map;
        let found = check_integers(&map).err().map(|e| e.field.clone());
        assert_eq!(found.as_deref(), path, "{name}");
    }
}
