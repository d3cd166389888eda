//! The root supervisor: starts the pattern actors, restarts the ones that
//! fail, gives up on the ones that keep failing, answers status queries,
//! and stops everything in order at shutdown.
//!
//! ractor restarts nothing by itself, and its default reaction to a child
//! exit is to stop the parent; this actor overrides `handle_supervisor_evt`
//! and implements restart itself.
//!
//! # Messages
//! - [`SupervisorMessage::Status`]: answered from the supervisor's own table
//!   (so restarting, stopping and failed children are reported too) plus a
//!   probe of each running child bounded by `status_timeout`.
//! - [`SupervisorMessage::Restart`]: a delayed restart coming due.
//! - [`SupervisorMessage::Stopped`]: children stopped in the background
//!   are gone (see below).
//! - [`SupervisorMessage::Shutdown`]: stop every child, last started first.
//! - [`SupervisorMessage::StartChild`]: add a child after the others (a
//!   user actor or an actor group, see [`user`](crate::user)) and start
//!   it; a name already in the table is refused.
//!
//! # Status never waits for a stop
//! The supervisor handles one message at a time, so nothing it handles may
//! wait on a child that can be slow: stopping a child waits up to its
//! shutdown timeout (graceful stop of its runs, then a kill). So no handler
//! awaits a stop. Siblings stopped for a `one_for_all` or `rest_for_one`
//! restart, and every child at shutdown, are taken out of the table at once
//! (reported `Restarting` or `Stopping`) and stopped in order by a task of
//! their own, which sends [`SupervisorMessage::Stopped`] when they are gone;
//! no child starts again before that (restarts coming due meanwhile wait),
//! and `Shutdown` answers only then. A status query therefore waits only
//! for the message in hand, which at worst starts a child (its
//! `pre_start`: no process waits, no stop), and then for the probes,
//! `status_timeout` at most: `system_status()` answers within
//! `status_timeout` plus that, even while a child takes its whole shutdown
//! timeout to stop.
//!
//! # Children
//! Started in spec order, stopped in reverse. When a child fails, its
//! [`Restart`] type decides whether it comes back and the [`Strategy`] which
//! siblings restart with it. Each child has its own [`RestartIntensity`]
//! window (default 5 restarts in 10 s): the first restart in the window is
//! immediate, later ones wait an exponential backoff with jitter, and past
//! the intensity the child is marked `Failed` (its callers get
//! `ActorFailed` at once) while the others keep running — one child never
//! takes the application down.
//!
//! # State outside the actor
//! None of its own beyond the child table: the children keep theirs in the
//! runtime [`Context`](crate::Context), and every (re)start publishes the
//! new `ActorRef` into the child's [`ActorSlot`](crate::ActorSlot).
//!
//! # Actor groups
//! The same actor supervises a user's actor group, as a child of the root
//! ([`user::ActorGroup`](crate::user::ActorGroup)), with `escalate` on:
//! past a member's intensity it stops every member and fails, so the root
//! restarts the group whole (OTP's escalation). Stopped by the root, it
//! stops its members itself, last started first (`post_stop`). Children
//! marked `alone` (user actors under the root, groups) are restarted on
//! their own whatever the strategy, and never with a sibling; a child's
//! own intensity and backoff, when its spec sets them, replace the
//! policy's.
//!
//! # Trace
//! Its own messages are recorded in the message trace under the actor name
//! "supervisor" (a group's under the group's name); what happens to a child is recorded on the child's name:
//! `ChildFailed`, `ChildRestarted` (spanning the time the child was down)
//! and `ChildGaveUp`.
//!
//! # Restart of the supervisor itself
//! There is none: it is the root. It handles no user input and catches
//! nothing it could fail on, so a failure here is a bug.

pub(crate) mod spec;
mod status;
#[cfg(test)]
mod tests;
mod window;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::time::Instant;

pub use spec::{ChildMessage, ChildSpec, Restart, RestartIntensity, Strategy, SupervisorPolicy};
pub use status::{ChildReport, ChildState, ChildStatus, SystemStatus};
pub(crate) use window::RestartWindow;

pub use crate::slot::SlotControl;
use crate::trace::{EventKind, MessageInfo, Outcome, TraceRecorder};

