//! Turns query parameters (from a query string or a JSON body) into a `stemedb::Query`.
//! Both forms go through the same (name, text) pairs, so they accept exactly the same fields.
use serde_json::Value;
use stemedb::{DbError, LensKind, Query, parse_query_time};

use crate::ApiError;

const FIELDS: [&str; 15] = [
    "subject",
    "concept_path",
    "predicate",
    "lens",
    "as_of",
    "known_at",
    "at_sequence",
    "min_sequence",
    "limit",
    "cursor",
    "include_retracted",
    "include_superseded",
    "assertions_limit",
    "assertions_cursor",
    "winner_only",
];

fn bad(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Db(DbError::BadQuery {
        field,
        message: message.into(),
    })
}

/// From a URL query string.
pub fn from_query_string(raw: Option<&str>) -> Result<Query, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| bad("query", format!("unreadable query string: {e}")))?;
    build(pairs)
}

/// From a JSON object body; numbers and strings are both accepted for numeric fields.
pub fn from_json_body(bytes: &[u8]) -> Result<Query, ApiError> {
    let map = match stemedb::core::parse_json_strict(bytes).map_err(DbError::from)? {
        Value::Object(map) => map,
        _ => {
            return Err(ApiError::Db(DbError::MalformedJson(
                "a query body is a JSON object".into(),
            )));
        }
    };
    let mut pairs = Vec::with_capacity(map.len());
    for (key, value) in map {
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            _ => {
                return Err(bad(
                    "query",
                    format!("{key} must be a string, a number or a boolean"),
                ));
            }
        };
        pairs.push((key, text));
    }
    build(pairs)
}

fn field_name(key: &str) -> Result<&'static str, ApiError> {
    FIELDS.into_iter().find(|f| *f == key).ok_or_else(|| {
        bad(
            "query",
            format!(
                "unknown parameter {key:?}; expected one of {}",
                FIELDS.join(", ")
            ),
        )
    })
}

fn build(pairs: Vec<(String, String)>) -> Result<Query, ApiError> {
    let mut query = Query::new(String::new());
    let mut subject: Option<String> = None;
    for (key, text) in pairs {
        let field = field_name(&key)?;
        match field {
            "subject" | "concept_path" => {
                if subject.as_ref().is_some_and(|s| *s != text) {
                    return Err(bad("subject", "subject and concept_path disagree"));
                }
                subject = Some(text);
            }
            "predicate" => query.predicate = Some(text),
            "lens" => {
                query.lens = text
                    .parse::<LensKind>()
                    .map_err(|e| bad("lens", e.to_string()))?
            }
            "as_of" => query.as_of = Some(parse_query_time(&text, "as_of")?),
            "known_at" => query.known_at = Some(parse_query_time(&text, "known_at")?),
            "at_sequence" => query.at_sequence = Some(parse_number(&text, "at_sequence")?),
            "min_sequence" => query.min_sequence = Some(parse_number(&text, "min_sequence")?),
            "limit" => {
                let n = parse_number(&text, "limit")?;
                query.limit = Some(usize::try_from(n).map_err(|_| bad("limit", "is too large"))?);
            }
            "include_retracted" => query.include_retracted = parse_bool(&text, field)?,
            "include_superseded" => query.include_superseded = parse_bool(&text, field)?,
            "assertions_limit" => {
                let n = parse_number(&text, field)?;
                query.assertions_limit =
                    Some(usize::try_from(n).map_err(|_| bad(field, "is too large"))?);
            }
            "assertions_cursor" => query.assertions_cursor = Some(text),
            "winner_only" => query.winner_only = parse_bool(&text, field)?,
            _ => query.cursor = Some(text),
        }
    }
    query.subject = subject.ok_or_else(|| bad("subject", "is required (or concept_path)"))?;
    Ok(query)
}

fn parse_number(text: &str, field: &'static str) -> Result<u64, ApiError> {
    text.parse::<u64>().map_err(|_| {
        bad(
            field,
            format!("must be a non-negative integer; got {text:?}"),
        )
    })
}

fn parse_bool(text: &str, field: &'static str) -> Result<bool, ApiError> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(field, format!("must be true or false; got {text:?}"))),
    }
}
