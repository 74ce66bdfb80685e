//! Typed errors of the model: which field broke which rule.
use std::fmt;

/// A body that breaks a rule of the signed-assertion contract (docs/signing.md).
/// `field` names the offending field (a JSON path such as `value.dose`), `rule` a stable
/// machine-readable rule name, `message` says it for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub rule: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.rule)
    }
}

impl std::error::Error for ValidationError {}

/// Everything the model layer can refuse.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("signature does not verify against public_key for id {id}")]
    SignatureInvalid { id: String },
    #[error("key material is malformed: {0}")]
    BadKey(String),
}
