//! Query-string parameters of the routes other than `/v1/query` (`query_params.rs`): only
//! the names a route knows, each read at most as the route asks.
use stemedb::DbError;

use crate::ApiError;

/// The query string's pairs; refuses a parameter not in `allowed`, and one given twice (as
/// `/v1/query` does, rather than one of them silently winning).
pub(crate) fn params(
    raw: Option<&str>,
    allowed: &[&'static str],
) -> Result<Vec<(&'static str, String)>, ApiError> {
    let mut pairs: Vec<(&'static str, String)> = Vec::new();
    // Decoded as `/v1/query`'s are (`query_params::from_query_string`).
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let Some(name) = allowed.iter().find(|a| **a == k) else {
            return Err(bad(
                "query",
                format!("unknown parameter {k:?}; expected {}", allowed.join(", ")),
            ));
        };
        if pairs.iter().any(|(given, _)| given == name) {
            return Err(bad(name, "is given twice".into()));
        }
        pairs.push((name, v.into_owned()));
    }
    Ok(pairs)
}

fn bad(field: &'static str, message: String) -> ApiError {
    DbError::BadQuery { field, message }.into()
}

/// The value of parameter `name`, if given.
pub(crate) fn param<'a>(pairs: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

/// A non-negative integer parameter, `default` when absent.
pub(crate) fn number(
    pairs: &[(&'static str, String)],
    name: &'static str,
    default: u64,
) -> Result<u64, ApiError> {
    param(pairs, name).map_or(Ok(default), |v| {
        v.parse().map_err(|_| {
            ApiError::Db(DbError::BadQuery {
                field: name,
                message: format!("must be a non-negative integer; got {v:?}"),
            })
        })
    })
}

/// A count parameter from 1 to `max`, `default` when absent.
pub(crate) fn bounded(
    pairs: &[(&'static str, String)],
    name: &'static str,
    default: u64,
    max: u64,
) -> Result<u64, ApiError> {
    let n = number(pairs, name, default)?;
    if n == 0 || n > max {
        return Err(DbError::BadQuery {
            field: name,
            message: format!("must be 1 to {max}"),
        }
        .into());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `raw` against `["after", "limit"]`: its pairs, or a fragment of the error.
    fn check(raw: &str, want: Result<&[(&str, &str)], &str>) {
        let got = params(Some(raw), &["after", "limit"]);
        match (got, want) {
            (Ok(pairs), Ok(want)) => {
                let pairs: Vec<(&str, &str)> =
                    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                assert_eq!(pairs, want, "{raw}");
            }
            (Err(e), Err(fragment)) => {
                let text = format!("{e:?}");
                assert!(text.contains(fragment), "{raw}: {text}");
            }
            (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn each_known_parameter_at_most_once() {
        check("", Ok(&[]));
        check("after=3&limit=10", Ok(&[("after", "3"), ("limit", "10")]));
        check("limit=%31", Ok(&[("limit", "1")]));
        check("colour=red", Err("unknown parameter"));
        check("limit=1&limit=2", Err("is given twice"));
        check("after=1&limit=2&after=1", Err("is given twice"));
    }
}
