//! Connection workers: single-threaded runtimes, two per core by default
//! (`config::CONNECTION_WORKERS_PER_CORE`), each serving its share of the open connections
//! from its own thread and its own poller.
//!
//! Why: on the shared multi-threaded runtime one worker at a time polls the sockets and hands
//! the connections it finds ready to the others through a queue and a wake-up, and on these
//! two-core machines a tenth of the time was idle in such wake-ups under a winner-query load
//! (docs/benchmarks.md, "Twenty-eighth session"). A worker that owns its connections is woken
//! by the kernel itself when one of them is readable, and never waits for another to pass them
//! on: winner queries at 64 connections ran 8-12 % faster at 10 % less server CPU a query on
//! one machine ("Twenty-ninth session") and as fast on another, single writes about a tenth
//! faster ("Thirtieth session"). The cost: no work stealing, so a worker busy with a long
//! request, or waiting for its core, holds up its own connections (a large group or a prefix
//! scan runs on the blocking pool, as before, so a request's inline work stays short).
//!
//! A connection goes to the worker with the fewest open, and moves to that worker's poller
//! before its first read. The accept loop, the reliability refresher and other background
//! tasks stay on the runtime that called `serve_on`.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// How long a stopping worker waits for blocking work its connections left running.
const STOP_WAIT_MS: u64 = 1_000;

/// Blocking threads of all workers together (tokio's default for one runtime): each worker's
/// runtime has a pool of its own, so each gets its share, not the whole.
const BLOCKING_THREADS_MAX: usize = 512;

/// The running workers; dropping them stops them (without waiting, unlike [`Workers::stop`]).
pub(crate) struct Workers {
    workers: Vec<Worker>,
}

struct Worker {
    handle: Handle,
    /// Connections being served by this worker now.
    open: Arc<AtomicUsize>,
    /// Dropped or sent: the worker's runtime shuts down.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// A worker's place for one connection: the runtime to run it on, counted as open until
/// dropped.
pub(crate) struct Slot {
    pub(crate) handle: Handle,
    open: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    /// Starts `count` workers (0: none; connections run on the caller's runtime).
    pub(crate) fn start(count: usize) -> std::io::Result<Workers> {
        let workers = (0..count)
            .map(|index| Worker::start(index, count))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Workers { workers })
    }

    /// The worker with the fewest open connections (the first of those tied), or `None` when
    /// there are no workers.
    pub(crate) fn pick(&self) -> Option<Slot> {
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.open.load(Ordering::Relaxed))?;
        worker.open.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            handle: worker.handle.clone(),
            open: Arc::clone(&worker.open),
        })
    }

    /// Stops every worker and waits for its thread to end: the tasks still on it are dropped
    /// (with what they hold, the database among it), and blocking work they started gets up
    /// to [`STOP_WAIT_MS`] to finish. Blocks: call it off the async threads.
    pub(crate) fn stop(mut self) {
        for worker in &mut self.workers {
            if let Some(stop) = worker.stop.take() {
                let _ = stop.send(());
            }
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take()
                && thread.join().is_err()
            {
                tracing::warn!("a connection worker ended with a panic");
            }
        }
    }
}

impl Worker {
    /// Starts worker `index` of `count`. Its runtime is built on its own thread (a runtime
    /// must not be dropped on an async thread, which a failed spawn would otherwise do).
    fn start(index: usize, count: usize) -> std::io::Result<Worker> {
        let blocking_threads_max = (BLOCKING_THREADS_MAX / count.max(1)).max(1);
        let (handle_sender, handle_receiver) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("stemedb-conn-{index}"))
            .spawn(move || {
                let built = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .max_blocking_threads(blocking_threads_max)
                    .build();
                let runtime = match built {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = handle_sender.send(Err(e));
                        return;
                    }
                };
                let _ = handle_sender.send(Ok(runtime.handle().clone()));
                // Ends when told to, or when the `Workers` holding the sender is dropped.
                let _ = runtime.block_on(stopped);
                runtime.shutdown_timeout(Duration::from_millis(STOP_WAIT_MS));
            })?;
        let handle = handle_receiver.recv().map_err(|_| {
            std::io::Error::other("a connection worker ended before its runtime started")
        })??;
        Ok(Worker {
            handle,
            open: Arc::new(AtomicUsize::new(0)),
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Workers;

    /// Picks `opened` slots from `count` workers, dropping the ones listed in `closed` (by
    /// index among the picks) right after the picks; then the open count of each worker must
    /// be `want`.
    fn check(name: &str, count: usize, opened: usize, closed: &[usize], want: &[usize]) {
        let workers = Workers::start(count).unwrap();
        let mut slots: Vec<_> = (0..opened).map(|_| workers.pick()).collect();
        for &i in closed {
            slots[i] = None;
        }
        let open: Vec<usize> = workers
            .workers
            .iter()
            .map(|w| w.open.load(std::sync::atomic::Ordering::Relaxed))
            .collect();
        assert_eq!(open, want, "{name}");
        drop(slots);
        workers.stop();
    }

    #[rustfmt::skip]
    #[test]
    fn a_connection_goes_to_the_worker_with_the_fewest_open() {
        check("no workers: nothing to pick", 0, 3, &[], &[]);
        check("one worker takes every connection", 1, 3, &[], &[3]);
        check("two workers alternate", 2, 5, &[], &[3, 2]);
        check("a closed connection frees its worker's place", 2, 4, &[0, 2], &[0, 2]);
        check("three workers share evenly", 3, 7, &[], &[3, 2, 2]);
    }

    #[test]
    fn a_picked_worker_runs_the_task_and_stop_waits_for_its_thread() {
        let workers = Workers::start(2).unwrap();
        let slot = workers.pick().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        slot.handle.spawn(async move {
            let name = std::thread::current().name().map(str::to_owned);
            let _ = sender.send(name);
        });
        let name = receiver.recv().unwrap();
        assert_eq!(name.as_deref(), Some("stemedb-conn-0"));
        drop(slot);
        workers.stop();
    }
}
