//! The driver of one graph: one tokio task, owned by the batch
//! coordinator incarnation that accepted (or adopted) the graph, that
//! starts ready tasks as permits and resources allow and records every
//! outcome in the graph's shared state.
//!
//! # One round of starts
//! While the graph is under its limit and a task is ready, the driver
//! takes an execution permit under the runtime-wide cap itself (waiting for
//! one in its `select!` if none is free), then picks the most urgent ready
//! task whose claims can all be granted at once, and hands the task, the
//! permit and the grant to a tokio task of its own. Taking the permit first is
//! what makes priorities hold under the global cap: tasks start in the
//! driver's order, not in whatever order their tokio tasks would reach the
//! semaphore. A task blocked on a busy resource reserves it for the rest
//! of the round, so lower-priority tasks pass it only if they do not need
//! what it waits for (a writer is not starved by a stream of readers).
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

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use super::job::{GraphJob, GraphTable};
use super::plan::Plan;
use super::ready::{Entry, ReadyQueue};
use super::resource::{Grant, Refusal, ResourceId};
use super::state::{GraphState, TaskError, TaskStatus};
use crate::context::{Context, OwnedPermit};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::pattern::Pattern;
use crate::registry::{Admission, Journal, RunRecord, terminal_status};
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

type PermitWait = Option<Pin<Box<dyn Future<Output = OwnedPermit> + Send>>>;

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
    prepared: Arc<[Option<Prepared>]>,
    /// Per task: dependencies that have not succeeded yet.
    waiting: Vec<u32>,
    ready: ReadyQueue,
    /// A permit taken but not used yet.
    spare: Option<OwnedPermit>,
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
        let n = job.plan().len();
        let owner = Owner::new(job.actor(), ctx.shutdown().root());
        Driver {
            _stop_runs_on_drop: owner.guard(),
            owner,
            prepared: job.prepared(),
            waiting: vec![0; n],
            ready: ReadyQueue::new(job.plan().aging),
            spare: None,
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
        let uses_resources = job.plan().uses_resources;
        let incarnation = self.incarnation.token().clone();
        let mut dead = pin!(incarnation.cancelled());
        let mut running: FuturesUnordered<Joined> = FuturesUnordered::new();
        let mut permit_wait: PermitWait = None;
        let mut stop_deadline: Option<Instant> = None;

        loop {
            // Registered before looking, so a release or a cancel that
            // happens during the round wakes the `select!` below.
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
                permit_wait = None;
                stop_deadline = Some(self.stop_deadline());
            }
            let closing = self.ctx.shutdown().is_closing();
            if self.stopping.is_none() && !closing {
                self.start_ready(&mut running, &mut permit_wait);
            }
            if running.is_empty() && (job.is_finished() || self.stopping.is_some() || closing) {
                if self.stopping.is_some() || closing || job.close_if_finished(&self.graphs) {
                    break;
                }
                // A retry reopened the graph meanwhile: drive on (its
                // recount is pending).
                continue;
            }
            tokio::select! {
                biased;
                _ = &mut dead, if self.stopping.is_none() => {
                    self.stop();
                    permit_wait = None;
                    stop_deadline = Some(self.stop_deadline());
                }
                _ = sleep_until(stop_deadline) => break,
                Some((index, ran)) = running.next() => self.ended(index, ran),
                permit = next_permit(&mut permit_wait) => self.spare = Some(permit),
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
        let plan = self.job.plan();
        let actor = self.job.actor();
        let (waiting, ready) = (&mut self.waiting, &mut self.ready);
        self.job.update(|state| {
            for i in 0..plan.len() {
                if state.status(i) == TaskStatus::Running {
                    // The previous driver ends its runs before it lets go;
                    // never start such a task twice.
                    let error = Error::actor_failed(actor, "the coordinator stopped while it ran");
                    state.tasks[i].error = Some(Box::new(TaskError::from_error(&error)));
                    state.set_status(i, TaskStatus::Interrupted);
                }
            }
            for i in 0..plan.len() {
                let status = state.status(i);
                if status.is_terminal() && status != TaskStatus::Succeeded {
                    skip_downstream(state, plan, i);
                }
            }
            for (i, waits) in waiting.iter_mut().enumerate() {
                *waits = plan
                    .deps(i)
                    .iter()
                    .filter(|&&d| state.status(d as usize) != TaskStatus::Succeeded)
                    .count() as u32;
                match state.status(i) {
                    TaskStatus::Pending if *waits == 0 => {
                        state.set_status(i, TaskStatus::Ready);
                        ready.push(i, plan.nodes[i].priority, state.tasks[i].ready_seq);
                    }
                    TaskStatus::Ready => {
                        ready.push(i, plan.nodes[i].priority, state.tasks[i].ready_seq)
                    }
                    _ => {}
                }
            }
        });
    }

    /// After a retry reset tasks to `Pending` (see `job/retry.rs`): what
    /// each task waits for, counted again; tasks with nothing left to wait
    /// for become ready.
    fn recount(&mut self) {
        let plan = self.job.plan();
        let (waiting, ready) = (&mut self.waiting, &mut self.ready);
        self.job.update(|state| {
            for (i, waits) in waiting.iter_mut().enumerate() {
                *waits = plan
                    .deps(i)
                    .iter()
                    .filter(|&&d| state.status(d as usize) != TaskStatus::Succeeded)
                    .count() as u32;
                if *waits == 0 && state.status(i) == TaskStatus::Pending {
                    state.set_status(i, TaskStatus::Ready);
                    ready.push(i, plan.nodes[i].priority, state.tasks[i].ready_seq);
                }
            }
        });
    }

    /// One round of starts (see the module docs).
    fn start_ready(
        &mut self,
        running: &mut FuturesUnordered<Joined>,
        permit_wait: &mut PermitWait,
    ) {
        let limit = self.job.plan().limit;
        let mut parked = Vec::new();
        let mut reserved = Vec::new();
        while running.len() < limit && !self.ready.is_empty() {
            let permit = match self
                .spare
                .take()
                .or_else(|| self.ctx.try_owned_execution_permit())
            {
                Some(permit) => permit,
                None => {
                    if permit_wait.is_none() {
                        *permit_wait =
                            Some(Box::pin(Arc::clone(&self.ctx).owned_execution_permit()));
                    }
                    break;
                }
            };
            let Some((index, grant)) = self.pick(&mut parked, &mut reserved) else {
                // Nothing can start now: the permit goes back to the others.
                break;
            };
            if let Some(run) = self.launch(index, permit, grant) {
                running.push(run);
            }
        }
        for entry in parked {
            self.ready.put_back(entry);
        }
    }

    /// The most urgent ready task whose claims are granted now.
    fn pick(
        &mut self,
        parked: &mut Vec<Entry>,
        reserved: &mut Vec<ResourceId>,
    ) -> Option<(usize, Option<Grant>)> {
        let job = Arc::clone(&self.job);
        let plan = job.plan();
        while let Some(entry) = self.ready.pop() {
            let i = entry.index();
            // Cancelled by the caller since it was queued.
            if job.read(|state| state.status(i)) != TaskStatus::Ready {
                continue;
            }
            let node = &plan.nodes[i];
            if node.claims.is_empty() {
                return Some((i, None));
            }
            if node.claims.iter().any(|c| reserved.contains(c.id())) {
                parked.push(entry);
                continue;
            }
            match self.graphs.resources().try_grant(&node.name, &node.claims) {
                Ok(grant) => return Some((i, Some(grant))),
                Err(Refusal::Busy(ids)) => {
                    reserved.extend(ids);
                    parked.push(entry);
                }
                Err(Refusal::Never(error)) => self.job.update(|state| {
                    // Lowered capacity: it could wait forever.
                    state.end_unrun(i, TaskStatus::Failed, TaskError::from_error(&error));
                    skip_downstream(state, plan, i);
                }),
            }
        }
        None
    }

    /// Register task `index`'s run and start it in a tokio task of its own
    /// with `permit` and `grant`; `None` if it was cancelled meanwhile.
    fn launch(
        &mut self,
        index: usize,
        permit: OwnedPermit,
        grant: Option<Grant>,
    ) -> Option<Joined> {
        let plan = self.job.plan();
        let node = &plan.nodes[index];
        let registry = self.ctx.registry();
        let owner = &self.owner;
        // Only an adopted graph has unprepared tasks: those that had ended
        // when it was adopted. One runs only after a retry, and is prepared
        // now (its program or action checked again), never run blind.
        let prepared = match &self.prepared[index] {
            Some(prepared) => Ok(prepared.clone()),
            None => runner::prepare(&self.ctx, Arc::clone(&node.task)),
        };
        // Registered under the state lock, so a cancel sees either a task
        // not started or a task with its run.
        let record = self.job.update(|state| {
            if state.status(index) != TaskStatus::Ready {
                return None;
            }
            if let Err(error) = &prepared {
                state.end_unrun(index, TaskStatus::Failed, TaskError::from_error(error));
                skip_downstream(state, plan, index);
                return None;
            }
            // Journaled (without its task) with a store, so its history
            // and output survive a restart; the graph, not the launcher,
            // decides whether it runs again.
            let record = registry.admit(
                Admission::new(node.name.clone(), Pattern::Concurrent)
                    .journal(Journal::Record)
                    .parent(Some(owner.token())),
            );
            if let Some(correlation) = self.job.correlation() {
                record.correlate(correlation);
            }
            let task = &mut state.tasks[index];
            task.run = Some(record.id());
            task.started = Some(SystemTime::now());
            state.set_status(index, TaskStatus::Running);
            Some(record)
        })?;
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
        let plan = self.job.plan();
        let (waiting, ready) = (&mut self.waiting, &mut self.ready);
        self.job.update(|state| {
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
                waiting[d] -= 1;
                if waiting[d] == 0 && state.status(d) == TaskStatus::Pending {
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
        self.spare = None;
    }

    fn stop_deadline(&self) -> Instant {
        let grace = self.ctx.limits().process.kill_grace;
        crate::duration::after(Instant::now(), grace.saturating_add(Duration::from_secs(1)))
    }

    /// After the loop: finish the graph, or give it back for the next
    /// incarnation.
    fn finish(self) {
        let plan = self.job.plan();
        if let Some(reason) = &self.stopping {
            // Runs that did not end within the bound: stopped, not waited
            // for; they record their own outcome in the registry.
            self.job.update(|state| {
                for i in 0..plan.len() {
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

/// The permit being waited for, if any; never resolves otherwise.
async fn next_permit(wait: &mut PermitWait) -> OwnedPermit {
    let permit = match wait.as_mut() {
        Some(waiting) => waiting.await,
        None => std::future::pending().await,
    };
    *wait = None;
    permit
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
