//! The scheduler: serves the Periodic pattern (run a task every N seconds
//! or on a cron expression).
//!
//! # Messages
//! - [`SchedulerMessage::Add`]: check the spec and its task (program or
//!   action resolved now, so a typo fails at once rather than at 3 am),
//!   store the schedule, and put its first tick on the timing heap.
//! - [`SchedulerMessage::SetEnabled`], [`SchedulerMessage::Remove`]: change
//!   one schedule, in order with the ticks.
//! - [`SchedulerMessage::TriggerNow`], [`SchedulerMessage::Backfill`]:
//!   runs of one schedule by hand, outside its pace (see `manual`).
//! - [`SchedulerMessage::Tick`]: sent by this incarnation's timer task when
//!   the earliest tick is due (or a queued run may start): pop every due
//!   tick off the heap, apply the overlap and catch-up policies, start the
//!   runs, push each schedule's next tick. Each tick costs O(log n) in the
//!   number of schedules; none is ever scanned.
//! - [`SchedulerMessage::Status`]: how many schedules and runs in flight.
//!
//! # Supervision
//! A permanent child of the root supervisor, started after the executor.
//!
//! # State outside the actor
//! Schedules — definitions, enabled state, counters, last run, next due
//! tick — live in the [`ScheduleStore`] passed in the arguments; runs in the
//! registry of the runtime [`Context`]. The actor keeps only what it can
//! rebuild: the timing heap, its timer task, and its run tasks.
//!
//! # Restart and stop
//! If the scheduler dies (a panic while handling a message), its state is
//! dropped: its timer task stops, and its in-flight runs are terminated
//! (process groups get SIGTERM, `kill_grace`, SIGKILL) and end
//! `Interrupted` (counted as failures). The next incarnation rebuilds the
//! heap from the store: every schedule is back with the same enabled state,
//! counters and next due time; a tick fired before the crash had already
//! stored its successor, so it does not fire twice, and a tick that came
//! due meanwhile fires late (within the grace) or follows the catch-up
//! policy. On a graceful stop (shutdown) no tick fires any more, and runs
//! get `shutdown_grace` to finish before they are terminated the same way.
//!
//! # Timing
//! Interval ticks run on tokio's monotonic clock and cron ticks on the
//! wall clock of the store's [`Clock`]; both use `tokio::time`, so tests
//! drive them on paused time. A precise timer thread trims tokio's
//! millisecond rounding (see `timer`).

mod clock;
// Durable state: schedules in the store, restored on start.
mod durable;
mod handle;
// Trigger now and backfill.
mod manual;
mod spec;
mod store;
#[cfg(test)]
mod tests;
mod tick;
mod timeline;
mod timer;
mod trigger;

use std::sync::Arc;
use std::time::SystemTime;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};

pub use clock::Clock;
pub use handle::Schedule;
pub use manual::{MAX_BACKFILL, Triggered};
pub use spec::{CatchUp, DEFAULT_GRACE, Overlap, ScheduleSpec};
pub use store::{ScheduleEntry, ScheduleInfo, ScheduleStore};
pub use timeline::TimerHeap;
pub use trigger::Trigger;

use crate::context::Context;
use crate::error::Result;
use crate::message::pattern_message;
use crate::pattern::Pattern;
use crate::runner::{self, Owner, OwnerGuard, drain_runs};
use crate::slot::Reply;
use crate::supervisor::ChildReport;
use crate::task::TaskKind;
use store::{EntryState, InFlight};
use tick::Due;

/// The child name of the scheduler.
pub(crate) const SCHEDULER: &str = "scheduler";

/// The scheduler actor (stateless; see [`SchedulerState`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scheduler;

/// What each scheduler incarnation starts with.
#[derive(Debug, Clone)]
pub(crate) struct SchedulerArguments {
    /// The shared runtime context.
    pub(crate) ctx: Arc<Context>,
    /// The schedules (outside the actor, shared by every incarnation).
    pub(crate) store: Arc<ScheduleStore>,
}