/// The root supervisor's name in the message trace.
pub(crate) const SUPERVISOR: &str = "supervisor";

/// The root supervisor actor (stateless; see [`SupervisorState`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RootSupervisor;

/// What the root supervisor starts with.
#[derive(Debug)]
pub(crate) struct SupervisorArguments {
    /// Children, in start order.
    pub(crate) children: Vec<ChildSpec>,
    /// Strategy, intensity, backoff.
    pub(crate) policy: SupervisorPolicy,
    /// Where its messages and its children's failures and restarts are
    /// recorded (the runtime's message trace).
    pub(crate) trace: Arc<TraceRecorder>,
    /// Where restarts and give-ups are emitted (the runtime's event stream).
    pub(crate) events: crate::events::Events,
    /// Where restarts and give-ups are counted (the runtime's metrics).
    pub(crate) metrics: Arc<crate::metrics::MetricsRecorder>,
    /// Fail itself when it gives up on a child, so its own supervisor
    /// restarts the whole group (an actor group under the root, OTP's
    /// escalation); the root never does (it marks the child `Failed`).
    pub(crate) escalate: bool,
    /// Its name in the message trace: "supervisor" for the root, the
    /// group's name for an actor group.
    pub(crate) name: &'static str,
}

/// Messages the root supervisor accepts.
#[derive(Debug)]
pub enum SupervisorMessage {
    /// Report every child's state.
    Status(RpcReplyPort<SystemStatus>),
    /// Restart these children (index, generation) now; stale generations
    /// (the child was restarted or stopped since) are skipped.
    Restart(Vec<(usize, u64)>),
    /// Children stopped in the background (for a restart or the shutdown)
    /// are gone: the restarts that waited for them may start.
    Stopped,
    /// Stop every child in reverse start order, then answer.
    Shutdown(RpcReplyPort<()>),
    /// Start one more child, after the others (so it stops before them):
    /// a user actor, or an actor group. Answers once it runs.
    StartChild(ChildSpec, RpcReplyPort<crate::error::Result<()>>),
}

impl SupervisorMessage {
    /// The variant's name, for traces.
    fn kind(&self) -> &'static str {
        match self {
            SupervisorMessage::Status(_) => "Status",
            SupervisorMessage::Restart(_) => "Restart",
            SupervisorMessage::Stopped => "Stopped",
            SupervisorMessage::Shutdown(_) => "Shutdown",
            SupervisorMessage::StartChild(..) => "StartChild",
        }
    }
}

/// The supervisor's child table.
#[derive(Debug)]
pub struct SupervisorState {
    children: Vec<Child>,
    policy: SupervisorPolicy,
    stopping: bool,
    trace: Arc<TraceRecorder>,
    events: crate::events::Events,
    metrics: Arc<crate::metrics::MetricsRecorder>,
    /// Background stops not finished yet (see "Status never waits for a
    /// stop"): while any is, no child starts.
    stops_in_flight: usize,
    /// Restarts that came due while a stop was in flight.
    deferred: Vec<(usize, u64)>,
    /// Callers of `Shutdown` waiting for the last stop.
    shutdown_waiters: Vec<RpcReplyPort<()>>,
    /// See [`SupervisorArguments::escalate`].
    escalate: bool,
    /// See [`SupervisorArguments::name`].
    name: &'static str,
    /// Set when a child was given up on under `escalate`: the handler
    /// that set it stops the group and fails the supervisor.
    escalation: Option<String>,
    /// The group escalated: its children are stopped and wait for the
    /// next incarnation (`post_stop` must not mark them stopped for good).
    escalated: bool,
}

/// A child taken out of the table, to be stopped (see [`Stop::run`]).
struct Stop {
    name: &'static str,
    cell: ActorCell,
    timeout: Duration,
}

impl Stop {
    /// Stop the child gracefully within its shutdown timeout, else kill it.
    async fn run(self) {
        let Stop {
            name,
            cell,
            timeout,
        } = self;
        if cell
            .stop_and_wait(Some("stopped by the supervisor".into()), Some(timeout))
            .await
            .is_err()
        {
            tracing::warn!(
                child = name,
                ?timeout,
                "child did not stop in time; killing it"
            );
            cell.kill();
            let _ = cell.wait(Some(Duration::from_secs(1))).await;
        }
    }
}

