//! StemeDB's data model: the signed assertion, its canonical bytes, id and signature, and the rules
//! that make a body valid. Pure: no I/O, no async, no clock (time is passed in).
#![forbid(unsafe_code)]

pub mod audit;
mod body;
mod canonical;
mod cofactored;
pub mod control;
mod error;
mod id;
mod ident;
mod point_tables;
mod rng;
mod signing;
mod strict_json;
mod timestamp;

pub use body::{
    AssertionBody, FIELD_NAMES, Limits, SIGNATURE_FIELD, SignedAssertion, canonical_bytes,
};
pub use control::{Control, RetractionTarget, parse_control};
pub use error::{CoreError, ValidationError};
pub use id::AssertionId;
pub use ident::{INVISIBLE_CHAR_RANGES, check_identifier, is_invisible_char};
pub use rng::SplitMix64;
pub use signing::{
    PublicKey, SIGNATURE_IFMA_COMPILED_IN, SIGNING_DOMAIN, SecretKey, Signature, check_new_key,
    signature_arithmetic, signing_message, verify_many, verify_messages,
};
pub use strict_json::parse_json_strict;
pub use timestamp::{Clock, Timestamp};

/// Largest integer magnitude a value may hold: 2^53 − 1, the range every JSON implementation
/// (JavaScript included) represents exactly, so canonical bytes agree across languages.
pub const JSON_SAFE_INTEGER_MAX: u64 = (1 << 53) - 1;
