//! The launcher: serves the FireAndForget pattern (start it now, come back
//! for the result later).
//!
//! # Messages
//! - [`LauncherMessage::Launch`]: check the task (bad input answers at once:
//!   `InvalidTask`, `NotFound`, `PermissionDenied`, `UnknownAction`), apply
//!   the back-pressure bound (`QueueFull`), register the run as `Queued`,
//!   start it in a task of its own, and answer with its [`RunId`]. The run
//!   task spawns the process only once the caller has dropped the answer
//!   ([`Launched`]), so the caller never waits behind a process spawn. From
//!   then on it follows the run through the registry (`status`, `wait`,
//!   `cancel`), never through this actor.
//!   A task with a delayed start (`Task::start_at`, `start_after`) still
//!   due ahead is answered at once as well, but waits, `Queued`, on the
//!   shared timer of `delayed` until it is due; then it starts as above.
//! - [`LauncherMessage::Status`]: how many launched runs are in flight.
//!
//! # Durable store
//! With a store, a launch is answered only once the run's `Queued` record
//! is committed (group commit: the actor does not wait; the run's own task
//! answers after the commit). Runs found `Queued` after a restart are
//! started again through `Launches::resume` (from `Runtime::start`),
//! owned by the runtime like launched runs.
//!
//! # Supervision
//! A permanent child of the root supervisor, started after the executor
//! (and the batch coordinator).
//!
//! # State outside the actor
//! Runs and their outcomes live in the registry of the runtime
//! [`Context`]. The launched runs themselves — their tasks,
//! the token that stops them, the count the back-pressure bound reads — live
//! in [`Launches`], which the runtime creates once and hands to every
//! incarnation. The actor itself keeps nothing.
//!
//! # Restart and stop: launched runs outlive the launcher
//! The launcher only admits and starts runs; it does not own them. A
//! launched run belongs to the runtime (an owner whose token is a child of
//! the shutdown root), so when the launcher panics, or is restarted along
//! with a sibling by the supervisor's strategy, runs already launched keep
//! going to their own end: an export launched an hour ago is not killed
//! because an unrelated launch crashed the actor. The request being handled
//! when the launcher panicked answers `ActorFailed` and was not accepted
//! (nothing was registered for it); requests queued behind it are
//! re-delivered to the next incarnation.
//!
//! Only shutdown stops launched runs. Graceful shutdown (this actor's
//! `post_stop`, and again the shutdown sequence itself through
//! [`Launches::drain_at_shutdown`], in case no launcher was running to do
//! it) gives them `shutdown_grace` to finish, then terminates each process
//! group (SIGTERM, `kill_grace`, SIGKILL); those runs end `Interrupted` and
//! their waiters get `ShuttingDown`. The emergency stop (`abort`, or
//! dropping the last handle) cancels the shutdown root, which stops them at
//! once. A cancel (`Registry::cancel`) stops one run: its group is
//! terminated the same way and it ends `Cancelled`.
//!
//! A caller that drops its `launch` future does not undo the launch: if it
//! was accepted, the run goes on (it starts when the unread answer is
//! dropped) and is listed in the registry. A run task that ends without
//! recording an outcome (it panicked, or the tokio runtime dropped it)
//! marks its run `Interrupted` on the way out, so no launched run is ever
//! left `Queued` or `Running`.
//!
//! # Back-pressure
//! At most `max_queued` launched runs may be in flight (waiting for an
//! execution slot or running); past it a launch answers `QueueFull` instead
//! of growing memory without limit. Finished runs do not count: the
//! registry's retention bounds those.

use std::sync::{Arc, OnceLock, Weak};
use std::time::SystemTime;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::oneshot;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::message::pattern_message;
use crate::pattern::Pattern;
use crate::registry::RunRecord;
use crate::run::RunId;
use crate::runner::{self, Owner, Prepared, drain_runs};
use crate::scheduler::Clock;
use crate::slot::Reply;
use crate::store::ResumedRun;
use crate::supervisor::ChildReport;
use crate::task::{Task, TaskKind};
use crate::trace::Correlation;

// Delayed launches: one timer for every run waiting for its due time.
mod delayed;
#[cfg(test)]
mod tests;

use delayed::{Delayed, Pending};

