//! The driver of one graph: one tokio task, owned by the batch
//! coordinator incarnation that accepted (or adopted) the graph, that
//! starts ready tasks as permits and resources allow and records every
//! outcome in the graph's shared state.
//!
//! # One round of starts
//! While the graph is under its limit and a task is ready, the driver
//! takes the most urgent ready task, then an execution permit for it as
//! every run gets one (`Queues::acquire`: its priority, its named queue's
//! concurrency, rate and pause, the runtime-wide cap), then its claims,
//! all at once, and hands the task, the permit and the grant to a tokio
//! task of its own. Taking the permit in the driver is what makes
//! priorities hold under the global cap: tasks ask for permits in the
//! driver's order, not in whatever order their tokio tasks would run. A
//! permit not free at once is waited for in the driver's `select!`, one
//! wait per queue ("lane"): the other ready tasks of that lane wait behind
//! it, the tasks of other lanes go on (a paused queue holds back only its
//! own tasks). A task blocked on a busy resource reserves it for the rest
//! of the round, so lower-priority tasks pass it only if they do not need
//! what it waits for (a writer is not starved by a stream of readers).
//!
//! # The job model
//! A task's run is admitted with its task's job options, as any run: its
//! labels (queryable with `RunQuery::label`), priority and queue; with a
//! key ([`Task::key`](crate::Task::key)) that names a live or recent run,
//! the task follows that run (its outcome is the task's) instead of
//! starting another, as a launch of the key would return that run.
//!
//! # Dependencies outside the graph
//! A task's dependencies on runs and on tasks of other graphs (see
//! `plan.rs`) are watched (`watch.rs`) and counted with its dependencies in
//! the graph: it becomes ready once all succeeded, and is skipped (with
//! its dependents) as soon as one did not.
//!
//! # When a run ends
//! Its status, attempts, output or error go into the state. If it
//! succeeded, dependents whose dependencies have now all succeeded become
//! ready; if not, everything downstream that has not started is `Skipped`,
//! with the failed task as the cause.
//!
//! # When the incarnation dies
//! The driver stops its runs (they end `Interrupted`, their dependents
//! `Skipped`), waits for them (bounded by `kill_grace` + 1 s), and gives
//! the graph back (see the lease in `job.rs`): the next incarnation's
//! driver carries on with the tasks that were waiting, and nothing that
//! ran is run again. At shutdown nothing new starts, runs in flight get
//! `shutdown_grace`, and what never started ends `Interrupted`.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use super::job::{GraphJob, GraphTable};
use super::plan::Plan;
use super::ready::ReadyQueue;
use super::resource::{Grant, Refusal, ResourceId};
use super::state::{GraphState, TaskError, TaskStatus};
use super::watch::{Watch, watch};
use crate::context::{Context, OwnedPermit};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::pattern::Pattern;
use crate::registry::{Admission, Journal, Keyed, RunRecord, terminal_status};
use crate::runner::{self, Owner, OwnerGuard, Prepared};

/// Drive `job` for the incarnation `incarnation` until the graph is done,
/// the runtime stops, or the incarnation dies (then the graph is given
/// back for the next one).
pub(crate) async fn drive(
    ctx: Arc<Context>,
    graphs: Arc<GraphTable>,
    incarnation: Owner,
    job: Arc<GraphJob>,
) {
    if !job.acquire_lease().await {
        return;
    }
    if incarnation.token().is_cancelled() {
        // Died before it got the graph: leave it to the next incarnation.
        hand_back(&ctx, graphs, job);
        return;
    }
    let driver = Driver::new(
        Arc::clone(&ctx),
        Arc::clone(&graphs),
        incarnation,
        Arc::clone(&job),
    );
    if AssertUnwindSafe(driver.run()).catch_unwind().await.is_err() {
        // A bug of ours; still, the graph must end rather than hang. Its
        // runs were stopped when the driver was dropped (its owner guard).
        let error = Error::actor_failed(job.actor(), "the graph's driver panicked");
        job.interrupt_unfinished(&error);
        job.close_lease();
        graphs.remove(job.id());
    }
}

/// Give the graph back, leaving a caretaker in case no driver comes.
fn hand_back(ctx: &Context, graphs: Arc<GraphTable>, job: Arc<GraphJob>) {
    job.release_lease();
    ctx.tasks().spawn(job.caretake(graphs));
}

