//! The runtime wiring: one call builds the whole runtime, the top layer of
//! the crate.
//!
//! [`Runtime::start`] opens the durable store (and recovers what it holds),
//! builds the shared [`Context`], the five pattern actors' slots and their
//! state outside the actors ([`Launches`], [`ScheduleStore`], the pool
//! table), spawns the root supervisor over them, and then carries on
//! what the store held: a halt that was on, runs accepted but never
//! started, unfinished task graphs. What it returns is every handle the
//! facade needs, as mini-redis's `server::run` and pueue's `daemon::run`
//! keep the wiring out of the binary.
//!
//! Start order (the supervisor stops its children in reverse): executor,
//! batch, launcher, scheduler, then the pool keeper, which therefore stops
//! first.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};

use crate::batch::{BatchArguments, BatchCoordinator, BatchMessage};
use crate::context::{Context, Limits};
use crate::error::{Error, Result};
use crate::executor::{Executor, ExecutorArguments, ExecutorMessage};
use crate::graph::{GraphRun, GraphTable};
use crate::launcher::{Launcher, LauncherArguments, LauncherMessage, Launches};
use crate::pool::{POOL_KEEPER, PoolKeeper, PoolKeeperArguments, PoolTable, Pools};
use crate::registry::Admission;
use crate::registry::Retention;
use crate::scheduler::{Clock, ScheduleStore, Scheduler, SchedulerArguments, SchedulerMessage};
use crate::slot::ActorSlot;
use crate::store::{PostgresUrl, Recovered, Store, StoreLimits};
use crate::supervisor::{
    ChildSpec, RootSupervisor, SupervisorArguments, SupervisorMessage, SupervisorPolicy,
};

/// How long a request waits for a restarting actor by default
/// (`Config::restart_wait`).
pub const DEFAULT_RESTART_WAIT: Duration = Duration::from_secs(5);

/// Most launched runs in flight at once by default (`Config::max_queued`).
pub const DEFAULT_MAX_QUEUED: usize = 100_000;

/// What the runtime is started with: the facade's `Config` without the
/// parts only the facade reads (logging).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Limits shared by every actor (concurrency, graces, output, rings).
    pub limits: Limits,
    /// What the registry keeps of finished runs.
    pub retention: Retention,
    /// The root supervisor's strategy, restart intensity and backoff.
    pub policy: SupervisorPolicy,
    /// How long a request waits for a restarting actor to come back.
    pub restart_wait: Duration,
    /// Most launched runs in flight at once (a bound of 0 is raised to 1).
    pub max_queued: usize,
    /// The wall clock cron schedules follow.
    pub clock: Clock,
    /// The durable store's file; `None` keeps everything in memory.
    pub store: Option<PathBuf>,
    /// The PostgreSQL store (feature `postgres`), used instead of `store`
    /// when set.
    pub postgres: Option<PostgresUrl>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            limits: Limits::default(),
            retention: Retention::default(),
            policy: SupervisorPolicy::default(),
            restart_wait: DEFAULT_RESTART_WAIT,
            max_queued: DEFAULT_MAX_QUEUED,
            clock: Clock::system(),
            store: None,
            postgres: None,
        }
    }
}

/// A started runtime: every handle the facade reaches it through.
///
/// Nothing here stops the runtime on drop: its owner sends the supervisor
/// [`SupervisorMessage::Shutdown`] for a graceful stop, or calls
/// `ctx.shutdown().emergency()` and kills the supervisor.
#[derive(Debug)]
pub struct Runtime {
    /// The shared runtime state.
    pub ctx: Arc<Context>,
    /// The root supervisor (stop it to stop the actors).
    pub supervisor: ActorRef<SupervisorMessage>,
    /// The executor (Simple, LongRunning).
    pub executor: ActorSlot<ExecutorMessage>,
    /// The batch coordinator (Concurrent, task graphs).
    pub batch: ActorSlot<BatchMessage>,
    /// The launcher (FireAndForget).
    pub launcher: ActorSlot<LauncherMessage>,
    /// Launched runs: they outlive launcher incarnations, so shutdown
    /// drains them.
    pub launches: Arc<Launches>,
    /// The scheduler (Periodic).
    pub scheduler: ActorSlot<SchedulerMessage>,
    /// The schedules, shared by every scheduler incarnation.
    pub schedules: Arc<ScheduleStore>,
    /// The pools, and the slot of the pool keeper that manages them.
    pub pools: Pools,
    /// Task graphs in flight: outside the coordinator, so a restarted one
    /// adopts them.
    pub graphs: Arc<GraphTable>,
    /// Task graphs the store held unfinished, driven again (the facade
    /// rebuilds workflow instances from them).
    pub adopted: Vec<GraphRun>,
    /// Supervised services (those the store held are back already).
    pub services: crate::service::Services,
}

