//! The keeper of one service: a tokio task that starts its incarnations,
//! probes their readiness and liveness, and decides after each end whether
//! and when the service starts again.
//!
//! # Messages
//! [`Control`], on an unbounded channel from the [`Service`](super::Service)
//! handles, the table (group and dependency restarts, shutdown) and the
//! fault plan: `Stop`, `Start`, `Restart`, and injected faults. Each reply
//! is a oneshot answered once the keeper has done it.
//!
//! # State outside the keeper
//! The service's [`Cell`](super::Cell): its spec, its status (a `watch`
//! channel `wait_ready` listens to), its current run, the error a waiter
//! gets. The keeper is the only writer of the status.
//!
//! # Restart behaviour
//! After an incarnation ends, its [`Restart`] type decides whether the
//! service comes back; a failed liveness check is a failure. Restarts are
//! counted in a sliding window (the supervisor's `RestartWindow`): the
//! first restart in the window is immediate, the *n*-th waits the spec's
//! backoff for *n* (exponential with jitter), and one more than
//! `max_restarts` within `within` gives up: `Failed`, with the last exit
//! and stderr lines as the reason, then the spec's [`Escalation`]. So a
//! service that exits at once in a loop costs a handful of spawns and
//! sleeps, never a busy loop.
//!
//! # How it stops
//! `Stop`: the incarnation's token fires, its group gets the stop signal,
//! `stop_grace`, then SIGKILL (`process::run`); the keeper waits for that
//! and answers. The keeper itself ends on `Forget` (the service was
//! removed), when its channel closes, or when the table closes (after the
//! shutdown has stopped every service, or at the runtime's emergency stop:
//! the table's token is a child of the runtime's root token).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::incarnation::{self, Ended, Incarnation};
use super::probe::{live, readiness};
use super::spec::Escalation;
use super::status::ServiceState;
use super::{Cell, Table};
use crate::error::Error;
use crate::events::EventBody;
use crate::supervisor::{Restart, RestartWindow, Strategy};
use crate::trace::{EventKind, Outcome as TraceOutcome};

#[cfg(feature = "fault-injection")]
mod faults;
#[cfg(feature = "fault-injection")]
use faults::PendingFault;

/// The keeper's name in the message trace (service names are the
/// user's: the run id says which service).
const TRACE_ACTOR: &str = "service";

/// Who asked for a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopBy {
    /// `Service::stop`.
    User,
    /// The orchestrator's shutdown (not recorded as a stop: a permanent
    /// service comes back with the next start).
    Shutdown,
    /// A service it depends on failed, or its group escalated.
    Dependency,
}

/// What a keeper is asked to do.
pub(crate) enum Control {
    /// Stop the incarnation; `reason` says why (for `Dependency`).
    Stop {
        by: StopBy,
        reason: Option<String>,
        done: Option<oneshot::Sender<()>>,
    },
    /// Start a stopped or failed service (its restart window cleared).
    Start { done: Option<oneshot::Sender<()>> },
    /// Stop the incarnation and start a new one at once; `counted`: as a
    /// restart of this service (`Service::restart`), else a restart caused
    /// by another service (group strategy, `requires`).
    Restart { done: Option<oneshot::Sender<()>> },
    /// The service was removed: stop and end the keeper.
    Forget,
    /// An injected fault, due at the `nth` readiness from now.
    #[cfg(feature = "fault-injection")]
    Fault(crate::fault::Fault, u32),
}

/// How a keeper begins.
pub(crate) enum Begin {
    /// Start the service.
    Run,
    /// It comes back from the store `Failed` (this reason): wait to be
    /// told.
    Failed(String),
    /// It comes back from the store stopped (not permanent): wait to be
    /// told.
    Stopped,
}

/// How a running incarnation was left.
enum Left {
    /// It ended by itself (or by a fault).
    Ended(Ended),
    /// Its liveness check failed; it was stopped.
    Unhealthy(String),
    /// It was not ready within the start timeout; it was stopped.
    NotReady,
    /// Asked to stop; it was stopped.
    Stopped(StopBy, Option<String>, Option<oneshot::Sender<()>>),
    /// Asked to restart; it was stopped.
    Restart(Option<oneshot::Sender<()>>),
    /// The keeper's channel closed or the runtime stops at once.
    Gone,
}

/// What the keeper does next.
enum Phase {
    /// Start an incarnation after `delay` (the backoff; zero at once).
    Start(Duration),
    /// Nothing runs; wait for `Start` or `Restart`.
    Idle,
    /// The keeper ends.
    Exit,
}

