//! Where the facade finds a child actor: a slot the supervisor rewrites on
//! every restart.
//!
//! An `ActorRef` is dead after its actor restarts, so nothing outside the
//! supervisor keeps one. Callers send through the slot: it hands the message
//! to the current incarnation, and if that one is dead or restarting it
//! waits (bounded) for the supervisor to publish the next. A child the
//! supervisor gave up on answers `ActorFailed` at once; a stopped one
//! answers `ShuttingDown`.
//!
//! # Requests lost behind a crash
//! ractor drops the messages queued behind a panic, and a message sent in
//! the instant between a panic and the supervisor noticing it lands in the
//! dead mailbox too. Requests therefore carry a [`Reply`]. A handler arms
//! it ([`Reply::accept`]) before doing anything else; from then on,
//! dropping it unanswered (a panic, a stop) answers `ActorFailed` by
//! itself, while a `Reply` dropped unarmed (in a dead mailbox) just closes
//! the channel. So the caller can tell the two
//! cases apart: an explicit `ActorFailed` means the actor failed *while
//! handling* this request; a closed channel means the request was never
//! handled, and [`ActorSlot::request`] re-sends it to the next incarnation.

use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorRef, Message, MessagingErr, RpcReplyPort};
use tokio::sync::{oneshot, watch};

use crate::error::{Error, Result};
use crate::trace::{Correlation, Envelope};

// The child states and the slot's control live here, not in the
// supervisor: the supervisor writes the slot, and the slot (used by every
// caller) must not import the supervisor.
/// The state of one supervised child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildState {
    /// Up and handling messages.
    Running,
    /// Failed, or stopped because a sibling failed (`one_for_all`,
    /// `rest_for_one`); a restart is pending (possibly after a backoff
    /// delay, or until the stopped siblings are gone).
    Restarting,
    /// Failed more often than the restart intensity allows: given up on.
    /// Requests to it answer `ActorFailed` at once.
    Failed,
    /// Stopped on purpose (shutdown, or a temporary child that exited).
    Stopped,
    /// Being stopped for good (the runtime shuts down): it will not come
    /// back; it becomes `Stopped` once it is gone.
    Stopping,
}

/// How the supervisor tells a child's slot about states it cannot publish
/// itself (restarting, failed, stopped).
pub trait SlotControl: Send + Sync {
    /// Record the child's new state.
    fn mark(&self, state: ChildState, reason: Option<&str>);
}

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
        let deadline = crate::duration::after(tokio::time::Instant::now(), self.restart_wait);
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

    /// Wait until the child is given up on or stopped for good, and return
    /// the error its callers get from then on (`ActorFailed` /
    /// `ShuttingDown`). For work that outlives one incarnation (queued pool
    /// requests) and must be answered when there will be no next one.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn gone(&self) -> Error {
        let mut held = self.held.subscribe();
        loop {
            match &*held.borrow_and_update() {
                Held::Failed(reason) => return Error::actor_failed(self.name, reason.clone()),
                Held::Stopped => return Error::ShuttingDown,
                Held::Starting | Held::Up(_) | Held::Restarting => {}
            }
            // The slot itself holds the sender, so this cannot fail while
            // `self` lives.
            if held.changed().await.is_err() {
                return Error::ShuttingDown;
            }
        }
    }

    /// The error for a request whose reply port was dropped unanswered.
    pub fn no_reply(&self) -> Error {
        Error::actor_failed(self.name, "the actor stopped before answering")
    }

    /// Send a request answered through a [`Reply`], re-sending it to the
    /// next incarnation if it was lost unhandled (see the module docs).
    /// `make` is called once per delivery attempt.
    ///
    /// # Errors
    /// The actor's answer; `ActorFailed` if the actor failed while handling
    /// the request or kept losing it; as [`send`](Self::send) otherwise.
    ///
    /// The request gets a fresh [`Correlation`] (in the caller's current
    /// `tracing` span), kept across re-deliveries; each delivery is
    /// stamped with its send time for the message trace.
    pub async fn request<T>(&self, make: impl Fn(Reply<T>) -> M) -> Result<T> {
        // Each loss means an incarnation died with the request queued; the
        // supervisor's restart intensity bounds how often that can happen,
        // and this bounds how long one caller follows it.
        const DELIVERIES: usize = 4;
        let correlation = Correlation::for_caller();
        for _ in 0..DELIVERIES {
            let (tx, rx) = oneshot::channel();
            let reply = Reply {
                port: Some(tx.into()),
                actor: self.name,
                accepted: false,
                envelope: Envelope::stamp(correlation),
            };
            self.send(make(reply)).await?;
            if let Ok(answer) = rx.await {
                return answer;
            }
        }
        Err(Error::actor_failed(
            self.name,
            format!("the request was lost {DELIVERIES} times by crashing incarnations"),
        ))
    }
}

/// The reply half of a request (see the module docs): answers exactly once,
/// and, once accepted, answers `ActorFailed` by itself if dropped
/// unanswered.
#[derive(Debug)]
pub struct Reply<T> {
    port: Option<RpcReplyPort<Result<T>>>,
    actor: &'static str,
    accepted: bool,
    // When it was sent and for which request: read by the message trace
    // and handed on to the runs the request starts.
    envelope: Envelope,
}

impl<T> Reply<T> {
    /// When the request was sent, and its correlation.
    pub fn envelope(&self) -> Envelope {
        self.envelope
    }

    /// The request's correlation (see [`Envelope`]).
    pub fn correlation(&self) -> Correlation {
        self.envelope.correlation
    }

    /// Mark the request as taken by a handler. Call it first thing in the
    /// handler, before anything that can fail.
    pub fn accept(&mut self) {
        self.accepted = true;
    }

    /// Answer the request.
    pub fn send(mut self, answer: Result<T>) {
        if let Some(port) = self.port.take() {
            // The caller may have given up waiting; nothing to do then.
            let _ = port.send(answer);
        }
    }

    /// Whether the caller stopped waiting.
    pub fn is_closed(&self) -> bool {
        self.port.as_ref().is_none_or(RpcReplyPort::is_closed)
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if !self.accepted {
            // Never handled: closing the channel tells the caller to re-send.
            return;
        }
        if let Some(port) = self.port.take() {
            let _ = port.send(Err(Error::actor_failed(
                self.actor,
                "the actor failed while handling this request",
            )));
        }
    }
}

impl<M: Message> SlotControl for ActorSlot<M> {
    fn mark(&self, state: ChildState, reason: Option<&str>) {
        let held = match state {
            // `Running` is published by `set_up` with the new reference.
            ChildState::Running => return,
            ChildState::Restarting => Held::Restarting,
            ChildState::Failed => Held::Failed(reason.unwrap_or("gave up restarting").to_string()),
            ChildState::Stopped | ChildState::Stopping => Held::Stopped,
        };
        self.held.send_replace(held);
    }
}