#[derive(Debug)]
struct Child {
    spec: ChildSpec,
    state: ChildState,
    cell: Option<ActorCell>,
    restarts: u32,
    window: RestartWindow,
    // Bumped on every state change that invalidates pending restart timers.
    generation: u64,
    last_failure: Option<String>,
    // Trace clock reading of its last exit, for the restart event's span.
    down_since: Option<u64>,
}

impl Child {
    fn set_state(&mut self, state: ChildState, reason: Option<&str>) {
        self.state = state;
        self.spec.slot.mark(state, reason);
    }
}

impl Actor for RootSupervisor {
    type Msg = SupervisorMessage;
    type State = SupervisorState;
    type Arguments = SupervisorArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArguments,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        crate::panic_hook::install();
        let mut state = SupervisorState {
            children: Vec::with_capacity(args.children.len()),
            policy: args.policy,
            stopping: false,
            trace: args.trace,
            events: args.events,
            metrics: args.metrics,
            stops_in_flight: 0,
            deferred: Vec::new(),
            shutdown_waiters: Vec::new(),
            escalate: args.escalate,
            escalation: None,
            escalated: false,
            name: args.name,
        };
        for spec in args.children {
            let name = spec.name;
            state.metrics.actor_started(name);
            match (spec.start)(myself.get_cell()).await {
                Ok(cell) => state.children.push(Child {
                    spec,
                    state: ChildState::Running,
                    cell: Some(cell),
                    restarts: 0,
                    window: RestartWindow::default(),
                    generation: 0,
                    last_failure: None,
                    down_since: None,
                }),
                Err(reason) => {
                    state.stop_all().await;
                    return Err(format!("child {name} failed to start: {reason}").into());
                }
            }
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: SupervisorMessage,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // Recorded, but never faulted: nothing would restart the root.
        let trace = Arc::clone(&state.trace);
        let handling = trace.begin(state.name, MessageInfo::new(message.kind()));
        match message {
            SupervisorMessage::Status(reply) => state.status(reply),
            SupervisorMessage::Restart(targets) => state.restart(&myself, targets).await,
            SupervisorMessage::Stopped => state.stopped(&myself).await,
            SupervisorMessage::Shutdown(reply) => state.shut_down(&myself, reply),
            SupervisorMessage::StartChild(spec, reply) => {
                let started = state.start_child(&myself, spec).await;
                let _ = reply.send(started);
            }
        }
        handling.finish(Outcome::Ok);
        state.escalate_if_due().await
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // An actor group stopped by its own supervisor (the runtime shuts
        // down): stop its children gracefully, last started first, before
        // ractor would kill whatever is left. The root has none left here;
        // an escalated group stopped its children already, and they wait
        // for its next incarnation.
        if !state.escalated {
            state.stop_all().await;
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, Some(err.to_string())),
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, None),
            _ => return Ok(()),
        };
        // Children we stopped ourselves have no cell any more: their exit
        // events are expected and ignored here.
        if let Some(index) = state.index_of(&cell) {
            state.child_exited(&myself, index, failure).await;
        }
        state.escalate_if_due().await
    }
}

impl SupervisorState {
    fn index_of(&self, cell: &ActorCell) -> Option<usize> {
        let id = cell.get_id();
        self.children
            .iter()
            .position(|c| c.cell.as_ref().is_some_and(|own| own.get_id() == id))
    }

