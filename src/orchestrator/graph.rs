//! Task graphs: tasks that wait on other tasks, by priority, holding
//! resources, run by the batch coordinator.

use std::sync::Arc;

use taskorch_actors::Result;
use taskorch_actors::batch::BatchMessage;
use taskorch_actors::graph::{
    GraphInfo, GraphJob, GraphReport, GraphRun, ResourceId, ResourceUsage, TaskGraph,
};

use super::Orchestrator;

impl Orchestrator {
    /// Task graphs: start or run one, find the graphs in flight, and the
    /// resources their tasks claim.
    pub fn graphs(&self) -> Graphs<'_> {
        Graphs { orch: self }
    }
}

/// Task graphs ([`Orchestrator::graphs`]): start and run them, find them
/// again, set and read the capacity of the resources their tasks claim.
///
/// Its async methods take the handle by value (it is `Copy`), so their
/// futures borrow the orchestrator, not a temporary handle:
/// `join!(orch.graphs().run(a), orch.graphs().run(b))` compiles.
#[derive(Debug, Clone, Copy)]
pub struct Graphs<'a> {
    orch: &'a Orchestrator,
}

impl Graphs<'_> {
    /// Check `graph` and start it; returns a [`GraphRun`] handle once the
    /// batch coordinator has it under way. Follow it with
    /// [`GraphRun::status`], [`result`](GraphRun::result),
    /// [`stats`](GraphRun::stats), [`wait`](GraphRun::wait); steer it with
    /// [`cancel`](GraphRun::cancel) and [`cancel_all`](GraphRun::cancel_all).
    ///
    /// ```no_run
    /// # async fn f(orch: taskorch::Orchestrator) -> taskorch::Result<()> {
    /// use taskorch::graph::{GraphTask, Resource, TaskGraph};
    /// use taskorch::{Priority, Task};
    ///
    /// let mut graph = TaskGraph::new();
    /// let build = graph.add(GraphTask::new("build", Task::command("make")));
    /// let test = graph.add(GraphTask::new("test", Task::command("make").arg("test")).after(build));
    /// let lint = graph.add(GraphTask::new("lint", Task::command("make").arg("lint")).after(build));
    /// graph.add(
    ///     GraphTask::new("deploy", Task::command("./deploy.sh"))
    ///         .depends_on([test, lint])
    ///         .priority(Priority::Critical)
    ///         .resource(Resource::exclusive("production")),
    /// );
    /// let run = orch.graphs().start(graph).await?;
    /// let report = run.wait().await;
    /// println!("{} of {} succeeded", report.stats.completed, report.stats.total);
    /// # Ok(()) }
    /// ```
    ///
    /// Every task becomes a run in the registry (pattern `Concurrent`,
    /// named after the task, with its task's labels) when it starts, and
    /// waits, besides the graph's own limit, for an execution permit as
    /// every run does (its priority, its queue, the runtime-wide
    /// `max_concurrency` cap). Tasks may depend on tasks of other graphs
    /// and on runs; the graph can grow while it runs
    /// ([`GraphRun::add`]).
    ///
    /// # Errors
    /// Before anything runs: `DependencyCycle { path }` naming the tasks of
    /// a cycle, `UnknownDependency` for a dependency on a key of a graph
    /// this runtime does not know, `UnknownRunDependency` for one on a run
    /// it does not know, `UnknownQueue` for an undeclared queue,
    /// `DuplicateTask` for a name used twice, `InvalidTask` for a
    /// limit or aging of 0, a malformed task or a claim no capacity can
    /// hold, `NotFound` / `PermissionDenied` / `UnknownAction` for a task
    /// that cannot run; `ShuttingDown`; `ActorFailed` if the coordinator
    /// failed and did not come back.
    ///
    /// # Cancel safety
    /// If the future is dropped after the coordinator took the graph, the
    /// graph runs to its end without a handle.
    pub async fn start(self, graph: TaskGraph) -> Result<GraphRun> {
        self.orch.inner.ctx.shutdown().check()?;
        let (job, run) = GraphJob::new(
            graph,
            Arc::clone(self.orch.inner.ctx.registry()),
            self.orch.inner.batch.clone(),
        )?;
        self.orch
            .inner
            .batch
            .request(|reply| BatchMessage::StartGraph {
                job: Arc::clone(&job),
                reply,
            })
            .await?;
        Ok(run)
    }

    /// [`start`](Self::start), then wait for every task to
    /// finish and report.
    ///
    /// # Errors
    /// As `start`; what happens to the tasks is in the report.
    ///
    /// # Cancel safety
    /// Dropping the future does not stop the graph.
    pub async fn run(self, graph: TaskGraph) -> Result<GraphReport> {
        let run = self.start(graph).await?;
        Ok(run.wait().await)
    }

    /// The graphs this orchestrator knows of, oldest first: those in
    /// flight, and those adopted from the durable store at start (kept
    /// after they finish, for the runtime's life), so a graph submitted
    /// before a crash can be found again (by [`GraphInfo::name`]) and
    /// followed with [`find`](Self::find). Graphs submitted here are
    /// listed until they finish; keep their [`GraphRun`] for longer.
    pub fn list(&self) -> Vec<GraphInfo> {
        self.orch
            .inner
            .graphs
            .all()
            .iter()
            .map(|job| job.handle().info())
            .collect()
    }

    /// A handle to graph `id` (see [`list`](Self::list)); `None` if
    /// it is not in flight and was not adopted at start.
    pub fn find(&self, id: u64) -> Option<GraphRun> {
        self.orch.inner.graphs.find(id).map(|job| job.handle())
    }

    /// Set the capacity of a counted resource that graph tasks claim: the
    /// CPU slots (default: the machine's available parallelism), the
    /// memory budget in bytes (no default: set it before claiming memory),
    /// or an external API's quota of concurrent calls (default 1). Shared
    /// by every graph of this orchestrator; holders keep what they hold.
    ///
    /// # Errors
    /// `InvalidConfig` for a lock (locks have no capacity) or a capacity
    /// of 0.
    pub fn set_capacity(&self, id: ResourceId, capacity: u64) -> Result<()> {
        self.orch
            .inner
            .graphs
            .resources()
            .set_capacity(id, capacity)
    }

    /// The capacity of `id` (`None` for a lock, and for the memory budget
    /// until one is set).
    pub fn capacity(&self, id: &ResourceId) -> Option<u64> {
        self.orch.inner.graphs.resources().capacity(id)
    }

    /// How much of `id` graph tasks hold right now.
    pub fn usage(&self, id: &ResourceId) -> ResourceUsage {
        self.orch.inner.graphs.resources().usage(id)
    }
}
