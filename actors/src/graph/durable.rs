//! Task graphs in the durable store: what a graph journals, and how a
//! start adopts the graphs a crash left unfinished.
//!
//! # What is journaled, and when
//! Without a store nothing here runs (a graph's `store_key` is `None`).
//! With one, through the store's group-commit writer:
//! - the definition (every task: name, `Task` with its timeout, retries
//!   and backoff, dependencies, priority, claims, tags, metadata; the
//!   limit and aging), when the coordinator accepts the graph, and again,
//!   whole, when it grows (`job/grow.rs`); `Graphs::start` and
//!   `GraphRun::add` answer only once it is committed. Beside it, in
//!   their own row (`graph_extras`), what the definition's format does
//!   not carry: the tasks' dependencies outside the graph (runs by id,
//!   other graphs' tasks by store key) and their tasks' job options
//!   (labels, key, priority, queue);
//! - every task's move to `Running` and to its terminal status (attempts,
//!   run id, times, outcome, error), under the graph's state lock, so in
//!   the order they happened. A task's `Running` record goes before its
//!   run's start, which the runner commits before any work starts: a
//!   crash never leaves a task that ran without a record saying so;
//! - the graph's end, after which a start no longer adopts it.
//!
//! # Adoption
//! A start hands each unfinished graph to [`adopt`]: the graph is rebuilt
//! from its definition under a new in-process id (graph ids are per
//! process), keeps its store key, and gets back its tasks' states.
//! Finished tasks keep their result and are not run again; a task found
//! `Running` (its run was cut short) ends `Interrupted` and its dependents
//! `Skipped`, as when a coordinator dies; the rest start when their
//! dependencies are satisfied. A graph with in-process action tasks still
//! to run waits (its tasks pending) until every such action is registered
//! again, as a resumed launched action does. A graceful shutdown ends a
//! graph's unfinished tasks `Interrupted`, with or without a store: only a
//! crash leaves a graph to adopt.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::driver::skip_downstream;
use super::handle::GraphRun;
use super::job::{Coordinator, GraphJob, GraphTable};
use super::plan::{External, Plan};
use super::resource::{Access, Resource, ResourceId, ResourceKind};
use super::spec::{GraphTask, TaskGraph, TaskKey};
use super::state::{GraphState, TaskError, TaskState, TaskStatus};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::pattern::Pattern;
use crate::runner::{self, Prepared};
use crate::store::{
    GraphExtrasRow, GraphRow, GraphTaskDef, GraphTaskExtras, GraphTaskRow, JobRow, Op, OutcomeRow,
    RunRow, StoredAccess, StoredExternal, StoredGraph, StoredResource, StoredResourceId,
    StoredResourceKind, StoredTaskStatus, micros, time,
};
use crate::task::TaskKind;

impl GraphJob {
    /// Journal the tasks that started or ended since the last change, and
    /// the graph's end (see the module docs). Called under the state lock.
    pub(super) fn journal_changes(&self, state: &mut GraphState) {
        if state.changed.is_empty() {
            return;
        }
        let Some(key) = self.store_key else {
            state.changed.clear();
            return;
        };
        let store = self.registry().store();
        let plan = self.plan();
        for i in state.changed.drain(..) {
            let task = &state.tasks[i as usize];
            store.journal(|| Op::GraphTask {
                key,
                index: i,
                row: Box::new(task_row(&plan, task)),
            });
        }
    }

    /// Journal that the graph finished (once).
    pub(super) fn journal_finished(&self) {
        if let Some(key) = self.store_key {
            self.registry()
                .store()
                .journal(|| Op::GraphFinished { key });
        }
    }

