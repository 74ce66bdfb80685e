//! Deciding each record of a group (duplicate, agent-key conflict, or new) and writing a new
//! one into the log and every index: the apply path.
use foldhash::HashMap;

use fjall::OwnedWriteBatch;
use stemedb_core::{AssertionId, SignedAssertion, Timestamp};

use super::{AppendOutcome, Job, WriterState};
use crate::codec::encode_record;
use crate::engine::Shared;
use crate::error::StoreError;
use crate::groups::{Added, GroupOverlay, SummaryCache};
use crate::keys::{
    decode_binding, decode_seq, group_prefix, group_sequence_key, name_seq_key, seq_key,
};
use crate::truth::Derived;

/// A decided group: the batch holding its new records, each job's outcomes (or the error that
/// refused the job), and the new records in sequence order.
pub(super) struct Decided<'j> {
    pub(super) batch: OwnedWriteBatch,
    pub(super) outcomes: Vec<Result<Vec<AppendOutcome>, StoreError>>,
    pub(super) applied: Vec<(u64, Timestamp, &'j SignedAssertion)>,
    /// The sequence the group's first new record got (or would have got).
    pub(super) start_seq: u64,
    /// The `recorded_at` of the group's last new record (the writer's last one if none).
    pub(super) last_recorded_at: Timestamp,
    /// The highest stream position among the group's replicated jobs (cluster mode).
    pub(super) stream_last: Option<u64>,
    /// The group summaries the batch writes, for the writer's cache once it is durable.
    pub(super) summaries: GroupOverlay,
}

/// Decides every record of the group in order, assigning sequences and `recorded_at` to the
/// new ones and writing them into one batch (not yet committed). A local record is stamped
/// `clock_now`, a replicated one its publish time; either is raised to the `recorded_at`
/// before it, so that `recorded_at` never decreases along the log.
pub(super) fn decide_group<'j>(
    shared: &Shared,
    state: &mut WriterState,
    jobs: &'j [Job],
    clock_now: Timestamp,
) -> Decided<'j> {
    let start_seq = state.next_seq;
    state.summaries.check_rebuilds(shared);
    let mut batch = shared.batch();
    let mut group = GroupState::default();
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut applied = Vec::new();
    let mut floor = state.last_recorded_at;
    for job in jobs {
        let stamps = job.stream.as_ref().map(|s| &s.published_at);
        let result = job
            .records
            .iter()
            .enumerate()
            .map(|(i, record)| {
                let candidate = stamps.and_then(|t| t.get(i)).copied();
                let recorded_at = candidate.unwrap_or(clock_now).max(floor);
                let outcome = decide(shared, state, &mut group, &mut batch, record, recorded_at)?;
                if let AppendOutcome::Appended { sequence, .. } = outcome {
                    applied.push((sequence, recorded_at, record));
                    floor = recorded_at;
                }
                Ok(outcome)
            })
            .collect::<Result<Vec<_>, _>>();
        outcomes.push(result);
    }
    group.summaries.write(shared, &mut batch);
    let stream_last = jobs
        .iter()
        .filter_map(|job| job.stream.as_ref().map(|s| s.last_stream_seq))
        .max();
    Decided {
        batch,
        outcomes,
        applied,
        start_seq,
        last_recorded_at: floor,
        stream_last,
        summaries: group.summaries,
    }
}

/// What this group has decided so far, so records inside one group see each other.
#[derive(Default)]
struct GroupState {
    ids: HashMap<AssertionId, u64>,
    agents: HashMap<String, [u8; 32]>,
    summaries: GroupOverlay,
}

