//! The signatures of concurrent single writes, checked as one batch. A strict check of one
//! Ed25519 signature costs about 17 µs on this project's machines (AVX-512 IFMA; 29 µs with
//! AVX2); a batch of 2 about 15 µs each, of 4 about 11, of 16 about 10 (14 with AVX2)
//! (`cargo run --release -p stemedb-core --example verify_cost`), and since the batch's Rs are
//! decompressed four at a time about 0.8x that from 4 on (docs/benchmarks.md, "Twenty-fifth
//! session").
//! Under many single writes that check was the largest part of the server's CPU per write
//! (docs/benchmarks.md), so each write hands its prepared assertion to one checker task and
//! awaits the verdict.
//!
//! The checker waits for no timer: woken by the first write, it yields once, so that every
//! request already ready to run adds its write first, then checks what it has. Idle, a write
//! waits one yield; busy, a batch holds the writes of one pass of the scheduler. There is one
//! checker per runtime serving writes (each connection worker's, or the shared one); each
//! starts with its runtime's first write and ends when the server's state is dropped (the
//! channel closes) or its runtime shuts down. A checker holds the database weakly: the data
//! directory's lock goes with the last strong handle, when the server stops, not when a
//! checker next wakes.
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::ThreadId;

use stemedb::{Db, DbError, Prepared, Verified};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{mpsc, oneshot};

use crate::ApiError;

/// Signatures checked in one go at most. Past 16 a batch saves nothing more per signature
/// (9.9 µs at 16, 10.8 at 32 with IFMA; 14.1 and 14.5 with AVX2), and a batch runs on an
/// async worker without yielding: 16 keep that under about 0.2 ms when it passes. A batch
/// holding a forged signature is checked again one by one to find it (about 0.3 ms more);
/// forgers are refused by the agent guard once their failures add up.
const BATCH_MAX: usize = 16;

type Verdict = Result<Verified, DbError>;

type Queue = mpsc::UnboundedSender<(Prepared, oneshot::Sender<Verdict>)>;

/// The checkers' queues, one per runtime that serves writes: a connection worker's
/// (`workers.rs`, a single-threaded runtime, known by its thread) or the shared runtime's. A
/// checker runs on the runtime of the writes it checks, so that a batch is what one pass of
/// that runtime's scheduler brought, and a batch's checks hold up that worker's connections
/// only, as its own requests would. The task behind a queue starts with its runtime's first
/// write, and again with the next one if it ever ended (its runtime shut down).
#[derive(Default)]
pub struct VerifyBatcher {
    queues: Mutex<Vec<(Option<ThreadId>, Queue)>>,
}

impl VerifyBatcher {
    /// Checks `prepared`'s signature in the next batch.
    pub async fn verify(&self, db: &Arc<Db>, prepared: Prepared) -> Result<Verified, ApiError> {
        let queue = self.queue(db);
        let (answer, verdict) = oneshot::channel();
        queue
            .send((prepared, answer))
            .map_err(|_| ApiError::Internal("the signature checker stopped".into()))?;
        let verdict = verdict
            .await
            .map_err(|_| ApiError::Internal("the signature checker stopped".into()))?;
        Ok(verdict?)
    }

    /// The queue of the checker on the calling task's runtime, started if it is not running.
    fn queue(&self, db: &Arc<Db>) -> Queue {
        let runtime = match Handle::current().runtime_flavor() {
            RuntimeFlavor::CurrentThread => Some(std::thread::current().id()),
            _ => None,
        };
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        // Queues of runtimes that shut down go (a server's workers come and go with it).
        queues.retain(|(_, sender)| !sender.is_closed());
        if let Some((_, sender)) = queues.iter().find(|(id, _)| *id == runtime) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(check_batches(Arc::downgrade(db), receiver));
        queues.push((runtime, sender.clone()));
        sender
    }
}

/// The checker task: one batch per wake-up, until every sender is gone.
async fn check_batches(
    db: Weak<Db>,
    mut queue: mpsc::UnboundedReceiver<(Prepared, oneshot::Sender<Verdict>)>,
) {
    while let Some(first) = queue.recv().await {
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX {
            match queue.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        metrics::histogram!("stemedb_signature_batch_size").record(batch.len() as f64);
        let (items, answers): (Vec<Prepared>, Vec<_>) = batch.into_iter().unzip();
        let Some(db) = db.upgrade() else {
            // The server is gone; dropping the answers tells each waiter so.
            return;
        };
        for (verdict, answer) in db.verify_prepared(items).into_iter().zip(answers) {
            // A write whose request gave up (timed out, disconnected) no longer listens.
            let _ = answer.send(verdict);
        }
    }
}
