//! Control records: signed assertions in the reserved `stemedb:` predicate namespace that
//! retract, vote, state trust, mark gold standards, open guideline epochs, decide quarantine and
//! grant roles.
//! They share the assertion's canonical bytes, signature and log; this module only gives their
//! subject and value a typed, validated shape (docs/signing.md §8).
use serde_json::Value;

use crate::{AssertionId, Timestamp, ValidationError};

pub const RESERVED_PREFIX: &str = "stemedb:";
pub const RETRACTS: &str = "stemedb:retracts";
pub const VOTE: &str = "stemedb:vote";
pub const TRUSTS: &str = "stemedb:trusts";
pub const GOLD_STANDARD: &str = "stemedb:gold-standard";
pub const EPOCH: &str = "stemedb:epoch";
pub const REVIEW: &str = "stemedb:review";
/// A role grant: made only by a server for an administrator (`POST /v1/admin/curators`,
/// `/v1/admin/trust-roots`), signed by its server key as agent `stemedb/server/…`; refused
/// from anyone else at ingest, and without effect from any other agent in the log.
pub const GRANTS_ROLE: &str = "stemedb:grants-role";
/// Agent ids under which servers sign role grants (`stemedb/server/<16 hex of the key>`);
/// refused at ingest, so that nobody else can bind one to a key first.
pub const SERVER_AGENT_PREFIX: &str = "stemedb/server/";
/// The roles a grant may name.
pub const ROLE_NAMES: [&str; 2] = ["curator", "trust_root"];
/// Subjects of trust records: `agent/<trustee agent_id>`.
pub const AGENT_SUBJECT_PREFIX: &str = "agent/";
/// Longest `reason` a control value may carry.
pub const REASON_BYTES_MAX: usize = 4096;

/// What a retraction names: one assertion, or a subject (a source such as `source/TRIAL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetractionTarget {
    Assertion(AssertionId),
    Subject(String),
}

/// The typed meaning of a control record.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Retracts an assertion or subject; a retraction whose target is a retraction reinstates.
    Retract {
        target: RetractionTarget,
        reason: String,
        cascade: bool,
    },
    /// `+1` or `-1` on an assertion.
    Vote { target: AssertionId, up: bool },
    /// The signer trusts `trustee` with `weight` in [0, 1].
    Trust { trustee: String, weight: f64 },
    /// Marks an assertion as the gold standard (effective from curators).
    GoldStandard { target: AssertionId },
    /// Supersedes everything under `prefix` whose valid time is before `before`.
    Epoch {
        prefix: String,
        before: Timestamp,
        reason: String,
    },
    /// A curator's decision on a quarantined assertion.
    Review {
        target: AssertionId,
        approve: bool,
        reason: String,
    },
    /// Grants `role` (one of [`ROLE_NAMES`]) to `agent` for every later record.
    GrantRole { agent: String, role: String },
}

impl Control {
    /// The stored assertion this control record acts on (a retraction of one assertion, a
    /// vote, a gold mark, a review): it must be stored, or come earlier in the same batch.
    pub fn named_assertion(&self) -> Option<&AssertionId> {
        match self {
            Control::Retract {
                target: RetractionTarget::Assertion(id),
                ..
            }
            | Control::Vote { target: id, .. }
            | Control::GoldStandard { target: id }
            | Control::Review { target: id, .. } => Some(id),
            _ => None,
        }
    }
}

fn invalid(field: &str, rule: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError::new(field, rule, message)
}

