//! One append's answer, handed from the writer thread to whoever waits for it: a thread that
//! blocks ([`AppendWait::wait`]) or an async task that awaits it (`AppendWait` is a
//! [`Future`]; this crate needs no async runtime for that, only `std::task`).
//!
//! Invariant: a waiter is answered exactly once. The writer answers with [`Completion::send`];
//! a completion dropped unanswered (the writer thread gone) answers `ShuttingDown`, so no
//! waiter hangs. A waiter that gave up (a dropped future) leaves the answer unread: the
//! records are stored all the same, as when a client disconnects after sending.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::AppendOutcome;
use crate::error::StoreError;

/// What the writer answers for one job: each record's outcome, in input order.
pub(crate) type Answer = Result<Vec<AppendOutcome>, StoreError>;

/// What the writer and the waiter share.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
}

#[derive(Default)]
struct SlotState {
    /// The answer, until the waiter takes it.
    answer: Option<Answer>,
    /// Set once the answer is given; stays set after it is taken.
    answered: bool,
    /// The task to wake when the answer comes (an async waiter).
    waker: Option<Waker>,
    /// A thread is blocked in [`AppendWait::wait`]. Only then does the answer notify the
    /// condition variable: a notification is a system call whether or not anyone waits, and
    /// the writer answers every single write (one futex call per write, most of them to async
    /// waiters, docs/benchmarks.md "Fifteenth session"). Set and read under the lock, so no
    /// notification is lost: a waiter sets it before it sleeps, the writer reads it after it
    /// stored the answer.
    blocked: bool,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // Nothing here can be left half-written by a panic: fields are replaced whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn answer(&self, answer: Answer) {
        let (waker, blocked) = {
            let mut state = self.lock();
            if state.answered {
                return;
            }
            state.answer = Some(answer);
            state.answered = true;
            (state.waker.take(), state.blocked)
        };
        if blocked {
            self.ready.notify_all();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The writer's end: answers the job's waiter once.
pub(crate) struct Completion(Arc<Slot>);

impl Completion {
    pub(crate) fn send(self, answer: Answer) {
        self.0.answer(answer);
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        // A no-op after `send`; otherwise the writer is gone without answering.
        self.0.answer(Err(StoreError::ShuttingDown));
    }
}

/// The waiter's end of one append: resolves once its records are durable (or refused).
#[must_use = "an append's outcome says whether its records were stored"]
pub struct AppendWait(Arc<Slot>);

impl AppendWait {
    /// Blocks the calling thread until the writer answers.
    pub fn wait(self) -> Result<Vec<AppendOutcome>, StoreError> {
        let mut state = self.0.lock();
        loop {
            if let Some(answer) = state.answer.take() {
                return answer;
            }
            if state.answered {
                return Err(StoreError::ShuttingDown);
            }
            state.blocked = true;
            state = self
                .0
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Future for AppendWait {
    type Output = Result<Vec<AppendOutcome>, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.0.lock();
        if let Some(answer) = state.answer.take() {
            return Poll::Ready(answer);
        }
        if state.answered {
            // Polled again after it resolved.
            return Poll::Ready(Err(StoreError::ShuttingDown));
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// A new job's two ends.
pub(crate) fn completion() -> (Completion, AppendWait) {
    let slot = Arc::new(Slot::default());
    (Completion(Arc::clone(&slot)), AppendWait(slot))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::task::Wake;
    use std::time::{Duration, Instant};

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Counter(Mutex<u32>);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            *self.0.lock().unwrap() += 1;
        }
    }

    fn outcome(sequence: u64) -> Answer {
        Ok(vec![AppendOutcome::Duplicate { sequence }])
    }

    /// How the writer ends the job.
    #[derive(Clone, Copy)]
    enum End {
        Send(u64),
        Drop,
    }

    fn check(name: &str, end: End, expected: Option<u64>) {
        let got = |answer: Answer| match answer {
            Ok(v) => match v.as_slice() {
                [AppendOutcome::Duplicate { sequence }] => Some(*sequence),
                _ => panic!("{name}: unexpected outcomes {v:?}"),
            },
            Err(StoreError::ShuttingDown) => None,
            Err(e) => panic!("{name}: unexpected error {e}"),
        };
        let finish = |c: Completion, end: End| match end {
            End::Send(s) => c.send(outcome(s)),
            End::Drop => drop(c),
        };
        // A thread that blocks, answered once it sleeps: it must be woken.
        let (c, w) = completion();
        let slot = Arc::clone(&w.0);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(w.wait()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !slot.lock().blocked {
            assert!(Instant::now() < deadline, "{name}: the waiter never slept");
            std::thread::sleep(Duration::from_millis(1));
        }
        finish(c, end);
        let answer = rx.recv_timeout(Duration::from_secs(10));
        let answer = answer.unwrap_or_else(|_| panic!("{name}: the blocked waiter was not woken"));
        assert_eq!(got(answer), expected, "{name}: blocking waiter");
        // A thread that asks after the answer: it never sleeps.
        let (c, w) = completion();
        finish(c, end);
        assert_eq!(got(w.wait()), expected, "{name}: late waiter");
        // A future: pending, woken once by the answer, then ready with it.
        let (c, mut w) = completion();
        let counter = Arc::new(Counter::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut w).poll(&mut cx).is_pending(), "{name}");
        finish(c, end);
        assert_eq!(*counter.0.lock().unwrap(), 1, "{name}: woken once");
        match Pin::new(&mut w).poll(&mut cx) {
            Poll::Ready(answer) => assert_eq!(got(answer), expected, "{name}: future"),
            Poll::Pending => panic!("{name}: still pending after the answer"),
        }
    }

    #[test]
    fn a_waiter_gets_the_answer_or_shutting_down_once() {
        check("answered", End::Send(7), Some(7));
        check("writer gone", End::Drop, None);
    }
}