    /// Journal the definition of a graph just accepted or grown (then
    /// under the state lock), with its tasks' dependencies outside it
    /// (tasks of other graphs named by their store key, found in
    /// `graphs`).
    pub(super) fn journal_definition(&self, graphs: &GraphTable) {
        let Some(key) = self.store_key else {
            return;
        };
        let plan = self.plan();
        let store = self.registry().store();
        let extras: Vec<GraphTaskExtras> = plan
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| !node.externals.is_empty() || !node.task.job().is_empty())
            .map(|(i, node)| {
                let externals = node
                    .externals
                    .iter()
                    .filter_map(|external| match *external {
                        External::Run(run) => Some(StoredExternal::Run(run)),
                        External::Stored { graph, index } => {
                            Some(StoredExternal::Task { graph, index })
                        }
                        // Checked when it was accepted: the other graph is
                        // known, and with a store it has a store key.
                        External::Task(other) => graphs
                            .lookup(other.graph())
                            .and_then(|job| job.store_key())
                            .map(|graph| StoredExternal::Task {
                                graph,
                                index: other.index() as u32,
                            }),
                    })
                    .collect();
                let job = node.task.job();
                GraphTaskExtras {
                    index: i as u32,
                    externals,
                    job: (!job.is_empty()).then(|| JobRow::new(job, None, None)),
                }
            })
            .collect();
        if !extras.is_empty() {
            store.journal(|| Op::GraphExtras {
                key,
                row: Box::new(GraphExtrasRow { tasks: extras }),
            });
        }
        store.journal(|| Op::Graph {
            key,
            row: Box::new(GraphRow {
                name: plan.name.clone(),
                limit: plan.limit as u64,
                aging: plan.aging,
                submitted: micros(std::time::SystemTime::now()),
                tasks: (0..plan.len())
                    .map(|i| {
                        let node = &plan.nodes[i];
                        GraphTaskDef {
                            name: node.name.clone(),
                            task: (*node.task).clone(),
                            deps: plan.deps(i).to_vec(),
                            priority: node.priority.into(),
                            resources: node.claims.iter().map(StoredResource::from).collect(),
                            tags: node.tags.to_vec(),
                            metadata: node.metadata.to_string(),
                        }
                    })
                    .collect(),
            }),
        });
    }

    /// The tasks of an adopted graph, prepared again: `None` for a task
    /// that has ended; a task that can no longer be prepared (its program
    /// is gone) ends `Failed` here, as its submit would have, and its
    /// dependents `Skipped`.
    pub(super) fn prepare_adopted(&self, ctx: &Context) -> Vec<Option<Prepared>> {
        let plan = self.plan();
        let mut prepared = Vec::with_capacity(plan.len());
        for (i, node) in plan.nodes.iter().enumerate() {
            if self.read(|state| state.status(i).is_terminal()) {
                prepared.push(None);
                continue;
            }
            match runner::prepare(ctx, Arc::clone(&node.task)) {
                Ok(task) => prepared.push(Some(task)),
                Err(e) => {
                    self.update_planned(|state, plan| {
                        state.end_unrun(i, TaskStatus::Failed, TaskError::from_error(&e));
                        skip_downstream(state, plan, i);
                    });
                    prepared.push(None);
                }
            }
        }
        prepared
    }

    /// The actions the graph's unfinished tasks call.
    fn pending_actions(&self) -> BTreeSet<String> {
        let plan = self.plan();
        self.read(|state| {
            (0..plan.len())
                .filter(|&i| !state.status(i).is_terminal())
                .filter_map(|i| match plan.nodes[i].task.kind() {
                    TaskKind::Action { name, .. } => Some(name.clone()),
                    _ => None,
                })
                .collect()
        })
    }
}

/// A task's state as stored.
fn task_row(plan: &Plan, task: &TaskState) -> GraphTaskRow {
    let output = task.output.as_deref();
    GraphTaskRow {
        status: task.status.into(),
        attempts: task.attempts,
        run: task.run,
        started: task.started.map(micros),
        finished: task.finished.map(micros),
        duration_us: task
            .duration
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        outcome: output.map(OutcomeRow::from_output),
        exit_code: output.and_then(|out| out.exit_code),
        error: task.error.as_deref().map(|e| {
            (
                e.kind.clone(),
                e.message.clone(),
                e.cause.and_then(|k| plan.index(k)).map(|i| i as u32),
            )
        }),
    }
}