fn decide(
    shared: &Shared,
    state: &mut WriterState,
    group: &mut GroupState,
    batch: &mut OwnedWriteBatch,
    record: &SignedAssertion,
    now: Timestamp,
) -> Result<AppendOutcome, StoreError> {
    if let Some(sequence) = group.ids.get(&record.id) {
        return Ok(AppendOutcome::Duplicate {
            sequence: *sequence,
        });
    }
    if let Some(seq_bytes) = shared.ks().ids.get(record.id.as_bytes())? {
        return Ok(AppendOutcome::Duplicate {
            sequence: decode_seq(&seq_bytes, "ids")?,
        });
    }
    if let Some(target) = record
        .body
        .control
        .as_ref()
        .and_then(|c| c.named_assertion())
        && !group.ids.contains_key(target)
        && shared.ks().ids.get(target.as_bytes())?.is_none()
    {
        return Ok(AppendOutcome::TargetMissing { target: *target });
    }
    let agent = &record.body.agent_id;
    let key = record.body.public_key.to_bytes();
    let bound = match group.agents.get(agent) {
        Some(k) => Some(*k),
        None => bound_key(shared, agent)?,
    };
    if let Some(bound_key) = bound.filter(|b| *b != key) {
        return Ok(AppendOutcome::AgentKeyConflict { bound_key });
    }
    let sequence = state.next_seq;
    state.next_seq += 1;
    if bound.is_none() {
        let mut value = key.to_vec();
        value.extend_from_slice(&sequence.to_be_bytes());
        batch.insert(&shared.ks().agents, agent.as_bytes(), value);
        group.agents.insert(agent.clone(), key);
    }
    group.ids.insert(record.id, sequence);
    let known = Some(&state.summaries);
    let group_first = apply(
        shared,
        batch,
        &mut group.summaries,
        known,
        sequence,
        now,
        record,
    )?;
    Ok(AppendOutcome::Appended {
        sequence,
        recorded_at: now,
        derived: Derived::default(),
        group_first,
    })
}

/// `agent`'s bound key as committed: from the writer's cache, else from the `agents` keyspace
/// (then kept). A binding too short to hold a key is damage, named.
fn bound_key(shared: &Shared, agent: &str) -> Result<Option<[u8; 32]>, StoreError> {
    if let Some(key) = shared.agent_keys()?.get(agent) {
        return Ok(Some(key));
    }
    let Some(value) = shared.ks().agents.get(agent.as_bytes())? else {
        return Ok(None);
    };
    let (key, _) = decode_binding(agent, &value)?;
    shared.agent_keys()?.put(agent, key);
    Ok(Some(key))
}

/// Writes one decided record into the log and every index. This is the apply path a
/// replicated log will feed: it depends only on the record, its assigned sequence and
/// `recorded_at`. Returns the first sequence of the record's (subject, predicate) group when
/// its summary lists every sequence (`None`: a control record, or a large group).
pub(crate) fn apply(
    shared: &Shared,
    batch: &mut OwnedWriteBatch,
    groups: &mut GroupOverlay,
    known: Option<&SummaryCache>,
    seq: u64,
    recorded_at: Timestamp,
    record: &SignedAssertion,
) -> Result<Option<u64>, StoreError> {
    let ks = shared.ks();
    let body = &record.body;
    batch.insert(
        &ks.log,
        seq_key(seq),
        encode_record(seq, recorded_at, &record.signature, &record.canonical),
    );
    batch.insert(&ks.ids, record.id.as_bytes().to_vec(), seq.to_be_bytes());
    // Control records (stemedb:*) are not data: they are indexed by target in the truth
    // keyspace, never by subject, so ordinary queries do not return them.
    let mut group_first = None;
    if body.control.is_none() {
        let group = || group_prefix(&body.subject, &body.predicate, 0);
        // Format 5: `by_subject` holds only the records of groups too large for their summary
        // (a small group is read from its summary alone), which spares most records a key
        // write: 16 % of the writer's CPU a record under single writes, measured before it
        // was built (docs/benchmarks.md, "Thirty-third session"; 7 % of the server's CPU
        // under batch ingest once built, "Thirty-fourth session"). A group that outgrows its summary gets its earlier records' keys in the
        // same batch. Before the directory says format 5 (`Shared::by_subject_large_only`)
        // every record is keyed, as its format wants.
        let every_record = !shared.by_subject_large_only();
        let (first, earlier) = match groups.add(shared, known, group(), seq)? {
            Added::Listed { first } => (Some(first), Vec::new()),
            Added::Outgrown { earlier } => (None, earlier),
            Added::Large => (None, Vec::new()),
        };
        group_first = first;
        if first.is_none() || every_record {
            let group = group();
            for s in earlier.into_iter().chain([seq]) {
                batch.insert(&ks.by_subject, group_sequence_key(&group, s), []);
            }
        }
    }
    batch.insert(&ks.by_agent, name_seq_key(&body.agent_id, seq), []);
    for source in &body.sources {
        batch.insert(&ks.by_source, name_seq_key(source, seq), []);
    }
    Ok(group_first)
}
