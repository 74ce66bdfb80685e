//! The full integrity scan behind `stemedb check`: every log record decodes, passes its
//! checksum, is a valid body whose signature verifies; every index entry it implies exists;
//! and every index holds exactly the entries the log implies (so none dangles). Damage is
//! collected and named, never a panic, and the scan goes on past it.
use stemedb_core::{Limits, SignedAssertion, verify_many};

mod groups;

use crate::acked::AckedAtOpen;
use crate::codec::decode_record;
use crate::engine::Shared;
use crate::error::StoreError;
use crate::keys::{name_seq_key, seq_key, subject_predicate_key};
use crate::store::Store;

/// Most problems kept by name; the rest are only counted.
const PROBLEMS_KEPT_MAX: usize = 1000;
/// Records whose signatures are verified together.
const VERIFY_CHUNK: usize = 4096;

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Sequences 1..=last the log should hold.
    pub records: u64,
    /// Records that decoded, validated and verified.
    pub valid: u64,
    /// Every problem found (only the first `PROBLEMS_KEPT_MAX` are kept in `problems`).
    pub problem_count: u64,
    pub problems: Vec<String>,
    /// (index, entries found, entries the log implies).
    pub indexes: Vec<(&'static str, u64, u64)>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < PROBLEMS_KEPT_MAX {
            self.problems.push(text);
        }
    }
}

/// Index entries the log implies, counted while scanning.
#[derive(Default)]
struct Expected {
    ids: u64,
    /// Every ordinary record when the summaries are not whole; else large groups' records
    /// (in `groups`).
    by_subject: u64,
    by_agent: u64,
    by_source: u64,
    groups: groups::GroupsExpected,
}

impl Store {
    /// Scans the whole data directory; `progress(done, total)` is called as records are read.
    pub fn check(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<CheckReport, StoreError> {
        let last = self.last_sequence();
        let mut report = CheckReport {
            records: last,
            ..CheckReport::default()
        };
        let mut expected = Expected::default();
        let mut chunk: Vec<(u64, SignedAssertion)> = Vec::with_capacity(VERIFY_CHUNK);
        for sequence in 1..=last {
            if let Some(record) = self.check_record(sequence, &mut report)? {
                self.check_index_entries(sequence, &record, &mut expected, &mut report)?;
                chunk.push((sequence, record));
            }
            if chunk.len() == VERIFY_CHUNK || sequence == last {
                verify_chunk(&mut chunk, &mut report);
                progress(sequence, last);
            }
        }
        let shared = self.shared()?;
        self.check_acknowledged(&shared, &mut report);
        Self::check_every_block(&shared, &mut report);
        if self.slot_group_summaries() {
            expected.by_subject =
                expected.groups.keyed + check_groups(&shared, &expected, last, &mut report);
        }
        let ks = shared.ks();
        for (name, keyspace, want) in [
            ("ids", &ks.ids, expected.ids),
            ("by_subject", &ks.by_subject, expected.by_subject),
            ("by_agent", &ks.by_agent, expected.by_agent),
            ("by_source", &ks.by_source, expected.by_source),
            ("log", &ks.log, last),
        ] {
            let found = match keyspace.len() {
                Ok(n) => n as u64,
                Err(e) => {
                    report.problem(format!("index {name}: cannot be counted: {e}"));
                    continue;
                }
            };
            if found != want {
                let unread = last - expected.ids;
                let note = if unread > 0 && name != "log" {
                    format!(
                        " ({unread} damaged records could not be read, so their entries are not expected)"
                    )
                } else {
                    " (entries that resolve to nothing, or missing ones)".to_owned()
                };
                report.problem(format!(
                    "index {name} holds {found} entries; the log implies {want}{note}"
                ));
            }
            report.indexes.push((name, found, want));
        }
        Ok(report)
    }

    /// The engine must hold every sequence the acknowledgement mark says was acknowledged, and
    /// the log must end where `last_applied_sequence` says.
    fn check_acknowledged(&self, shared: &Shared, report: &mut CheckReport) {
        let last = self.last_sequence();
        let log_last = shared.log_last_at_open();
        if log_last != last {
            report.problem(format!(
                "the log's last record is sequence {log_last}, but last_applied_sequence is {last}"
            ));
        }
        match shared.acked_at_open() {
            AckedAtOpen::Sequence(acked) if acked > last.min(log_last) => {
                report.problem(format!(
                    "sequences {}..={acked} were acknowledged to clients but are missing from the \
                     engine: its journal or tables were damaged at rest",
                    last.min(log_last) + 1
                ));
            }
            AckedAtOpen::Damaged => report.problem(
                "the acknowledgement mark (ACKED) is damaged: neither copy passes its checksum"
                    .to_owned(),
            ),
            _ => {}
        }
    }

    /// Reads every entry of every keyspace, keys and values, so that every data block of every
    /// table is loaded and its checksum checked, and looks each key up again the way serving
    /// does, which reads the filter and index blocks a scan never touches. Names the keyspace
    /// where either fails (the first failure per keyspace; the scan cannot go on past it).
    fn check_every_block(shared: &Shared, report: &mut CheckReport) {
        for (name, keyspace) in shared.ks().named() {
            for (entries, guard) in (0_u64..).zip(keyspace.iter()) {
                let failure = match guard.into_inner() {
                    Err(e) => Some(StoreError::from(e).to_string()),
                    Ok((key, value)) => match keyspace.get(&key) {
                        Ok(Some(found)) if found == value => None,
                        Ok(_) => Some("a key the scan finds is not found by a lookup".to_owned()),
                        Err(e) => Some(StoreError::from(e).to_string()),
                    },
                };
                if let Some(failure) = failure {
                    report.problem(format!(
                        "keyspace {name}: damaged after {entries} readable entries: {failure}"
                    ));
                    break;
                }
            }
        }
    }

    /// Reads, decodes and validates one record; `None` (with a problem) when it is damaged.
    fn check_record(
        &self,
        sequence: u64,
        report: &mut CheckReport,
    ) -> Result<Option<SignedAssertion>, StoreError> {
        let bytes = match self.shared()?.ks().log.get(seq_key(sequence)) {
            Ok(Some(b)) => b,
            Ok(None) => {
                report.problem(format!("sequence {sequence}: missing from the log"));
                return Ok(None);
            }
            Err(e) => {
                report.problem(format!(
                    "sequence {sequence}: storage error reading the log: {e}"
                ));
                return Ok(None);
            }
        };
        let stored = match decode_record(sequence, &bytes) {
            Ok(s) => s,
            Err(e) => {
                report.problem(e.to_string());
                return Ok(None);
            }
        };
        match SignedAssertion::from_canonical(
            stored.canonical(),
            stored.signature,
            &Limits::default(),
        ) {
            Ok(record) => Ok(Some(record)),
            Err(e) => {
                report.problem(format!(
                    "sequence {sequence}: body is not a valid assertion: {e}"
                ));
                Ok(None)
            }
        }
    }

    /// Checks that every index entry the record implies is there.
    fn check_index_entries(
        &self,
        sequence: u64,
        record: &SignedAssertion,
        expected: &mut Expected,
        report: &mut CheckReport,
    ) -> Result<(), StoreError> {
        let shared = self.shared()?;
        let ks = shared.ks();
        let body = &record.body;
        match ks.ids.get(record.id.as_bytes()) {
            Ok(Some(v)) if v.as_ref() == sequence.to_be_bytes() => {}
            Ok(Some(_)) => report.problem(format!(
                "index ids: {} points to another sequence than {sequence}",
                record.id
            )),
            Ok(None) => report.problem(format!(
                "index ids: no entry for {} (sequence {sequence})",
                record.id
            )),
            Err(e) => report.problem(format!(
                "index ids: storage error at sequence {sequence}: {e}"
            )),
        }
        expected.ids += 1;
        let mut wanted: Vec<(&'static str, &fjall::Keyspace, Vec<u8>)> = vec![(
            "by_agent",
            &ks.by_agent,
            name_seq_key(&body.agent_id, sequence),
        )];
        expected.by_agent += 1;
        if body.control.is_none() && self.slot_group_summaries() {
            let key = expected
                .groups
                .record(&shared, sequence, body, &mut |text| report.problem(text));
            if let Some(key) = key {
                wanted.push(("by_subject", &ks.by_subject, key));
            }
        } else if body.control.is_none() {
            wanted.push((
                "by_subject",
                &ks.by_subject,
                subject_predicate_key(&body.subject, &body.predicate, sequence),
            ));
            expected.by_subject += 1;
        }
        for source in &body.sources {
            wanted.push(("by_source", &ks.by_source, name_seq_key(source, sequence)));
            expected.by_source += 1;
        }
        for (name, keyspace, key) in wanted {
            match keyspace.contains_key(&key) {
                Ok(true) => {}
                Ok(false) => {
                    report.problem(format!("index {name}: no entry for sequence {sequence}"))
                }
                Err(e) => report.problem(format!(
                    "index {name}: storage error at sequence {sequence}: {e}"
                )),
            }
        }
        Ok(())
    }
}

