//! Named queues: `queue`, `pause_queue`, `resume_queue` (contract methods)
//! and the [`Queues`] sub-handle that reads their state.

use taskorch_actors::Result;
use taskorch_actors::queues::{QueueSpec, QueueState};

use super::Orchestrator;

impl Orchestrator {
    /// Declare the named queue of `spec`, or update its limits if it exists
    /// (what waits and runs in it stays, and so does a pause). Tasks sent to
    /// it with [`Task::queue`](crate::Task::queue) then start only while it
    /// runs fewer than its concurrency limit and has a token of its rate
    /// limit; among waiting work of all queues, the most urgent
    /// ([`Task::priority`](crate::Task::priority), with aging) starts
    /// first. With a store, the queue survives a restart.
    ///
    /// # Errors
    /// `InvalidQueue` (a bad name, a concurrency of 0) or `InvalidRate` (0
    /// starts, a zero interval), naming the queue; nothing changed.
    /// `Store` if the declaration could not be committed.
    pub async fn queue(&self, spec: QueueSpec) -> Result<()> {
        self.inner.ctx.queues().declare(&spec).await
    }

    /// Stop starting work from the queue `name`; what it runs goes on, and
    /// what waits keeps waiting (`Queued`) until
    /// [`resume_queue`](Self::resume_queue). Pausing a paused queue is a
    /// no-op. With a store, the pause survives a restart.
    ///
    /// # Errors
    /// `UnknownQueue(name)` if it was never declared; `Store` if the pause
    /// could not be committed.
    pub async fn pause_queue(&self, name: impl AsRef<str>) -> Result<()> {
        self.inner
            .ctx
            .queues()
            .set_paused(name.as_ref(), true)
            .await
    }

    /// Let the queue `name` start its waiting work again after
    /// [`pause_queue`](Self::pause_queue). Resuming a running queue is a
    /// no-op.
    ///
    /// # Errors
    /// `UnknownQueue(name)` if it was never declared; `Store` if the change
    /// could not be committed.
    pub async fn resume_queue(&self, name: impl AsRef<str>) -> Result<()> {
        self.inner
            .ctx
            .queues()
            .set_paused(name.as_ref(), false)
            .await
    }
}

impl<'a> crate::events::Observer<'a> {
    /// The queues' state (depth, running, paused, tokens).
    pub fn queues(&self) -> Queues<'a> {
        Queues { orch: self.orch }
    }
}

/// The queues' state ([`Observer::queues`](crate::events::Observer::queues)), as the metrics read it.
#[derive(Debug, Clone, Copy)]
pub struct Queues<'a> {
    orch: &'a Orchestrator,
}

impl Queues<'_> {
    /// Every queue: the default one (`name: None`, work that names no
    /// queue) first, then the declared ones by name.
    pub fn list(&self) -> Vec<QueueState> {
        self.orch.inner.ctx.queues().snapshot()
    }

    /// The declared queue `name`, if there is one.
    pub fn find(&self, name: impl AsRef<str>) -> Option<QueueState> {
        let name = name.as_ref();
        self.list()
            .into_iter()
            .find(|q| q.name.as_deref() == Some(name))
    }
}
