//! What the pool keeper accepts (see the keeper's module docs for what
//! each message does).

use std::sync::Arc;

use ractor::RpcReplyPort;

use super::shared::PoolShared;
use super::spec::PoolSpec;
use crate::slot::Reply;
use crate::supervisor::{ChildMessage, ChildReport};
use crate::trace::MessageInfo;

/// Messages the pool keeper accepts.
#[derive(Debug)]
pub enum PoolKeeperMessage {
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

impl PoolKeeperMessage {
    /// Every variant's name, as the message trace shows it and fault
    /// targets name it.
    /// and `WorkerEnded`: a worker's exit, which the keeper handles like a
    /// message.
    pub const KINDS: &'static [&'static str] = &[
        "Open",
        "Resize",
        "Close",
        "Respawn",
        "Status",
        "WorkerEnded",
    ];

    /// What the trace records about this message.
    pub(super) fn info(&self) -> MessageInfo {
        let info = MessageInfo::new(self.kind());
        match self {
            PoolKeeperMessage::Open { reply, .. } => info.request(reply.envelope()),
            PoolKeeperMessage::Resize { reply, .. } | PoolKeeperMessage::Close { reply, .. } => {
                info.request(reply.envelope())
            }
            PoolKeeperMessage::Respawn { .. } => info,
            PoolKeeperMessage::Status(_) => info.replies(),
        }
    }

    /// The variant's name, for traces.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            PoolKeeperMessage::Open { .. } => "Open",
            PoolKeeperMessage::Resize { .. } => "Resize",
            PoolKeeperMessage::Close { .. } => "Close",
            PoolKeeperMessage::Respawn { .. } => "Respawn",
            PoolKeeperMessage::Status(_) => "Status",
        }
    }

    /// Arm the request's reply (see [`Reply::accept`]).
    pub(super) fn accept(&mut self) {
        match self {
            PoolKeeperMessage::Open { reply, .. } => reply.accept(),
            PoolKeeperMessage::Resize { reply, .. } | PoolKeeperMessage::Close { reply, .. } => {
                reply.accept()
            }
            PoolKeeperMessage::Respawn { .. } | PoolKeeperMessage::Status(_) => {}
        }
    }
}

impl ChildMessage for PoolKeeperMessage {
    fn status_request(reply: RpcReplyPort<ChildReport>) -> Self {
        PoolKeeperMessage::Status(reply)
    }
}
