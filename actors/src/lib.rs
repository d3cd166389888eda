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
//! └── pool_keeper  Pooled               one worker actor per warm process, restarted
//!     │                                 by the keeper (backoff, give-up on bad programs)
//!     │                                 state outside: PoolTable { spec, queue, counters, logs }
//!     └── pool_worker × n               serve loop: pulls requests from the pool's queue
//! ```
//!
//! More pattern actors (launcher, scheduler, pool_keeper) join this
//! tree as they land; the supervisor takes any list of [`ChildSpec`]s.
//!
//! # Layout
//! - [`supervisor`]: root supervisor, child specs, strategies, status.
//! - [`executor`]: the executor actor.
//! - [`scheduler`]: the scheduler actor, triggers, the schedule store.
//! - [`batch`]: the batch coordinator (Concurrent pattern).
//! - [`pool`]: the pool keeper and its worker actors (Pooled).
//! - [`graph`]: task graphs (dependencies, priorities, resources), driven
//!   by the batch coordinator.
//! - [`launcher`]: the launcher actor (FireAndForget).
//! - `runner`: one run from start to terminal status (attempts, retries,
//!   time-outs, cancellation), shared by every pattern actor.
//! - [`process`]: spawning, process groups, termination, bounded capture;
//!   the only module that signals a process or reads `/proc`.
//! - `command`: `CommandSpec`, the one description of a program to start
//!   (held by `Task` and `PoolSpec`).
//! - [`lines`]: each run's bounded ring of output lines and its readers.
//! - `stream`: [`RunStream`], the handle of a LongRunning run.
//! - [`registry`]: the run registry.
//! - `request`: [`Request`], what `Orchestrator::execute` is asked for,
//!   and the check that its options fit one pattern.
//! - [`store`]: the durable store (redb): run history, resume after restart.
//! - [`shutdown`]: the one shutdown mechanism.
//! - `fault` (feature `fault-injection`): faults injected into actors.
//! - [`trace`]: the message trace (every message every actor handles).
//! - [`events`]: the event stream (typed events, broadcast to subscribers).
//! - [`halt`]: the emergency halt switch.
//! - [`breaker`]: circuit breakers per dependency key.
//! - [`risk`]: risk limits (checked values that can halt the runtime).

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
mod output;
mod panic_hook;
mod pattern;
pub mod pool;
pub mod process;
pub mod registry;
mod request;
pub mod risk;
mod run;
mod runner;
pub mod scheduler;
pub mod shutdown;
mod slot;
pub mod store;
mod stream;
pub mod supervisor;
mod task;
pub mod trace;

pub use action::{ActionFn, ActionTable};
pub use batch::{Batch, BatchProgress, BatchSpec};
pub use breaker::{BreakerOptions, BreakerSpec, BreakerState, BreakerStatus, Breakers};
pub use context::{Context, LentSlot, Limits};
pub use error::{Error, Result};
pub use events::{EVENT_SCHEMA_VERSION, Event, EventBody, EventItem, EventStream, Events};
#[cfg(feature = "fault-injection")]
pub use fault::{
    Fault, FaultPlan, FaultStats, FaultTarget, STORE_FAULT_TARGET, fault_targets, process_alive,
    process_group_alive,
};
pub use halt::Halt;
pub use lines::{CapturedOutput, LineLimits, LineLog, LineTimes, OutputSubscription, TimedOutput};
pub use output::{Output, OutputChunk, OutputLine, StreamKind};
pub use panic_hook::install as install_quiet_panic_hook;
pub use pattern::Pattern;
pub use pool::{
    POOL_ENV, Pool, PoolSpec, PoolState, PoolStats, Pools, WORKER_ENV, WorkerLog, WorkerLogLine,
};
pub use process::{ProcessLimits, RUN_ID_ENV};
pub use registry::{Registry, Retention, RunQuery, RunRecord};
pub use request::{ExecutionPlan, Request};
pub use risk::{RiskLimit, RiskLimits};
pub use run::{ParseRunIdError, RetryNotice, RunId, RunInfo, RunStatus};
pub use slot::{ActorSlot, Reply};
pub use store::{HistoryQuery, Recovered, ResumedRun, Store, StoreLimits, StoredRun};
pub use stream::{Retries, RunStream};
pub use supervisor::{
    ChildMessage, ChildReport, ChildSpec, ChildState, ChildStatus, Restart, RestartIntensity,
    RootSupervisor, Strategy, SupervisorArguments, SupervisorMessage, SupervisorPolicy,
    SystemStatus,
};
pub use task::{Backoff, DEFAULT_MAX_OUTPUT, MAX_OUTPUT_CEILING, Task, TaskKind};
pub use trace::{
    Correlation, CorrelationId, EventKind, Outcome, TRACEPARENT_ENV, TraceEvent, TraceLog,
    TraceRecorder,
};
