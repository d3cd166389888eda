//! A submitted graph: the [`GraphJob`] its handle and its driver share
//! (plan, state, prepared tasks, the driver lease), and the runtime's
//! [`GraphTable`] of graphs in flight, from which a restarted coordinator
//! adopts them.
//!
//! # The driver lease
//! At most one driver drives a graph at a time. A driver takes the lease
//! before touching the graph and gives it back when its coordinator
//! incarnation dies (after it has ended its runs); the next incarnation's
//! driver, waiting for the lease, then carries on from the state. When no
//! next incarnation will come (the supervisor gave up on the coordinator,
//! or the runtime stopped), the caretaker left behind by the last driver
//! ends the graph's unfinished tasks `Interrupted`, so no waiter is left
//! hanging.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::handle::GraphRun;
use super::names::Names;
use super::plan::{External, Plan};
use super::resource::ResourceTable;
use super::spec::TaskGraph;
use super::state::{GraphState, TaskError, TaskStatus};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::registry::Registry;
use crate::runner::{self, Prepared};
use crate::trace::Correlation;

mod grow;
mod retry;

/// What a graph needs of the actor that drives it (the batch coordinator,
/// which implements this for its slot): the graph engine sits below that
/// actor and must not import it.
pub trait Coordinator: Send + Sync + 'static {
    /// The actor's name (in errors, and as the owner of the graph's runs).
    fn name(&self) -> &'static str;
    /// Resolves once no incarnation will come back (given up on, or
    /// stopped), with the error its callers get from then on.
    fn gone(&self) -> BoxFuture<'_, Error>;
    /// Hand `job` to the current incarnation to accept and drive.
    fn start(&self, job: Arc<GraphJob>) -> BoxFuture<'_, Result<()>>;
}

/// Who drives the graph (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lease {
    /// Nobody: waiting for a (next) driver.
    Free,
    /// A driver has it.
    Held,
    /// The graph is finished; nobody will drive it again.
    Done,
}

/// A checked graph and its progress, shared by the caller's
/// [`GraphRun`] and the driver that runs it. Built by [`GraphJob::new`];
/// sent to the batch coordinator (its `StartGraph` message).
pub struct GraphJob {
    /// Swapped, under the state lock, when the graph grows (see
    /// `plan.rs`): read it under that lock ([`update_planned`]) wherever
    /// the state and the plan must agree on the tasks.
    ///
    /// [`update_planned`]: GraphJob::update_planned
    plan: RwLock<Arc<Plan>>,
    /// The graph's id and name (neither changes as it grows).
    id: u64,
    graph_name: Option<String>,
    /// The tasks' names, for handles to lend out.
    names: Names,
    state: Mutex<GraphState>,
    /// Woken when the graph finishes.
    done: Notify,
    /// Woken when the handle changed the state (a cancel), so the driver
    /// looks again.
    poke: Notify,
    /// Woken when a task started or ended: graphs with a task that waits
    /// on one of this graph's watch it.
    progress: Notify,
    lease: Mutex<Lease>,
    lease_changed: Notify,
    /// Set by the coordinator that accepted the graph.
    accepted: AtomicBool,
    /// Every task, checked and resolved at submit or add. `None` only in
    /// an adopted graph, for a task that will not run (it had ended, or
    /// could not be prepared again and ended `Failed`). Grows with the
    /// graph.
    prepared: Mutex<Vec<Option<Prepared>>>,
    /// The runtime and its graph table, once the coordinator accepted the
    /// graph: what an add checks its tasks against. Weak: the table keeps
    /// jobs, and a handle must not keep a stopped runtime alive.
    runtime: OnceLock<(Weak<Context>, Weak<GraphTable>)>,
    /// Held by an add from its check to its swap (see `job/grow.rs`).
    growing: Mutex<()>,
    /// Runs of tasks a retry by hand reset: a keyed task retried must not
    /// be answered by its own old run (see the driver's `launch`).
    superseded: Mutex<Vec<crate::run::RunId>>,
    registry: Arc<Registry>,
    /// The coordinator: tells the caretaker when no incarnation will come
    /// back.
    coordinator: Arc<dyn Coordinator>,
    submitted: Instant,
    /// When the graph finished; cleared when a retry reopens it.
    finished: Mutex<Option<Instant>>,
    /// Set by a retry: the driver recounts what each task waits for.
    recount: AtomicBool,
    /// Set by a retry that reopened a finished graph: the coordinator
    /// takes the graph again without checking its tasks a second time.
    reopened: AtomicBool,
    /// The request that submitted the graph: every task's run carries it
    /// (trace, `TRACEPARENT`).
    correlation: OnceLock<Correlation>,
    /// The graph's key in the durable store; `None` without a store (then
    /// nothing is journaled). See `graph/durable.rs`.
    pub(super) store_key: Option<[u8; 16]>,
    /// Adopted from the store after a restart (its definition is stored).
    pub(crate) resumed: bool,
}

