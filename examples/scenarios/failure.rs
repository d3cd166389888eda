//! How a scenario fails: the orchestrator refused or lost the work, or a
//! step ran and exited unsuccessfully (its exit code and stderr kept).
//! Included once beside the scenario modules by each example and by the
//! integration test.

use std::fmt;

/// A scenario's error.
#[derive(Debug)]
pub enum Failure {
    /// The orchestrator could not run or finish a step.
    Orchestrator(taskorch::Error),
    /// A step ran and failed.
    Step {
        /// What the step was doing.
        step: String,
        /// Its exit code (`None` if killed by a signal).
        exit_code: Option<i32>,
        /// The end of what it wrote on stderr.
        stderr: String,
    },
}

impl Failure {
    /// A step that ran and produced `out` without success.
    pub fn step(step: impl Into<String>, out: &taskorch::Output) -> Self {
        Failure::Step {
            step: step.into(),
            exit_code: out.exit_code,
            stderr: out.stderr_str().trim().to_string(),
        }
    }
}

impl Failure {
    /// `execute` answered in another shape than the request's options
    /// call for (it never does; this keeps the scenario free of panics).
    pub fn unexpected(step: &str, answer: impl fmt::Debug) -> Self {
        Failure::broken(step, format!("execute() answered {answer:?}"))
    }

    /// A step that went wrong without a process to blame.
    pub fn broken(step: impl Into<String>, why: impl Into<String>) -> Self {
        Failure::Step {
            step: step.into(),
            exit_code: None,
            stderr: why.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Orchestrator(e) => write!(f, "{e}"),
            Failure::Step {
                step,
                exit_code,
                stderr,
            } => write!(f, "{step} failed (exit {exit_code:?}): {stderr}"),
        }
    }
}

impl std::error::Error for Failure {}

impl From<taskorch::Error> for Failure {
    fn from(e: taskorch::Error) -> Self {
        Failure::Orchestrator(e)
    }
}

/// A scenario's result.
pub type Result<T> = std::result::Result<T, Failure>;
