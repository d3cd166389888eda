//! What the pool keeper accepts (see the keeper's module docs for what
//! each message does).

use std::sync::Arc;

use ractor::RpcReplyPort;

use super::shared::PoolShared;
use super::spec::PoolSpec;
use crate::message::pattern_message;
use crate::slot::Reply;
use crate::supervisor::ChildReport;

/// Messages the pool keeper accepts.
#[derive(Debug)]
pub(crate) enum PoolKeeperMessage {
    /// Open a pool and start its workers.
    Open {
        /// What to run (shared, so a lost request can be re-sent).
        spec: Arc<PoolSpec>,
        /// Where the new pool goes.
        reply: Reply<Arc<PoolShared>>,
    },
    /// Change a pool's number of workers.
    Resize {
        /// The pool.
        pool: Arc<PoolShared>,
        /// Workers wanted.
        workers: usize,
        /// Answered once started workers are up (or retiring ones told).
        reply: Reply<()>,
    },
    /// Begin closing a pool (the caller then waits for it to finish).
    Close {
        /// The pool.
        pool: Arc<PoolShared>,
        /// Answered once the pool refuses new requests.
        reply: Reply<()>,
    },
    /// Replace failed workers of the pool with this id (after a backoff).
    Respawn {
        /// The pool's id.
        pool: u64,
    },
    /// Report on this incarnation.
    Status(RpcReplyPort<ChildReport>),
}

// `WorkerEnded` is not a variant: a worker's exit, which the keeper handles
// like a message.
pattern_message!(pub(crate) PoolKeeperMessage {
    requests: [Open, Resize, Close],
    plain: [Respawn],
    status: Status,
    also: ["WorkerEnded"],
});
