//! Turns query parameters (from a query string or a JSON body) into a `stemedb::Query`.
//! Both forms go through the same (name, text) pairs, so they accept exactly the same fields.
use std::borrow::Cow;

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

/// From a URL query string. Names and values are percent-decoded (`+` as a space), and
/// bytes that are not UTF-8 after decoding read as U+FFFD, as browsers' forms do; a value is
/// copied only when the query keeps it (the hot read path: docs/benchmarks.md,
/// "Thirty-second session").
pub fn from_query_string(raw: Option<&str>) -> Result<Query, ApiError> {
    build(form_urlencoded::parse(raw.unwrap_or("").as_bytes()))
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
        pairs.push((Cow::Owned(key), Cow::Owned(text)));
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

fn build<'a>(
    pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
) -> Result<Query, ApiError> {
    let mut query = Query::new(String::new());
    let mut subject: Option<String> = None;
    let mut given: Vec<&'static str> = Vec::new();
    for (key, text) in pairs {
        let field = field_name(&key)?;
        // A parameter given twice is refused, as a JSON body's repeated key is, rather than
        // one of them silently winning (`subject` and `concept_path` are checked to agree).
        if given.contains(&field) && !matches!(field, "subject" | "concept_path") {
            return Err(bad(field, "is given twice"));
        }
        given.push(field);
        match field {
            "subject" | "concept_path" => {
                if subject.as_ref().is_some_and(|s| *s != text) {
                    return Err(bad("subject", "subject and concept_path disagree"));
                }
                subject = Some(text.into_owned());
            }
            "predicate" => query.predicate = Some(text.into_owned()),
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
            "assertions_cursor" => query.assertions_cursor = Some(text.into_owned()),
            "winner_only" => query.winner_only = parse_bool(&text, field)?,
            _ => query.cursor = Some(text.into_owned()),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::from_query_string;

    /// `raw` parsed as a `/v1/query` string: `Ok` with the subject, predicate and lens read,
    /// or `Err` with a fragment of the problem's text.
    fn check(raw: &str, want: Result<(&str, Option<&str>, &str), &str>) {
        let got = from_query_string(Some(raw));
        match (got, want) {
            (Ok(query), Ok((subject, predicate, lens))) => {
                assert_eq!(query.subject, subject, "{raw}");
                assert_eq!(query.predicate.as_deref(), predicate, "{raw}");
                assert_eq!(query.lens.to_string(), lens, "{raw}");
            }
            (Err(e), Err(fragment)) => {
                let text = format!("{e:?}");
                assert!(text.contains(fragment), "{raw}: {text}");
            }
            (got, want) => panic!("{raw}: got {:?}, want {want:?}", got.map(|q| q.subject)),
        }
    }

    #[test]
    #[rustfmt::skip]
    fn query_strings_decode_as_forms_do() {
        check("subject=drug/a&predicate=p&lens=recency", Ok(("drug/a", Some("p"), "recency")));
        check("subject=drug%2Fa&predicate=dose+mg", Ok(("drug/a", Some("dose mg"), "evidence")));
        check("subject=caf%C3%A9&lens=authority", Ok(("café", None, "authority")));
        check("subject=%FF", Ok(("\u{FFFD}", None, "evidence")));
        check("concept_path=a&subject=a", Ok(("a", None, "evidence")));
        check("concept_path=a&subject=b", Err("disagree"));
        check("subject=a&colour=red", Err("unknown parameter \\\"colour"));
        check("subject=a&winner_only=yes", Err("must be true or false"));
        check("subject=a&lens=recency&lens=consensus", Err("is given twice"));
        check("subject=a&limit=1&limit=1", Err("is given twice"));
        check("subject=a&subject=a", Ok(("a", None, "evidence")));
        check("subject=a&subject=b", Err("disagree"));
        check("predicate=p", Err("is required"));
        check("", Err("is required"));
    }
}