pub(crate) struct Keeper {
    table: Arc<Table>,
    cell: Arc<Cell>,
    rx: mpsc::UnboundedReceiver<Control>,
    window: RestartWindow,
    #[cfg(feature = "fault-injection")]
    faults: Vec<PendingFault>,
}

impl Keeper {
    pub(crate) fn new(
        table: Arc<Table>,
        cell: Arc<Cell>,
        rx: mpsc::UnboundedReceiver<Control>,
    ) -> Self {
        Keeper {
            table,
            cell,
            rx,
            window: RestartWindow::default(),
            #[cfg(feature = "fault-injection")]
            faults: Vec::new(),
        }
    }

    /// Keep the service until the channel closes.
    pub(crate) async fn run(mut self, begin: Begin) {
        let mut phase = match begin {
            Begin::Stopped => {
                self.cell
                    .set_failure(Error::ServiceStopped(self.cell.spec.name.clone()));
                Phase::Idle
            }
            Begin::Failed(reason) => {
                self.cell.update(|s| {
                    s.state = ServiceState::Failed;
                    s.reason = Some(reason.clone());
                });
                self.cell.set_failure(Error::ServiceFailed {
                    service: self.cell.spec.name.clone(),
                    reason,
                });
                Phase::Idle
            }
            Begin::Run => Phase::Start(Duration::ZERO),
        };
        let root = self.table.closed.clone();
        loop {
            phase = match phase {
                Phase::Exit => return,
                Phase::Idle => tokio::select! {
                    _ = root.cancelled() => Phase::Exit,
                    control = self.rx.recv() => self.idle(control),
                },
                Phase::Start(delay) => self.start_after(delay).await,
            };
        }
    }

    /// A message while nothing runs.
    fn idle(&mut self, control: Option<Control>) -> Phase {
        match control {
            None | Some(Control::Forget) => Phase::Exit,
            Some(Control::Stop { done, .. }) => {
                answer(done);
                Phase::Idle
            }
            Some(Control::Start { done } | Control::Restart { done }) => {
                self.window = RestartWindow::default();
                self.table.clear_unhealthy(&self.cell.spec.name);
                self.cell.clear_failure();
                self.cell.update(|s| {
                    s.state = ServiceState::Starting;
                    s.reason = None;
                });
                self.table.persist(&self.cell);
                answer(done);
                Phase::Start(Duration::ZERO)
            }
            #[cfg(feature = "fault-injection")]
            Some(Control::Fault(fault, nth)) => {
                self.faults.push(PendingFault { fault, left: nth });
                Phase::Idle
            }
        }
    }