/// Messages the scheduler accepts.
#[derive(Debug)]
pub enum SchedulerMessage {
    /// Add a schedule; answers with its entry.
    Add {
        /// The schedule (shared, so a request lost in a crash can be
        /// re-sent without copying it).
        spec: Arc<ScheduleSpec>,
        /// Where the entry (or the error) goes.
        reply: Reply<Arc<ScheduleEntry>>,
    },
    /// Enable or disable the schedule `name` if it is still the one with
    /// `id` (a removed and re-added name is another schedule).
    SetEnabled {
        /// The schedule's name.
        name: Arc<str>,
        /// Its id in the store.
        id: u64,
        /// The new state.
        enabled: bool,
        /// Answered once the change is in effect.
        reply: Reply<()>,
    },
    /// Remove the schedule `name` if it is still the one with `id`.
    Remove {
        /// The schedule's name.
        name: Arc<str>,
        /// Its id in the store.
        id: u64,
        /// Answered once it is removed.
        reply: Reply<()>,
    },
    /// Start a run of the schedule `name` (if still the one with `id`)
    /// now, under its overlap policy.
    TriggerNow {
        /// The schedule's name.
        name: Arc<str>,
        /// Its id in the store.
        id: u64,
        /// What the overlap policy made of it.
        reply: Reply<Triggered>,
    },
    /// Run the ticks of the schedule `name` (if still the one with `id`)
    /// due in `[from, to)`.
    Backfill {
        /// The schedule's name.
        name: Arc<str>,
        /// Its id in the store.
        id: u64,
        /// The start of the range (included).
        from: SystemTime,
        /// The end of the range (excluded).
        to: SystemTime,
        /// The ids of the runs started, one per tick, in tick order.
        reply: Reply<Vec<crate::run::RunId>>,
    },
    /// The earliest tick is due, or a queued run may start (from the
    /// incarnation's timer task).
    Tick,
    /// Report on this incarnation.
    Status(RpcReplyPort<ChildReport>),
}

pattern_message!(pub SchedulerMessage {
    requests: [Add, SetEnabled, Remove, TriggerNow, Backfill],
    plain: [Tick],
    status: Status,
});

/// A heap item: the schedule and the generation its tick belongs to.
type Armed = (u64, Arc<ScheduleEntry>);

/// One incarnation's state.
#[derive(Debug)]
pub(crate) struct SchedulerState {
    myself: ActorRef<SchedulerMessage>,
    ctx: Arc<Context>,
    store: Arc<ScheduleStore>,
    owner: Owner,
    // Dropped with the state: stops this incarnation's runs (see the module
    // docs). Never read.
    _stop_runs_on_drop: OwnerGuard,
    runs: TaskTracker,
    // Interval ticks by monotonic instant, cron ticks by wall time.
    mono: TimerHeap<Instant, Armed>,
    wall: TimerHeap<SystemTime, Armed>,
    deadline: watch::Sender<Option<Instant>>,
    // Aborted with the state; the owner token stops it too.
    _timer: AbortOnDropHandle<()>,
}

impl Actor for Scheduler {
    type Msg = SchedulerMessage;
    type State = SchedulerState;
    type Arguments = SchedulerArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SchedulerArguments,
    ) -> Result<SchedulerState, ActorProcessingErr> {
        let owner = Owner::new(SCHEDULER, args.ctx.shutdown().root());
        let (deadline, deadline_rx) = watch::channel(None);
        let timer = tokio::spawn(timer::run(
            myself.clone(),
            Arc::clone(&args.store),
            deadline_rx,
            owner.token().clone(),
        ));
        let mut state = SchedulerState {
            myself,
            _stop_runs_on_drop: owner.guard(),
            owner,
            ctx: args.ctx,
            store: args.store,
            runs: TaskTracker::new(),
            mono: TimerHeap::new(),
            wall: TimerHeap::new(),
            deadline,
            _timer: AbortOnDropHandle::new(timer),
        };
        state.rebuild();
        state.publish(true);
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: SchedulerMessage,
        state: &mut SchedulerState,
    ) -> Result<(), ActorProcessingErr> {
        let ctx = Arc::clone(&state.ctx);
        ctx.handle_message(SCHEDULER, message, |message| async move {
            let ticked = matches!(message, SchedulerMessage::Tick);
            match message {
                SchedulerMessage::Add { spec, reply } => {
                    // Durable state: answered once the schedule is committed.
                    let added = state.add(&spec);
                    state.ctx.answer_when_durable(reply, added);
                }
                SchedulerMessage::SetEnabled {
                    name,
                    id,
                    enabled,
                    reply,
                } => reply.send(state.set_enabled(&name, id, enabled)),
                SchedulerMessage::Remove { name, id, reply } => {
                    reply.send(state.remove(&name, id));
                }
                SchedulerMessage::TriggerNow { name, id, reply } => {
                    reply.send(state.trigger_now(&name, id));
                }
                SchedulerMessage::Backfill {
                    name,
                    id,
                    from,
                    to,
                    reply,
                } => reply.send(state.backfill(&name, id, from, to)),
                SchedulerMessage::Tick => state.tick(),
                SchedulerMessage::Status(reply) => {
                    let _ = reply.send(ChildReport {
                        detail: format!(
                            "{} schedules, timing heap {} items, {} runs in flight",
                            state.store.len(),
                            state.mono.len() + state.wall.len(),
                            state.runs.len()
                        ),
                    });
                }
            }
            // The timer task waits for an answer to every tick.
            state.publish(ticked);
        })
        .await
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut SchedulerState,
    ) -> Result<(), ActorProcessingErr> {
        drain_runs(&state.ctx, &state.owner, &state.runs, SCHEDULER).await;
        Ok(())
    }
}