    async fn child_exited(
        &mut self,
        myself: &ActorRef<SupervisorMessage>,
        index: usize,
        failure: Option<String>,
    ) {
        let policy = self.policy;
        let stopping = self.stopping;
        let child = &mut self.children[index];
        child.cell = None;
        child.down_since = self.trace.is_on().then(crate::trace::now);
        if let Some(reason) = &failure {
            tracing::warn!(child = child.spec.name, %reason, "child failed");
            child.last_failure = Some(reason.clone());
            self.trace.note(
                child.spec.name,
                "ChildFailed",
                EventKind::Supervisor,
                Outcome::Error,
                None,
                None,
            );
        }
        let restart = match child.spec.restart {
            Restart::Permanent => true,
            Restart::Transient => failure.is_some(),
            Restart::Temporary => false,
        };
        if stopping || !restart {
            let state = if failure.is_some() && !stopping {
                ChildState::Failed
            } else {
                ChildState::Stopped
            };
            child.set_state(state, failure.as_deref());
            return;
        }
        let (intensity, backoff) = child.spec.limits(&policy);
        let Some(prior) = child.window.admit(Instant::now(), intensity) else {
            let reason = format!(
                "gave up after {} restarts within {:?}; last failure: {}",
                intensity.max_restarts,
                intensity.within,
                failure.as_deref().unwrap_or("stopped")
            );
            tracing::error!(child = child.spec.name, %reason, "child failed for good");
            self.trace.note(
                child.spec.name,
                "ChildGaveUp",
                EventKind::Supervisor,
                Outcome::Error,
                child.down_since,
                None,
            );
            child.set_state(ChildState::Failed, Some(&reason));
            crate::events::child_gave_up(&self.events, child.spec.name, &reason);
            self.metrics.actor_gave_up(child.spec.name);
            if self.escalate {
                self.escalation = Some(format!("{}: {reason}", child.spec.name));
            }
            child.last_failure = Some(reason);
            return;
        };
        let delay = if prior == 0 {
            Duration::ZERO
        } else {
            backoff.delay(prior)
        };

        // A child restarted alone is no part of the strategy's group, in
        // either direction.
        let alone = child.spec.alone;
        let grouped = |j: &usize| !self.children[*j].spec.alone;
        let group: Vec<usize> = match policy.strategy {
            _ if alone => vec![index],
            Strategy::OneForOne => vec![index],
            Strategy::OneForAll => (0..self.children.len()).filter(grouped).collect(),
            Strategy::RestForOne => (index..self.children.len()).filter(grouped).collect(),
        };
        let stops: Vec<Stop> = group
            .iter()
            .rev()
            .filter(|&&j| j != index)
            .filter_map(|&j| self.detach(j, ChildState::Restarting))
            .collect();
        self.stop_in_background(myself, stops);
        // Restart the failed child and the siblings stopped for it; a sibling
        // that had already failed for good or stopped stays as it is.
        let mut targets = Vec::with_capacity(group.len());
        for j in group {
            let child = &mut self.children[j];
            if j == index || child.state == ChildState::Restarting {
                child.generation += 1;
                child.set_state(ChildState::Restarting, None);
                targets.push((j, child.generation));
            }
        }
        self.schedule(myself, targets, delay).await;
    }

    async fn schedule(
        &mut self,
        myself: &ActorRef<SupervisorMessage>,
        targets: Vec<(usize, u64)>,
        delay: Duration,
    ) {
        if delay.is_zero() {
            // The common case (first failure in a while) restarts inline:
            // no timer, no extra message, microseconds to a new child.
            self.restart(myself, targets).await;
        } else {
            myself.send_after(delay, move || SupervisorMessage::Restart(targets));
        }
    }