/// The child name of the launcher.
pub(crate) const LAUNCHER: &str = "launcher";

/// The launcher actor (stateless; see [`LauncherState`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Launcher;

/// What each launcher incarnation starts with.
#[derive(Debug, Clone)]
pub(crate) struct LauncherArguments {
    /// The runtime's launched runs (and through them, its context).
    pub(crate) launches: Arc<Launches>,
}

/// Messages the launcher accepts.
#[derive(Debug)]
pub enum LauncherMessage {
    /// Accept `task` as a fire-and-forget run and answer with its id as
    /// soon as it is registered (`Queued`).
    Launch {
        /// What to run (shared, so a request lost in a crash can be
        /// re-sent without copying the task).
        task: Arc<Task>,
        /// The finished run this one reruns (`Orchestrator::rerun`), kept
        /// with the new run's record.
        rerun_of: Option<RunId>,
        /// Where the run id (or the refusal) goes.
        reply: Reply<Launched>,
    },
    /// Report on the launched runs.
    Status(RpcReplyPort<ChildReport>),
}

pattern_message!(pub LauncherMessage {
    requests: [Launch],
    plain: [],
    status: Status,
});

/// The answer to a launch: the accepted run's id. The run's process is
/// spawned only once this answer has been dropped (or was never received):
/// see [`Launched::id`].
#[derive(Debug)]
pub struct Launched {
    id: RunId,
    // Dropping it (with the answer) wakes the run task: that is its start.
    _go: oneshot::Sender<()>,
}

impl Launched {
    /// The answer for a launch that found its key's run: nothing waits
    /// for it to be dropped.
    fn existing(id: RunId) -> Self {
        let (go, _) = oneshot::channel();
        Launched { id, _go: go }
    }

    /// The run's id. Take it and drop the `Launched`: the run starts when
    /// its caller has the id in hand, so a process spawn (half a millisecond
    /// or more of a worker thread, and a CPU for the new child) never sits
    /// between the caller and its answer.
    pub fn id(&self) -> RunId {
        self.id
    }
}

/// The launched runs of one runtime, shared by every launcher incarnation
/// and by the shutdown sequence (see the module docs).
#[derive(Debug)]
pub struct Launches {
    ctx: Arc<Context>,
    // Owns every launched run; stopped only by shutdown (or through the
    // shutdown root, by the emergency stop).
    owner: Owner,
    // Every launched run task still going: with the delayed runs, what the
    // back-pressure bound counts.
    runs: TaskTracker,
    max_queued: usize,
    // Delayed runs waiting for their due time (see `delayed`).
    delayed: Arc<Delayed>,
    // Their timer task, started with the first delayed run; aborted when
    // the launches are dropped.
    timer: OnceLock<AbortOnDropHandle<()>>,
    // This value's own `Arc`, weakly, for the timer task.
    me: Weak<Launches>,
}

impl Launches {
    /// The launched runs of the runtime `ctx`, at most `max_queued` in
    /// flight at once (a bound of 0 is raised to 1).
    #[cfg(test)]
    pub(crate) fn new(ctx: Arc<Context>, max_queued: usize) -> Arc<Self> {
        Launches::with_clock(ctx, max_queued, Clock::system())
    }

    /// [`new`](Self::new), reading due times of delayed launches on
    /// `clock` (the runtime's, so tests can simulate it).
    pub(crate) fn with_clock(ctx: Arc<Context>, max_queued: usize, clock: Clock) -> Arc<Self> {
        let owner = Owner::new(LAUNCHER, ctx.shutdown().root());
        Arc::new_cyclic(|me| Launches {
            ctx,
            owner,
            runs: TaskTracker::new(),
            max_queued: max_queued.max(1),
            delayed: Arc::new(Delayed::new(clock)),
            timer: OnceLock::new(),
            me: me.clone(),
        })
    }

    /// Launched runs not finished yet (waiting for their due time, queued
    /// or running).
    pub fn in_flight(&self) -> usize {
        self.runs.len() + self.delayed.len()
    }

    /// Delayed launches waiting for their due time.
    pub fn delayed(&self) -> usize {
        self.delayed.len()
    }