impl SchedulerState {
    fn add(&mut self, spec: &ScheduleSpec) -> Result<Arc<ScheduleEntry>> {
        self.ctx.shutdown().check()?;
        spec.validate()?;
        // The trigger says when a schedule's task runs; a start of its own
        // would be ignored on every tick, so it is refused.
        if spec.task.job().start.is_some() {
            return Err(crate::error::Error::StartNotSupported {
                place: format!("schedule {:?}", spec.name),
            });
        }
        runner::prepare(&self.ctx, Arc::clone(&spec.task))?;
        let now = Instant::now();
        let first = tick::first_due(spec, now, self.store.clock().now(), self.store.crons());
        let entry = self.store.insert(spec.clone(), first)?;
        let state = entry.state.lock();
        self.arm(&entry, &state);
        self.store.persist(&entry, &state);
        drop(state);
        Ok(entry)
    }

    fn set_enabled(&mut self, name: &str, id: u64, enabled: bool) -> Result<()> {
        let entry = self.store.current(name, id)?;
        let mut state = entry.state.lock();
        if state.enabled == enabled {
            return Ok(());
        }
        state.enabled = enabled;
        state.generation += 1;
        if enabled {
            self.arm(&entry, &state);
        } else {
            drop_pending(&mut state);
        }
        self.store.persist(&entry, &state);
        drop(state);
        self.compact_if_needed();
        Ok(())
    }

    fn remove(&mut self, name: &str, id: u64) -> Result<()> {
        let entry = self.store.current(name, id)?;
        {
            let mut state = entry.state.lock();
            state.removed = true;
            state.enabled = false;
            state.generation += 1;
            drop_pending(&mut state);
            self.store.persist(&entry, &state);
        }
        self.store.remove(&entry);
        self.compact_if_needed();
        Ok(())
    }

    fn tick(&mut self) {
        if self.ctx.shutdown().is_closing() {
            return;
        }
        let now = Instant::now();
        let wall = self.store.clock().now();
        while let Some((generation, entry)) = self
            .mono
            .pop_due(now)
            .map(|(_, item)| item)
            .or_else(|| self.wall.pop_due(wall).map(|(_, item)| item))
        {
            self.fire_due(&entry, generation, now, wall);
        }
        for entry in self.store.take_ready() {
            let mut state = entry.state.lock();
            if state.pending && state.in_flight == 0 && state.enabled && !state.removed {
                state.pending = false;
                self.start_run(&entry, &mut state);
            }
        }
    }

    fn fire_due(
        &mut self,
        entry: &Arc<ScheduleEntry>,
        generation: u64,
        now: Instant,
        wall: SystemTime,
    ) {
        let mut state = entry.state.lock();
        let Some(due) = state.next else {
            return;
        };
        if state.generation != generation || !state.is_armed() {
            return; // a stale heap item (see `timeline`)
        }
        let plan = tick::plan(&entry.spec, due, now, wall, self.store.crons());
        state.missed += plan.missed;
        state.next = plan.next;
        state.generation += 1;
        self.arm(entry, &state);
        // Durable state: the tick is consumed before its run starts.
        self.store.persist(entry, &state);
        if !plan.fire {
            return;
        }
        // Emergency halt: schedules stay enabled, their ticks are skipped.
        if self.ctx.halt().is_halted() {
            state.skipped += 1;
            self.store.persist(entry, &state);
            crate::events::schedule_skipped(self.ctx.events(), entry.name(), "halted");
            return;
        }
        if state.in_flight == 0 || entry.spec.overlap == Overlap::Allow {
            self.start_run(entry, &mut state);
            return;
        }
        match entry.spec.overlap {
            Overlap::Queue if !state.pending => state.pending = true,
            _ => {
                state.skipped += 1;
                crate::events::schedule_skipped(self.ctx.events(), entry.name(), "overlap");
            }
        }
        self.store.persist(entry, &state);
    }