impl Runtime {
    /// Start the runtime: open the store and recover it, spawn the root
    /// supervisor and its pattern actors, and carry on what the store
    /// held. Must be called inside a tokio runtime.
    ///
    /// A stored task graph that cannot be rebuilt is left in the store as
    /// it is and logged; the rest of the runtime starts regardless.
    ///
    /// # Errors
    /// `Store { path, reason }` if the store cannot be opened (corrupt,
    /// newer release, read-only, in use); `ActorFailed` if the supervisor
    /// or one of its children could not be started (the supervisor stops
    /// the children it had started; the store is released with the
    /// context).
    pub async fn start(config: RuntimeConfig) -> Result<Runtime> {
        let RuntimeConfig {
            limits,
            retention,
            policy,
            restart_wait,
            max_queued,
            clock,
            store,
            postgres,
        } = config;
        let kill_grace = limits.process.kill_grace;
        // A graceful stop of a child waits out its runs' grace and kill
        // periods; give it that long before the supervisor kills it.
        // (Each at most `duration::MAX`, checked by `Config::validate`: no
        // overflow.)
        let child_stop = limits.shutdown_grace + kill_grace + Duration::from_secs(2);
        // Durable state: open the store and recover what it holds.
        let store_limits = StoreLimits {
            history_limit: retention.history_limit,
            output_budget: retention.output_budget,
            kill_grace,
        };
        let (store, mut recovered) = match postgres {
            Some(url) => open_postgres(url, store_limits).await?,
            None => open_store(store, store_limits).await?,
        };
        let ctx = Context::with_store(limits, retention, store.clone());
        // Before any recovered run waits for a permit in one of them.
        ctx.queues().restore(&recovered.queues);

        let executor = ActorSlot::new("executor", restart_wait);
        let scheduler = ActorSlot::new("scheduler", restart_wait);
        let schedules = ScheduleStore::with_store(clock, store);
        schedules.restore_from(&recovered, ctx.registry());
        let batch = ActorSlot::new("batch", restart_wait);
        // Outside the coordinator, so a restarted one adopts its graphs.
        let graphs = Arc::new(GraphTable::default());
        let launcher = ActorSlot::new("launcher", restart_wait);
        let launches = Launches::with_clock(Arc::clone(&ctx), max_queued, *schedules.clock());
        let pool_keeper = ActorSlot::new(POOL_KEEPER, restart_wait);
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
                let graphs = Arc::clone(&graphs);
                ChildSpec::new(batch.clone(), move || {
                    (
                        BatchCoordinator,
                        BatchArguments {
                            ctx: Arc::clone(&ctx),
                            graphs: Arc::clone(&graphs),
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
            .shutdown_timeout(child_stop + kill_grace)
        });
        let (supervisor, _join) = Actor::spawn(
            None,
            RootSupervisor,
            SupervisorArguments {
                children,
                policy,
                trace: Arc::clone(ctx.trace()),
                events: ctx.events().clone(),
                metrics: Arc::clone(ctx.metrics()),
                escalate: false,
                name: crate::supervisor::SUPERVISOR,
            },
        )
        .await
        .map_err(|e| Error::actor_failed("supervisor", e.to_string()))?;
        recover(&ctx, &launches, &mut recovered).await;
        let adopted = adopt_graphs(&ctx, &graphs, &batch, &mut recovered);
        // Services last: their incarnations are runs like any other.
        let services = crate::service::Services::new(Arc::clone(&ctx));
        services.restore(std::mem::take(&mut recovered.services));
        Ok(Runtime {
            services,
            pools: Pools::new(Arc::clone(&ctx), pool_table, pool_keeper),
            ctx,
            supervisor,
            executor,
            batch,
            launcher,
            launches,
            scheduler,
            schedules,
            graphs,
            adopted,
        })
    }
}

/// Open the store at `path` (if any) and recover it, off the async
/// threads: redb reads (and after a crash, checks) the file.
async fn open_store(path: Option<PathBuf>, limits: StoreLimits) -> Result<(Store, Recovered)> {
    let Some(path) = path else {
        return Ok((Store::disabled(), Recovered::default()));
    };
    let fallback = path.clone();
    tokio::task::spawn_blocking(move || Store::open(path, limits))
        .await
        .unwrap_or_else(|e| {
            Err(Error::Store {
                path: fallback,
                reason: format!(
                    "opening the store failed inside the storage engine ({e}); the file was left \
                     untouched: move it aside (or delete it) to start with an empty history, or \
                     restore it from a backup"
                ),
            })
        })
}

/// Open the PostgreSQL store at `url` and recover it, off the async
/// threads (connecting, migrating and recovering block).
#[cfg(feature = "postgres")]
async fn open_postgres(url: PostgresUrl, limits: StoreLimits) -> Result<(Store, Recovered)> {
    let shown = url.to_string();
    tokio::task::spawn_blocking(move || Store::open_postgres(url.as_str(), limits))
        .await
        .unwrap_or_else(|e| {
            Err(Error::StoreConnect {
                url: shown,
                reason: format!("opening the store failed: {e}"),
            })
        })
}

/// Without the `postgres` feature a PostgreSQL store cannot be opened.
#[cfg(not(feature = "postgres"))]
async fn open_postgres(url: PostgresUrl, _: StoreLimits) -> Result<(Store, Recovered)> {
    Err(Error::InvalidStoreUrl {
        url: url.to_string(),
        reason: "this build of taskorch has no PostgreSQL support: enable the `postgres` \
                 feature"
            .into(),
    })
}

/// Carry on the halt and the runs the store held.
async fn recover(ctx: &Context, launches: &Launches, recovered: &mut Recovered) {
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
}

/// Task graphs a crash left unfinished carry on (finished tasks are not
/// run again). One that cannot be rebuilt is left in the store as it is
/// (not discarded) and reported; the rest of the runtime is already up.
fn adopt_graphs(
    ctx: &Arc<Context>,
    graphs: &Arc<GraphTable>,
    batch: &ActorSlot<BatchMessage>,
    recovered: &mut Recovered,
) -> Vec<GraphRun> {
    let mut adopted = Vec::new();
    for graph in std::mem::take(&mut recovered.graphs) {
        match crate::graph::adopt(ctx, graphs, batch.clone(), graph) {
            Ok(run) => adopted.push(run),
            Err(e) => tracing::error!(error = %e, "a stored task graph was not resumed"),
        }
    }
    adopted
}
