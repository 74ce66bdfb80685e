//! The query metrics (`stemedb_queries_total` and `stemedb_query_latency_seconds` by lens,
//! `stemedb_winner_answers_total` by outcome), with their handles kept per thread.
//!
//! Why kept: a labelled metric looked up in the recorder's registry at each query hashes its
//! name and labels; under kept winner answers those lookups were about 2 % of the server's
//! samples (docs/benchmarks.md, "Thirtieth session"), for a query that costs about 14 µs of
//! server CPU in all. A thread looks each lens and outcome up once and keeps the handles, as
//! the server does for its request metrics (`stemedb-server/src/request_metrics.rs`).
//!
//! Invariant: the handles kept are the recorder's own, so a recorder is installed before a
//! thread's first query (the server installs it before it opens the database) and never drops
//! idle series: a handle kept from before either would count into nothing. Without a recorder
//! (an embedded database) every handle is a no-op, as the macros' are.
use std::cell::RefCell;
use std::time::Instant;

use metrics::{Counter, Histogram, counter, histogram};
use stemedb_lens::LensKind;

/// One lens's handles.
struct LensHandles {
    queries: Counter,
    latency: Histogram,
}

impl LensHandles {
    fn new(lens: LensKind) -> LensHandles {
        let lens = lens.as_str();
        LensHandles {
            queries: counter!("stemedb_queries_total", "lens" => lens),
            latency: histogram!("stemedb_query_latency_seconds", "lens" => lens),
        }
    }
}

const LENS_COUNT: usize = LensKind::ALL.len();

thread_local! {
    /// Each lens's handles, by its place in `LensKind::ALL`, once this thread has counted it.
    static BY_LENS: RefCell<[Option<LensHandles>; LENS_COUNT]> =
        const { RefCell::new([const { None }; LENS_COUNT]) };
    /// `stemedb_winner_answers_total` for `kept` and `ranked`.
    static WINNER_ANSWERS: RefCell<Option<[Counter; 2]>> = const { RefCell::new(None) };
}

/// Counts a query answered, by lens, with its time since `started`.
pub(crate) fn count_query(lens: LensKind, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    let at = LensKind::ALL.iter().position(|l| *l == lens);
    let counted = BY_LENS.try_with(|cell| {
        let (Some(at), Ok(mut by_lens)) = (at, cell.try_borrow_mut()) else {
            return false;
        };
        let Some(slot) = by_lens.get_mut(at) else {
            return false;
        };
        let handles = slot.get_or_insert_with(|| LensHandles::new(lens));
        handles.queries.increment(1);
        handles.latency.record(seconds);
        true
    });
    if counted != Ok(true) {
        // The thread's table is gone (thread exit) or in use (never re-entered): the
        // registry's own lookup counts it.
        let handles = LensHandles::new(lens);
        handles.queries.increment(1);
        handles.latency.record(seconds);
    }
}

/// Counts a winner answer by whether it was the one kept (`answers.rs`) or ranked afresh.
pub(crate) fn count_winner_answer(kept: bool) {
    let at = usize::from(!kept);
    let counted = WINNER_ANSWERS.try_with(|cell| {
        let Ok(mut handles) = cell.try_borrow_mut() else {
            return false;
        };
        let handles = handles.get_or_insert_with(|| [outcome("kept"), outcome("ranked")]);
        handles.get(at).map(|c| c.increment(1)).is_some()
    });
    if counted != Ok(true) {
        outcome(if kept { "kept" } else { "ranked" }).increment(1);
    }
}

fn outcome(outcome: &'static str) -> Counter {
    counter!("stemedb_winner_answers_total", "outcome" => outcome)
}
