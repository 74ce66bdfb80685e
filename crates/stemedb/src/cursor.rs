//! Query cursors: where the next page of groups starts (`cursor`), and where one group's next
//! page of its ranking starts and at which sequence it is read (`assertions_cursor`), with a
//! hash of the parameters that shape that ranking, so that a cursor resumes only its query.
use stemedb_store::GroupKey;

use crate::error::{DbError, bad};

pub(crate) fn decode_cursor(cursor: &str, prefix: &[u8]) -> Result<Vec<u8>, DbError> {
    let raw = hex::decode(cursor)
        .ok()
        .ok_or_else(|| bad("cursor", "is not a cursor returned by this server"))?;
    let split = raw
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| bad("cursor", "is not a cursor returned by this server"))?;
    let group = GroupKey {
        subject: String::from_utf8_lossy(&raw[..split]).into_owned(),
        predicate: String::from_utf8_lossy(&raw[split + 1..]).into_owned(),
    };
    let resume = group.resume_after();
    if !resume.starts_with(prefix) {
        return Err(bad("cursor", "belongs to another query"));
    }
    Ok(resume)
}

pub(crate) fn encode_cursor(group: &GroupKey) -> String {
    let mut raw = group.subject.as_bytes().to_vec();
    raw.push(0);
    raw.extend_from_slice(group.predicate.as_bytes());
    hex::encode(raw)
}

/// Where one group's next page starts, at which sequence its pages are read, and a hash of
/// the query parameters that shape its ranking (a cursor only resumes the query it came from).
pub(crate) struct GroupCursor {
    pub(crate) group: GroupKey,
    pub(crate) seq_max: u64,
    pub(crate) offset: usize,
    pub(crate) fingerprint: [u8; 8],
}

/// The cursor's format and the rule its pages follow: `H` since one claim per agent
/// (2026-12-03); a `G` cursor, from a server before it, would page a differently filtered list
/// and is refused as not this server's.
const GROUP_CURSOR_TAG: u8 = b'H';

impl GroupCursor {
    pub(crate) fn encode(&self) -> String {
        let mut raw = vec![GROUP_CURSOR_TAG];
        raw.extend_from_slice(&self.seq_max.to_be_bytes());
        raw.extend_from_slice(&(self.offset as u64).to_be_bytes());
        raw.extend_from_slice(&self.fingerprint);
        raw.extend_from_slice(self.group.subject.as_bytes());
        raw.push(0);
        raw.extend_from_slice(self.group.predicate.as_bytes());
        hex::encode(raw)
    }

    pub(crate) fn decode(text: &str) -> Result<Self, DbError> {
        let invalid = || {
            bad(
                "assertions_cursor",
                "is not a cursor returned by this server",
            )
        };
        let raw = hex::decode(text).map_err(|_| invalid())?;
        if raw.len() < 25 || raw[0] != GROUP_CURSOR_TAG {
            return Err(invalid());
        }
        let u64_at = |at: usize| -> Result<u64, DbError> {
            let bytes: [u8; 8] = raw[at..at + 8].try_into().map_err(|_| invalid())?;
            Ok(u64::from_be_bytes(bytes))
        };
        let (seq_max, offset) = (u64_at(1)?, u64_at(9)?);
        let fingerprint: [u8; 8] = raw[17..25].try_into().map_err(|_| invalid())?;
        let names = &raw[25..];
        let split = names.iter().position(|b| *b == 0).ok_or_else(invalid)?;
        let text_of = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| invalid());
        Ok(Self {
            group: GroupKey {
                subject: text_of(&names[..split])?,
                predicate: text_of(&names[split + 1..])?,
            },
            seq_max,
            offset: usize::try_from(offset).map_err(|_| invalid())?,
            fingerprint,
        })
    }

    /// The `by_subject` prefix holding exactly this group's keys.
    pub(crate) fn group_prefix(&self) -> Vec<u8> {
        let mut key = self.group.subject.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(self.group.predicate.as_bytes());
        key.push(0);
        key
    }
}