impl std::fmt::Debug for GraphJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphJob")
            .field("graph", &self.id())
            .field("stats", &self.state.lock().stats)
            .finish_non_exhaustive()
    }
}

impl GraphJob {
    /// Check `graph` and build the job and the caller's handle to it. The
    /// tasks themselves (programs, actions, claims) are checked when the
    /// coordinator accepts the job.
    ///
    /// # Errors
    /// As the graph's checks: `InvalidTask`, `DuplicateTask`,
    /// `UnknownDependency`, `DependencyCycle`.
    pub fn new(
        graph: TaskGraph,
        registry: Arc<Registry>,
        coordinator: impl Coordinator,
    ) -> Result<(Arc<GraphJob>, GraphRun)> {
        let plan = Plan::build(graph)?;
        let state = GraphState::new(plan.len());
        // A UUIDv7, as run ids are: time ordered, so store retention
        // evicts the oldest graphs first.
        let store_key = registry
            .store()
            .is_enabled()
            .then(|| *crate::run::RunId::new().as_bytes());
        Ok(GraphJob::assemble(
            plan,
            state,
            registry,
            Arc::new(coordinator),
            store_key,
            false,
        ))
    }

    /// The job and its handle, from their parts.
    pub(super) fn assemble(
        plan: Plan,
        state: GraphState,
        registry: Arc<Registry>,
        coordinator: Arc<dyn Coordinator>,
        store_key: Option<[u8; 16]>,
        resumed: bool,
    ) -> (Arc<GraphJob>, GraphRun) {
        let names = Names::default();
        for (i, node) in plan.nodes.iter().enumerate() {
            names.set(i, &node.name);
        }
        let job = Arc::new(GraphJob {
            id: plan.graph,
            graph_name: plan.name.clone(),
            plan: RwLock::new(Arc::new(plan)),
            names,
            state: Mutex::new(state),
            done: Notify::new(),
            poke: Notify::new(),
            progress: Notify::new(),
            lease: Mutex::new(Lease::Free),
            lease_changed: Notify::new(),
            accepted: AtomicBool::new(false),
            prepared: Mutex::new(Vec::new()),
            runtime: OnceLock::new(),
            growing: Mutex::new(()),
            superseded: Mutex::new(Vec::new()),
            registry,
            coordinator,
            submitted: Instant::now(),
            finished: Mutex::new(None),
            recount: AtomicBool::new(false),
            reopened: AtomicBool::new(false),
            correlation: OnceLock::new(),
            store_key,
            resumed,
        });
        let run = GraphRun::new(Arc::clone(&job));
        (job, run)
    }