/// The control meaning of a body, `None` for an ordinary assertion. A predicate in the reserved
/// namespace that is not one of the known kinds, or a value of the wrong shape, is invalid.
pub fn parse_control(
    subject: &str,
    predicate: &str,
    value: &Value,
) -> Result<Option<Control>, ValidationError> {
    if !predicate.starts_with(RESERVED_PREFIX) {
        return Ok(None);
    }
    let assertion_subject = || AssertionId::parse_field(subject, "subject");
    let control = match predicate {
        RETRACTS => {
            let target = match AssertionId::parse_field(subject, "subject") {
                Ok(id) => RetractionTarget::Assertion(id),
                Err(_) => RetractionTarget::Subject(subject.to_owned()),
            };
            let object = value_object(value, &["reason", "cascade"])?;
            let cascade = match object.get("cascade") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(invalid("value.cascade", "boolean", "must be true or false"));
                }
            };
            Control::Retract {
                target,
                reason: reason(object, true)?,
                cascade,
            }
        }
        VOTE => Control::Vote {
            target: assertion_subject()?,
            up: match value.as_i64() {
                Some(1) => true,
                Some(-1) => false,
                _ => return Err(invalid("value", "vote", "a vote is 1 or -1")),
            },
        },
        TRUSTS => Control::Trust {
            trustee: agent_subject(subject)?,
            weight: value
                .as_f64()
                .filter(|w| (0.0..=1.0).contains(w))
                .ok_or_else(|| invalid("value", "trust_weight", "must be a number in [0, 1]"))?,
        },
        GOLD_STANDARD => {
            if value != &Value::Bool(true) {
                return Err(invalid("value", "gold_standard", "must be true"));
            }
            Control::GoldStandard {
                target: assertion_subject()?,
            }
        }
        EPOCH => {
            let object = value_object(value, &["before", "reason"])?;
            let before = match object.get("before") {
                Some(Value::String(s)) => Timestamp::parse_field(s, "value.before")?,
                _ => {
                    return Err(invalid(
                        "value.before",
                        "required",
                        "an RFC 3339 UTC time is required",
                    ));
                }
            };
            if !subject.ends_with('/') {
                return Err(invalid(
                    "subject",
                    "epoch_prefix",
                    "an epoch's subject is a prefix ending in \"/\", such as drug/aspirin/",
                ));
            }
            Control::Epoch {
                prefix: subject.to_owned(),
                before,
                reason: reason(object, true)?,
            }
        }
        REVIEW => {
            let object = value_object(value, &["decision", "reason"])?;
            let approve = match object.get("decision").and_then(Value::as_str) {
                Some("approve") => true,
                Some("reject") => false,
                _ => {
                    return Err(invalid(
                        "value.decision",
                        "review_decision",
                        "must be \"approve\" or \"reject\"",
                    ));
                }
            };
            Control::Review {
                target: assertion_subject()?,
                approve,
                reason: reason(object, false)?,
            }
        }
        GRANTS_ROLE => {
            let object = value_object(value, &["role"])?;
            let role = object
                .get("role")
                .and_then(Value::as_str)
                .filter(|r| ROLE_NAMES.contains(r))
                .ok_or_else(|| invalid("value.role", "role", "must be curator or trust_root"))?;
            Control::GrantRole {
                agent: agent_subject(subject)?,
                role: role.to_owned(),
            }
        }
        _ => {
            return Err(invalid(
                "predicate",
                "reserved_predicate",
                format!(
                    "the {RESERVED_PREFIX} namespace is reserved; known predicates are {RETRACTS}, {VOTE}, {TRUSTS}, {GOLD_STANDARD}, {EPOCH}, {REVIEW}, {GRANTS_ROLE}"
                ),
            ));
        }
    };
    Ok(Some(control))
}

/// The agent a trust statement or role grant is about: its subject is `agent/<agent_id>`.
fn agent_subject(subject: &str) -> Result<String, ValidationError> {
    subject
        .strip_prefix(AGENT_SUBJECT_PREFIX)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| invalid("subject", "trust_subject", "must be agent/<agent_id>"))
}

fn value_object<'a>(
    value: &'a Value,
    allowed: &[&str],
) -> Result<&'a serde_json::Map<String, Value>, ValidationError> {
    let object = value
        .as_object()
        .ok_or_else(|| invalid("value", "object", "must be a JSON object"))?;
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(
            &format!("value.{unknown}"),
            "unknown_field",
            format!("is not a field here; allowed: {}", allowed.join(", ")),
        ));
    }
    Ok(object)
}

fn reason(
    object: &serde_json::Map<String, Value>,
    required: bool,
) -> Result<String, ValidationError> {
    match object.get("reason") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= REASON_BYTES_MAX => Ok(s.clone()),
        None if !required => Ok(String::new()),
        _ => Err(invalid(
            "value.reason",
            "reason",
            format!("a reason of 1 to {REASON_BYTES_MAX} bytes is required"),
        )),
    }
}
