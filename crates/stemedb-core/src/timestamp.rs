//! Timestamps: RFC 3339 UTC on the wire, microseconds since the Unix epoch inside.
use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::ValidationError;

/// A point in time, in microseconds since 1970-01-01T00:00:00Z. Finer digits on the wire are
/// kept in the signed bytes but truncated here.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// The source of "now". Passed in everywhere it matters so that tests and lenses are deterministic.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 with a zero UTC offset (`Z` or `+00:00`); `field` names the field in errors.
    pub fn parse_field(text: &str, field: &str) -> Result<Self, ValidationError> {
        let bad = |msg: &str| ValidationError::new(field, "rfc3339_utc", msg);
        let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
            bad(&format!(
                "must be an RFC 3339 timestamp such as 2025-01-31T12:00:00Z ({e})"
            ))
        })?;
        if parsed.offset() != UtcOffset::UTC {
            return Err(bad("must be in UTC (end in Z or +00:00)"));
        }
        let micros = parsed.unix_timestamp_nanos() / 1_000;
        i64::try_from(micros)
            .map(Self)
            .map_err(|_| bad("is out of range"))
    }

    /// RFC 3339 with microseconds and `Z`, e.g. `2026-01-02T03:04:05.000006Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000;
        match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => {
                let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
                format!(
                    "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
                    t.hour(),
                    t.minute(),
                    t.second(),
                    t.microsecond()
                )
            }
            Err(_) => format!("@{}us", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}
