//! Where the facade finds a child actor: a slot the supervisor rewrites on
//! every restart.
//!
//! An `ActorRef` is dead after its actor restarts, so nothing outside the
//! supervisor keeps one. Callers send through the slot: it hands the message
//! to the current incarnation, and if that one is dead or restarting it
//! waits (bounded) for the supervisor to publish the next. A child the
//! supervisor gave up on answers `ActorFailed` at once; a stopped one
//! answers `ShuttingDown`.

use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorRef, Message, MessagingErr, RpcReplyPort};
use tokio::sync::{oneshot, watch};

use crate::error::{Error, Result};
use crate::supervisor::{ChildState, SlotControl};

/// What the slot currently holds.
#[derive(Debug)]
enum Held<M> {
    Starting,
    Up(ActorRef<M>),
    Restarting,
    Failed(String),
    Stopped,
}

impl<M> Clone for Held<M> {
    fn clone(&self) -> Self {
        match self {
            Held::Starting => Held::Starting,
            Held::Up(r) => Held::Up(r.clone()),
            Held::Restarting => Held::Restarting,
            Held::Failed(reason) => Held::Failed(reason.clone()),
            Held::Stopped => Held::Stopped,
        }
    }
}

/// The current incarnation of one supervised child, by name.
#[derive(Debug)]
pub struct ActorSlot<M> {
    name: &'static str,
    held: Arc<watch::Sender<Held<M>>>,
    restart_wait: Duration,
}

impl<M> Clone for ActorSlot<M> {
    fn clone(&self) -> Self {
        ActorSlot {
            name: self.name,
            held: Arc::clone(&self.held),
            restart_wait: self.restart_wait,
        }
    }
}

impl<M: Message> ActorSlot<M> {
    /// An empty slot for child `name`. Senders wait up to `restart_wait`
    /// for a restarting child to come back.
    pub fn new(name: &'static str, restart_wait: Duration) -> Self {
        ActorSlot {
            name,
            held: Arc::new(watch::Sender::new(Held::Starting)),
            restart_wait,
        }
    }

    /// The child's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The current incarnation, if one is up.
    pub fn current(&self) -> Option<ActorRef<M>> {
        match &*self.held.borrow() {
            Held::Up(actor) => Some(actor.clone()),
            _ => None,
        }
    }

    /// Publish a new incarnation (called by the child's start function).
    pub(crate) fn set_up(&self, actor: ActorRef<M>) {
        self.held.send_replace(Held::Up(actor));
    }

    /// Deliver `msg` to the current incarnation.
    ///
    /// # Errors
    /// `ActorFailed` if the child was given up on or did not come back
    /// within the restart wait; `ShuttingDown` if it was stopped.
    pub async fn send(&self, mut msg: M) -> Result<()> {
        let mut held = self.held.subscribe();
        let deadline = tokio::time::Instant::now() + self.restart_wait;
        loop {
            let now = held.borrow_and_update().clone();
            match now {
                Held::Up(actor) => match actor.cast(msg) {
                    Ok(()) => return Ok(()),
                    // Dead incarnation: the message comes back; wait for
                    // the supervisor to publish the next one.
                    Err(MessagingErr::SendErr(back)) => msg = back,
                    Err(other) => return Err(Error::actor_failed(self.name, other.to_string())),
                },
                Held::Failed(reason) => return Err(Error::actor_failed(self.name, reason)),
                Held::Stopped => return Err(Error::ShuttingDown),
                Held::Starting | Held::Restarting => {}
            }
            match tokio::time::timeout_at(deadline, held.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    return Err(Error::actor_failed(
                        self.name,
                        format!("not back up within {:?}", self.restart_wait),
                    ));
                }
            }
        }
    }

    /// Send a request built around a reply port and wait for the answer.
    ///
    /// # Errors
    /// As [`send`](Self::send); `ActorFailed` if the actor died before
    /// answering (the reply port was dropped).
    pub async fn call<T>(&self, make: impl FnOnce(RpcReplyPort<T>) -> M) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx.into())).await?;
        rx.await.map_err(|_| self.no_reply())
    }

    /// The error for a request whose reply port was dropped unanswered.
    pub fn no_reply(&self) -> Error {
        Error::actor_failed(self.name, "the actor stopped before answering")
    }
}

impl<M: Message> SlotControl for ActorSlot<M> {
    fn mark(&self, state: ChildState, reason: Option<&str>) {
        let held = match state {
            // `Running` is published by `set_up` with the new reference.
            ChildState::Running => return,
            ChildState::Restarting => Held::Restarting,
            ChildState::Failed => Held::Failed(reason.unwrap_or("gave up restarting").to_string()),
            ChildState::Stopped => Held::Stopped,
        };
        self.held.send_replace(held);
    }
}