/// Verifies a chunk's signatures together, naming each record that fails.
fn verify_chunk(chunk: &mut Vec<(u64, SignedAssertion)>, report: &mut CheckReport) {
    let checks: Vec<_> = chunk
        .iter()
        .map(|(_, a)| (a.body.public_key, a.id, a.signature))
        .collect();
    for ((sequence, record), ok) in chunk.iter().zip(verify_many(&checks)) {
        if ok {
            report.valid += 1;
        } else {
            report.problem(format!(
                "sequence {sequence}: the signature of {} does not verify",
                record.id
            ));
        }
    }
    chunk.clear();
}

/// Holds `groups` and `by_subject` to what the log implied (`check/groups.rs`), recording the
/// summaries found against the groups implied; returns the `by_subject` keys of small groups
/// (left by format 4, each one checked against its summary), which the count of `by_subject`
/// then allows.
fn check_groups(shared: &Shared, expected: &Expected, last: u64, report: &mut CheckReport) -> u64 {
    let found = match groups::check_summaries(shared, &mut |text| report.problem(text)) {
        Ok(found) => found,
        Err(e) => {
            report.problem(format!("index groups: cannot be read whole: {e}"));
            return 0;
        }
    };
    let want = &expected.groups;
    let unread = last - expected.ids;
    let note = if unread > 0 {
        format!(" ({unread} damaged records could not be read, so their groups are not known)")
    } else {
        String::new()
    };
    if found.listed != want.listed {
        report.problem(format!(
            "index groups: the summaries list {} sequences; the log implies {}{note}",
            found.listed, want.listed
        ));
    }
    report
        .indexes
        .push(("groups", found.summaries, want.groups));
    if found.summaries != want.groups {
        report.problem(format!(
            "index groups holds {} summaries; the log implies {} groups{note}",
            found.summaries, want.groups
        ));
    }
    found.small_keys
}