    /// The name of the actor that drives the graph.
    pub(crate) fn actor(&self) -> &'static str {
        self.coordinator.name()
    }

    /// The actor that drives the graph.
    pub(super) fn coordinator(&self) -> &Arc<dyn Coordinator> {
        &self.coordinator
    }

    /// The graph's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The graph's name, if it was given one.
    pub(crate) fn graph_name(&self) -> Option<&str> {
        self.graph_name.as_deref()
    }

    /// The name of task `i`.
    pub(crate) fn task_name(&self, i: usize) -> Option<&str> {
        self.names.get(i)
    }

    /// The graph's store key (`None` without a store).
    pub(crate) fn store_key(&self) -> Option<[u8; 16]> {
        self.store_key
    }

    /// A handle to the graph.
    pub fn handle(self: &Arc<Self>) -> GraphRun {
        GraphRun::new(Arc::clone(self))
    }

    /// Note the request that submitted the graph (the first one: a
    /// re-delivered request keeps the original's).
    pub(crate) fn correlate(&self, correlation: Correlation) {
        let _ = self.correlation.set(correlation);
    }

    /// The request that submitted the graph, once accepted.
    pub(crate) fn correlation(&self) -> Option<Correlation> {
        self.correlation.get().copied()
    }

    /// The plan as it is now (a graph that grows gets a new one; see
    /// `plan.rs`).
    pub(crate) fn plan(&self) -> Arc<Plan> {
        Arc::clone(&self.plan.read())
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Read the state.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&GraphState) -> R) -> R {
        f(&self.state.lock())
    }

    /// Read the state with the plan that matches it (taken under the
    /// state lock, which a graph that grows holds while it swaps plans).
    pub(crate) fn read_planned<R>(&self, f: impl FnOnce(&GraphState, &Plan) -> R) -> R {
        let state = self.state.lock();
        let plan = self.plan();
        f(&state, &plan)
    }

    /// [`update`](Self::update) with the plan that matches the state (see
    /// [`read_planned`](Self::read_planned)).
    pub(crate) fn update_planned<R>(&self, f: impl FnOnce(&mut GraphState, &Plan) -> R) -> R {
        self.update(|state| {
            let plan = self.plan();
            f(state, &plan)
        })
    }

    /// Change the state; wakes the waiters when this change finished the
    /// graph.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut GraphState) -> R) -> R {
        let (result, finished) = {
            let mut state = self.state.lock();
            let result = f(&mut state);
            let finished = state.stats.is_finished();
            if !state.changed.is_empty() {
                self.progress.notify_waiters();
            }
            // Journaled under the lock, so the store sees a graph's changes
            // in the order they happened.
            self.journal_changes(&mut state);
            (result, finished)
        };
        if finished && self.mark_finished() {
            self.journal_finished();
            self.done.notify_waiters();
        }
        result
    }

    /// Let go of task `i`'s captured bytes: its run's record keeps them,
    /// under the output budget (see `state.rs`).
    pub(crate) fn release_output(&self, i: usize) {
        if let Some(out) = self.state.lock().tasks[i].output.as_deref_mut() {
            out.release_bytes();
        }
    }

    /// `kept`, a task's output without its bytes, with the bytes its run's
    /// record still holds (with a store, also a record the registry has
    /// forgotten); as it is when nothing holds them any more.
    pub(crate) fn with_bytes(&self, run: Option<crate::run::RunId>, kept: &mut Output) {
        let Some(run) = run else {
            return;
        };
        if let Some(Ok(out)) = self.registry.get(run).and_then(|r| r.outcome())
            && out.run_id == kept.run_id
        {
            *kept = out;
        }
    }

    /// Note the finish; `false` if it was already noted.
    fn mark_finished(&self) -> bool {
        let mut finished = self.finished.lock();
        if finished.is_some() {
            return false;
        }
        *finished = Some(Instant::now());
        true
    }

    /// Whether every task is in a terminal status.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.lock().is_some()
    }

    /// From submit to finish (or to now, while it runs).
    pub(crate) fn elapsed(&self) -> Duration {
        self.finished
            .lock()
            .unwrap_or_else(Instant::now)
            .duration_since(self.submitted)
    }

    pub(crate) fn done(&self) -> &Notify {
        &self.done
    }

    pub(crate) fn poke(&self) -> &Notify {
        &self.poke
    }

    pub(crate) fn progress(&self) -> &Notify {
        &self.progress
    }

    /// Take the job for the coordinator: check and resolve every task
    /// (program, action, claims). Refuses a job already accepted.
    pub(crate) fn accept(&self, ctx: &Arc<Context>, graphs: &Arc<GraphTable>) -> Result<()> {
        if self.accepted.swap(true, Ordering::AcqRel) {
            // A graph a retry reopened: its tasks were checked when it was
            // first accepted (see `retry`).
            if self.reopened.swap(false, Ordering::AcqRel) {
                return Ok(());
            }
            // Only a request delivered twice could get here, and requests
            // are re-sent only when never handled.
            return Err(Error::InvalidTask("this graph was already started".into()));
        }
        let checked = self.prepare(ctx, graphs);
        if checked.is_err() {
            self.accepted.store(false, Ordering::Release);
        }
        checked
    }

    /// Note the runtime the graph runs in (what an add checks its tasks
    /// against); the first call wins.
    pub(super) fn attach(&self, ctx: &Arc<Context>, graphs: &Arc<GraphTable>) {
        let _ = self
            .runtime
            .set((Arc::downgrade(ctx), Arc::downgrade(graphs)));
    }

    fn prepare(&self, ctx: &Arc<Context>, graphs: &Arc<GraphTable>) -> Result<()> {
        self.attach(ctx, graphs);
        let plan = self.plan();
        if self.resumed {
            // Its tasks were checked when it was first submitted.
            let prepared = self.prepare_adopted(ctx);
            *self.prepared.lock() = prepared;
            return Ok(());
        }
        let prepared = prepare_nodes(ctx, graphs, &plan, 0)?;
        // Set once: `accepted` lets only one caller get here.
        *self.prepared.lock() = prepared;
        // Durable before `Graphs::start` answers (the coordinator answers
        // once the store has committed it).
        self.journal_definition(graphs);
        if plan.len() == 0 {
            // Nothing to run: finished on arrival.
            self.update(|_| ());
        }
        Ok(())
    }

    /// Runs a retry by hand replaced (see the field).
    pub(crate) fn superseded(&self) -> Vec<crate::run::RunId> {
        self.superseded.lock().clone()
    }

    /// Task `i`, as checked at submit or add (`None`: see the field).
    pub(crate) fn prepared(&self, i: usize) -> Option<Prepared> {
        self.prepared.lock().get(i).cloned().flatten()
    }

    /// Wait for the lease; `false` once the graph is done (nothing to
    /// drive).
    ///
    /// # Cancel safety
    /// Cancel safe: a waiter that gives up holds nothing.
    pub(crate) async fn acquire_lease(&self) -> bool {
        loop {
            let changed = self.lease_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut lease = self.lease.lock();
                match *lease {
                    Lease::Free => {
                        *lease = Lease::Held;
                        return true;
                    }
                    Lease::Done => return false,
                    Lease::Held => {}
                }
            }
            changed.await;
        }
    }

    /// Take the lease only if nobody holds it.
    pub(crate) fn try_acquire_lease(&self) -> bool {
        let mut lease = self.lease.lock();
        if *lease == Lease::Free {
            *lease = Lease::Held;
            true
        } else {
            false
        }
    }

    /// Give the lease back for a next driver.
    pub(crate) fn release_lease(&self) {
        {
            let mut lease = self.lease.lock();
            if *lease == Lease::Held {
                *lease = Lease::Free;
            }
        }
        self.lease_changed.notify_waiters();
    }

    /// The graph is done: no driver will take it again.
    pub(crate) fn close_lease(&self) {
        *self.lease.lock() = Lease::Done;
        self.lease_changed.notify_waiters();
    }

    /// Wait until a driver took the lease or the graph is done.
    async fn lease_taken(&self) {
        loop {
            let changed = self.lease_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if *self.lease.lock() != Lease::Free {
                return;
            }
            changed.await;
        }
    }

    /// End every unfinished task `Interrupted` with `reason` (the runtime
    /// is stopping, or no coordinator will drive the graph again).
    pub(crate) fn interrupt_unfinished(&self, reason: &Error) {
        self.update(|state| {
            for i in 0..state.tasks.len() {
                match state.status(i) {
                    TaskStatus::Pending | TaskStatus::Ready => {
                        state.end_unrun(i, TaskStatus::Interrupted, TaskError::from_error(reason));
                    }
                    TaskStatus::Running => {
                        // Its run did not end in time; it is stopped and
                        // records its own outcome in the registry.
                        state.tasks[i].error = Some(Box::new(TaskError::from_error(reason)));
                        state.set_status(i, TaskStatus::Interrupted);
                    }
                    _ => {}
                }
            }
        });
    }

    /// Left behind by a driver that gave the graph back: if no coordinator
    /// will take it (given up on, or stopped), end it here.
    pub(crate) async fn caretake(self: Arc<Self>, graphs: Arc<GraphTable>) {
        tokio::select! {
            _ = self.lease_taken() => {}
            gone = self.coordinator.gone() => {
                if self.try_acquire_lease() {
                    self.interrupt_unfinished(&gone);
                    self.close_lease();
                    graphs.remove(self.id());
                }
            }
        }
    }
}

