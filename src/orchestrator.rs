//! The [`Orchestrator`]: one handle to the whole runtime.
//!
//! Every method turns into a typed message to one pattern actor (through an
//! [`ActorSlot`], never a cached `ActorRef`), or into a read of the run
//! registry. The handle is cheap to clone and can be shared freely.
//!
//! One `impl Orchestrator` block per pattern lives in `orchestrator/`.
//!
//! # The surface
//! One verb scheme everywhere: `start_*` returns a handle, `run_*` waits
//! for the end, `find_*` looks one item up, the plural noun lists them (or,
//! for a sub-handle, gives the collection). The operational surface lives
//! in sub-handles, each a borrow of the orchestrator returned by one
//! method.
//!
//! | call | what it does |
//! |---|---|
//! | `start`, `shutdown`, `abort`, `is_running` | life cycle |
//! | `run`, `stream`, `run_batch`, `start_batch`, `launch`, `schedule`, `pool`, `execute` | the six patterns, and the pick among them |
//! | `register_action` | in-process actions for `Task::action` |
//! | `status`, `runs`, `wait`, `cancel`, `output`, `rerun` | runs in the registry |
//! | `system_status`, `metrics`, `trace`, `inject_fault` | the actor tree, runtime-wide metrics, the message trace, a fault |
//! | `http_router` (feature `server`) | the HTTP API as an `axum::Router` to nest in an application (`crate::server`) |
//! | `graphs()` -> [`Graphs`](crate::graph::Graphs) | `start`, `run`, `find`, `list`; resources: `set_capacity`, `capacity`, `usage` |
//! | `workflows()` -> [`Workflows`](crate::workflow::Workflows) | `register_block_type`, `validate`, `start`, `run`, `runs`, `halt` |
//! | `queue`, `pause_queue`, `resume_queue` | named queues: limits, pause |
//! | `guard()` -> [`Guard`](crate::guard::Guard) | `halt`, `resume`, `halted`, `register`, `register_limit`, `check`, `check_limit`, `check_registered_limit`, `risk_limits`, `breakers`; `actors()` -> [`UserActors`](crate::supervision::UserActors) (the application's own actors under the root: `spawn`, `group`, `names`) |
//! | `supervise` | supervised services (`docs/services.md`) |
//! | `observe()` -> [`Observer`](crate::events::Observer) | every look-up: `services()` -> [`Services`](crate::service::Services) (`list`, `find`, `names`, `unhealthy`, `supervise_all`, `remove`), `find_run`, `find_runs`, `find_key`, `history`, `stored_run`, `rerun_of`; `schedules()` -> [`Schedules`](crate::schedule::Schedules) (`list`, `find`), `pools()` -> [`Pools`](crate::pool::Pools) (`find`, `names`), `queues()` -> [`Queues`](crate::queue::Queues) (`list`, `find`), `config`; and watching: `subscribe` (events), `subscribe_output`, `timed_output`, `clear_trace` |
//! | `faults()` -> `Faults` (feature `fault-injection`) | `inject_at`, `clear`, `stats` |

use std::future::Future;
use std::sync::Arc;

use ractor::ActorRef;
use serde_json::Value;
use taskorch_actors::Pools;
use taskorch_actors::batch::BatchMessage;
use taskorch_actors::executor::ExecutorMessage;
use taskorch_actors::graph::GraphTable;
use taskorch_actors::launcher::{LauncherMessage, Launches};
use taskorch_actors::scheduler::{ScheduleStore, SchedulerMessage};
use taskorch_actors::{
    ActorSlot, Context, Error, Result, RunId, RunInfo, RunStatus, Runtime, SupervisorMessage,
    SystemStatus,
};

use crate::config::Config;

mod concurrent;
// run and stream of a task with a delayed start.
mod delayed;
mod durable;
mod events;
mod execute;
mod fire_and_forget;
mod graph;
mod halt;
mod long_running;
mod metrics;
mod periodic;
pub(crate) mod pooled;
mod queues;
mod rerun;
mod runs;
mod services;
mod simple;
mod trace;
mod workflow;

pub use events::Observer;
pub use graph::Graphs;
pub use halt::Guard;
pub use periodic::Schedules;
pub use queues::Queues;
#[cfg(feature = "fault-injection")]
pub use trace::Faults;
pub use workflow::{BLOCK_ACTION, WorkflowReport, WorkflowRun, Workflows};