    async fn restart(&mut self, myself: &ActorRef<SupervisorMessage>, targets: Vec<(usize, u64)>) {
        if self.stops_in_flight > 0 {
            // A stopped sibling may still be winding down: the group comes
            // back together once it is gone (`stopped`).
            self.deferred.extend(targets);
            return;
        }
        for (index, generation) in targets {
            let child = &mut self.children[index];
            if self.stopping
                || child.generation != generation
                || child.state != ChildState::Restarting
            {
                continue;
            }
            match (child.spec.start)(myself.get_cell()).await {
                Ok(cell) => {
                    child.cell = Some(cell);
                    child.restarts += 1;
                    child.state = ChildState::Running;
                    tracing::info!(
                        child = child.spec.name,
                        restarts = child.restarts,
                        "child restarted"
                    );
                    crate::events::child_restarted(&self.events, child.spec.name, child.restarts);
                    self.metrics.actor_restarted(child.spec.name);
                    self.trace.note(
                        child.spec.name,
                        "ChildRestarted",
                        EventKind::Supervisor,
                        Outcome::Ok,
                        child.down_since.take(),
                        None,
                    );
                }
                Err(reason) => {
                    tracing::warn!(child = child.spec.name, %reason, "child failed to restart");
                    child.last_failure = Some(reason.clone());
                    let (intensity, backoff) = child.spec.limits(&self.policy);
                    match child.window.admit(Instant::now(), intensity) {
                        None => {
                            self.trace.note(
                                child.spec.name,
                                "ChildGaveUp",
                                EventKind::Supervisor,
                                Outcome::Error,
                                child.down_since,
                                None,
                            );
                            let reason = format!("gave up: failed to restart: {reason}");
                            child.set_state(ChildState::Failed, Some(&reason));
                            crate::events::child_gave_up(&self.events, child.spec.name, &reason);
                            self.metrics.actor_gave_up(child.spec.name);
                            if self.escalate {
                                self.escalation = Some(format!("{}: {reason}", child.spec.name));
                            }
                        }
                        Some(prior) => {
                            child.generation += 1;
                            // Never retry a failing start without a pause.
                            let delay = backoff.delay(prior.max(1));
                            let target = vec![(index, child.generation)];
                            myself.send_after(delay, move || SupervisorMessage::Restart(target));
                        }
                    }
                }
            }
        }
    }

    /// Take child `index` out of the table if it runs, leaving it in
    /// `then`; the caller stops what this returns.
    fn detach(&mut self, index: usize, then: ChildState) -> Option<Stop> {
        let child = &mut self.children[index];
        let cell = child.cell.take()?;
        // Publish first, so callers wait for the next incarnation (or fail
        // fast at shutdown) instead of queueing on a stopping actor.
        child.generation += 1;
        child.set_state(then, None);
        Some(Stop {
            name: child.spec.name,
            cell,
            timeout: child.spec.shutdown_timeout,
        })
    }

    /// Stop `stops` one after the other in a task of their own, which
    /// reports `Stopped` when they are gone.
    fn stop_in_background(&mut self, myself: &ActorRef<SupervisorMessage>, stops: Vec<Stop>) {
        if stops.is_empty() {
            return;
        }
        self.stops_in_flight += 1;
        let myself = myself.clone();
        tokio::spawn(async move {
            for stop in stops {
                stop.run().await;
            }
            // Fails only if the supervisor itself is gone: nobody to tell.
            let _ = myself.cast(SupervisorMessage::Stopped);
        });
    }

    /// A background stop finished: once none is left, run the restarts
    /// that waited, or finish the shutdown.
    async fn stopped(&mut self, myself: &ActorRef<SupervisorMessage>) {
        self.stops_in_flight = self.stops_in_flight.saturating_sub(1);
        if self.stops_in_flight > 0 {
            return;
        }
        if self.stopping {
            self.finish_shutdown();
            return;
        }
        let mut due = std::mem::take(&mut self.deferred);
        // In start order, each child once (stale generations are skipped
        // by `restart`).
        due.sort_unstable();
        due.dedup();
        self.restart(myself, due).await;
    }

    /// Start stopping every child, last started first; `reply` answers
    /// once all are gone.
    fn shut_down(&mut self, myself: &ActorRef<SupervisorMessage>, reply: RpcReplyPort<()>) {
        self.shutdown_waiters.push(reply);
        if self.stopping {
            // A second request: answered with the first.
            if self.stops_in_flight == 0 {
                self.finish_shutdown();
            }
            return;
        }
        self.stopping = true;
        self.deferred.clear();
        let mut stops = Vec::new();
        for index in (0..self.children.len()).rev() {
            match self.detach(index, ChildState::Stopping) {
                Some(stop) => stops.push(stop),
                None => self.settle_stopped(index),
            }
        }
        self.stop_in_background(myself, stops);
        if self.stops_in_flight == 0 {
            self.finish_shutdown();
        }
    }

    /// Every child is gone: mark them `Stopped` and answer the shutdown.
    fn finish_shutdown(&mut self) {
        for index in 0..self.children.len() {
            self.settle_stopped(index);
        }
        for reply in self.shutdown_waiters.drain(..) {
            let _ = reply.send(());
        }
    }

