//! What the root supervisor supervises and how: child specs, restart types,
//! strategies, restart intensity.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use ractor::{Actor, ActorCell, Message, RpcReplyPort};

use super::status::{ChildReport, ChildState, ChildStatus};
use crate::slot::{ActorSlot, SlotControl};
use crate::task::Backoff;

/// When a child that stopped is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always restarted, whether it failed or stopped normally.
    #[default]
    Permanent,
    /// Restarted only if it failed (panicked or returned an error).
    Transient,
    /// Never restarted.
    Temporary,
}

/// Which children restart when one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Only the failed child.
    #[default]
    OneForOne,
    /// Every child: the others are stopped (reverse order) and all are
    /// started again in order.
    OneForAll,
    /// The failed child and every child started after it.
    RestForOne,
}

/// How many restarts of one child are tolerated in a sliding window before
/// the supervisor gives up on it and marks it `Failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartIntensity {
    /// Restarts allowed within the window.
    pub max_restarts: u32,
    /// The window.
    pub within: Duration,
}

impl Default for RestartIntensity {
    /// 5 restarts in 10 s.
    fn default() -> Self {
        RestartIntensity {
            max_restarts: 5,
            within: Duration::from_secs(10),
        }
    }
}

/// The supervisor's policy.
#[derive(Debug, Clone, Copy)]
pub struct SupervisorPolicy {
    /// Which children restart together.
    pub strategy: Strategy,
    /// When to give up on a child.
    pub intensity: RestartIntensity,
    /// Delay before the *n*-th restart of a child within the intensity
    /// window (the first one is immediate).
    pub backoff: Backoff,
    /// How long a status query waits for each child to answer.
    pub status_timeout: Duration,
}

impl Default for SupervisorPolicy {
    fn default() -> Self {
        SupervisorPolicy {
            strategy: Strategy::OneForOne,
            intensity: RestartIntensity::default(),
            backoff: Backoff::exponential(Duration::from_millis(10), Duration::from_secs(2))
                .with_jitter(0.2),
            status_timeout: Duration::from_secs(1),
        }
    }
}

/// Messages of a supervised child: it must answer status probes.
pub trait ChildMessage: Message {
    /// The message asking the child for a [`ChildReport`].
    fn status_request(reply: RpcReplyPort<ChildReport>) -> Self;
}

pub(crate) type StartFn =
    Arc<dyn Fn(ActorCell) -> BoxFuture<'static, Result<ActorCell, String>> + Send + Sync>;
pub(crate) type ProbeFn = Arc<dyn Fn() -> BoxFuture<'static, Option<ChildReport>> + Send + Sync>;
/// The status lines of a child's own children (an actor group), given the
/// child's state: listed right after the child's own line.
pub(crate) type NestedFn =
    Arc<dyn Fn(ChildState) -> BoxFuture<'static, Vec<ChildStatus>> + Send + Sync>;

/// One child of the root supervisor.
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) name: &'static str,
    pub(crate) restart: Restart,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) start: StartFn,
    pub(crate) probe: ProbeFn,
    pub(crate) slot: Arc<dyn SlotControl>,
    /// Restart intensity and backoff of this child instead of the
    /// supervisor's (user actors bring their own).
    pub(crate) intensity: Option<RestartIntensity>,
    pub(crate) backoff: Option<Backoff>,
    /// Restarted on its own whatever the supervisor's strategy, and never
    /// restarted with a sibling: a user actor under the root is no part
    /// of the pattern actors' group.
    pub(crate) alone: bool,
    /// Its own children's status lines (an actor group).
    pub(crate) nested: Option<NestedFn>,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A child named after its slot, started by spawning the actor `make`
    /// returns (called again on every restart), linked to the supervisor,
    /// without a global name (several runtimes share one process).
    pub fn new<A, F>(slot: ActorSlot<A::Msg>, make: F) -> Self
    where
        A: Actor,
        A::Msg: ChildMessage,
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        let name = slot.name();
        let make = Arc::new(make);
        let start_slot = slot.clone();
        let start: StartFn = Arc::new(move |supervisor| {
            let make = Arc::clone(&make);
            let slot = start_slot.clone();
            Box::pin(async move {
                let (actor, args) = make();
                let (actor_ref, _join) = A::spawn_linked(None, actor, args, supervisor)
                    .await
                    .map_err(|e| e.to_string())?;
                slot.set_up(actor_ref.clone());
                Ok(actor_ref.get_cell())
            })
        });
        let probe_slot = slot.clone();
        let probe: ProbeFn = Arc::new(move || {
            let slot = probe_slot.clone();
            Box::pin(async move {
                let actor = slot.current()?;
                let (tx, rx) = tokio::sync::oneshot::channel();
                actor.cast(A::Msg::status_request(tx.into())).ok()?;
                rx.await.ok()
            })
        });
        ChildSpec::from_parts(name, start, probe, Arc::new(slot))
    }

    /// A child from its start and probe functions.
    pub(crate) fn from_parts(
        name: &'static str,
        start: StartFn,
        probe: ProbeFn,
        slot: Arc<dyn SlotControl>,
    ) -> Self {
        ChildSpec {
            name,
            restart: Restart::Permanent,
            shutdown_timeout: Duration::from_secs(10),
            start,
            probe,
            slot,
            intensity: None,
            backoff: None,
            alone: false,
            nested: None,
        }
    }

    /// Restart intensity for this child instead of the supervisor's.
    pub fn intensity(mut self, intensity: RestartIntensity) -> Self {
        self.intensity = Some(intensity);
        self
    }

    /// Backoff between this child's restarts instead of the supervisor's.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// The intensity and backoff that apply to this child under `policy`.
    pub(crate) fn limits(&self, policy: &SupervisorPolicy) -> (RestartIntensity, Backoff) {
        (
            self.intensity.unwrap_or(policy.intensity),
            self.backoff.unwrap_or(policy.backoff),
        )
    }

    /// Set the restart type (default permanent).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How long a graceful stop of this child may take before it is killed
    /// (default 10 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The child's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}