/// Adopt `stored`, an unfinished graph a start found (see the module
/// docs): rebuild it, settle its tasks, keep it findable in the runtime's
/// graph table `graphs`, and hand it to the batch coordinator `coordinator` once
/// the actions its tasks call are registered. Returns its handle.
///
/// # Errors
/// `Store` if the stored definition is not a valid graph any more (the
/// path is the store's).
pub(crate) fn adopt(
    ctx: &Arc<Context>,
    graphs: &Arc<GraphTable>,
    coordinator: impl Coordinator,
    stored: StoredGraph,
) -> Result<GraphRun> {
    let registry = Arc::clone(ctx.registry());
    let invalid = |e: Error| Error::Store {
        path: ctx.store().path().map(Into::into).unwrap_or_default(),
        reason: format!(
            "stored task graph {:?} is not a valid graph: {e}",
            stored.name().unwrap_or("(unnamed)")
        ),
    };
    let graph = rebuild(&stored.row, &stored.extras);
    let plan = Plan::build(graph).map_err(invalid)?;
    let state = restore(&plan, &stored);
    let (job, run) = GraphJob::assemble(
        plan,
        state,
        registry,
        Arc::new(coordinator),
        Some(stored.key),
        true,
    );
    // Tasks a crash cut short end `Interrupted`, and everything that did
    // not succeed skips its dependents; journaled like any change.
    job.update_planned(|state, plan| {
        let crash = Error::actor_failed(
            "runtime",
            "the application stopped (crash or kill) while the task ran",
        );
        for i in 0..plan.len() {
            if state.status(i) == TaskStatus::Running {
                state.tasks[i].error = Some(Box::new(TaskError::from_error(&crash)));
                state.set_status(i, TaskStatus::Interrupted);
            }
        }
        for i in 0..plan.len() {
            let status = state.status(i);
            if status.is_terminal() && status != TaskStatus::Succeeded {
                skip_downstream(state, plan, i);
            }
        }
    });
    job.attach(ctx, graphs);
    graphs.keep_adopted(Arc::clone(&job));
    if job.is_finished() {
        job.close_lease();
        return Ok(run);
    }
    let actions = job.pending_actions();
    let ctx = Arc::clone(ctx);
    let coordinator = Arc::clone(job.coordinator());
    ctx.tasks().spawn({
        let ctx = Arc::clone(&ctx);
        async move {
            for name in &actions {
                tokio::select! {
                    _ = ctx.actions().registered(name) => {}
                    gone = coordinator.gone() => {
                        job.interrupt_unfinished(&gone);
                        job.close_lease();
                        return;
                    }
                }
            }
            let started = coordinator.start(Arc::clone(&job)).await;
            if let Err(e) = started {
                tracing::warn!(graph = job.id(), error = %e, "an adopted graph could not start");
                job.interrupt_unfinished(&e);
                job.close_lease();
            }
        }
    });
    Ok(run)
}

/// The graph `row` describes, with what `extras` adds to its tasks
/// (dependencies outside it, job options), under a new in-process id.
fn rebuild(row: &GraphRow, extras: &GraphExtrasRow) -> TaskGraph {
    let mut graph = TaskGraph::new()
        .limit(usize::try_from(row.limit).unwrap_or(usize::MAX))
        .aging(row.aging);
    graph.name = row.name.clone();
    let id = graph.id();
    for (i, def) in row.tasks.iter().enumerate() {
        let metadata = serde_json::from_str(&def.metadata).unwrap_or(serde_json::Value::Null);
        let mut task = GraphTask::new(def.name.clone(), def.task.clone());
        for extra in extras.tasks.iter().filter(|e| e.index as usize == i) {
            for external in &extra.externals {
                match *external {
                    StoredExternal::Run(run) => task.runs.push(run),
                    StoredExternal::Task { graph, index } => task.stored_deps.push((graph, index)),
                }
            }
            if let Some(job) = &extra.job {
                task.task = task.task.with_job(job.options());
            }
        }
        graph.add(
            task.depends_on(def.deps.iter().map(|&d| TaskKey::new(id, d)))
                .priority(def.priority.into())
                .resources(def.resources.iter().map(Resource::from))
                .tags(def.tags.iter().cloned())
                .metadata(metadata),
        );
    }
    graph
}

/// The state `stored` recorded, on `plan`.
fn restore(plan: &Plan, stored: &StoredGraph) -> GraphState {
    let mut state = GraphState::new(plan.len());
    for (i, found) in stored.tasks.iter().enumerate().take(plan.len()) {
        let Some((row, output)) = found else {
            continue;
        };
        let status = TaskStatus::from(row.status);
        if status == TaskStatus::Pending || status == TaskStatus::Ready {
            continue;
        }
        let run = row.run.unwrap_or_default();
        let task = &mut state.tasks[i];
        task.attempts = row.attempts;
        task.run = row.run;
        task.started = row.started.map(time);
        task.duration = row.duration_us.map(Duration::from_micros);
        task.error = row.error.as_ref().map(|(kind, message, cause)| {
            Box::new(TaskError {
                kind: kind.clone(),
                message: message.clone(),
                cause: cause.map(|c| plan.key(c as usize)),
            })
        });
        let outcome = row.outcome.as_ref().map(|o| {
            let run_row = RunRow {
                name: plan.nodes[i].name.clone(),
                pattern: Pattern::Concurrent,
                status: status.into_run_status(),
                queued: row.started.unwrap_or_default(),
                started: row.started,
                finished: row.finished,
                exit_code: row.exit_code,
                attempts: row.attempts,
                pid: None,
                task: None,
                outcome: None,
            };
            o.outcome(run, &run_row, output.as_ref())
        });
        match outcome {
            Some(Ok(out)) => {
                if task.error.is_none() && !out.success() {
                    task.error = Some(Box::new(TaskError::from_output(&out)));
                }
                // The bytes are read from the run's stored record when
                // asked for (see `state.rs`), not kept twice.
                let mut out = out;
                out.release_bytes();
                task.output = Some(Box::new(out));
            }
            Some(Err(e)) if task.error.is_none() => {
                task.error = Some(Box::new(TaskError::from_error(&e)));
            }
            _ => {}
        }
        state.set_status(i, status);
        // `set_status` stamps the end now; the stored one is the real one.
        if let Some(at) = row.finished {
            state.tasks[i].finished = Some(time(at));
        }
    }
    // Stored already: nothing of this is a change to journal.
    state.changed.clear();
    state
}