    /// Mark child `index` `Stopped` for good (unless it had failed for good).
    fn settle_stopped(&mut self, index: usize) {
        let child = &mut self.children[index];
        if child.state != ChildState::Failed && child.state != ChildState::Stopped {
            child.generation += 1;
            child.set_state(ChildState::Stopped, None);
        }
    }

    /// Stop every child now, last started first (a failed start, before
    /// anybody can ask for status).
    async fn stop_all(&mut self) {
        self.stopping = true;
        for index in (0..self.children.len()).rev() {
            if let Some(stop) = self.detach(index, ChildState::Stopped) {
                stop.run().await;
            }
            self.settle_stopped(index);
        }
    }

    /// Add `spec` after the other children and start it.
    async fn start_child(
        &mut self,
        myself: &ActorRef<SupervisorMessage>,
        spec: ChildSpec,
    ) -> crate::error::Result<()> {
        use crate::error::Error;
        if self.stopping {
            return Err(Error::ShuttingDown);
        }
        let name = spec.name;
        if self.children.iter().any(|c| c.spec.name == name) {
            return Err(Error::DuplicateActor { name: name.into() });
        }
        let cell = (spec.start)(myself.get_cell())
            .await
            .map_err(|reason| Error::ActorStart {
                actor: name.into(),
                reason,
            })?;
        self.metrics.actor_started(name);
        self.children.push(Child {
            spec,
            state: ChildState::Running,
            cell: Some(cell),
            restarts: 0,
            window: RestartWindow::default(),
            generation: 0,
            last_failure: None,
            down_since: None,
        });
        Ok(())
    }

    /// Under `escalate`, once a child was given up on: stop every child,
    /// last started first, and fail, so the supervisor above restarts the
    /// whole group (its start brings every child back). Callers of the
    /// children wait for that meanwhile (their slots say `Restarting`).
    async fn escalate_if_due(&mut self) -> Result<(), ActorProcessingErr> {
        let Some(reason) = self.escalation.take() else {
            return Ok(());
        };
        self.stopping = true;
        self.escalated = true;
        self.deferred.clear();
        for index in (0..self.children.len()).rev() {
            if let Some(stop) = self.detach(index, ChildState::Restarting) {
                stop.run().await;
            }
            self.children[index].set_state(ChildState::Restarting, None);
        }
        Err(format!("gave up on child {reason}").into())
    }

    fn status(&self, reply: RpcReplyPort<SystemStatus>) {
        let timeout = self.policy.status_timeout;
        let snapshot: Vec<_> = self
            .children
            .iter()
            .map(|c| {
                let status = ChildStatus {
                    name: c.spec.name.to_string(),
                    state: c.state,
                    restarts: c.restarts,
                    last_failure: c.last_failure.clone(),
                    detail: None,
                };
                let probe = (c.state == ChildState::Running).then(|| c.spec.probe.clone());
                let nested = c.spec.nested.clone().map(|nested| (nested, c.state));
                (status, probe, nested)
            })
            .collect();
        // Probes run in their own task so a slow child never blocks the
        // supervisor; each is bounded by `status_timeout`, so the task
        // always ends.
        tokio::spawn(async move {
            let reports = join_all(snapshot.iter().map(|(_, probe, nested)| async move {
                let detail = match probe {
                    None => None,
                    Some(probe) => match tokio::time::timeout(timeout, probe()).await {
                        Ok(report) => report.map(|r| r.detail),
                        Err(_) => Some(format!("did not answer within {timeout:?}")),
                    },
                };
                let below = match nested {
                    None => Vec::new(),
                    // A group answers its own query within its own
                    // `status_timeout`; this bound only guards a stuck one.
                    Some((nested, state)) => tokio::time::timeout(timeout * 2, nested(*state))
                        .await
                        .unwrap_or_default(),
                };
                (detail, below)
            }))
            .await;
            let mut children = Vec::with_capacity(snapshot.len());
            for ((mut status, _, _), (detail, below)) in snapshot.into_iter().zip(reports) {
                status.detail = detail;
                children.push(status);
                children.extend(below);
            }
            let _ = reply.send(SystemStatus {
                children,
                ..SystemStatus::default()
            });
        });
    }
}
