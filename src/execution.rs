//! [`Execution`]: what [`Orchestrator::execute`](crate::Orchestrator::execute)
//! answers — the result of the pattern it picked, in that pattern's own
//! shape.

use taskorch_actors::scheduler::Schedule;
use taskorch_actors::{Output, Pattern, Result, RunId, RunStream};

/// The plan [`Request`](crate::Request) resolves to: the pattern picked, with its inputs.
pub use taskorch_actors::ExecutionPlan;

/// The [`Advisor`](crate::Advisor)'s explanation of a pattern, in parts.
pub use crate::advisor::Explanation;

/// The outcome of [`Orchestrator::execute`](crate::Orchestrator::execute),
/// one variant per pattern: exactly what the pattern's own method returns.
///
/// ```no_run
/// # async fn f(orch: taskorch::Orchestrator) -> taskorch::Result<()> {
/// use taskorch::{Execution, Request, Task};
///
/// match orch.execute(Request::new(Task::command("uptime"))).await? {
///     Execution::Completed(out) => print!("{}", out.stdout_str()),
///     other => unreachable!("no option asked for {:?}", other.pattern()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum Execution {
    /// Simple: the run's output, as `run` returns it.
    Completed(Output),
    /// LongRunning: the run's stream, as `stream` returns it.
    Streaming(RunStream),
    /// Concurrent: one result per task in input order, as `run_batch`
    /// returns them.
    Batch(Vec<Result<Output>>),
    /// FireAndForget: the run's id, as `launch` returns it.
    Launched(RunId),
    /// Periodic: the schedule's handle, as `schedule` returns it.
    Scheduled(Schedule),
    /// Pooled: the worker's reply line, as `Pool::request` returns it.
    Pooled(String),
}

impl Execution {
    /// The pattern that ran.
    pub fn pattern(&self) -> Pattern {
        match self {
            Execution::Completed(_) => Pattern::Simple,
            Execution::Streaming(_) => Pattern::LongRunning,
            Execution::Batch(_) => Pattern::Concurrent,
            Execution::Launched(_) => Pattern::FireAndForget,
            Execution::Scheduled(_) => Pattern::Periodic,
            Execution::Pooled(_) => Pattern::Pooled,
        }
    }

    /// The run id, for the patterns that start exactly one run (Simple,
    /// LongRunning, FireAndForget).
    pub fn run_id(&self) -> Option<RunId> {
        match self {
            Execution::Completed(out) => Some(out.run_id),
            Execution::Streaming(stream) => Some(stream.run_id()),
            Execution::Launched(id) => Some(*id),
            Execution::Batch(_) | Execution::Scheduled(_) | Execution::Pooled(_) => None,
        }
    }
}
