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
//!   (so restarting and failed children are reported too) plus a bounded
//!   probe of each running child.
//! - [`SupervisorMessage::Restart`]: a delayed restart coming due.
//! - [`SupervisorMessage::Shutdown`]: stop every child, last started first.
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
//! # Trace
//! Its own messages are recorded in the message trace under the actor name
//! "supervisor"; what happens to a child is recorded on the child's name:
//! `ChildFailed`, `ChildRestarted` (spanning the time the child was down)
//! and `ChildGaveUp`.
//!
//! # Restart of the supervisor itself
//! There is none: it is the root. It handles no user input and catches
//! nothing it could fail on, so a failure here is a bug.

mod spec;
mod status;
#[cfg(test)]
mod tests;
mod window;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::time::Instant;

pub use spec::{
    ChildMessage, ChildSpec, Restart, RestartIntensity, SlotControl, Strategy, SupervisorPolicy,
};
pub use status::{ChildReport, ChildState, ChildStatus, SystemStatus};
use window::RestartWindow;

use crate::trace::{EventKind, MessageInfo, Outcome, TraceRecorder};

/// The supervisor's name in the message trace.
const SUPERVISOR: &str = "supervisor";

/// The root supervisor actor (stateless; see [`SupervisorState`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct RootSupervisor;

/// What the root supervisor starts with.
#[derive(Debug)]
pub struct SupervisorArguments {
    /// Children, in start order.
    pub children: Vec<ChildSpec>,
    /// Strategy, intensity, backoff.
    pub policy: SupervisorPolicy,
    /// Where its messages and its children's failures and restarts are
    /// recorded (the runtime's message trace).
    pub trace: Arc<TraceRecorder>,
    /// Where restarts and give-ups are emitted (the runtime's event stream).
    pub events: crate::events::Events,
}

/// Messages the root supervisor accepts.
#[derive(Debug)]
pub enum SupervisorMessage {
    /// Report every child's state.
    Status(RpcReplyPort<SystemStatus>),
    /// Restart these children (index, generation) now; stale generations
    /// (the child was restarted or stopped since) are skipped.
    Restart(Vec<(usize, u64)>),
    /// Stop every child in reverse start order, then answer.
    Shutdown(RpcReplyPort<()>),
}

impl SupervisorMessage {
    /// The variant's name, for traces.
    fn kind(&self) -> &'static str {
        match self {
            SupervisorMessage::Status(_) => "Status",
            SupervisorMessage::Restart(_) => "Restart",
            SupervisorMessage::Shutdown(_) => "Shutdown",
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
        };
        for spec in args.children {
            let name = spec.name;
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
        let handling = trace.begin(SUPERVISOR, MessageInfo::new(message.kind()));
        match message {
            SupervisorMessage::Status(reply) => state.status(reply),
            SupervisorMessage::Restart(targets) => state.restart(&myself, targets).await,
            SupervisorMessage::Shutdown(reply) => {
                state.stop_all().await;
                let _ = reply.send(());
            }
        }
        handling.finish(Outcome::Ok);
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
        Ok(())
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
        let Some(prior) = child.window.admit(Instant::now(), policy.intensity) else {
            let reason = format!(
                "gave up after {} restarts within {:?}; last failure: {}",
                policy.intensity.max_restarts,
                policy.intensity.within,
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
            child.last_failure = Some(reason);
            return;
        };
        let delay = if prior == 0 {
            Duration::ZERO
        } else {
            policy.backoff.delay(prior)
        };

        let group: Vec<usize> = match policy.strategy {
            Strategy::OneForOne => vec![index],
            Strategy::OneForAll => (0..self.children.len()).collect(),
            Strategy::RestForOne => (index..self.children.len()).collect(),
        };
        for &sibling in group.iter().rev().filter(|&&j| j != index) {
            self.stop_child(sibling, ChildState::Restarting).await;
        }
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
                    let policy = self.policy;
                    match child.window.admit(Instant::now(), policy.intensity) {
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
                        }
                        Some(prior) => {
                            child.generation += 1;
                            // Never retry a failing start without a pause.
                            let delay = policy.backoff.delay(prior.max(1));
                            let target = vec![(index, child.generation)];
                            myself.send_after(delay, move || SupervisorMessage::Restart(target));
                        }
                    }
                }
            }
        }
    }

    /// Stop child `index` if it runs, leaving it in `then`.
    async fn stop_child(&mut self, index: usize, then: ChildState) {
        let child = &mut self.children[index];
        let Some(cell) = child.cell.take() else {
            return;
        };
        // Publish first, so callers wait for the next incarnation (or fail
        // fast at shutdown) instead of queueing on a stopping actor.
        child.generation += 1;
        child.set_state(then, None);
        let timeout = child.spec.shutdown_timeout;
        if cell
            .stop_and_wait(Some("stopped by the supervisor".into()), Some(timeout))
            .await
            .is_err()
        {
            tracing::warn!(
                child = child.spec.name,
                ?timeout,
                "child did not stop in time; killing it"
            );
            cell.kill();
            let _ = cell.wait(Some(Duration::from_secs(1))).await;
        }
    }

    async fn stop_all(&mut self) {
        self.stopping = true;
        for index in (0..self.children.len()).rev() {
            self.stop_child(index, ChildState::Stopped).await;
            let child = &mut self.children[index];
            if child.state != ChildState::Failed {
                child.generation += 1;
                child.set_state(ChildState::Stopped, None);
            }
        }
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
                (status, probe)
            })
            .collect();
        // Probes run in their own task so a slow child never blocks the
        // supervisor; each is bounded by `status_timeout`, so the task
        // always ends.
        tokio::spawn(async move {
            let reports = join_all(snapshot.iter().map(|(_, probe)| async move {
                let probe = probe.as_ref()?;
                match tokio::time::timeout(timeout, probe()).await {
                    Ok(report) => report.map(|r| r.detail),
                    Err(_) => Some(format!("did not answer within {timeout:?}")),
                }
            }))
            .await;
            let children = snapshot
                .into_iter()
                .zip(reports)
                .map(|((mut status, _), detail)| {
                    status.detail = detail;
                    status
                })
                .collect();
            let _ = reply.send(SystemStatus {
                children,
                ..SystemStatus::default()
            });
        });
    }
}