/// Runs work in all six patterns under one root supervisor.
///
/// Start one with [`Orchestrator::start`], clone it wherever it is needed,
/// and call [`shutdown`](Orchestrator::shutdown) when done. If every handle
/// is dropped without a shutdown, the runtime stops at once (every run is
/// terminated) but nothing waits for it.
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Arc<Context>,
    config: Config,
    supervisor: ActorRef<SupervisorMessage>,
    executor: ActorSlot<ExecutorMessage>,
    launcher: ActorSlot<LauncherMessage>,
    // Launched runs outlive launcher incarnations; shutdown drains them.
    launches: Arc<Launches>,
    scheduler: ActorSlot<SchedulerMessage>,
    schedules: Arc<ScheduleStore>,
    batch: ActorSlot<BatchMessage>,
    /// Task graphs in flight (and those adopted at start), with the
    /// resource table their tasks claim from.
    graphs: Arc<GraphTable>,
    /// The pools, and the slot of the pool keeper that manages them.
    pools: Pools,
    /// Workflow block types and running instances.
    workflows: workflow::WorkflowTable,
    /// The application's own actors under the root supervisor.
    actors: taskorch_actors::user::UserActors,
    /// Supervised services.
    services: taskorch_actors::Services,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("runs", &self.inner.ctx.registry().len())
            .field("shutting_down", &self.inner.ctx.shutdown().is_closing())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn abort(&self) {
        self.ctx.shutdown().emergency();
        self.supervisor.kill();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.ctx.shutdown().is_done() {
            self.abort();
        }
    }
}

impl Orchestrator {
    /// Start the runtime: the root supervisor and its pattern actors.
    ///
    /// Must be called inside a tokio runtime.
    ///
    /// With `Config::store`, the store is opened first and what it holds
    /// is recovered (runs cut short by a crash marked `Interrupted`, runs
    /// never started started again, schedules restored); see the README
    /// section "Durable state".
    ///
    /// # Errors
    /// `InvalidConfig` for unusable settings; `ActorFailed` if an actor
    /// could not be started; `Store { path, reason }` if the store cannot
    /// be opened (corrupt, newer release, read-only, in use).
    pub async fn start(config: Config) -> Result<Orchestrator> {
        config.validate()?;
        let Runtime {
            ctx,
            supervisor,
            executor,
            batch,
            launcher,
            launches,
            scheduler,
            schedules,
            pools,
            adopted,
            graphs,
            services,
        } = Runtime::start(config.runtime()).await?;
        let actors = taskorch_actors::user::UserActors::new(
            Arc::clone(&ctx),
            supervisor.clone(),
            config.runtime().policy,
            config.restart_wait,
        );
        services.share_names_with(&actors);
        let orch = Orchestrator {
            inner: Arc::new(Inner {
                ctx,
                config,
                supervisor,
                executor,
                launcher,
                launches,
                scheduler,
                schedules,
                batch,
                graphs,
                pools,
                workflows: workflow::WorkflowTable::default(),
                actors,
                services,
            }),
        };
        // Task graphs the store held unfinished run again; workflows among
        // them carry on in instances rebuilt from them.
        orch.resume_workflows(adopted);
        Ok(orch)
    }

    /// Stop the runtime gracefully: refuse new work, stop the actors in
    /// reverse start order, give runs in flight `shutdown_grace` to finish,
    /// terminate the rest (they end `Interrupted`; their callers get
    /// `ShuttingDown`), and wait until no process of ours is left.
    ///
    /// Idempotent: later and concurrent calls wait for the same shutdown.
    ///
    /// With a store, the last changes are committed and the file is closed
    /// (released for the next orchestrator) before this returns.
    ///
    /// # Errors
    /// None today; a failed last commit is logged.
    pub async fn shutdown(&self) -> Result<()> {
        let inner = &self.inner;
        inner
            .ctx
            .shutdown()
            .run_once(|| async {
                // Services first, dependents before what they depend on,
                // each with its own stop signal and grace.
                inner.services.shutdown().await;
                let (tx, rx) = tokio::sync::oneshot::channel();
                if inner
                    .supervisor
                    .cast(SupervisorMessage::Shutdown(tx.into()))
                    .is_ok()
                {
                    let _ = rx.await;
                }
                let _ = inner
                    .supervisor
                    .stop_and_wait(None, Some(inner.config.kill_grace))
                    .await;
                // Launched runs are not owned by any incarnation: if no
                // launcher was running to drain them (it had failed for
                // good, or was restarting), this does; otherwise it returns
                // at once.
                inner.launches.drain_at_shutdown().await;
                // Run tasks of incarnations that died before shutdown may
                // still be cleaning up; each is bounded by `kill_grace`.
                inner.ctx.tasks().close();
                let bound = inner.config.shutdown_grace + inner.config.kill_grace * 2;
                let _ = tokio::time::timeout(bound, inner.ctx.tasks().wait()).await;
                // Durable state: commit the last changes and release the file.
                durable::close_store(&inner.ctx).await;
            })
            .await;
        Ok(())
    }

