//! The application's own actors under the root supervisor.
//!
//! An application starts its ractor actors as supervised children of the
//! runtime's root supervisor ([`UserActors::spawn`]), or of a named actor
//! group it creates ([`UserActors::group`], a sub-supervisor with its own
//! strategy). They get the child-spec semantics the pattern actors get:
//! a [`Restart`](crate::Restart) type, a restart intensity with
//! exponential backoff and jitter, a line in `system_status()` with their
//! state and restart count, and a stop in reverse start order at shutdown.
//!
//! ```text
//! RootSupervisor
//! ├── executor, batch, launcher, scheduler, pool_keeper   (the pattern actors)
//! ├── counter          a user actor: restarted alone (one_for_one), whatever
//! │                    the root's strategy for the pattern actors
//! └── ingest           an actor group: a supervisor of its own (strategy,
//!     │                intensity); past a member's intensity it stops its
//!     │                members and fails, and the root restarts it whole
//!     ├── reader
//!     └── writer
//! ```
//!
//! # Messages, trace and faults
//! Each user actor runs inside a thin wrapper actor with the same message
//! type, so the [`ActorRef`] the application holds is a
//! plain `ActorRef<M>`. The wrapper records every message in the message
//! trace under the actor's name (kind, handling time; queue time and
//! correlation when the message carries an [`Envelope`]: a
//! [`Reply`](crate::Reply) of [`SupervisedActor::request`], or one stamped
//! with [`Envelope::now`]) and applies injected faults by the actor's name,
//! before the actor's own `handle`. What it knows of a message comes from
//! [`ActorMessage`].
//!
//! # State outside the actor
//! A restart builds a new actor from the factory, with fresh state: what
//! must survive a restart is kept outside the actor (an `Arc` the factory
//! captures and hands to every incarnation), as the pattern actors keep
//! theirs in the runtime context. The old `ActorRef` is dead after a
//! restart; [`SupervisedActor`] always reaches the current incarnation.
//!
//! # Names
//! One namespace for the whole tree (user actors and groups alike): a name
//! is taken for the orchestrator's lifetime, so status lines, trace events
//! and fault targets never mean two actors.

mod group;
mod handle;
mod names;
pub use names::NameTaken;
mod spec;
#[cfg(test)]
mod tests;
mod wrapper;

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::supervisor::{ChildSpec, SupervisorMessage, SupervisorPolicy};
use crate::trace::Envelope;

pub use group::ActorGroup;
pub use handle::SupervisedActor;
pub use spec::{ActorSpec, GroupSpec};

/// What the runtime needs to know about a user actor's message: its kind
/// for the trace and fault targets, and its envelope and reply if it has
/// them. Only [`kind`](Self::kind) is required.
///
/// ```
/// use taskorch_actors::Reply;
/// use taskorch_actors::trace::Envelope;
/// use taskorch_actors::user::ActorMessage;
///
/// enum Counter {
///     Add { n: u64, sent: Envelope },
///     Get { reply: Reply<u64> },
/// }
///
/// impl ActorMessage for Counter {
///     const KINDS: &'static [&'static str] = &["Add", "Get"];
///     fn kind(&self) -> &'static str {
///         match self {
///             Counter::Add { .. } => "Add",
///             Counter::Get { .. } => "Get",
///         }
///     }
///     fn envelope(&self) -> Option<Envelope> {
///         match self {
///             Counter::Add { sent, .. } => Some(*sent),
///             Counter::Get { reply } => Some(reply.envelope()),
///         }
///     }
///     fn has_reply(&self) -> bool {
///         matches!(self, Counter::Get { .. })
///     }
///     fn accept(&mut self) {
///         if let Counter::Get { reply } = self {
///             reply.accept();
///         }
///     }
/// }
/// ```
pub trait ActorMessage: ractor::Message {
    /// Every kind [`kind`](Self::kind) returns; a fault aimed at a kind
    /// (`FaultTarget::message`) must name one. Empty: only untargeted
    /// faults reach the actor.
    const KINDS: &'static [&'static str] = &[];

    /// The message's kind (its variant name), as the trace shows it.
    fn kind(&self) -> &'static str;

    /// When it was sent and for which request, if it carries an
    /// [`Envelope`]: gives its trace event a queue time and correlation.
    fn envelope(&self) -> Option<Envelope> {
        None
    }

    /// Whether it carries a reply port (`Fault::DropReply` hits only
    /// those).
    fn has_reply(&self) -> bool {
        false
    }

    /// Arm its [`Reply`](crate::Reply), if it has one
    /// ([`Reply::accept`](crate::Reply::accept)): called just before the
    /// actor handles it, so a crash while handling answers the caller.
    fn accept(&mut self) {}
}

