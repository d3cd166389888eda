//! What a user actor and an actor group are started with.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use ractor::Actor;

use super::ActorMessage;
use super::wrapper::Supervised;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::slot::ActorSlot;
use crate::supervisor::spec::{ProbeFn, StartFn};
use crate::supervisor::{ChildSpec, Restart, RestartIntensity, Strategy};
use crate::task::Backoff;

type Factory<A> =
    Arc<dyn Fn() -> std::result::Result<(A, <A as Actor>::Arguments), String> + Send + Sync>;

/// A user actor's child spec: its name, the factory that builds the actor
/// and its arguments on every (re)start, and how it is restarted.
///
/// Unless set, the restart intensity and backoff are the supervisor's:
/// `Config::restart_intensity` and `restart_backoff` under the root, the
/// group's under a group.
pub struct ActorSpec<A: Actor> {
    name: String,
    factory: Factory<A>,
    restart: Restart,
    intensity: Option<RestartIntensity>,
    backoff: Option<Backoff>,
    shutdown_timeout: Duration,
}

impl<A: Actor> std::fmt::Debug for ActorSpec<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("intensity", &self.intensity)
            .field("backoff", &self.backoff)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl<A> ActorSpec<A>
where
    A: Actor,
    A::Msg: ActorMessage,
{
    /// An actor called `name`, built by `factory` on every (re)start;
    /// permanent, stopped within 5 s.
    pub fn new<F>(name: impl Into<String>, factory: F) -> Self
    where
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        ActorSpec::try_new(name, move || Ok(factory()))
    }

    /// As [`new`](Self::new), with a factory that can fail: its error
    /// fails the start (`Error::ActorStart` for the first one; a failed
    /// restart counts against the restart intensity).
    pub fn try_new<F>(name: impl Into<String>, factory: F) -> Self
    where
        F: Fn() -> std::result::Result<(A, A::Arguments), String> + Send + Sync + 'static,
    {
        ActorSpec {
            name: name.into(),
            factory: Arc::new(factory),
            restart: Restart::Permanent,
            intensity: None,
            backoff: None,
            shutdown_timeout: Duration::from_secs(5),
        }
    }

    /// When it is restarted (default [`Restart::Permanent`]).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Give up (mark it `Failed`, or escalate in a group) past
    /// `max_restarts` restarts within `within`.
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.intensity = Some(RestartIntensity {
            max_restarts,
            within,
        });
        self
    }

    /// Delay before the *n*-th restart within the intensity window (the
    /// first one is immediate).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// How long its graceful stop (its `post_stop`) may take before it is
    /// killed (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn check(&self) -> Result<()> {
        super::names::check(&self.name)?;
        check_intensity("ActorSpec::intensity", self.intensity)
    }

    /// The child spec the supervisor runs: every start builds the actor
    /// with the factory, spawns it inside the tracing wrapper linked to
    /// the supervisor, and publishes the new reference in `slot`.
    pub(super) fn child_spec(
        self,
        name: &'static str,
        slot: ActorSlot<A::Msg>,
        ctx: Arc<Context>,
    ) -> ChildSpec {
        let factory = self.factory;
        let start_slot = slot.clone();
        let start: StartFn = Arc::new(move |supervisor| {
            let factory = Arc::clone(&factory);
            let slot = start_slot.clone();
            let ctx = Arc::clone(&ctx);
            Box::pin(async move {
                // The factory runs inside the supervisor's handler: a
                // panic there must fail this start, not the supervisor.
                let (actor, args) = std::panic::catch_unwind(AssertUnwindSafe(|| factory()))
                    .map_err(|panic| {
                        format!(
                            "the factory panicked: {}",
                            crate::panic_hook::panic_message(&*panic)
                        )
                    })??;
                let wrapper = Supervised::new(actor, name, ctx);
                let (actor_ref, _join) = Actor::spawn_linked(None, wrapper, args, supervisor)
                    .await
                    .map_err(|e| e.to_string())?;
                slot.set_up(actor_ref.clone());
                Ok(actor_ref.get_cell())
            })
        });
        // User actors answer no status probe: their line is the
        // supervisor's own knowledge (state, restarts, last failure).
        let probe: ProbeFn = Arc::new(|| Box::pin(async { None }));
        let mut child = ChildSpec::from_parts(name, start, probe, Arc::new(slot))
            .restart(self.restart)
            .shutdown_timeout(self.shutdown_timeout);
        child.intensity = self.intensity;
        child.backoff = self.backoff;
        child
    }
}

/// An actor group's spec: a named sub-supervisor with its own strategy
/// and restart intensity for its members.
///
/// Past a member's intensity the group, by default, *escalates* (as an
/// OTP supervisor does): it stops every member, last started first, and
/// fails; the root then restarts the whole group (every member built
/// afresh by its factory) under the root's intensity for the group, and
/// past that marks the group and its members `Failed`. With
/// [`escalate(false)`](Self::escalate) the member is marked `Failed` and
/// the others keep running.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub(super) name: String,
    pub(super) strategy: Strategy,
    pub(super) intensity: Option<RestartIntensity>,
    pub(super) backoff: Option<Backoff>,
    pub(super) restart: Restart,
    pub(super) escalate: bool,
    pub(super) shutdown_timeout: Duration,
}

impl GroupSpec {
    /// A group called `name`: one_for_one, escalating, with the root's
    /// restart intensity and backoff for its members.
    pub fn new(name: impl Into<String>) -> Self {
        GroupSpec {
            name: name.into(),
            strategy: Strategy::OneForOne,
            intensity: None,
            backoff: None,
            restart: Restart::Permanent,
            escalate: true,
            shutdown_timeout: Duration::from_secs(30),
        }
    }

    /// Which members restart when one fails (default one_for_one):
    /// one_for_all restarts every member, rest_for_one the failed one and
    /// those started after it; the others are stopped last started first
    /// and all start again in order.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The members' restart intensity (each member's own, unless its spec
    /// sets one).
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.intensity = Some(RestartIntensity {
            max_restarts,
            within,
        });
        self
    }

    /// The members' backoff between restarts (unless a member's spec sets
    /// one).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Whether the root restarts the group after it escalated (default
    /// permanent: always; temporary: never, the group ends `Failed`).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Whether giving up on a member fails the whole group (default
    /// `true`, see the type's docs).
    pub fn escalate(mut self, escalate: bool) -> Self {
        self.escalate = escalate;
        self
    }

    /// How long stopping the whole group (each member within its own
    /// shutdown timeout) may take before the rest is killed (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn check(&self) -> Result<()> {
        super::names::check(&self.name)?;
        check_intensity("GroupSpec::intensity", self.intensity)
    }
}

/// A restart window of zero would forget every restart at once: the
/// intensity could never trip, and a crash loop would never end.
fn check_intensity(field: &str, intensity: Option<RestartIntensity>) -> Result<()> {
    match intensity {
        Some(i) if i.within.is_zero() => Err(Error::InvalidDuration {
            field: field.into(),
            value: Some(i.within),
            limit: "a restart window above zero".into(),
        }),
        _ => Ok(()),
    }
}