    /// The back-pressure bound.
    pub fn max_queued(&self) -> usize {
        self.max_queued
    }

    /// Graceful shutdown of every launched run: give them `shutdown_grace`
    /// to finish, then terminate the rest (they end `Interrupted`, their
    /// waiters get `ShuttingDown`), and wait for their clean-up. For the
    /// shutdown sequence: it does nothing unless shutdown has begun, and
    /// called again it returns as soon as nothing is left.
    pub async fn drain_at_shutdown(&self) {
        if self.ctx.shutdown().is_closing() {
            // Delayed runs are not waited for: they are let go of at once
            // (kept `Queued` in a store, for the next start).
            for pending in self.delayed.close() {
                self.let_go(pending);
            }
            drain_runs(&self.ctx, &self.owner, &self.runs, LAUNCHER).await;
        }
    }

    /// Start `run`, found `Queued` in the durable store after a restart,
    /// once, under its own id; owned by the runtime like a launched run
    /// (not counted against `max_queued`: it was accepted long ago). A run
    /// of an in-process action waits, `Queued`, until its action is
    /// registered again; one whose program is gone fails as a launch would
    /// have.
    ///
    /// A delayed run (`Task::start_at`, `start_after`) keeps its stored due
    /// time: one still ahead waits for it; one that passed while the
    /// application was down starts now, once (as systemd's `Persistent=`
    /// timers do).
    pub(crate) fn resume(&self, run: &ResumedRun) {
        let ctx = Arc::clone(&self.ctx);
        let record = ctx
            .registry()
            .admit(crate::registry::Admission::resumed(run).parent(Some(self.owner.token())));
        let task = Arc::new(run.task.clone());
        let settle = Settle { ctx, record };
        if let Some(due) = self.ahead(settle.record.due()) {
            self.delay(due, Pending::Resumed { task, settle });
            return;
        }
        self.spawn_resumed(task, settle);
    }

    /// Run `task` of the resumed run `settle` now (see [`resume`](Self::resume)).
    fn spawn_resumed(&self, task: Arc<Task>, settle: Settle) {
        let owner = self.owner.clone();
        let alive = settle.ctx.tasks().token();
        self.runs.spawn(async move {
            let _alive = alive;
            let ctx = Arc::clone(&settle.ctx);
            let record = &settle.record;
            if let (TaskKind::Action { name, .. }, Some(stop)) = (task.kind(), record.token()) {
                tokio::select! {
                    _ = ctx.actions().registered(name) => {}
                    _ = stop.cancelled() => {
                        let stopped = if record.cancel_requested() {
                            Error::Cancelled { run: Some(record.id()) }
                        } else {
                            owner.reason()
                        };
                        let _ = ctx.registry().finish(record, Err(stopped)).await;
                        return;
                    }
                }
            }
            match runner::prepare(&ctx, task) {
                Ok(prepared) => {
                    let _ = runner::execute(&ctx, record, &prepared, &owner).await;
                }
                Err(e) => {
                    let _ = ctx.registry().finish(record, Err(e)).await;
                }
            }
        });
    }

    /// [`admit_or_existing`](Self::admit_or_existing) of a task without a
    /// key that is not a rerun (the unit tests' way in).
    #[cfg(test)]
    fn admit(&self, task: Arc<Task>, correlation: Correlation) -> Result<Admitted> {
        self.admit_or_existing(task, None, correlation)
            .map(|admitted| admitted.expect("an unkeyed task is always admitted"))
    }