    /// Emergency stop, without waiting: refuse new work, stop every run at
    /// once (each process group still gets SIGTERM, then SIGKILL after
    /// `kill_grace`) and kill the actor tree. Runs end `Interrupted`; their
    /// callers get `ShuttingDown`. For a panic handler or a `Drop`; prefer
    /// [`shutdown`](Self::shutdown) wherever you can await. Dropping the last
    /// handle without a shutdown does the same.
    pub fn abort(&self) {
        self.inner.abort();
    }

    /// Register an in-process action under `name` (replacing an earlier
    /// one). [`Task::action`](crate::Task::action) calls it with its JSON
    /// input; `Ok(value)` becomes [`Output::value`](crate::Output), `Err(msg)`
    /// an unsuccessful output with `msg` as its stderr.
    ///
    /// Actions run on tokio worker threads: move blocking work into
    /// `tokio::task::spawn_blocking`.
    pub fn register_action<F, Fut>(&self, name: impl Into<String>, f: F)
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Value, String>> + Send + 'static,
    {
        self.inner.ctx.actions().register(name, f);
    }

    /// The status of every supervised actor, answered by the root
    /// supervisor (restarting and failed children included), with every
    /// circuit breaker's state and the current halt, if any.
    ///
    /// Answers within `Config::status_timeout` (the bound of each running
    /// child's probe), also while the supervisor stops a slow child: no
    /// stop is awaited inside the supervisor, so children being stopped
    /// are reported from its own table (`Restarting`, `Stopping`).
    ///
    /// # Errors
    /// `ShuttingDown` once the runtime has shut down.
    pub async fn system_status(&self) -> Result<SystemStatus> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner
            .supervisor
            .cast(SupervisorMessage::Status(tx.into()))
            .map_err(|_| Error::ShuttingDown)?;
        let mut status = rx.await.map_err(|_| Error::ShuttingDown)?;
        status.breakers = self.inner.ctx.breakers().status();
        status.halted = self.inner.ctx.halt().reason();
        Ok(status)
    }

    /// The status of run `id`; `None` if unknown here (never existed,
    /// another orchestrator's, or evicted from history).
    pub fn status(&self, id: RunId) -> Option<RunStatus> {
        self.inner.ctx.registry().status(id)
    }

    /// Snapshots of every run in the registry, oldest first.
    pub fn runs(&self) -> Vec<RunInfo> {
        self.inner.ctx.registry().list()
    }

    /// Wait for run `id` to end; any number of callers may wait, before or
    /// after it ended.
    ///
    /// # Errors
    /// `UnknownRun` for an unknown id; otherwise the run's own error
    /// (`TimedOut`, `Cancelled`, `ActorFailed`, `ShuttingDown`, ...). A run
    /// that exited non-zero is `Ok` with `success() == false`.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future only stops waiting.
    pub async fn wait(&self, id: RunId) -> Result<taskorch_actors::Output> {
        self.inner.ctx.registry().wait(id).await
    }

    /// Cancel run `id`: its process group gets SIGTERM, `kill_grace`, then
    /// SIGKILL; it ends `Cancelled`, and its waiters (`wait`,
    /// `RunStream::wait`, the caller of `run`) get `Error::Cancelled`. A run
    /// still queued ends `Cancelled` without starting. Cancelling a finished
    /// run does nothing and returns `Ok`.
    ///
    /// # Errors
    /// `UnknownRun` for an unknown id.
    pub async fn cancel(&self, id: RunId) -> Result<()> {
        self.inner.ctx.registry().cancel(id)
    }

    /// Queue a fault for the next message of `actor` ("executor", ..., or
    /// the name of one of the application's own actors, see
    /// [`Guard::actors`](crate::guard::Guard::actors)).
    /// An actor no fault can target is refused with a warning in the log;
    /// [`Faults::inject_at`](crate::fault::Faults::inject_at) returns the error, and
    /// can aim at the nth message of a kind.
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&self, actor: &str, fault: taskorch_actors::Fault) {
        self.inner.ctx.faults().inject(actor, fault);
    }
}

impl<'a> crate::events::Observer<'a> {
    /// A snapshot of run `id`; `None` if unknown here (as
    /// [`Orchestrator::status`]). Runs from before a restart are in the
    /// registry too; what else the store keeps of a run is
    /// [`stored_run`](Self::stored_run).
    pub fn find_run(&self, id: RunId) -> Option<RunInfo> {
        self.orch.inner.ctx.registry().info(id)
    }

    /// The configuration the orchestrator was started with.
    pub fn config(&self) -> &'a Config {
        &self.orch.inner.config
    }
}