/// Check and resolve the tasks of `plan` from index `from` on: claims,
/// program or action, and their dependencies outside the graph (see
/// [`check_external`]).
pub(super) fn prepare_nodes(
    ctx: &Context,
    graphs: &GraphTable,
    plan: &Plan,
    from: usize,
) -> Result<Vec<Option<Prepared>>> {
    let resources = graphs.resources();
    let mut prepared = Vec::with_capacity(plan.len().saturating_sub(from));
    for node in plan.nodes.iter().skip(from) {
        resources.check(&node.name, &node.claims)?;
        for external in node.externals.iter() {
            check_external(ctx, graphs, &node.name, *external)?;
        }
        let task = runner::prepare(ctx, Arc::clone(&node.task)).map_err(|e| match e {
            Error::InvalidTask(why) => {
                Error::InvalidTask(format!("graph task {:?}: {why}", node.name))
            }
            other => other,
        })?;
        prepared.push(Some(task));
    }
    Ok(prepared)
}

/// `Ok` if `external`, a dependency of task `task`, names something the
/// runtime knows: a run in the registry or the store, a task of a graph
/// in flight, adopted, or still held by a handle.
///
/// # Errors
/// `UnknownRunDependency` for a run; `UnknownDependency` for a key.
fn check_external(
    ctx: &Context,
    graphs: &GraphTable,
    task: &str,
    external: External,
) -> Result<()> {
    match external {
        External::Run(run) => {
            let known = ctx.registry().get(run).is_some() || ctx.store().stored_run(run).is_some();
            if !known {
                return Err(Error::UnknownRunDependency {
                    task: task.to_string(),
                    run,
                });
            }
        }
        External::Task(key) => {
            let known = graphs
                .lookup(key.graph())
                .is_some_and(|other| key.index() < other.plan().len());
            if !known {
                return Err(Error::UnknownDependency {
                    task: task.to_string(),
                    dependency: key,
                });
            }
        }
        // Stored ones come from a definition that was checked.
        External::Stored { .. } => {}
    }
    Ok(())
}