    /// Wait out `delay`, then the dependencies, then run an incarnation
    /// and decide what follows it.
    async fn start_after(&mut self, delay: Duration) -> Phase {
        let root = self.table.closed.clone();
        if !delay.is_zero() {
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            // Only an injected fault (queued for later) keeps it waiting;
            // without the feature every arm leaves the loop.
            #[cfg_attr(not(feature = "fault-injection"), allow(clippy::never_loop))]
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    _ = root.cancelled() => return Phase::Exit,
                    control = self.rx.recv() => match control {
                        None | Some(Control::Forget) => return Phase::Exit,
                        Some(Control::Stop { by, reason, done }) => {
                            return self.stopped(by, reason, done);
                        }
                        // Now instead of after the backoff.
                        Some(Control::Start { done } | Control::Restart { done }) => {
                            answer(done);
                            break;
                        }
                        #[cfg(feature = "fault-injection")]
                        Some(Control::Fault(fault, nth)) => {
                            self.faults.push(PendingFault { fault, left: nth });
                        }
                    },
                }
            }
        }
        self.cell.update(|s| s.state = ServiceState::Starting);
        if let Some(phase) = self.wait_dependencies().await {
            return phase;
        }
        let left = self.run_incarnation().await;
        self.after(left)
    }

    /// Wait until every service this one depends on is ready. `Some`: what
    /// to do instead of starting (a dependency failed or was stopped, or a
    /// message said otherwise). A dependency not supervised yet (an action
    /// service a restored one starts after, until the application
    /// supervises it again) is waited for.
    async fn wait_dependencies(&mut self) -> Option<Phase> {
        let names: Vec<String> = self.cell.spec.dependencies().map(str::to_string).collect();
        let root = self.table.closed.clone();
        let table = Arc::clone(&self.table);
        for name in names {
            let dep = loop {
                let added = table.added.notified();
                tokio::pin!(added);
                added.as_mut().enable();
                if let Some(cell) = table.cell(&name) {
                    break cell;
                }
                tokio::select! {
                    () = &mut added => {}
                    _ = root.cancelled() => return Some(Phase::Exit),
                    control = self.rx.recv() => {
                        if let Some(phase) = self.while_waiting(control) {
                            return Some(phase);
                        }
                    }
                }
            };
            let mut watch = dep.status.subscribe();
            loop {
                let state = watch.borrow_and_update().state;
                match state {
                    ServiceState::Ready => break,
                    ServiceState::Failed | ServiceState::Stopped => {
                        let reason =
                            format!("service {:?} it starts after is {state}", dep.spec.name);
                        return Some(self.stopped(StopBy::Dependency, Some(reason), None));
                    }
                    ServiceState::Starting | ServiceState::Restarting => {}
                }
                tokio::select! {
                    changed = watch.changed() => if changed.is_err() {
                        return Some(Phase::Exit);
                    },
                    _ = root.cancelled() => return Some(Phase::Exit),
                    control = self.rx.recv() => {
                        if let Some(phase) = self.while_waiting(control) {
                            return Some(phase);
                        }
                    }
                }
            }
        }
        None
    }

    /// A message while waiting for dependencies: `Some` to stop waiting.
    fn while_waiting(&mut self, control: Option<Control>) -> Option<Phase> {
        match control {
            None | Some(Control::Forget) => Some(Phase::Exit),
            Some(Control::Stop { by, reason, done }) => Some(self.stopped(by, reason, done)),
            Some(Control::Start { done } | Control::Restart { done }) => {
                answer(done);
                None
            }
            #[cfg(feature = "fault-injection")]
            Some(Control::Fault(fault, nth)) => {
                self.faults.push(PendingFault { fault, left: nth });
                None
            }
        }
    }

    /// Start one incarnation and keep it until it is left.
    async fn run_incarnation(&mut self) -> Left {
        let ctx = Arc::clone(&self.table.ctx);
        let spec = &self.cell.spec;
        let (spawned_tx, spawned) = oneshot::channel();
        let inc = incarnation::start(
            &ctx,
            &spec.name,
            &self.cell.work,
            spec.stop_signal,
            spec.stop_grace,
            spawned_tx,
        )
        .await;
        let run_id = inc.record.id();
        *self.cell.current.lock() = Some(Arc::clone(&inc.record));
        self.cell.update(|s| {
            s.run_id = Some(run_id);
            s.started_at = Some(SystemTime::now());
        });
        let name = spec.name.clone();
        crate::events::service(ctx.events(), || EventBody::ServiceStarted {
            service: name,
            run_id,
        });
        let Incarnation {
            record,
            stop,
            lines,
            task,
        } = inc;
        let mut task = task;
        let mut probe = readiness(&spec.ready, lines.clone(), spawned, spec.start_timeout);
        let deadline = crate::duration::after(Instant::now(), spec.start_timeout);
        let expiry = tokio::time::sleep_until(deadline);
        tokio::pin!(expiry);
        let mut ready = false;
        let mut liveness: BoxFuture<'static, String> = std::future::pending().boxed();
        let root = self.table.closed.clone();
        #[cfg(feature = "fault-injection")]
        let mut stall_end: Option<Instant> = None;
        #[cfg(feature = "fault-injection")]
        let mut exit_as: Option<(i32, &'static str)> = None;
        let left = loop {
            #[cfg(feature = "fault-injection")]
            let thaw = async {
                match stall_end {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(feature = "fault-injection"))]
            let thaw = std::future::pending::<()>();
            tokio::select! {
                ended = &mut task => {
                    let ended = ended.unwrap_or_else(|e| Ended::Exited {
                        clean: false,
                        what: format!("the incarnation's task failed: {e}"),
                        stderr_tail: String::new(),
                    });
                    #[cfg(feature = "fault-injection")]
                    let ended = match exit_as {
                        Some((code, fault)) => Ended::Exited {
                            clean: code == 0,
                            what: format!("exit {code} (injected fault {fault})"),
                            stderr_tail: String::new(),
                        },
                        None => ended,
                    };
                    break Left::Ended(ended);
                }
                () = &mut probe, if !ready => {
                    ready = true;
                    self.cell.update(|s| {
                        s.state = ServiceState::Ready;
                        s.ready_at = Some(SystemTime::now());
                    });
                    let name = self.cell.spec.name.clone();
                    crate::events::service(ctx.events(), || EventBody::ServiceReady {
                        service: name,
                        run_id,
                    });
                    ctx.trace().note(TRACE_ACTOR, "ServiceReady", EventKind::Supervisor,
                        TraceOutcome::Ok, None, Some(run_id));
                    liveness = live(self.cell.spec.liveness.as_ref(), lines.clone());
                    #[cfg(feature = "fault-injection")]
                    self.on_ready(&record, &stop, &mut stall_end, &mut exit_as);
                }
                () = &mut expiry, if !ready => {
                    stop.cancel();
                    let _ = (&mut task).await;
                    break Left::NotReady;
                }
                what = &mut liveness => {
                    stop.cancel();
                    let _ = (&mut task).await;
                    break Left::Unhealthy(what);
                }
                () = thaw => {
                    #[cfg(feature = "fault-injection")]
                    {
                        stall_end = None;
                        self.thaw(&record);
                    }
                }
                _ = root.cancelled() => {
                    stop.cancel();
                    let _ = (&mut task).await;
                    break Left::Gone;
                }
                control = self.rx.recv() => match control {
                    None | Some(Control::Forget) => {
                        stop.cancel();
                        let _ = (&mut task).await;
                        break Left::Gone;
                    }
                    Some(Control::Stop { by, reason, done }) => {
                        stop.cancel();
                        let _ = (&mut task).await;
                        break Left::Stopped(by, reason, done);
                    }
                    Some(Control::Restart { done }) => {
                        stop.cancel();
                        let _ = (&mut task).await;
                        break Left::Restart(done);
                    }
                    Some(Control::Start { done }) => answer(done),
                    #[cfg(feature = "fault-injection")]
                    Some(Control::Fault(fault, nth)) => {
                        self.faults.push(PendingFault { fault, left: nth });
                        if ready {
                            self.on_ready(&record, &stop, &mut stall_end, &mut exit_as);
                        }
                    }
                },
            }
        };
        // A stalled group must not stay frozen past its incarnation.
        #[cfg(feature = "fault-injection")]
        if stall_end.is_some() {
            self.thaw(&record);
        }
        let _ = record;
        left
    }

    /// Decide what follows an incarnation.
    fn after(&mut self, left: Left) -> Phase {
        let name = self.cell.spec.name.clone();
        match left {
            Left::Gone => Phase::Exit,
            Left::Stopped(by, reason, done) => self.stopped(by, reason, done),
            Left::Restart(done) => {
                self.cell.update(|s| {
                    s.state = ServiceState::Restarting;
                    s.last_exit = Some("restarted".into());
                });
                answer(done);
                Phase::Start(Duration::ZERO)
            }
            Left::NotReady => {
                let spec = &self.cell.spec;
                let error = Error::ReadinessTimedOut {
                    service: name,
                    probe: spec.ready.to_string(),
                    after: spec.start_timeout,
                };
                self.cell
                    .update(|s| s.last_exit = Some("stopped: not ready in time".into()));
                self.stopped(StopBy::Dependency, Some(error.to_string()), None);
                // After `stopped`, which clears the failure a stop sets.
                self.cell.set_failure(error);
                Phase::Idle
            }
            Left::Unhealthy(what) => self.ended(false, what, String::new()),
            Left::Ended(Ended::Exited {
                clean,
                what,
                stderr_tail,
            }) => self.ended(clean, what, stderr_tail),
            Left::Ended(Ended::Stopped) => {
                // Stopped from outside the keeper (the run was cancelled).
                self.ended(
                    false,
                    "stopped from outside (the run was cancelled)".into(),
                    String::new(),
                )
            }
            Left::Ended(Ended::NotStarted(e)) => {
                self.ended(false, format!("could not start: {e}"), String::new())
            }
        }
    }

    /// The incarnation ended by itself: restart, stop or give up.
    fn ended(&mut self, clean: bool, what: String, stderr_tail: String) -> Phase {
        let spec = &self.cell.spec;
        let name = spec.name.clone();
        let reason = if stderr_tail.is_empty() {
            what.clone()
        } else {
            format!("{what}; last stderr: {stderr_tail}")
        };
        self.cell.update(|s| s.last_exit = Some(what.clone()));
        let restart = match spec.restart {
            Restart::Permanent => true,
            Restart::Transient => !clean,
            Restart::Temporary => false,
        };
        if !restart {
            if clean {
                return self.stopped(StopBy::User, Some(reason), None);
            }
            return self.give_up(reason);
        }
        let Some(prior) = self.window.admit(Instant::now(), spec.intensity) else {
            let reason = format!(
                "more than {} restarts within {:?}; last: {reason}",
                spec.intensity.max_restarts, spec.intensity.within
            );
            return self.give_up(reason);
        };
        // The first restart in the window is immediate (a crash now and
        // then costs nothing); a loop backs off.
        let delay = if prior == 0 {
            Duration::ZERO
        } else {
            spec.backoff.delay(prior)
        };
        let mut restarts = 0;
        self.cell.update(|s| {
            s.state = ServiceState::Restarting;
            s.restarts += 1;
            restarts = s.restarts;
        });
        let ctx = &self.table.ctx;
        let run_id = self.cell.status.borrow().run_id;
        tracing::info!(service = %name, restarts, ?delay, %reason, "service restarting");
        ctx.trace().note(
            TRACE_ACTOR,
            "ServiceRestarted",
            EventKind::Supervisor,
            TraceOutcome::Error,
            None,
            run_id,
        );
        crate::events::service(ctx.events(), || EventBody::ServiceRestarting {
            service: name.clone(),
            restarts,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            reason,
        });
        // Who restarts with it: its group by strategy, and what requires it.
        let siblings = match spec.strategy {
            Strategy::OneForOne => Vec::new(),
            Strategy::OneForAll => self.table.group_members(&self.cell, false),
            Strategy::RestForOne => self.table.group_members(&self.cell, true),
        };
        for other in siblings.iter().chain(&self.table.requiring(&name)) {
            other.send(Control::Restart { done: None });
        }
        Phase::Start(delay)
    }

    /// Give up: `Failed` for good, dependents stopped, then the escalation.
    fn give_up(&mut self, reason: String) -> Phase {
        let spec = &self.cell.spec;
        let name = spec.name.clone();
        tracing::error!(service = %name, %reason, "service failed for good");
        self.cell.update(|s| {
            s.state = ServiceState::Failed;
            s.reason = Some(reason.clone());
        });
        self.cell.set_failure(Error::ServiceFailed {
            service: name.clone(),
            reason: reason.clone(),
        });
        let ctx = &self.table.ctx;
        let run_id = self.cell.status.borrow().run_id;
        ctx.trace().note(
            TRACE_ACTOR,
            "ServiceGaveUp",
            EventKind::Supervisor,
            TraceOutcome::Error,
            None,
            run_id,
        );
        crate::events::service(ctx.events(), || EventBody::ServiceFailed {
            service: name.clone(),
            reason: reason.clone(),
        });
        self.table.persist(&self.cell);
        let why = format!("service {name:?} it starts after failed");
        for dependent in self.table.dependents(&name) {
            dependent.send(Control::Stop {
                by: StopBy::Dependency,
                reason: Some(why.clone()),
                done: None,
            });
        }
        match spec.escalation {
            Escalation::Stay => {}
            Escalation::StopGroup => {
                let why = format!("service {name:?} of its group failed");
                for member in self.table.group_members(&self.cell, false) {
                    member.send(Control::Stop {
                        by: StopBy::Dependency,
                        reason: Some(why.clone()),
                        done: None,
                    });
                }
            }
            Escalation::Unhealthy => self.table.set_unhealthy(&name, &reason),
        }
        Phase::Idle
    }

    /// Nothing runs any more: `Stopped`, the waiters told, then answer.
    fn stopped(
        &mut self,
        by: StopBy,
        reason: Option<String>,
        done: Option<oneshot::Sender<()>>,
    ) -> Phase {
        let name = self.cell.spec.name.clone();
        self.cell.update(|s| {
            s.state = ServiceState::Stopped;
            s.reason = reason.clone();
        });
        self.cell.set_failure(Error::ServiceStopped(name.clone()));
        if by != StopBy::Shutdown {
            self.table.persist(&self.cell);
        }
        crate::events::service(self.table.ctx.events(), || EventBody::ServiceStopped {
            service: name,
        });
        answer(done);
        Phase::Idle
    }
}

/// Answer a waiting caller, if any (one that went away is no error).
fn answer(done: Option<oneshot::Sender<()>>) {
    if let Some(done) = done {
        let _ = done.send(());
    }
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("service", &self.cell.spec.name)
            .finish_non_exhaustive()
    }
}