/// A named queue's lane as the driver tells lanes apart (`None`: the
/// default queue).
type Lane = Option<String>;

/// Permits being waited for, one lane at a time (see the module docs).
#[derive(Default)]
struct PermitWaits {
    lanes: HashSet<Lane>,
    waits: FuturesUnordered<BoxFuture<'static, (Lane, OwnedPermit)>>,
}

impl PermitWaits {
    fn clear(&mut self) {
        // Dropping an `Acquire` leaves its queue (cancel safe).
        self.lanes.clear();
        self.waits = FuturesUnordered::new();
    }
}

/// One graph being driven.
struct Driver {
    ctx: Arc<Context>,
    /// The runtime's graphs in flight and their resource table.
    graphs: Arc<GraphTable>,
    /// The coordinator incarnation this driver belongs to.
    incarnation: Owner,
    job: Arc<GraphJob>,
    /// Owns every run this driver starts.
    owner: Owner,
    // Stops them if the driver is dropped with runs in flight (a panic of
    // the driver itself). Never read.
    _stop_runs_on_drop: OwnerGuard,
    /// Per task: dependencies (in the graph and outside it) that have not
    /// succeeded yet.
    waiting: Vec<u32>,
    /// Per task: dependencies outside the graph not resolved yet.
    outside: Vec<u32>,
    /// Tasks whose outside dependencies are being watched (a prefix: the
    /// tasks the graph had when it was last counted).
    watched: usize,
    /// The watches of outside dependencies.
    watches: FuturesUnordered<Watch>,
    /// Per task: why an outside dependency did not succeed, once one did
    /// not (a retry that reopens the task finds it skipped again).
    blocked: Vec<Option<TaskError>>,
    ready: ReadyQueue,
    /// Permits taken but not used yet, by lane.
    spare: HashMap<Lane, OwnedPermit>,
    /// Why the driver stopped early, once it has.
    stopping: Option<Error>,
}

/// What a run's task hands back.
struct Ran {
    result: Result<Output>,
    attempts: u32,
    duration: Duration,
}

impl Driver {
    fn new(
        ctx: Arc<Context>,
        graphs: Arc<GraphTable>,
        incarnation: Owner,
        job: Arc<GraphJob>,
    ) -> Self {
        let owner = Owner::new(job.actor(), ctx.shutdown().root());
        Driver {
            _stop_runs_on_drop: owner.guard(),
            owner,
            waiting: Vec::new(),
            outside: Vec::new(),
            watched: 0,
            watches: FuturesUnordered::new(),
            blocked: Vec::new(),
            ready: ReadyQueue::new(job.plan().aging),
            spare: HashMap::new(),
            stopping: None,
            ctx,
            graphs,
            incarnation,
            job,
        }
    }

    async fn run(mut self) {
        self.rebuild();
        let job = Arc::clone(&self.job);
        let resources = Arc::clone(self.graphs.resources());
        let incarnation = self.incarnation.token().clone();
        let mut dead = pin!(incarnation.cancelled());
        let mut running: FuturesUnordered<Joined> = FuturesUnordered::new();
        let mut permits = PermitWaits::default();
        let mut stop_deadline: Option<Instant> = None;

        loop {
            // Registered before looking, so a release or a cancel that
            // happens during the round wakes the `select!` below. Read
            // each round: a graph that grows may claim resources now.
            let uses_resources = job.plan().uses_resources;
            let mut released = pin!(resources.released().notified());
            if uses_resources {
                released.as_mut().enable();
            }
            let mut poked = pin!(job.poke().notified());
            poked.as_mut().enable();
            if job.take_recount() {
                self.recount();
            }

            if self.stopping.is_none() && incarnation.is_cancelled() {
                self.stop();
                permits.clear();
                stop_deadline = Some(self.stop_deadline());
            }
            let closing = self.ctx.shutdown().is_closing();
            if self.stopping.is_none() && !closing {
                self.start_ready(&mut running, &mut permits);
            }
            if running.is_empty() && (job.is_finished() || self.stopping.is_some() || closing) {
                if self.stopping.is_some() || closing || job.close_if_finished(&self.graphs) {
                    break;
                }
                // A retry or an add reopened the graph meanwhile: drive on
                // (its recount is pending).
                continue;
            }
            tokio::select! {
                biased;
                _ = &mut dead, if self.stopping.is_none() => {
                    self.stop();
                    permits.clear();
                    stop_deadline = Some(self.stop_deadline());
                }
                _ = sleep_until(stop_deadline) => break,
                Some((index, ran)) = running.next() => self.ended(index, ran),
                Some((index, verdict)) = self.watches.next(), if !self.watches.is_empty() => {
                    self.resolved(index, verdict);
                }
                Some((lane, permit)) = permits.waits.next(), if !permits.waits.is_empty() => {
                    permits.lanes.remove(&lane);
                    self.spare.insert(lane, permit);
                }
                _ = &mut poked => {}
                _ = &mut released, if uses_resources => {}
            }
        }
        self.finish();
    }