impl TaskStatus {
    /// The run status a task in this status had (for rebuilding its
    /// outcome).
    fn into_run_status(self) -> crate::run::RunStatus {
        use crate::run::RunStatus;
        match self {
            TaskStatus::Pending | TaskStatus::Ready => RunStatus::Queued,
            TaskStatus::Running => RunStatus::Running,
            TaskStatus::Succeeded => RunStatus::Succeeded,
            TaskStatus::Failed | TaskStatus::Skipped => RunStatus::Failed,
            TaskStatus::TimedOut => RunStatus::TimedOut,
            TaskStatus::Cancelled => RunStatus::Cancelled,
            TaskStatus::Interrupted => RunStatus::Interrupted,
        }
    }
}

// The graph's vocabulary to and from its stored mirrors (see
// `store/graphs.rs`): variant for variant, so the bytes stay the same.

impl From<TaskStatus> for StoredTaskStatus {
    fn from(status: TaskStatus) -> Self {
        match status {
            TaskStatus::Pending => StoredTaskStatus::Pending,
            TaskStatus::Ready => StoredTaskStatus::Ready,
            TaskStatus::Running => StoredTaskStatus::Running,
            TaskStatus::Succeeded => StoredTaskStatus::Succeeded,
            TaskStatus::Failed => StoredTaskStatus::Failed,
            TaskStatus::TimedOut => StoredTaskStatus::TimedOut,
            TaskStatus::Cancelled => StoredTaskStatus::Cancelled,
            TaskStatus::Interrupted => StoredTaskStatus::Interrupted,
            TaskStatus::Skipped => StoredTaskStatus::Skipped,
        }
    }
}

impl From<StoredTaskStatus> for TaskStatus {
    fn from(status: StoredTaskStatus) -> Self {
        match status {
            StoredTaskStatus::Pending => TaskStatus::Pending,
            StoredTaskStatus::Ready => TaskStatus::Ready,
            StoredTaskStatus::Running => TaskStatus::Running,
            StoredTaskStatus::Succeeded => TaskStatus::Succeeded,
            StoredTaskStatus::Failed => TaskStatus::Failed,
            StoredTaskStatus::TimedOut => TaskStatus::TimedOut,
            StoredTaskStatus::Cancelled => TaskStatus::Cancelled,
            StoredTaskStatus::Interrupted => TaskStatus::Interrupted,
            StoredTaskStatus::Skipped => TaskStatus::Skipped,
        }
    }
}

impl From<&Resource> for StoredResource {
    fn from(resource: &Resource) -> Self {
        let id = resource.id();
        StoredResource {
            id: StoredResourceId {
                kind: match id.kind() {
                    ResourceKind::Lock => StoredResourceKind::Lock,
                    ResourceKind::Cpu => StoredResourceKind::Cpu,
                    ResourceKind::Memory => StoredResourceKind::Memory,
                    ResourceKind::Api => StoredResourceKind::Api,
                },
                name: id.name().to_string(),
            },
            access: match resource.access() {
                Access::Read => StoredAccess::Read,
                Access::Write => StoredAccess::Write,
                Access::Exclusive => StoredAccess::Exclusive,
                Access::Units(n) => StoredAccess::Units(n),
            },
        }
    }
}

impl From<&StoredResource> for Resource {
    fn from(stored: &StoredResource) -> Self {
        let kind = match stored.id.kind {
            StoredResourceKind::Lock => ResourceKind::Lock,
            StoredResourceKind::Cpu => ResourceKind::Cpu,
            StoredResourceKind::Memory => ResourceKind::Memory,
            StoredResourceKind::Api => ResourceKind::Api,
        };
        let access = match stored.access {
            StoredAccess::Read => Access::Read,
            StoredAccess::Write => Access::Write,
            StoredAccess::Exclusive => Access::Exclusive,
            StoredAccess::Units(n) => Access::Units(n),
        };
        Resource::from_parts(ResourceId::from_parts(kind, stored.id.name.clone()), access)
    }
}
