//! Query-string parameters of the routes other than `/v1/query` (`query_params.rs`): only
//! the names a route knows, each read at most as the route asks.
use stemedb::DbError;

use crate::ApiError;

/// The query string's pairs; refuses a parameter not in `allowed`.
pub(crate) fn params(
    raw: Option<&str>,
    allowed: &[&'static str],
) -> Result<Vec<(&'static str, String)>, ApiError> {
    // Decoded as `/v1/query`'s are (`query_params::from_query_string`).
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| {
            allowed
                .iter()
                .find(|a| **a == k)
                .map(|a| (*a, v.into_owned()))
                .ok_or_else(|| {
                    DbError::BadQuery {
                        field: "query",
                        message: format!(
                            "unknown parameter {k:?}; expected {}",
                            allowed.join(", ")
                        ),
                    }
                    .into()
                })
        })
        .collect()
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