    /// Admit `task`, as a rerun of `rerun_of` if given: the checks and the
    /// registration of a launch. The run is started by [`Admitted::start`].
    /// A task whose key names a live or recent run gets that run's id
    /// instead (`Err(id)` inside `Ok`).
    fn admit_or_existing(
        &self,
        task: Arc<Task>,
        rerun_of: Option<RunId>,
        correlation: Correlation,
    ) -> Result<std::result::Result<Admitted, RunId>> {
        let ctx = &self.ctx;
        ctx.shutdown().check()?;
        // Input errors first: they say more than a full queue does.
        let prepared = runner::prepare(ctx, task)?;
        if self.in_flight() >= self.max_queued {
            return Err(Error::QueueFull {
                limit: self.max_queued,
            });
        }
        let mut admission =
            crate::registry::Admission::new(prepared.task.display_name(), Pattern::FireAndForget)
                .journal(crate::registry::Journal::WithTask(&prepared.task))
                .job(prepared.task.job())
                .parent(Some(self.owner.token()));
        if let Some(old) = rerun_of {
            admission = admission.rerun_of(old);
        }
        // A delayed start counts from acceptance on the runtime's clock
        // (simulated in tests), which also tells when it is due.
        admission.due = prepared
            .task
            .job()
            .start
            .map(|start| start.due(self.delayed.clock().now()));
        let record = match ctx.registry().admit_keyed(admission) {
            crate::registry::Keyed::New(record) => record,
            crate::registry::Keyed::Existing(record) => return Ok(Err(record.id())),
        };
        record.correlate(correlation);
        Ok(Ok(Admitted {
            prepared,
            settle: Settle {
                ctx: Arc::clone(ctx),
                record,
            },
        }))
    }
}

impl Launches {
    /// `due` if it is still ahead on the runtime's clock (a due time in
    /// the past, or none, means at once).
    fn ahead(&self, due: Option<SystemTime>) -> Option<SystemTime> {
        due.filter(|&due| due > self.delayed.clock().now())
    }

    /// Hold `pending` until `due` (starting the timer task if it is the
    /// first delayed run); at shutdown, let go of it at once.
    fn delay(&self, due: SystemTime, pending: Pending) {
        if let Err(pending) = self.delayed.hold(due, pending) {
            self.let_go(pending);
            return;
        }
        self.timer.get_or_init(|| {
            AbortOnDropHandle::new(tokio::spawn(delayed::timer(
                Arc::clone(&self.delayed),
                self.me.clone(),
            )))
        });
    }

    /// Start `pending`, now due: a launched run as a launch starts, a
    /// resumed one as [`resume`](Self::resume) does.
    fn start_pending(&self, pending: Pending) {
        match pending {
            Pending::Launched(admitted) => {
                // The caller has its answer already: no go-ahead to wait
                // for (a dropped sender reads as sent).
                let (_, started) = oneshot::channel();
                admitted.spawn(self, started, None);
            }
            Pending::Resumed { task, settle } => self.spawn_resumed(task, settle),
        }
    }

    /// Accept `admitted`, due at `due` (ahead of now), and answer `reply`
    /// with its id at once (with a store, once its `Queued` record, due
    /// time included, is committed).
    fn launch_delayed(&self, admitted: Admitted, due: SystemTime, reply: Reply<Launched>) {
        let record = Arc::clone(&admitted.settle.record);
        // The go-ahead does not apply: the due time starts the run.
        let (go, _) = oneshot::channel();
        let launched = Launched {
            id: record.id(),
            _go: go,
        };
        self.delay(due, Pending::Launched(admitted));
        if !self.ctx.store().is_enabled() {
            reply.send(Ok(launched));
            return;
        }
        let ctx = Arc::clone(&self.ctx);
        let delayed = Arc::clone(&self.delayed);
        let alive = ctx.tasks().token();
        self.runs.spawn(async move {
            let _alive = alive;
            match record.durable().await {
                Ok(()) => reply.send(Ok(launched)),
                Err(e) => {
                    // Not accepted after all: it never starts.
                    let pending = delayed.take(record.id());
                    let _ = ctx.registry().finish_now(&record, Err(e.clone()));
                    drop(pending);
                    reply.send(Err(e));
                }
            }
        });
    }
}

/// A registered run not started yet. Dropped unstarted (the launcher died
/// in between), it ends `Interrupted`, like any run whose task dies.
struct Admitted {
    prepared: Prepared,
    settle: Settle,
}

impl Admitted {
    /// Start the run in a task owned by `launches`; its process is spawned
    /// once the returned answer is dropped, or at once if the run is
    /// stopped before that.
    fn start(self, launches: &Launches) -> Launched {
        let (go, started) = oneshot::channel();
        let launched = Launched {
            id: self.settle.record.id(),
            _go: go,
        };
        self.spawn(launches, started, None);
        launched
    }

