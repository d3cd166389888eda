//! One pool request on its way to a worker: the line and where its answer
//! goes.
//!
//! A job answers exactly once. Every path through the pool answers it
//! explicitly; if one ever drops it unanswered (a worker task that panicked,
//! say), the drop answers `ActorFailed`, so a caller never waits forever.

use tokio::sync::oneshot;

use crate::error::{Error, Result};

use super::POOL_KEEPER;

/// A request line and its reply port.
#[derive(Debug)]
pub(crate) struct Job {
    /// The request, without its newline.
    pub(crate) line: String,
    reply: Option<oneshot::Sender<Result<String>>>,
    /// Already sent to a worker that died (see `PoolSpec::retry_idempotent`).
    pub(crate) retried: bool,
    /// Trace clock reading when the caller queued it (the message trace's
    /// enqueue time).
    pub(crate) queued: u64,
}

impl Job {
    /// A job for `line`, and the receiver of its answer.
    pub(crate) fn new(line: String) -> (Job, oneshot::Receiver<Result<String>>) {
        let (tx, rx) = oneshot::channel();
        let job = Job {
            line,
            reply: Some(tx),
            retried: false,
            queued: crate::trace::now(),
        };
        (job, rx)
    }

    /// Answer the caller.
    pub(crate) fn answer(mut self, answer: Result<String>) {
        if let Some(port) = self.reply.take() {
            // The caller may have stopped waiting; nothing to do then.
            let _ = port.send(answer);
        }
    }

    /// Whether the caller stopped waiting (dropped its request future):
    /// such a job is skipped instead of sent to a worker.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.reply.as_ref().is_none_or(oneshot::Sender::is_closed)
    }

    /// Drop the job without answering (its caller is gone, or it is being
    /// handed back to the caller that made it).
    pub(crate) fn discard(mut self) {
        self.reply = None;
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(port) = self.reply.take() {
            let _ = port.send(Err(Error::actor_failed(
                POOL_KEEPER,
                "the request was dropped by a failing pool worker",
            )));
        }
    }
}
