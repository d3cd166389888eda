//! `taskorch-actors`: the runtime behind [taskorch](https://docs.rs/taskorch).
//!
//! Each execution pattern is served by one actor (ractor on tokio), under a
//! root supervisor that restarts what fails. State that must survive a
//! restart — runs, their output, actions — lives outside the actors in the
//! shared [`Context`]; the facade reaches each actor through an
//! [`ActorSlot`] the supervisor rewrites on every restart, so it never holds
//! a dead reference.
//!
//! With a durable [`Store`] (see [`store`]), runs, their output and the
//! schedules also survive a restart of the whole process: the registry and
//! the schedule store journal every change to it.
//!
//! # Supervision tree
//!
//! ```text
//! RootSupervisor                      (one_for_one, 5 restarts / 10 s per child)
//! ├── executor   Simple + LongRunning   runs: tokio tasks owned by the incarnation
//! │                                     state outside: Context { registry, actions }
//! │                                     LongRunning: RunStream reads the run's line
//! │                                     ring in its registry record, never the actor
//! ├── batch      Concurrent             one driver task per batch, owned by the incarnation;
//! │                                     runs started lazily, at most `limit` per batch
//! │                                     + task graphs: one driver per graph, state outside
//! │                                     (GraphTable { graphs, resources }), adopted on restart
//! ├── launcher   FireAndForget          runs: owned by the runtime (outlive restarts;
//! │                                     stopped by shutdown), state outside: Launches
//! ├── scheduler  Periodic               timing heap + timer task, rebuilt on restart
//! │                                     state outside: ScheduleStore { schedules, counters, next due }
//! ├── pool_keeper  Pooled               one worker actor per warm process, restarted
//! │   │                                 by the keeper (backoff, give-up on bad programs)
//! │   │                                 state outside: PoolTable { spec, queue, counters, logs }
//! │   └── pool_worker × n               serve loop: pulls requests from the pool's queue
//! ├── <user actor>                      the application's own (`user`), added at run
//! │                                     time, restarted alone; state outside: its own
//! └── <actor group>                     a second RootSupervisor (its strategy, escalation)
//!     └── <user actor> × n              members, started from a list kept outside it
//!
//! Services (beside the tree)          one keeper task per supervised service: its own
//!                                     restart policy, window and backoff (see `service`)
//! ```
//!
//! The supervisor takes any list of [`ChildSpec`]s; the five above are
//! the ones the facade starts, in that order (they stop in reverse). User
//! actors and groups come after them, in the order the application starts
//! them, so they stop first.
//!
//! # Layout
//!
//! The workspace, one row per module. A call goes: `Orchestrator` method
//! (facade) -> typed message to the pattern's actor through its
//! [`ActorSlot`] -> the actor starts the work in a tokio task it owns ->
//! state changes go to the run registry and the event stream -> the caller
//! gets its reply; `status`, `wait` and `runs` read the registry, never an
//! actor.
//!
//! ```text
//! Cargo.toml              workspace + root package `taskorch` (the facade)
//! src/                    crate `taskorch`
//!   lib.rs                the public API: re-exports of the runtime's types
//!   orchestrator.rs       Orchestrator: start (Config -> RuntimeConfig, Runtime::start), shutdown, abort;
//!   orchestrator/         one file per pattern (simple, long_running, concurrent,
//!                         fire_and_forget, periodic, pooled), execute, graph, runs,
//!                         durable (the store, history), events, halt (halt, risk
//!                         limits, breakers), metrics (metrics, is_running), trace
//!                         (trace, faults), workflow
//!   metrics.rs            the parts of Metrics (the snapshot is at the root)
//!   config.rs             Config, its presets and checks
//!   execution.rs          Execution, what `execute` answers
//!   advisor.rs            Advisor: a pattern recommended from requirements
//!   workflow.rs           Workflow definitions (JSON/TOML), BlockType, validation
//!   logging.rs            opt-in tracing-subscriber setup (compact, pretty, JSON lines)
//!   fault.rs, fault/      fault injection for users' tests (feature `fault-injection`);
//!                         chaos/: the seeded chaos harness (plan, workload, hazards,
//!                         process checks, report)
//!   cli.rs, cli/          the CLI as a library (feature `cli`): one file per
//!                         subcommand (run, batch, up, read, trace, advise), jobs
//!                         files, joblog, pipes, signals, the store directory,
//!                         up's read socket (serve) and its client, wire types, rendering
//!   bin/taskorch.rs       the binary: parses arguments, maps errors to exit codes
//! actors/src/             crate `taskorch-actors`: the runtime
//!   supervisor.rs, supervisor/  root supervisor: child specs, strategies, restart
//!                         window and backoff, status
//!   executor.rs           the executor actor (Simple, LongRunning)
//!   batch.rs, batch/      the batch coordinator (Concurrent): spec, handle, one driver per batch
//!   graph.rs, graph/      task graphs, driven by the batch coordinator: spec, checked
//!                         plan, state, ready queue (aging), resources, driver, handle,
//!                         store hooks
//!   launcher.rs           the launcher actor (FireAndForget); launched runs owned by the runtime
//!   scheduler.rs, scheduler/  the scheduler actor (Periodic): triggers (croner), clock,
//!                         schedule store (outside the actor), tick rules, timing heap,
//!                         timer, store hooks
//!   pool.rs, pool/        the pool keeper (Pooled), worker actors, serve loop (the hot
//!                         path), spec, shared state, log ring
//!   service.rs, service/  supervised services: spec, one keeper task per service
//!                         (restart policy, intensity, backoff), incarnations as runs,
//!                         readiness/liveness probes, dependency order, store records
//!   runner.rs             one run from start to terminal status: attempts, retries,
//!                         time-outs, cancellation; shared by every pattern actor
//!   process.rs, process/  resolution, spawning in process groups, termination, bounded
//!                         capture, piped children (pool workers), the guardian,
//!                         /proc, orphans of a crashed predecessor: the only
//!                         module that signals a process or reads /proc
//!   command.rs            CommandSpec: the one description of a program to start
//!                         (held by Task and PoolSpec)
//!   lines.rs, lines/      each run's bounded ring of output lines: splitter, readers, times
//!   stream.rs             RunStream, the handle of a LongRunning run
//!   registry.rs, registry/  the run registry (outside the actors; survives restarts):
//!                         state machine, retention, queries (RunQuery), store hooks
//!   store.rs, store/      the durable store (redb): records (bincode + version byte),
//!                         group-commit writer and retention, recovery, history, graphs
//!   runtime.rs            the wiring: Runtime::start builds the tree above from a
//!                         RuntimeConfig (the top layer)
//!   message.rs            the one message trait + macro of the five pattern actors
//!   request.rs            Request (what `execute` is asked for) and its pattern check
//!   context.rs            the runtime context: the state every actor shares
//!   queues.rs, queues/    execution permits: priority with aging, named queues
//!                         (concurrency, rate limit, pause), their snapshot
//!   slot.rs               where callers find an actor's current incarnation; re-delivery
//!   action.rs             in-process actions: named async functions from JSON to JSON
//!   task.rs, run.rs, output.rs, pattern.rs  the vocabulary: Task, RunId/RunStatus/RunInfo,
//!                         Output and output lines, the six patterns
//!   error.rs              the one error type of the runtime
//!   duration.rs, env.rs   user durations made safe; a child's environment
//!   shutdown.rs           the one shutdown mechanism
//!   events.rs, events/    the event stream: typed events, broadcast hub
//!   metrics.rs, metrics/  runtime-wide metrics: the recorder (atomics: counts,
//!                         per-second rate ring, latency windows) and the snapshot
//!   halt.rs, risk.rs, breaker.rs  the emergency halt, risk limits, circuit breakers
//!   trace.rs, trace/      the message trace: a pre-sized ring, correlation + TRACEPARENT
//!   user.rs, user/        the application's own actors under the root: specs, names,
//!                         the tracing wrapper, handles, actor groups
//!   fault.rs              fault injection (feature `fault-injection`)
//!   panic_hook.rs         the quiet panic hook, chained to the application's
//! tests/                  one integration-test binary (tests/tests.rs lists the modules)
//! benches/                benchmarks against raw floors (benches/README.md)
//! examples/               runnable programs (listed in README.md); scenarios/: the
//!                         code the video_pipeline, ml_training and api_service examples
//!                         and tests/scenarios.rs share
//! docs/                   the guides, compiled as doctests of `taskorch`
//! ```
//!
//! # Layers
//! Each top-level module imports only modules of its own layer or below,
//! with no cycle among them (checked by `actors/tests/layers.rs`, which
//! holds the same list). Bottom first:
//! 1. `pattern`, `task_key`, `priority`, `action`, `panic_hook`: names
//!    and hooks.
//! 2. `run`, `error`, `output`, `trace`: the vocabulary of runs.
//! 3. `duration`, `env`, `shutdown`, `events`, `metrics`: small services
//!    over it (`metrics` records with atomics only, so the registry, the
//!    store's writer and the supervisor below the context can all feed it).
//! 4. `breaker`, `lines`, `risk`, `slot`: per-run and per-actor parts.
//! 5. `command`, `task`, `process`: what runs, and how a process runs.
//! 6. `store`, `supervisor`: durable state; the supervision tree.
//! 7. `registry`, `fault`: the run registry; injected faults.
//! 8. `halt`, `stream`, `message`, `queues`: services over the registry;
//!    the pattern actors' message trait; execution permits by priority and
//!    named queue.
//! 9. `context`: runtime-wide state only.
//! 10. `runner`, `user`: one run from start to terminal status; the
//!     application's own actors and actor groups under the root
//!     supervisor.
//! 11. `executor`, `launcher`, `scheduler`, `pool`, `graph`, `batch`,
//!     `request`, `service`: the pattern actors and the requests that
//!     pick them; the application's supervised services.
//! 12. `runtime`: wires the tree ([`Runtime::start`]).

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

