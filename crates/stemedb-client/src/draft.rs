//! [`Draft`]: the one way this workspace builds an assertion body and signs it — the CLI, the
//! load generators and the tests all go through it, so a body rule changes in one place.

use serde_json::{Map, Value, json};
use stemedb_core::{Limits, SecretKey, SignedAssertion};

use crate::ClientError;

/// An assertion body being built: the required fields first, optional ones after.
///
/// `sign` and `into_body` add `public_key` (the signing key's) unless a field set it; the
/// body's rules are checked when signing, not while building, so a test can build a body the
/// server must refuse and sign it with `stemedb_core` directly.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    body: Map<String, Value>,
}

impl Draft {
    /// A body with `subject`, `predicate`, `value`, `agent_id` and `timestamp` (RFC 3339).
    pub fn new(agent: &str, subject: &str, predicate: &str, value: Value, timestamp: &str) -> Self {
        let mut body = Map::new();
        body.insert("subject".into(), json!(subject));
        body.insert("predicate".into(), json!(predicate));
        body.insert("value".into(), value);
        body.insert("agent_id".into(), json!(agent));
        body.insert("timestamp".into(), json!(timestamp));
        Self { body }
    }

    /// Confidence in [0, 1] (absent means 1).
    pub fn confidence(self, confidence: f64) -> Self {
        self.field("confidence", json!(confidence))
    }

    /// Source subjects the claim rests on; an empty list leaves the field out.
    pub fn sources<S: AsRef<str>>(self, sources: &[S]) -> Self {
        if sources.is_empty() {
            return self;
        }
        let list: Vec<&str> = sources.iter().map(AsRef::as_ref).collect();
        self.field("sources", json!(list))
    }

    /// Free-text provenance.
    pub fn provenance(self, text: &str) -> Self {
        self.field("provenance", json!(text))
    }

    /// Sets any body field (later calls override earlier ones, required fields included).
    pub fn field(mut self, name: &str, value: Value) -> Self {
        self.body.insert(name.into(), value);
        self
    }

    /// Sets each `(name, value)` in order, as [`Draft::field`] does.
    pub fn fields(self, fields: &[(&str, Value)]) -> Self {
        fields.iter().fold(self, |draft, (name, value)| {
            draft.field(name, value.clone())
        })
    }

    /// The body object, with `public_key` set to `key`'s unless a field set it.
    pub fn into_body(mut self, key: &SecretKey) -> Map<String, Value> {
        self.body
            .entry("public_key")
            .or_insert_with(|| json!(key.public_key().to_hex()));
        self.body
    }

    /// Checks the body's rules and signs it with `key`: the wire form, ready to post.
    pub fn sign(self, key: &SecretKey) -> Result<Value, ClientError> {
        sign(self.into_body(key), key)
    }
}

/// Signs a body object (without `signature`) and returns the wire form.
pub fn sign(body: Map<String, Value>, key: &SecretKey) -> Result<Value, ClientError> {
    Ok(SignedAssertion::sign(body, key, &Limits::default())?.to_wire())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_seed(&[3; 32])
    }

    fn draft() -> Draft {
        Draft::new(
            "agent/a",
            "drug/aspirin/dosage",
            "recommended_mg",
            json!(81),
            "2025-01-01T00:00:00Z",
        )
    }

    /// Signs `draft` and returns the field `name` of the wire form, or the error's text.
    fn check(draft: Draft, name: &str, want: Result<Value, &str>) {
        let got = draft.sign(&key()).map(|wire| wire[name].clone());
        match (got, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "field {name}"),
            (Err(got), Err(want)) => {
                assert!(got.to_string().contains(want), "{got} lacks {want:?}")
            }
            (got, want) => panic!("field {name}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn drafts_sign_into_the_wire_form() {
        let public = json!(key().public_key().to_hex());
        let other = json!(SecretKey::from_seed(&[4; 32]).public_key().to_hex());
        check(draft(), "public_key", Ok(public));
        check(draft(), "confidence", Ok(Value::Null));
        check(draft().confidence(0.5), "confidence", Ok(json!(0.5)));
        check(
            draft().sources(&["source/A"]),
            "sources",
            Ok(json!(["source/A"])),
        );
        check(draft().sources::<&str>(&[]), "sources", Ok(Value::Null));
        check(draft().provenance("p"), "provenance", Ok(json!("p")));
        check(
            draft().fields(&[("timestamp", json!("2024-06-15T00:00:00Z"))]),
            "timestamp",
            Ok(json!("2024-06-15T00:00:00Z")),
        );
        check(
            draft().field("public_key", other),
            "signature",
            Err("not the signing key"),
        );
        check(
            draft().field("subject", json!("")),
            "signature",
            Err("subject"),
        );
        check(
            draft().field("timestamp", json!("yesterday")),
            "signature",
            Err("timestamp"),
        );
    }

    #[test]
    fn a_signed_draft_carries_a_verifiable_signature() {
        let wire = draft().sign(&key()).unwrap();
        let mut body = wire.as_object().cloned().unwrap();
        let signature = body.remove("signature").unwrap();
        let signature =
            stemedb_core::Signature::parse_field(signature.as_str().unwrap(), "signature");
        let parsed = SignedAssertion::from_body(body, signature.unwrap(), &Limits::default());
        assert!(parsed.unwrap().verify());
    }
}
