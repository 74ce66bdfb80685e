//! Read slots: at most `reads_concurrent_max` queries, skeptic reports and audit exports run
//! at once, so that the memory many concurrent reads of a large group hold stays bounded
//! (docs/api.md §Deadlines and concurrent reads). A read waits for a slot no longer than its
//! deadline.
//!
//! Taking and freeing a slot are atomic operations on a counter, and the lock and condition
//! variable are touched only while a read waits: every query takes a slot, and a lock and a
//! notification on each were two `futex` system calls per query on the async workers (86 % of
//! the server's `futex` calls during winner queries, docs/benchmarks.md "Sixteenth session").
//!
//! Not fair, as the mutex before was not: a new read may take a freed slot before a woken
//! waiter does, which then waits again until its deadline.
//!
//! Invariant (no lost wake-up): a waiter counts itself in `waiting` under the lock before it
//! looks at `free` for the last time and sleeps in the same critical section; a freeing read
//! adds to `free` before it reads `waiting`. All four are sequentially consistent, so either
//! the waiter sees the freed slot, or the freeing read sees the waiter and notifies it under
//! the lock, which the waiter holds until it sleeps.
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::DbError;

#[derive(Debug)]
pub(crate) struct ReadSlots {
    free: AtomicUsize,
    /// Reads sleeping on `freed`; changed only under `lock`.
    waiting: AtomicUsize,
    lock: Mutex<()>,
    freed: Condvar,
}

/// A held slot; dropping it frees the slot.
pub(crate) struct ReadSlot<'a> {
    slots: &'a ReadSlots,
}

impl ReadSlots {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            free: AtomicUsize::new(max.max(1)),
            waiting: AtomicUsize::new(0),
            lock: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    /// A slot if one is free now; never waits.
    pub(crate) fn try_acquire(&self) -> Option<ReadSlot<'_>> {
        self.free
            .fetch_update(SeqCst, SeqCst, |free| free.checked_sub(1))
            .ok()
            .map(|_| ReadSlot { slots: self })
    }

    /// Waits for a slot, until `deadline` at most.
    pub(crate) fn acquire(
        &self,
        deadline: Option<Instant>,
        work: &'static str,
    ) -> Result<ReadSlot<'_>, DbError> {
        if let Some(slot) = self.try_acquire() {
            return Ok(slot);
        }
        let mut guard = self.lock.lock().map_err(|_| poisoned())?;
        self.waiting.fetch_add(1, SeqCst);
        let outcome = loop {
            if let Some(slot) = self.try_acquire() {
                break Ok(slot);
            }
            guard = match deadline {
                None => match self.freed.wait(guard) {
                    Ok(guard) => guard,
                    Err(_) => break Err(poisoned()),
                },
                Some(at) => {
                    let Some(left) = at.checked_duration_since(Instant::now()) else {
                        metrics::counter!("stemedb_deadline_exceeded_total", "work" => work)
                            .increment(1);
                        break Err(DbError::DeadlineExceeded { work });
                    };
                    match self.freed.wait_timeout(guard, left) {
                        Ok((guard, _)) => guard,
                        Err(_) => break Err(poisoned()),
                    }
                }
            };
        };
        // A poisoned wait gave its guard up; the count is atomic, so it is corrected anyway.
        self.waiting.fetch_sub(1, SeqCst);
        outcome
    }
}

fn poisoned() -> DbError {
    DbError::Internal("the read slots' lock is poisoned")
}

impl Drop for ReadSlot<'_> {
    fn drop(&mut self) {
        self.slots.free.fetch_add(1, SeqCst);
        if self.slots.waiting.load(SeqCst) > 0 {
            // Taking the lock waits until a waiter that counted itself sleeps (see the
            // invariant above); a poisoned lock still lets the notification through.
            let _guard = self
                .slots
                .lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.slots.freed.notify_one();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_read_waits_for_a_slot_until_its_deadline_and_gets_a_freed_one() {
        let slots = ReadSlots::new(1);
        let held = slots.acquire(None, "query").unwrap();
        let soon = Some(Instant::now() + Duration::from_millis(20));
        assert!(matches!(
            slots.acquire(soon, "query"),
            Err(DbError::DeadlineExceeded { work: "query" })
        ));
        drop(held);
        let later = Some(Instant::now() + Duration::from_secs(60));
        let again = slots.acquire(later, "query").unwrap();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| slots.acquire(later, "query").map(drop));
            std::thread::sleep(Duration::from_millis(20));
            drop(again);
            waiter.join().unwrap().unwrap();
        });
    }

    #[test]
    fn contending_reads_never_exceed_the_slots_and_none_is_left_waiting() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let slots = ReadSlots::new(2);
        let (holding, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        // A lost wake-up leaves a read asleep until its deadline: the test fails, never hangs.
        let deadline = Some(Instant::now() + Duration::from_secs(30));
        std::thread::scope(|scope| {
            let readers: Vec<_> = (0..6)
                .map(|_| {
                    scope.spawn(|| {
                        for _ in 0..300 {
                            let _slot = slots.acquire(deadline, "query")?;
                            let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::yield_now();
                            holding.fetch_sub(1, Ordering::SeqCst);
                        }
                        Ok::<(), DbError>(())
                    })
                })
                .collect();
            for reader in readers {
                reader.join().unwrap().unwrap();
            }
        });
        assert!((1..=2).contains(&most.load(Ordering::SeqCst)));
        assert_eq!(slots.waiting.load(Ordering::SeqCst), 0);
        let (a, b) = (slots.try_acquire(), slots.try_acquire());
        assert!(a.is_some() && b.is_some() && slots.try_acquire().is_none());
    }
}
