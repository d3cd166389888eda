//! # taskorch
//!
//! An actor-based supervision runtime for running work — subprocess
//! commands and in-process Rust actions — inside long-lived Rust
//! applications.
//!
//! ```no_run
//! use taskorch::{Config, Orchestrator, Task};
//!
//! # async fn demo() -> taskorch::Result<()> {
//! let orch = Orchestrator::start(Config::default()).await?;
//! let out = orch.run(Task::command("echo").arg("hello")).await?;
//! assert!(out.success());
//! assert_eq!(out.stdout_str(), "hello\n");
//! orch.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Every pattern is served by an actor under a root supervisor that
//! restarts what fails: a crash never takes the application down, never
//! leaves a caller waiting forever, and never leaves a process behind.
//! The runtime itself lives in the `taskorch-actors` crate; this crate is
//! the facade.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

mod advisor;
// The `taskorch` command-line tool (feature `cli`, Unix: its read socket
// is a unix socket).
#[cfg(all(feature = "cli", unix))]
pub mod cli;
mod config;
mod execution;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod logging;
mod orchestrator;
pub mod workflow;

pub use advisor::{Advisor, Alternative, Recommendation, Requirements};
pub use config::{Config, LogFormat};
pub use orchestrator::{BLOCK_ACTION, Orchestrator, WorkflowReport, WorkflowRun};
#[cfg(feature = "fault-injection")]
pub use taskorch_actors::Fault;
pub use taskorch_actors::scheduler::{
    CatchUp, Clock, Overlap, Schedule, ScheduleInfo, ScheduleSpec, Trigger,
};
pub use taskorch_actors::{
    Backoff, ChildState, ChildStatus, Error, Output, OutputLine, Pattern, RUN_ID_ENV, Restart,
    RestartIntensity, Result, RunId, RunInfo, RunStatus, Strategy, StreamKind, SystemStatus, Task,
    TaskKind,
};
// The hard ceiling on captured bytes per stream.
pub use taskorch_actors::MAX_OUTPUT_CEILING;
pub use taskorch_actors::{Batch, BatchProgress, BatchSpec};
// The limit on every duration, and its check.
pub use taskorch_actors::duration;
// The process layer's public face: liveness of pids and process groups,
// what `/proc` says of a process (Linux), the run-id variable.
pub use taskorch_actors::process;
pub use taskorch_actors::{
    CapturedOutput, LineTimes, OutputChunk, OutputSubscription, RunStream, TimedOutput,
};
pub use taskorch_actors::{
    POOL_ENV, Pool, PoolSpec, PoolState, PoolStats, WORKER_ENV, WorkerLog, WorkerLogLine,
};
// What a retried run reports of each failed attempt.
pub use taskorch_actors::{Retries, RetryNotice};
pub use workflow::{Block, BlockType, RISK_LIMIT_BLOCK, ValueType, Workflow};
// FireAndForget and the run registry.
pub use taskorch_actors::RunQuery;
// Automatic pattern selection.
pub use execution::Execution;
pub use taskorch_actors::{ExecutionPlan, Request};
// Task graphs.
pub use taskorch_actors::graph::{
    Access, DEFAULT_AGING, GraphInfo, GraphReport, GraphRun, GraphState, GraphStats, GraphTask,
    Priority, Resource, ResourceId, ResourceKind, ResourceUsage, TaskError, TaskGraph, TaskKey,
    TaskResult, TaskState, TaskStatus,
};
// The message trace.
pub use taskorch_actors::{
    CorrelationId, EventKind, Outcome, TRACEPARENT_ENV, TraceEvent, TraceLog,
};
#[cfg(feature = "fault-injection")]
pub use taskorch_actors::{FaultStats, FaultTarget};
// Durable state: the store's history query.
pub use taskorch_actors::{HistoryQuery, StoredRun};
// Events, emergency halt, risk limits, circuit breakers.
pub use taskorch_actors::{
    BreakerOptions, BreakerSpec, BreakerState, BreakerStatus, EVENT_SCHEMA_VERSION, Event,
    EventBody, EventItem, EventStream, RiskLimit,
};