mod action;
pub mod batch;
pub mod breaker;
mod command;
mod context;
pub mod duration;
mod env;
mod error;
pub mod events;
pub mod executor;
#[cfg(feature = "fault-injection")]
mod fault;
pub mod graph;
pub mod halt;
pub mod launcher;
pub mod lines;
mod message;
pub mod metrics;
mod output;
mod panic_hook;
mod pattern;
pub mod pool;
mod priority;
pub mod process;
pub mod queues;
pub mod registry;
mod request;
pub mod risk;
mod run;
mod runner;
pub mod runtime;
pub mod scheduler;
pub mod service;
pub mod shutdown;
mod slot;
pub mod store;
mod stream;
pub mod supervisor;
mod task;
mod task_key;
pub mod trace;
pub mod user;

pub use action::{ActionFn, ActionTable};
pub use batch::{Batch, BatchProgress, BatchSpec};
pub use breaker::{BreakerOptions, BreakerSpec, BreakerState, BreakerStatus, Breakers};
pub use context::{Context, LentPermit, Limits};
pub use error::{Bound, Error, Result};
pub use events::{EVENT_SCHEMA_VERSION, Event, EventBody, EventItem, EventStream, Events};
#[cfg(feature = "fault-injection")]
pub use fault::{
    Fault, FaultPlan, FaultStats, FaultTarget, STORE_FAULT_TARGET, fault_targets, process_alive,
    process_group_alive,
};
pub use halt::Halt;
pub use lines::{CapturedOutput, LineLimits, LineLog, LineTimes, OutputSubscription, TimedOutput};
pub use metrics::{
    ActorMetrics, LatencySummary, Metrics, MetricsRecorder, QueueMetrics, RunCounts, StoreMetrics,
};
pub use output::{Output, OutputChunk, OutputLine, StreamKind};
pub use panic_hook::install as install_quiet_panic_hook;
pub use pattern::Pattern;
pub use pool::{
    POOL_ENV, Pool, PoolSpec, PoolState, PoolStats, Pools, WORKER_ENV, WorkerLog, WorkerLogLine,
};
pub use process::{ProcessLimits, RUN_ID_ENV, StopSignal};
pub use queues::{QueueSpec, QueueState, Queues, Rate};
pub use registry::{Registry, Retention, RunRecord};
pub use request::{ExecutionPlan, Request};
pub use risk::{RiskLimit, RiskLimits};
pub use run::{ParseRunIdError, RetryNotice, RunId, RunInfo, RunQuery, RunStatus};
pub use runtime::{Runtime, RuntimeConfig};
pub use service::{
    Escalation, Liveness, Readiness, Service, ServiceSpec, ServiceState, ServiceStatus, Services,
};
pub use slot::{ActorSlot, Reply};
pub use store::{
    NodeInfo, PostgresUrl, Recovered, ResumedRun, Store, StoreConfig, StoreLimits, StoredRun,
};
pub use stream::{Retries, RunStream};
pub use supervisor::{
    ChildMessage, ChildReport, ChildSpec, ChildState, ChildStatus, Restart, RestartIntensity,
    Strategy, SupervisorMessage, SupervisorPolicy, SystemStatus,
};
pub use task::{
    Backoff, DEFAULT_MAX_OUTPUT, JobOptions, MAX_KEY_BYTES, MAX_LABEL_KEY_BYTES,
    MAX_LABEL_VALUE_BYTES, MAX_LABELS, MAX_OUTPUT_CEILING, MAX_QUEUE_BYTES, Start, Task, TaskKind,
};
pub use trace::{
    Correlation, CorrelationId, EventKind, Outcome, TRACEPARENT_ENV, TraceEvent, TraceLog,
    TraceRecorder,
};
