//! Read slots: at most `reads_concurrent_max` queries, skeptic reports and audit exports run
//! at once, so that the memory many concurrent reads of a large group hold stays bounded
//! (docs/api.md §Deadlines and concurrent reads). A read waits for a slot no longer than its
//! deadline.
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::DbError;

#[derive(Debug)]
pub(crate) struct ReadSlots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A held slot; dropping it frees the slot.
pub(crate) struct ReadSlot<'a> {
    slots: &'a ReadSlots,
}

impl ReadSlots {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            free: Mutex::new(max.max(1)),
            freed: Condvar::new(),
        }
    }

    /// A slot if one is free now; never waits.
    pub(crate) fn try_acquire(&self) -> Option<ReadSlot<'_>> {
        let mut free = self.free.lock().ok()?;
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(ReadSlot { slots: self })
    }

    /// Waits for a slot, until `deadline` at most.
    pub(crate) fn acquire(
        &self,
        deadline: Option<Instant>,
        work: &'static str,
    ) -> Result<ReadSlot<'_>, DbError> {
        let mut free = self.free.lock().map_err(|_| poisoned())?;
        while *free == 0 {
            free = match deadline {
                None => self.freed.wait(free).map_err(|_| poisoned())?,
                Some(at) => {
                    let Some(left) = at.checked_duration_since(Instant::now()) else {
                        metrics::counter!("stemedb_deadline_exceeded_total", "work" => work)
                            .increment(1);
                        return Err(DbError::DeadlineExceeded { work });
                    };
                    self.freed
                        .wait_timeout(free, left)
                        .map_err(|_| poisoned())?
                        .0
                }
            };
        }
        *free -= 1;
        Ok(ReadSlot { slots: self })
    }
}

fn poisoned() -> DbError {
    DbError::Internal("the read slots' lock is poisoned")
}

impl Drop for ReadSlot<'_> {
    fn drop(&mut self) {
        if let Ok(mut free) = self.slots.free.lock() {
            *free += 1;
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
}
