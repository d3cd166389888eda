//! Dependencies outside the graph ([`External`]: a run, a task of another
//! graph): the futures the driver waits on for them, each resolving once
//! the thing it watches has ended.
//!
//! A dependency that already succeeded resolves at once; one that ended
//! any other way resolves with the reason its dependent is skipped, as a
//! failed dependency inside the graph would skip it. The verdict is
//! final: a dependency retried by hand afterwards (`GraphRun::retry` of
//! the other graph) does not bring back a task skipped for it.
//!
//! Where each is looked up: a run in the registry, else in the store (a
//! run from before a restart, or one retention evicted from memory); a
//! task of another graph in the runtime's graph table (graphs in flight,
//! adopted, or finished and still held), else, for a graph named by its
//! store key, the task's stored row (the graph finished before a restart).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::job::{GraphJob, GraphTable};
use super::plan::External;
use super::spec::TaskKey;
use super::state::{TaskError, TaskStatus};
use crate::context::Context;
use crate::registry::terminal_status;
use crate::run::{RunId, RunStatus};

/// Resolves to the task it was made for and `None` once its dependency
/// succeeded, or the reason to skip the task.
pub(super) type Watch = BoxFuture<'static, (usize, Option<TaskError>)>;

/// Watch `external`, a dependency of task `task`.
pub(super) fn watch(
    ctx: Arc<Context>,
    graphs: Arc<GraphTable>,
    task: usize,
    external: External,
) -> Watch {
    Box::pin(async move { (task, outcome(&ctx, &graphs, external).await) })
}

async fn outcome(ctx: &Context, graphs: &GraphTable, external: External) -> Option<TaskError> {
    match external {
        External::Run(run) => run_outcome(ctx, run).await,
        External::Task(key) => match graphs.lookup(key.graph()) {
            Some(job) => task_outcome(&job, key.index(), Some(key)).await,
            None => Some(skipped(key.to_string(), "is not known any more", Some(key))),
        },
        External::Stored { graph, index } => match graphs.by_store_key(graph) {
            Some(job) => {
                let key = job.plan().key(index as usize);
                task_outcome(&job, index as usize, Some(key)).await
            }
            None => {
                let what = format!("task #{index} of stored graph {}", RunId::from_bytes(graph));
                match ctx
                    .store()
                    .graph_task_status(graph, index)
                    .map(TaskStatus::from)
                {
                    Some(TaskStatus::Succeeded) => None,
                    Some(status) => Some(skipped(what, status.verb(), None)),
                    None => Some(skipped(what, "is not known any more", None)),
                }
            }
        },
    }
}

/// Run `run`'s end: from its record, or from the store.
async fn run_outcome(ctx: &Context, run: RunId) -> Option<TaskError> {
    let what = format!("run {run}");
    if let Some(record) = ctx.registry().get(run) {
        return match record.wait().await {
            Ok(out) if out.success() => None,
            ended => {
                let status = TaskStatus::from(terminal_status(&ended));
                Some(skipped(what, status.verb(), None))
            }
        };
    }
    match ctx.store().stored_run(run).map(|stored| stored.info.status) {
        Some(RunStatus::Succeeded) => None,
        Some(status) => Some(skipped(what, TaskStatus::from(status).verb(), None)),
        None => Some(skipped(what, "is not known any more", None)),
    }
}

/// Task `index` of `job`'s end, woken by the job's progress.
async fn task_outcome(job: &GraphJob, index: usize, key: Option<TaskKey>) -> Option<TaskError> {
    loop {
        let progressed = job.progress().notified();
        tokio::pin!(progressed);
        // Registered before looking, so an end in between still wakes us.
        progressed.as_mut().enable();
        let status = job.read(|state| state.tasks.get(index).map(|task| task.status));
        let what = || match (job.task_name(index), key) {
            (Some(name), Some(key)) => format!("{name:?} ({key})"),
            (Some(name), None) => format!("{name:?}"),
            (None, _) => format!("task #{index} of graph {}", job.id()),
        };
        match status {
            Some(TaskStatus::Succeeded) => return None,
            Some(status) if status.is_terminal() => {
                return Some(skipped(what(), status.verb(), key));
            }
            Some(_) => {}
            None => return Some(skipped(what(), "is not known any more", key)),
        }
        progressed.await;
    }
}

fn skipped(what: String, verb: &str, cause: Option<TaskKey>) -> TaskError {
    TaskError {
        kind: "skipped".to_string(),
        message: format!("not run: {what} {verb}"),
        cause,
    }
}