    /// Counts and queue from the state: on a fresh graph every task
    /// without dependencies is ready; on an adopted one, the tasks that
    /// were waiting carry on.
    fn rebuild(&mut self) {
        let actor = self.job.actor();
        let job = Arc::clone(&self.job);
        job.update_planned(|state, plan| {
            for i in 0..plan.len() {
                if state.status(i) == TaskStatus::Running {
                    // The previous driver ends its runs before it lets go;
                    // never start such a task twice.
                    let error = Error::actor_failed(actor, "the coordinator stopped while it ran");
                    state.tasks[i].error = Some(Box::new(TaskError::from_error(&error)));
                    state.set_status(i, TaskStatus::Interrupted);
                }
            }
            self.count(state, plan, true);
        });
    }

    /// After a retry reset tasks to `Pending` (see `job/retry.rs`) or an
    /// add appended some (see `job/grow.rs`): what each task waits for,
    /// counted again; tasks with nothing left to wait for become ready.
    fn recount(&mut self) {
        let job = Arc::clone(&self.job);
        job.update_planned(|state, plan| self.count(state, plan, false));
    }

    /// Count what each task waits for (under the state lock, with the
    /// plan that matches it): skips what a dependency that did not succeed
    /// blocks, watches the outside dependencies of tasks not watched yet,
    /// and queues the tasks with nothing left to wait for (with `fresh`,
    /// the tasks found `Ready` too: a new driver's queue is empty).
    fn count(&mut self, state: &mut GraphState, plan: &Plan, fresh: bool) {
        let n = plan.len();
        self.waiting.resize(n, 0);
        self.outside.resize(n, 0);
        self.blocked.resize(n, None);
        for i in self.watched..n {
            let externals = &plan.nodes[i].externals;
            // A task found ready had them all succeed (a new incarnation's
            // driver counting again).
            if externals.is_empty() || state.status(i) != TaskStatus::Pending {
                continue;
            }
            self.outside[i] = externals.len() as u32;
            for &external in externals.iter() {
                self.watches.push(watch(
                    Arc::clone(&self.ctx),
                    Arc::clone(&self.graphs),
                    i,
                    external,
                ));
            }
        }
        self.watched = n;
        for i in 0..n {
            if let Some(why) = &self.blocked[i] {
                state.end_unrun(i, TaskStatus::Skipped, why.clone());
            }
            let status = state.status(i);
            if status.is_terminal() && status != TaskStatus::Succeeded {
                skip_downstream(state, plan, i);
            }
        }
        for i in 0..n {
            let inside = plan
                .deps(i)
                .iter()
                .filter(|&&d| state.status(d as usize) != TaskStatus::Succeeded)
                .count() as u32;
            self.waiting[i] = inside + self.outside[i];
            match state.status(i) {
                TaskStatus::Pending if self.waiting[i] == 0 => {
                    state.set_status(i, TaskStatus::Ready);
                    self.ready
                        .push(i, plan.nodes[i].priority, state.tasks[i].ready_seq);
                }
                // Queued again only by a rebuild (a recount finds ready
                // tasks in the queue already).
                TaskStatus::Ready if fresh => {
                    self.ready
                        .push(i, plan.nodes[i].priority, state.tasks[i].ready_seq);
                }
                _ => {}
            }
        }
    }