    /// [`start`](Self::start) with a durable store: the run's task answers
    /// `reply` once the run's `Queued` record is committed (or with the
    /// store's error, and the run ends `Failed` without starting).
    fn start_durable(self, launches: &Launches, reply: Reply<Launched>) {
        let (go, started) = oneshot::channel();
        let launched = Launched {
            id: self.settle.record.id(),
            _go: go,
        };
        self.spawn(launches, started, Some((launched, reply)));
    }

    fn spawn(
        self,
        launches: &Launches,
        started: oneshot::Receiver<()>,
        answer: Option<(Launched, Reply<Launched>)>,
    ) {
        let Admitted { prepared, settle } = self;
        let owner = launches.owner.clone();
        // Holding a token of the runtime-wide tracker lets shutdown wait
        // for this run's clean-up whatever happens to the launcher.
        let alive = settle.ctx.tasks().token();
        let stop = settle.record.token();
        launches.runs.spawn(async move {
            let _alive = alive;
            if let Some((launched, reply)) = answer {
                if let Err(e) = settle.record.durable().await {
                    let _ = settle
                        .ctx
                        .registry()
                        .finish_now(&settle.record, Err(e.clone()));
                    reply.send(Err(e));
                    return;
                }
                reply.send(Ok(launched));
            }
            // Sent or dropped, the go-ahead comes; a stop (cancel,
            // shutdown) never waits for it.
            if let Some(stop) = stop {
                tokio::select! {
                    _ = started => {}
                    _ = stop.cancelled() => {}
                }
            }
            // `execute` records the outcome itself; `settle` only acts if
            // it never got to.
            let _ = runner::execute(&settle.ctx, &settle.record, &prepared, &owner).await;
            drop(settle);
        });
    }
}

/// Ends a launched run whose task (or whose admission, if the launcher
/// died before starting it) lets go of it without an outcome, through
/// [`runner::RunGuard`]: nobody is left to finish it otherwise, and its
/// waiters would wait forever.
struct Settle {
    ctx: Arc<Context>,
    record: Arc<RunRecord>,
}

impl Drop for Settle {
    fn drop(&mut self) {
        // The runner's guard decides: `RunPanicked` during a panic,
        // `Interrupted` otherwise, nothing if the run has ended.
        drop(runner::RunGuard::new(&self.ctx, &self.record, LAUNCHER));
    }
}

/// One incarnation's state: only the shared [`Launches`].
#[derive(Debug)]
pub(crate) struct LauncherState {
    launches: Arc<Launches>,
}

impl Actor for Launcher {
    type Msg = LauncherMessage;
    type State = LauncherState;
    type Arguments = LauncherArguments;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: LauncherArguments,
    ) -> Result<LauncherState, ActorProcessingErr> {
        Ok(LauncherState {
            launches: args.launches,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: LauncherMessage,
        state: &mut LauncherState,
    ) -> Result<(), ActorProcessingErr> {
        let launches = Arc::clone(&state.launches);
        let ctx = Arc::clone(&launches.ctx);
        ctx.handle_message(LAUNCHER, message, |message| async move {
            match message {
                LauncherMessage::Launch {
                    task,
                    rerun_of,
                    reply,
                } => match launches.admit_or_existing(task, rerun_of, reply.correlation()) {
                    Ok(Ok(run)) => match launches.ahead(run.settle.record.due()) {
                        Some(due) => launches.launch_delayed(run, due, reply),
                        None if launches.ctx.store().is_enabled() => {
                            run.start_durable(&launches, reply);
                        }
                        None => reply.send(Ok(run.start(&launches))),
                    },
                    Ok(Err(existing)) => reply.send(Ok(Launched::existing(existing))),
                    Err(e) => reply.send(Err(e)),
                },
                LauncherMessage::Status(reply) => {
                    let _ = reply.send(ChildReport {
                        detail: format!(
                            "{} launched runs in flight (limit {}), {} of them delayed",
                            launches.in_flight(),
                            launches.max_queued,
                            launches.delayed()
                        ),
                    });
                }
            }
        })
        .await
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut LauncherState,
    ) -> Result<(), ActorProcessingErr> {
        // Any other stop (a strategy restart) leaves launched runs alone:
        // they outlive the incarnation (see the module docs).
        state.launches.drain_at_shutdown().await;
        Ok(())
    }
}
