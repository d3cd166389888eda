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
//!
//! # Where the names are
//! The crate root holds the public API contract: what to run, the
//! [`Orchestrator`], the six patterns' specs and handles, runs and their
//! output, status and the trace. Everything else is in the module of its
//! concept: [`task`], [`output`], [`batch`], [`schedule`], [`pool`],
//! [`graph`], [`workflow`], [`execution`], [`events`], [`trace`], [`guard`],
//! [`queue`], [`store`], [`service`], [`supervision`], [`metrics`], [`logging`], `server` (feature
//! `server`: the HTTP API and `serve`), and `fault` (feature
//! `fault-injection`). The [`Orchestrator`]'s own docs list its methods and
//! sub-handles.
//!
//! ```
//! // Every contract name that exists today, from the root.
//! #[allow(unused_imports)]
//! use taskorch::{
//!     Advisor, Backoff, CapturedOutput, ChildState, ChildStatus, Config, Error, Execution,
//!     Metrics, Orchestrator, Output, OutputLine, Overlap, Pattern, Pool, PoolSpec, PoolStats,
//!     Priority, QueueSpec, Readiness, Recommendation, Request, Requirements, Restart, Result,
//!     RunId, RunInfo, RunQuery, RunStatus, RunStream, Schedule, ScheduleInfo, ScheduleSpec,
//!     Service, ServiceSpec, ServiceState, ServiceStatus, StreamKind, SystemStatus, Task,
//!     TraceLog, Trigger,
//! };
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

mod advisor;
pub mod batch;
// The `taskorch` command-line tool (feature `cli`, Unix: its read socket
// is a unix socket).
#[cfg(all(feature = "cli", unix))]
pub mod cli;
mod config;
pub mod events;
pub mod execution;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod graph;
pub mod guard;
pub mod logging;
pub mod metrics;
mod orchestrator;
#[cfg(feature = "otel")]
pub mod otel;
pub mod output;
pub mod pool;
pub mod queue;
/// The process layer's public face: liveness of pids and process groups,
/// what `/proc` says of a process (Linux), the run-id variable.
pub use taskorch_actors::process;
pub mod schedule;
pub mod service;
// The HTTP API (feature `server`).
#[cfg(feature = "server")]
pub mod server;
pub mod store;
pub mod supervision;
pub mod task;
pub mod trace;
pub mod workflow;

// The crate root holds the public API contract (DESIGN.md); everything
// else lives in the module of its concept.
pub use advisor::{Advisor, Alternative, Recommendation, Requirements};
pub use config::Config;
pub use execution::Execution;
pub use orchestrator::Orchestrator;
#[cfg(feature = "server")]
pub use server::serve;
#[cfg(feature = "fault-injection")]
pub use taskorch_actors::Fault;
pub use taskorch_actors::graph::Priority;
pub use taskorch_actors::queues::QueueSpec;
pub use taskorch_actors::scheduler::{Overlap, Schedule, ScheduleInfo, ScheduleSpec, Trigger};
pub use taskorch_actors::{
    Backoff, CapturedOutput, ChildState, ChildStatus, Error, Metrics, Output, OutputLine, Pattern,
    Pool, PoolSpec, PoolStats, Request, Restart, Result, RunId, RunInfo, RunQuery, RunStatus,
    RunStream, StreamKind, SystemStatus, Task, TraceLog,
};
pub use taskorch_actors::{Readiness, Service, ServiceSpec, ServiceState, ServiceStatus};

// The README and the guides in docs/ are compiled as doctests, so every
// Rust snippet in them builds against the API it shows (`no_run` where it
// would start real programs). The fault-injection guide needs that feature.
#[cfg(doctest)]
#[allow(dead_code)]
mod doc_snippets {
    #[doc = include_str!("../README.md")]
    struct Readme;
    #[doc = include_str!("../docs/cli.md")]
    struct Cli;
    #[doc = include_str!("../docs/patterns.md")]
    struct Patterns;
    #[doc = include_str!("../docs/graphs.md")]
    struct Graphs;
    #[doc = include_str!("../docs/selection.md")]
    struct Selection;
    #[doc = include_str!("../docs/durability.md")]
    struct Durability;
    #[doc = include_str!("../docs/guarantees.md")]
    struct Guarantees;
    #[doc = include_str!("../docs/supervision.md")]
    struct Supervision;
    #[doc = include_str!("../docs/actors.md")]
    struct Actors;
    #[doc = include_str!("../docs/tracing.md")]
    struct Tracing;
    #[doc = include_str!("../docs/workflows.md")]
    struct Workflows;
    #[doc = include_str!("../docs/jobs.md")]
    struct Jobs;
    #[doc = include_str!("../docs/migrating.md")]
    struct Migrating;
    #[doc = include_str!("../docs/postgres.md")]
    struct Postgres;
    #[doc = include_str!("../docs/services.md")]
    struct Services;
    #[cfg(feature = "fault-injection")]
    #[doc = include_str!("../docs/faults.md")]
    struct Faults;
    #[cfg(feature = "otel")]
    #[doc = include_str!("../docs/opentelemetry.md")]
    struct OpenTelemetry;
    #[cfg(feature = "server")]
    #[doc = include_str!("../docs/http.md")]
    struct Http;
}