    /// An outside dependency of task `index` ended: one less to wait for,
    /// or the task and its dependents skipped.
    fn resolved(&mut self, index: usize, verdict: Option<TaskError>) {
        let job = Arc::clone(&self.job);
        job.update_planned(|state, plan| {
            self.outside[index] = self.outside[index].saturating_sub(1);
            match verdict {
                None => {
                    self.waiting[index] = self.waiting[index].saturating_sub(1);
                    if self.waiting[index] == 0 && state.status(index) == TaskStatus::Pending {
                        state.set_status(index, TaskStatus::Ready);
                        self.ready.push(
                            index,
                            plan.nodes[index].priority,
                            state.tasks[index].ready_seq,
                        );
                    }
                }
                Some(why) => {
                    if self.blocked[index].is_none() {
                        self.blocked[index] = Some(why.clone());
                    }
                    if state.end_unrun(index, TaskStatus::Skipped, why) {
                        skip_downstream(state, plan, index);
                    }
                }
            }
        });
    }

    /// One round of starts (see the module docs).
    fn start_ready(&mut self, running: &mut FuturesUnordered<Joined>, permits: &mut PermitWaits) {
        let plan = self.job.plan();
        let mut parked = Vec::new();
        let mut reserved: Vec<ResourceId> = Vec::new();
        while running.len() < plan.limit {
            let Some(entry) = self.ready.pop() else {
                break;
            };
            let i = entry.index();
            // Cancelled (or skipped) since it was queued.
            if self.job.read(|state| state.status(i)) != TaskStatus::Ready {
                continue;
            }
            let Some(node) = plan.nodes.get(i) else {
                parked.push(entry);
                continue;
            };
            let lane: Lane = node.task.job().queue.clone();
            if permits.lanes.contains(&lane)
                || node.claims.iter().any(|c| reserved.contains(c.id()))
            {
                parked.push(entry);
                continue;
            }
            let permit = match self.spare.remove(&lane) {
                Some(permit) => permit,
                None => {
                    let mut acquire = self.ctx.queues().acquire(node.priority, lane.as_deref());
                    match (&mut acquire).now_or_never() {
                        Some(permit) => permit,
                        None => {
                            // Its lane waits (paused, at its limit or rate,
                            // or the global cap is taken): other lanes go on,
                            // unless no permit is free for anyone.
                            permits.lanes.insert(lane.clone());
                            permits
                                .waits
                                .push(Box::pin(async move { (lane, acquire.await) }));
                            parked.push(entry);
                            if self.ctx.free_permits() == 0 {
                                break;
                            }
                            continue;
                        }
                    }
                }
            };
            let grant = if node.claims.is_empty() {
                None
            } else {
                match self.graphs.resources().try_grant(&node.name, &node.claims) {
                    Ok(grant) => Some(grant),
                    Err(Refusal::Busy(ids)) => {
                        reserved.extend(ids);
                        parked.push(entry);
                        self.spare.insert(lane, permit);
                        continue;
                    }
                    Err(Refusal::Never(error)) => {
                        self.job.update_planned(|state, plan| {
                            // Lowered capacity: it could wait forever.
                            state.end_unrun(i, TaskStatus::Failed, TaskError::from_error(&error));
                            skip_downstream(state, plan, i);
                        });
                        self.spare.insert(lane, permit);
                        continue;
                    }
                }
            };
            if let Some(run) = self.launch(i, permit, grant) {
                running.push(run);
            }
        }
        for entry in parked {
            self.ready.put_back(entry);
        }
        // Nothing of their lane could start now: they go back to the others.
        self.spare.clear();
    }