    /// Register a run of `entry` and start it in a task this incarnation
    /// owns. Called with the schedule's lock held, so the counters and the
    /// run agree.
    fn start_run(&self, entry: &Arc<ScheduleEntry>, state: &mut EntryState) -> crate::run::RunId {
        let ctx = Arc::clone(&self.ctx);
        let record = ctx.registry().admit(
            crate::registry::Admission::new(entry.name(), Pattern::Periodic)
                .journal(crate::registry::Journal::WithTask(&entry.spec.task))
                // Its priority and queue decide when it gets a permit.
                .job(entry.spec.task.job())
                .parent(Some(self.owner.token())),
        );
        state.runs += 1;
        state.in_flight += 1;
        state.last = Some(Arc::clone(&record));
        crate::events::schedule_fired(ctx.events(), entry.name(), record.id());
        self.store.persist(entry, state);
        let in_flight = InFlight {
            entry: Arc::clone(entry),
            store: Arc::clone(&self.store),
            record: Arc::clone(&record),
        };
        let owner = self.owner.clone();
        let id = record.id();
        // Holding a token of the runtime-wide tracker lets shutdown wait for
        // this run's clean-up even if this incarnation dies first.
        let alive = ctx.tasks().token();
        self.runs.spawn(async move {
            let _alive = alive;
            // Declared after `_alive`, so dropped before it: the counters are
            // final before shutdown stops waiting.
            let in_flight = in_flight;
            // Ends the run if this task lets go of it unfinished (a panic
            // outside `execute`, the runtime dropping the task); declared
            // after `in_flight`, so the run has ended when the counters
            // read it.
            let _guard = runner::RunGuard::new(&ctx, &record, SCHEDULER);
            // Durable state: a schedule restored after a restart may fire
            // before the application has registered its action again; the
            // run waits for it, `Queued`.
            if let (TaskKind::Action { name, .. }, Some(stop)) =
                (in_flight.entry.spec.task.kind(), record.token())
            {
                tokio::select! {
                    _ = ctx.actions().registered(name) => {}
                    _ = stop.cancelled() => {
                        let stopped = if record.cancel_requested() {
                            crate::error::Error::Cancelled { run: Some(record.id()) }
                        } else {
                            owner.reason().for_run(record.id())
                        };
                        let _ = ctx.registry().finish(&record, Err(stopped)).await;
                        return;
                    }
                }
            }
            match runner::prepare(&ctx, Arc::clone(&in_flight.entry.spec.task)) {
                Ok(prepared) => {
                    // The outcome is in the registry; the schedule's
                    // counters read it from there when `in_flight` drops.
                    let _ = runner::execute(&ctx, &record, &prepared, &owner).await;
                }
                Err(e) => {
                    // Resolved when the schedule was added, gone since (a
                    // deleted program, an unregistered action): a failed run.
                    let _ = ctx.registry().finish(&record, Err(e)).await;
                }
            }
        });
        id
    }

    /// Put `entry`'s next tick on the heap, if it has one and is enabled.
    fn arm(&mut self, entry: &Arc<ScheduleEntry>, state: &EntryState) {
        if !state.is_armed() {
            return;
        }
        let item = (state.generation, Arc::clone(entry));
        match state.next {
            Some(Due::Mono { at, .. }) => self.mono.push(at, item),
            Some(Due::Wall { at, .. }) => self.wall.push(at, item),
            None => {}
        }
    }

    /// Fill the heap from the store (a new incarnation, or compaction).
    fn rebuild(&mut self) {
        self.mono.clear();
        self.wall.clear();
        for entry in self.store.list() {
            let state = entry.state.lock();
            self.arm(&entry, &state);
            if state.pending && state.in_flight == 0 {
                // Its last run ended while no incarnation was listening.
                self.store.push_ready(Arc::clone(&entry));
            }
        }
    }

    /// Drop stale heap items once they outnumber the schedules.
    fn compact_if_needed(&mut self) {
        let items = self.mono.len() + self.wall.len();
        if items > 64 && items > 2 * self.store.len() {
            self.rebuild();
        }
    }

    /// Tell the timer task when the earliest tick is due. `force` wakes it
    /// even if that did not change (it waits for an answer to each tick).
    fn publish(&self, force: bool) {
        let clock = self.store.clock();
        let wall = self.wall.peek().map(|w| {
            let at = clock.instant_at(w);
            if clock.is_simulated() {
                at
            } else {
                // The system clock may jump (module docs of `clock`).
                at.min(Instant::now() + clock::RESYNC)
            }
        });
        let deadline = match (self.mono.peek(), wall) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match deadline {
            Some(at) => self.store.precise().arm(at, &self.myself),
            None => self.store.precise().disarm(),
        }
        if force {
            self.deadline.send_replace(deadline);
        } else {
            self.deadline.send_if_modified(|held| {
                let changed = *held != deadline;
                *held = deadline;
                changed
            });
        }
    }
}

/// A queued run that will not start after all counts as skipped.
fn drop_pending(state: &mut EntryState) {
    if state.pending {
        state.pending = false;
        state.skipped += 1;
    }
}
