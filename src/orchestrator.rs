//! The [`Orchestrator`]: one handle to the whole runtime.
//!
//! Every method turns into a typed message to one pattern actor (through an
//! [`ActorSlot`], never a cached `ActorRef`), or into a read of the run
//! registry. The handle is cheap to clone and can be shared freely.
//!
//! One `impl Orchestrator` block per pattern lives in `orchestrator/`.

use std::future::Future;
use std::sync::Arc;

use ractor::{Actor, ActorRef};
use serde_json::Value;
use taskorch_actors::LineLimits;
use taskorch_actors::Pools;
use taskorch_actors::batch::{BatchArguments, BatchCoordinator, BatchMessage};
use taskorch_actors::executor::{Executor, ExecutorArguments, ExecutorMessage};
use taskorch_actors::launcher::{Launcher, LauncherArguments, LauncherMessage, Launches};
use taskorch_actors::pool::{PoolKeeper, PoolKeeperArguments, PoolTable};
use taskorch_actors::registry::Admission;
use taskorch_actors::scheduler::{ScheduleStore, Scheduler, SchedulerArguments, SchedulerMessage};
use taskorch_actors::{
    ActorSlot, ChildSpec, Context, Error, Limits, ProcessLimits, Result, Retention, RootSupervisor,
    RunId, RunInfo, RunStatus, SupervisorArguments, SupervisorMessage, SupervisorPolicy,
    SystemStatus,
};

use crate::config::Config;

mod concurrent;
mod durable;
mod events;
mod execute;
mod fire_and_forget;
mod graph;
mod halt;
mod long_running;
mod periodic;
mod pooled;
mod runs;
mod simple;
mod trace;
mod workflow;