    /// Register task `index`'s run and start it in a tokio task of its own
    /// with `permit` and `grant`; `None` if it was cancelled meanwhile. A
    /// task with a key ([`Task::key`](crate::Task::key)) that names a live
    /// or recent run follows that run instead of starting one (the key
    /// rules of every run); the permit and the grant go back at once.
    fn launch(
        &mut self,
        index: usize,
        permit: OwnedPermit,
        grant: Option<Grant>,
    ) -> Option<Joined> {
        let registry = self.ctx.registry();
        let owner = &self.owner;
        // Only an adopted graph has unprepared tasks: those that had ended
        // when it was adopted. One runs only after a retry, and is prepared
        // now (its program or action checked again), never run blind.
        let node = Arc::clone(self.job.plan().nodes.get(index)?);
        let prepared = match self.job.prepared(index) {
            Some(prepared) => Ok(prepared),
            None => runner::prepare(&self.ctx, Arc::clone(&node.task)),
        };
        let superseded = self.job.superseded();
        // Registered under the state lock, so a cancel sees either a task
        // not started or a task with its run.
        let admitted = self.job.update_planned(|state, plan| {
            if state.status(index) != TaskStatus::Ready {
                return None;
            }
            if let Err(error) = &prepared {
                state.end_unrun(index, TaskStatus::Failed, TaskError::from_error(error));
                skip_downstream(state, plan, index);
                return None;
            }
            // Journaled (without its task) with a store, so its history,
            // labels and output survive a restart; the graph, not the
            // launcher, decides whether it runs again.
            let admission = Admission::new(node.name.clone(), Pattern::Concurrent)
                .journal(Journal::Record)
                .job(node.task.job())
                .parent(Some(owner.token()));
            let admitted = match registry.admit_keyed(admission) {
                // A retry by hand of this very task runs again, as a rerun
                // does: its own old run must not answer for it.
                Keyed::Existing(old) if superseded.contains(&old.id()) => {
                    let admission = Admission::new(node.name.clone(), Pattern::Concurrent)
                        .journal(Journal::Record)
                        .job(node.task.job())
                        .parent(Some(owner.token()));
                    Keyed::New(registry.admit(admission))
                }
                other => other,
            };
            let record = match &admitted {
                Keyed::New(record) | Keyed::Existing(record) => record,
            };
            if let (Keyed::New(record), Some(correlation)) = (&admitted, self.job.correlation()) {
                record.correlate(correlation);
            }
            let task = &mut state.tasks[index];
            task.run = Some(record.id());
            task.started = Some(SystemTime::now());
            state.set_status(index, TaskStatus::Running);
            Some(admitted)
        })?;
        let record = match admitted {
            Keyed::New(record) => record,
            Keyed::Existing(record) => {
                drop((permit, grant));
                let handle = tokio::spawn(async move { follow(&record).await });
                return Some(Joined { index, handle });
            }
        };
        // Checked above, before the run was registered.
        let prepared = prepared.ok()?;
        let ctx = Arc::clone(&self.ctx);
        let owner = self.owner.clone();
        // Boxed inside the task, as in the batch driver: the run's future
        // is large, and tokio copies what it spawns.
        let handle = tokio::spawn(async move {
            let _held = grant;
            Box::pin(run_one(&ctx, &owner, record, &prepared, permit)).await
        });
        Some(Joined { index, handle })
    }

    /// A run's task ended: record it, then release or skip what depends
    /// on it.
    fn ended(&mut self, index: usize, joined: std::result::Result<Ran, JoinError>) {
        let ran = joined.unwrap_or_else(|join| Ran {
            result: Err(Error::actor_failed(
                self.job.actor(),
                format!("the run's task failed: {join}"),
            )),
            attempts: 0,
            duration: Duration::ZERO,
        });
        let status = TaskStatus::from(terminal_status(&ran.result));
        let job = Arc::clone(&self.job);
        let (waiting, ready) = (&mut self.waiting, &mut self.ready);
        job.update_planned(|state, plan| {
            if state.status(index) != TaskStatus::Running {
                // Already ended by the runtime stopping (see `finish`).
                return;
            }
            let task = &mut state.tasks[index];
            task.attempts = ran.attempts;
            task.duration = Some(ran.duration);
            match ran.result {
                Ok(out) => {
                    if !out.success() {
                        task.error = Some(Box::new(TaskError::from_output(&out)));
                    }
                    task.output = Some(Box::new(out));
                }
                Err(e) => task.error = Some(Box::new(TaskError::from_error(&e))),
            }
            state.set_status(index, status);
            if status != TaskStatus::Succeeded {
                skip_downstream(state, plan, index);
                return;
            }
            for &d in plan.dependents(index) {
                let d = d as usize;
                // A task added since the last count is counted by the
                // recount its add asked for.
                let Some(waits) = waiting.get_mut(d) else {
                    continue;
                };
                *waits = waits.saturating_sub(1);
                if *waits == 0 && state.status(d) == TaskStatus::Pending {
                    state.set_status(d, TaskStatus::Ready);
                    ready.push(d, plan.nodes[d].priority, state.tasks[d].ready_seq);
                }
            }
        });
        // Journaled above with its sizes; from now on the bytes live only
        // in the run's record, under the output budget (see `state.rs`).
        self.job.release_output(index);
    }

