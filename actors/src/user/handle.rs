//! [`SupervisedActor`]: the application's handle on one of its supervised
//! actors, always reaching the current incarnation.

use ractor::{ActorRef, RpcReplyPort};

use super::ActorMessage;
use crate::error::Result;
use crate::slot::{ActorSlot, Reply};

/// A user actor under supervision (see the [module docs](super)).
///
/// The handle never holds an incarnation: every call reads the current
/// one, and a call made while the actor restarts waits for the next
/// (up to `Config::restart_wait`). Clones share the actor.
pub struct SupervisedActor<M> {
    slot: ActorSlot<M>,
}

impl<M: ractor::Message> std::fmt::Debug for SupervisedActor<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisedActor")
            .field("name", &self.slot.name())
            .field("running", &self.slot.current().is_some())
            .finish()
    }
}

impl<M> Clone for SupervisedActor<M> {
    fn clone(&self) -> Self {
        SupervisedActor {
            slot: self.slot.clone(),
        }
    }
}

impl<M: ActorMessage> SupervisedActor<M> {
    pub(super) fn new(slot: ActorSlot<M>) -> Self {
        SupervisedActor { slot }
    }

    /// The actor's name (its status line, trace events and fault target).
    pub fn name(&self) -> &'static str {
        self.slot.name()
    }

    /// The current incarnation's reference; `None` while it restarts, or
    /// once it failed for good or stopped. Do not keep it: it is dead
    /// after the next restart.
    pub fn actor_ref(&self) -> Option<ActorRef<M>> {
        self.slot.current()
    }

    /// Send `message` to the current incarnation (waiting for a restarting
    /// one). Stamp it with an [`Envelope`](crate::trace::Envelope)
    /// (`Envelope::now()`) to give its trace event a queue time.
    ///
    /// # Errors
    /// `ActorFailed` if the actor failed for good or did not come back
    /// within the restart wait; `ShuttingDown` once it was stopped for
    /// good (at shutdown, or a transient or temporary actor that stopped
    /// normally).
    pub async fn cast(&self, message: M) -> Result<()> {
        self.slot.send(message).await
    }

    /// Send a message built around a ractor reply port and wait for the
    /// answer.
    ///
    /// # Errors
    /// As [`cast`](Self::cast); `ActorFailed` if the actor dropped the
    /// port unanswered (it crashed, or a `DropReply` fault hit).
    pub async fn call<T>(&self, make: impl FnOnce(RpcReplyPort<T>) -> M) -> Result<T> {
        self.slot.call(make).await
    }

    /// Send a request answered through a [`Reply`] and wait for the
    /// answer: the request carries a fresh correlation and its send time
    /// (its trace event shows both), and one lost unhandled by a crashing
    /// incarnation is sent again to the next. `make` runs once per
    /// delivery.
    ///
    /// # Errors
    /// The actor's own answer; `ActorFailed` if it failed while handling
    /// the request (the [`Reply`] answers so on its own once the message
    /// was accepted, see [`ActorMessage::accept`]); as [`cast`](Self::cast)
    /// otherwise.
    pub async fn request<T>(&self, make: impl Fn(Reply<T>) -> M) -> Result<T> {
        self.slot.request(make).await
    }
}
