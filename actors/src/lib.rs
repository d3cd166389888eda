//! `taskorch-actors`: the runtime behind [taskorch](https://docs.rs/taskorch).
//!
//! Each execution pattern is served by one actor (ractor on tokio), under a
//! root supervisor that restarts what fails. State that must survive a
//! restart — runs, their output, actions — lives outside the actors in the
//! shared [`Context`]; the facade reaches each actor through an
//! [`ActorSlot`] the supervisor rewrites on every restart, so it never holds
//! a dead reference.
//!
//! # Supervision tree
//!
//! ```text
//! RootSupervisor                      (one_for_one, 5 restarts / 10 s per child)
//! ├── executor   Simple + LongRunning   runs: tokio tasks owned by the incarnation
//! │                                     state outside: Context { registry, actions }
//! └── launcher   FireAndForget          runs: owned by the runtime (outlive restarts;
//!                                       stopped by shutdown), state outside: Launches
//! ```
//!
//! More pattern actors (batch, launcher, scheduler, pool_keeper) join this
//! tree as they land; the supervisor takes any list of [`ChildSpec`]s.
//!
//! # Layout
//! - [`supervisor`]: root supervisor, child specs, strategies, status.
//! - [`executor`]: the executor actor.
//! - [`launcher`]: the launcher actor (FireAndForget).
//! - `runner`: one run from start to terminal status (attempts, retries,
//!   time-outs, cancellation), shared by every pattern actor.
//! - `process`: spawning, process groups, termination, bounded capture.
//! - [`registry`]: the run registry.
//! - [`shutdown`]: the one shutdown mechanism.
//! - `fault` (feature `fault-injection`): faults injected into actors.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

mod action;
mod context;
mod error;
pub mod executor;
#[cfg(feature = "fault-injection")]
mod fault;
pub mod launcher;
mod output;
mod panic_hook;
mod pattern;
mod process;
pub mod registry;
mod run;
mod runner;
pub mod shutdown;
mod slot;
pub mod supervisor;
mod task;

pub use action::{ActionFn, ActionTable};
pub use context::{Context, Limits};
pub use error::{Error, Result};
#[cfg(feature = "fault-injection")]
pub use fault::{Fault, FaultPlan};
pub use output::{Output, OutputLine, StreamKind};
pub use panic_hook::install as install_quiet_panic_hook;
pub use pattern::Pattern;
pub use process::{ProcessLimits, RUN_ID_ENV};
pub use registry::{Registry, Retention, RunQuery, RunRecord};
pub use run::{ParseRunIdError, RunId, RunInfo, RunStatus};
pub use slot::{ActorSlot, Reply};
pub use supervisor::{
    ChildMessage, ChildReport, ChildSpec, ChildState, ChildStatus, Restart, RestartIntensity,
    RootSupervisor, Strategy, SupervisorArguments, SupervisorMessage, SupervisorPolicy,
    SystemStatus,
};
pub use task::{Backoff, DEFAULT_MAX_OUTPUT, Task, TaskKind};