    /// Stop early: no new starts, and every run in flight is stopped with
    /// the incarnation's reason.
    fn stop(&mut self) {
        let reason = self.incarnation.reason();
        tracing::debug!(graph = self.job.id(), %reason, "graph driver stopping");
        self.owner.stop(reason.clone());
        self.stopping = Some(reason);
        self.spare.clear();
        self.watches = FuturesUnordered::new();
    }

    fn stop_deadline(&self) -> Instant {
        let grace = self.ctx.limits().process.kill_grace;
        crate::duration::after(Instant::now(), grace.saturating_add(Duration::from_secs(1)))
    }

    /// After the loop: finish the graph, or give it back for the next
    /// incarnation.
    fn finish(self) {
        if let Some(reason) = &self.stopping {
            // Runs that did not end within the bound: stopped, not waited
            // for; they record their own outcome in the registry.
            self.job.update_planned(|state, plan| {
                for i in 0..state.tasks.len() {
                    if state.status(i) == TaskStatus::Running {
                        state.tasks[i].error = Some(Box::new(TaskError::from_error(reason)));
                        state.set_status(i, TaskStatus::Interrupted);
                        skip_downstream(state, plan, i);
                    }
                }
            });
        }
        if !self.job.is_finished() {
            if self.ctx.shutdown().is_closing() {
                let reason = self.stopping.clone().unwrap_or(Error::ShuttingDown);
                self.job.interrupt_unfinished(&reason);
            } else {
                // The incarnation died and the runtime goes on.
                hand_back(&self.ctx, Arc::clone(&self.graphs), Arc::clone(&self.job));
                return;
            }
        }
        if !self.job.close_if_finished(&self.graphs) {
            // Reopened by a retry after all: the next driver takes it.
            hand_back(&self.ctx, Arc::clone(&self.graphs), Arc::clone(&self.job));
        }
    }
}

/// Skip every task downstream of `root` that has not started, naming the
/// task the failure comes from (`root`, or what `root` was skipped for).
pub(super) fn skip_downstream(state: &mut GraphState, plan: &Plan, root: usize) {
    let status = state.status(root);
    let cause = state.tasks[root]
        .error
        .as_ref()
        .and_then(|e| e.cause)
        .and_then(|key| plan.index(key))
        .filter(|_| status == TaskStatus::Skipped)
        .unwrap_or(root);
    let why = TaskError::skipped(
        plan.key(cause),
        &plan.nodes[cause].name,
        state.status(cause),
    );
    let mut stack: Vec<usize> = plan.dependents(root).iter().map(|&d| d as usize).collect();
    while let Some(i) = stack.pop() {
        if state.end_unrun(i, TaskStatus::Skipped, why.clone()) {
            stack.extend(plan.dependents(i).iter().map(|&d| d as usize));
        }
    }
}

/// A task that follows another's run (its key named a live or recent
/// run): that run's end, as if it were the task's own.
async fn follow(record: &RunRecord) -> Ran {
    let started = Instant::now();
    let result = record.wait().await;
    let (attempts, duration) = match &result {
        Ok(out) => (out.attempts, out.duration),
        Err(_) => (record.info().attempts, started.elapsed()),
    };
    Ran {
        result,
        attempts,
        duration,
    }
}

/// One task's run, from its held permit to its terminal status.
async fn run_one(
    ctx: &Context,
    owner: &Owner,
    record: Arc<RunRecord>,
    prepared: &Prepared,
    permit: OwnedPermit,
) -> Ran {
    let started = Instant::now();
    // A panic inside is the runner's to catch: it ends the run
    // `RunPanicked` and returns that.
    let result = runner::execute_holding(ctx, &record, prepared, owner, permit).await;
    let (attempts, duration) = match &result {
        Ok(out) => (out.attempts, out.duration),
        Err(_) => (record.info().attempts, started.elapsed()),
    };
    Ran {
        result,
        attempts,
        duration,
    }
}

/// A run's join handle, tagged with its task index.
struct Joined {
    index: usize,
    handle: JoinHandle<Ran>,
}

impl Future for Joined {
    type Output = (usize, std::result::Result<Ran, JoinError>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let index = self.index;
        // `JoinHandle` is `Unpin`.
        Pin::new(&mut self.handle)
            .poll(cx)
            .map(|result| (index, result))
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