/// Where an orchestrator's user actors are started: the root supervisor,
/// the names taken, what every incarnation needs (cheap to clone).
#[derive(Debug, Clone)]
pub struct UserActors {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    ctx: Arc<Context>,
    root: ActorRef<SupervisorMessage>,
    /// The root's policy: what a group's members get unless told otherwise.
    policy: SupervisorPolicy,
    restart_wait: Duration,
    names: names::Names,
}

impl UserActors {
    /// User actors of the runtime whose shared state is `ctx` and whose
    /// root supervisor is `root` (started with `policy`); senders wait up
    /// to `restart_wait` for a restarting actor.
    pub fn new(
        ctx: Arc<Context>,
        root: ActorRef<SupervisorMessage>,
        policy: SupervisorPolicy,
        restart_wait: Duration,
    ) -> Self {
        UserActors {
            shared: Arc::new(Shared {
                ctx,
                root,
                policy,
                restart_wait,
                names: names::Names::default(),
            }),
        }
    }

    /// Start an actor under the root supervisor, restarted on its own
    /// (one_for_one) per its spec; answers once it runs.
    ///
    /// # Errors
    /// `InvalidActorName` for an empty, overlong or reserved name (one of
    /// the runtime's own actors); `DuplicateActor` for a name taken by
    /// another user actor or group; `InvalidDuration` for a zero restart
    /// window; `ActorStart` if the factory or the actor's `pre_start`
    /// failed (nothing is added, the name is free again); `ShuttingDown`
    /// once the runtime is shutting down.
    pub async fn spawn<A>(&self, spec: ActorSpec<A>) -> Result<SupervisedActor<A::Msg>>
    where
        A: Actor,
        A::Msg: ActorMessage,
    {
        let shared = &self.shared;
        let (mut child, handle) = self.prepare(spec)?;
        child.alone = true;
        let started = start_on(&shared.root, child).await;
        shared.names.settle(handle.name(), started.is_ok());
        started.map(|()| handle)
    }

    /// Create a named actor group: a sub-supervisor under the root with
    /// its own strategy and restart intensity, empty until
    /// [`ActorGroup::spawn`] adds members.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) for the group's name and intensity.
    pub async fn group(&self, spec: GroupSpec) -> Result<ActorGroup> {
        let shared = &self.shared;
        spec.check()?;
        let name = shared.names.reserve(&spec.name)?;
        let (group, child) = ActorGroup::build(self.clone(), name, spec);
        let started = start_on(&shared.root, child).await;
        shared.names.settle(name, started.is_ok());
        started.map(|()| group)
    }

    /// Share the namespace with names taken elsewhere (the services):
    /// a name for which `taken` answers true is refused with
    /// `ServiceExists`. Set once per orchestrator; later calls are ignored.
    pub fn share_names_with(&self, taken: names::NameTaken) {
        self.shared.names.share_with(taken);
    }

    /// Whether `name` is taken by a user actor or group (started or
    /// starting).
    pub fn is_taken(&self, name: &str) -> bool {
        self.shared.names.is_taken(name)
    }

    /// The names taken by user actors and groups, in the order they were
    /// started.
    pub fn names(&self) -> Vec<&'static str> {
        self.shared.names.taken()
    }

    /// Check `spec`, take its name, and build its child spec and handle.
    fn prepare<A>(&self, spec: ActorSpec<A>) -> Result<(ChildSpec, SupervisedActor<A::Msg>)>
    where
        A: Actor,
        A::Msg: ActorMessage,
    {
        spec.check()?;
        let shared = &self.shared;
        let name = shared.names.reserve(spec.name())?;
        #[cfg(feature = "fault-injection")]
        shared.ctx.faults().register_actor(name, A::Msg::KINDS);
        let slot = crate::slot::ActorSlot::new(name, shared.restart_wait);
        let child = spec.child_spec(name, slot.clone(), Arc::clone(&shared.ctx));
        Ok((child, SupervisedActor::new(slot)))
    }
}

/// Ask `supervisor` to start `child`, and wait for its answer.
async fn start_on(supervisor: &ActorRef<SupervisorMessage>, child: ChildSpec) -> Result<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    supervisor
        .cast(SupervisorMessage::StartChild(child, tx.into()))
        .map_err(|_| Error::ShuttingDown)?;
    // The supervisor drops the port only when it stops.
    rx.await.map_err(|_| Error::ShuttingDown)?
}
