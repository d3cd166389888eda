//! Task graphs: tasks that wait on other tasks and compete for scarce
//! resources ("build, then test and lint in parallel, then deploy; never
//! two jobs writing the database at once; critical jobs first").
//!
//! A [`TaskGraph`] of [`GraphTask`]s is checked at submit (cycles,
//! dependencies on unknown graphs or runs, duplicate names, then every
//! task's program or action and every claim), before anything runs. Then
//! each task starts once all its dependencies succeeded (tasks of its
//! graph, tasks of other graphs, runs), ready tasks by [`Priority`] with
//! aging, each holding its [`Resource`] claims, under the graph's limit
//! and an execution permit of its queue (as every run). A running graph
//! grows with [`GraphRun::add`] (see `job/grow.rs`). Each task
//! becomes one run in the registry ([`Pattern::Concurrent`](crate::Pattern),
//! named after the task). A task that fails after its retries has every
//! task downstream of it `Skipped`, naming it as the cause. The caller
//! follows and steers the graph through its [`GraphRun`].
//!
//! # Where graphs run: in the batch coordinator
//! A graph is the Concurrent pattern with an order on top, so the batch
//! coordinator runs it, the way it runs a batch: its handler checks and
//! accepts the graph and starts a driver task (`graph/driver.rs`) owned by
//! the coordinator incarnation, and answers at once. A separate actor
//! would have added a child, a slot and a mailbox hop for no capability the
//! coordinator lacks, and a child that the runtime's status must list.
//!
//! # State outside the actor
//! A graph's definition, progress ([`GraphState`]: statuses, attempts,
//! runs, outputs, errors — plain serde data) and prepared tasks live in
//! its [`GraphJob`], shared by the handle and the driver; the graphs in
//! flight and the [`ResourceTable`] live in the runtime's [`GraphTable`]
//! (in the [`Context`](crate::Context)).
//!
//! # When the coordinator dies
//! Its drivers stop their runs, which end `Interrupted`; their dependents
//! are `Skipped`. The next incarnation adopts every unfinished graph from
//! the table and carries on with the tasks that were waiting: nothing that
//! ran runs again. If the supervisor gives up on the coordinator, the
//! graph's unfinished tasks end `Interrupted` (`ActorFailed`). At shutdown
//! nothing new starts; runs in flight get `shutdown_grace`, then end
//! `Interrupted`, as does every task that never started.
//!
//! # With a durable store
//! A graph's definition and its tasks' transitions are journaled; a start
//! after a crash adopts the unfinished graphs again (`adopt`, from
//! `Runtime::start`): finished tasks keep their result, tasks cut short
//! end `Interrupted` (dependents `Skipped`), the rest run. See
//! `graph/durable.rs`.

mod driver;
mod durable;
mod handle;
mod job;
mod names;
mod plan;
mod ready;
mod resource;
mod spec;
mod state;
#[cfg(test)]
mod tests;
mod watch;

pub(crate) use driver::drive;
pub(crate) use durable::adopt;
pub use handle::{GraphInfo, GraphReport, GraphRun, TaskResult};
pub use job::{Coordinator, GraphJob, GraphTable};
pub use resource::{Access, Resource, ResourceId, ResourceKind, ResourceTable, ResourceUsage};
pub use spec::{DEFAULT_AGING, GraphTask, Priority, TaskGraph, TaskKey};
pub use state::{GraphState, GraphStats, TaskError, TaskState, TaskStatus};