/// Task graphs in flight and the resource table of one runtime (see the
/// module docs). Held by the batch coordinator's arguments and the facade,
/// outside the coordinator (not in the [`Context`]: it is one actor's state).
#[derive(Debug, Default)]
pub struct GraphTable {
    active: Mutex<HashMap<u64, Arc<GraphJob>>>,
    /// Graphs adopted from the durable store at start, kept after they
    /// finish so the caller can still find them (`orch.graphs().find`).
    adopted: Mutex<Vec<Arc<GraphJob>>>,
    /// Every graph accepted here, while anything holds it (a handle, a
    /// driver): so a task can depend on a task of a graph that finished
    /// (`GraphTask::after`). Dead entries are swept as the map grows.
    known: Mutex<HashMap<u64, Weak<GraphJob>>>,
    resources: Arc<ResourceTable>,
}

impl GraphTable {
    /// The resource table shared by every graph.
    pub fn resources(&self) -> &Arc<ResourceTable> {
        &self.resources
    }

    /// Graphs not finished yet.
    pub fn active(&self) -> Vec<Arc<GraphJob>> {
        self.active.lock().values().cloned().collect()
    }

    /// Number of graphs not finished yet.
    pub fn len(&self) -> usize {
        self.active.lock().len()
    }

    /// Whether no graph is in flight.
    pub fn is_empty(&self) -> bool {
        self.active.lock().is_empty()
    }

    pub(crate) fn insert(&self, job: Arc<GraphJob>) {
        {
            let mut known = self.known.lock();
            // Swept when it doubles since the last sweep, so the sweeps cost
            // O(1) per insert over time.
            if known.len() >= 64 && known.len().is_power_of_two() {
                known.retain(|_, job| job.strong_count() > 0);
            }
            known.insert(job.id(), Arc::downgrade(&job));
        }
        self.active.lock().insert(job.id(), job);
    }

    /// The graph `id`, as [`find`](Self::find) finds it, or finished but
    /// still held by someone (a handle).
    pub(crate) fn lookup(&self, id: u64) -> Option<Arc<GraphJob>> {
        self.find(id)
            .or_else(|| self.known.lock().get(&id).and_then(Weak::upgrade))
    }

    /// The graph whose store key is `key`, in flight or adopted.
    pub(crate) fn by_store_key(&self, key: [u8; 16]) -> Option<Arc<GraphJob>> {
        if let Some(job) = self
            .active
            .lock()
            .values()
            .find(|j| j.store_key == Some(key))
        {
            return Some(Arc::clone(job));
        }
        self.adopted
            .lock()
            .iter()
            .find(|j| j.store_key == Some(key))
            .cloned()
    }

    /// The graph `id`: in flight, or adopted from the store at start.
    pub fn find(&self, id: u64) -> Option<Arc<GraphJob>> {
        if let Some(job) = self.active.lock().get(&id) {
            return Some(Arc::clone(job));
        }
        self.adopted.lock().iter().find(|j| j.id() == id).cloned()
    }

    /// Every graph in flight, and every graph adopted from the store at
    /// start (finished or not), each once, oldest first.
    pub fn all(&self) -> Vec<Arc<GraphJob>> {
        let mut all = self.adopted.lock().clone();
        for job in self.active.lock().values() {
            if !all.iter().any(|j| j.id() == job.id()) {
                all.push(Arc::clone(job));
            }
        }
        all.sort_by_key(|j| j.id());
        all
    }

    /// Keep `job`, adopted from the store, findable for the runtime's life
    /// (bounded: only what a start found).
    pub(crate) fn keep_adopted(&self, job: Arc<GraphJob>) {
        self.adopted.lock().push(job);
    }

    pub(crate) fn remove(&self, id: u64) {
        self.active.lock().remove(&id);
    }
}