pub use workflow::{BLOCK_ACTION, WorkflowReport, WorkflowRun};

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
    /// The pools, and the slot of the pool keeper that manages them.
    pools: Pools,
    /// Workflow block types and running instances.
    workflows: workflow::WorkflowTable,
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
        let limits = Limits {
            process: ProcessLimits {
                kill_grace: config.kill_grace,
                drain_timeout: config.drain_timeout,
            },
            shutdown_grace: config.shutdown_grace,
            max_output: config.max_output,
            max_concurrency: config.max_concurrency,
            lines: LineLimits {
                ring_lines: config.output_ring_lines,
                ring_bytes: config.output_ring_bytes,
                max_line: config.max_line_bytes,
            },
            trace_capacity: config.trace_capacity,
            event_capacity: config.event_capacity,
            event_capacity_bytes: config.event_capacity_bytes,
        };
        let retention = Retention {
            history_limit: config.history_limit,
            output_budget: config.output_budget,
        };
        // Durable state: open the store and recover what it holds.
        let (store, mut recovered) = durable::open_store(&config).await?;
        let ctx = Context::with_store(limits, retention, store.clone());
        // A graceful stop of a child waits out its runs' grace and kill
        // periods; give it that long before the supervisor kills it.
        // (Each at most `duration::MAX`, checked by `validate`: no overflow.)
        let child_stop =
            config.shutdown_grace + config.kill_grace + std::time::Duration::from_secs(2);

        let executor = ActorSlot::new("executor", config.restart_wait);
        let scheduler = ActorSlot::new("scheduler", config.restart_wait);
        let schedules = ScheduleStore::with_store(config.clock, store);
        schedules.restore_from(&recovered, ctx.registry());
        let batch = ActorSlot::new("batch", config.restart_wait);
        let launcher = ActorSlot::new("launcher", config.restart_wait);
        let launches = Launches::new(Arc::clone(&ctx), config.max_queued);
        let pool_keeper = ActorSlot::new(taskorch_actors::pool::POOL_KEEPER, config.restart_wait);
        // Outside the keeper, so a keeper restart restores every pool.
        let pool_table = Arc::new(PoolTable::default());
        let mut children = vec![
            {
                let ctx = Arc::clone(&ctx);
                ChildSpec::new(executor.clone(), move || {
                    (
                        Executor,
                        ExecutorArguments {
                            ctx: Arc::clone(&ctx),
                        },
                    )
                })
                .shutdown_timeout(child_stop)
            },
            {
                let ctx = Arc::clone(&ctx);
                ChildSpec::new(batch.clone(), move || {
                    (
                        BatchCoordinator,
                        BatchArguments {
                            ctx: Arc::clone(&ctx),
                        },
                    )
                })
                .shutdown_timeout(child_stop)
            },
            {
                let launches = Arc::clone(&launches);
                ChildSpec::new(launcher.clone(), move || {
                    (
                        Launcher,
                        LauncherArguments {
                            launches: Arc::clone(&launches),
                        },
                    )
                })
                .shutdown_timeout(child_stop)
            },
            {
                let ctx = Arc::clone(&ctx);
                let store = Arc::clone(&schedules);
                ChildSpec::new(scheduler.clone(), move || {
                    (
                        Scheduler,
                        SchedulerArguments {
                            ctx: Arc::clone(&ctx),
                            store: Arc::clone(&store),
                        },
                    )
                })
                .shutdown_timeout(child_stop)
            },
        ];
        // The pool keeper starts last (after batch, launcher, scheduler), so
        // it stops first.
        children.push({
            let ctx = Arc::clone(&ctx);
            let pools = Arc::clone(&pool_table);
            let slot = pool_keeper.clone();
            ChildSpec::new(pool_keeper.clone(), move || {
                (
                    PoolKeeper,
                    PoolKeeperArguments {
                        ctx: Arc::clone(&ctx),
                        pools: Arc::clone(&pools),
                        slot: slot.clone(),
                    },
                )
            })
            // Pool requests get `shutdown_grace`, then every worker is
            // terminated (stdin closed, SIGTERM, SIGKILL).
            .shutdown_timeout(child_stop + config.kill_grace)
        });
        let policy = SupervisorPolicy {
            strategy: config.strategy,
            intensity: config.restart_intensity,
            backoff: config.restart_backoff,
            status_timeout: config.status_timeout,
        };
        let (supervisor, _join) = Actor::spawn(
            None,
            RootSupervisor,
            SupervisorArguments {
                children,
                policy,
                trace: Arc::clone(ctx.trace()),
                events: ctx.events().clone(),
            },
        )
        .await
        .map_err(|e| Error::actor_failed("supervisor", e.to_string()))?;
        // A halt that was on when the application stopped holds again,
        // before anything runs: runs found queued end `Cancelled`, as the
        // halt would have ended them.
        let halted = recovered.halted.take();
        if let Some(reason) = &halted {
            ctx.halt_runtime(reason);
        }
        // Durable state: runs accepted but never started, started once.
        for run in &recovered.queued {
            if halted.is_some() {
                let record = ctx.registry().admit(Admission::resumed(run));
                let cancelled = Err(Error::Cancelled { run: Some(run.id) });
                let _ = ctx.registry().finish(&record, cancelled).await;
            } else {
                launches.resume(run);
            }
        }
        // Task graphs a crash left unfinished carry on (finished tasks are
        // not run again).
        // One that cannot be rebuilt is left in the store as it is (not
        // discarded) and reported; the rest of the runtime is already up.
        let mut adopted = Vec::new();
        for graph in std::mem::take(&mut recovered.graphs) {
            match taskorch_actors::graph::adopt(&ctx, &batch, graph) {
                Ok(run) => adopted.push(run),
                Err(e) => tracing::error!(error = %e, "a stored task graph was not resumed"),
            }
        }
        let orch = Orchestrator {
            inner: Arc::new(Inner {
                pools: Pools::new(Arc::clone(&ctx), pool_table, pool_keeper),
                ctx,
                config,
                supervisor,
                executor,
                launcher,
                launches,
                scheduler,
                schedules,
                batch,
                workflows: workflow::WorkflowTable::default(),
            }),
        };
        // Workflows among them carry on in instances rebuilt from them.
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

    /// A snapshot of run `id`.
    pub fn run_info(&self, id: RunId) -> Option<RunInfo> {
        self.inner.ctx.registry().info(id)
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

    /// Queue a fault for the next message of `actor` ("executor", ...).
    /// An actor no fault can target is refused with a warning in the log;
    /// [`inject_fault_at`](Self::inject_fault_at) returns the error, and
    /// can aim at the nth message of a kind.
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&self, actor: &str, fault: taskorch_actors::Fault) {
        self.inner.ctx.faults().inject(actor, fault);
    }

    /// The configuration this orchestrator was started with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
}
