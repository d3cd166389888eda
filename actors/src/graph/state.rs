//! Where a graph is: [`GraphState`], one plain serde-serializable value
//! (each task's [`TaskStatus`], attempts, run, times, output or error),
//! with the [`GraphStats`] counts kept up to date by the one function that
//! changes a status ([`GraphState::set_status`]).
//!
//! It lives outside the batch coordinator (in the graph's shared job), so
//! a restarted coordinator picks the graph up where it was; and being
//! plain data, it can be stored and read back as it is.
//!
//! # Output bytes live in the registry, once
//! A task's captured stdout and stderr stay in its run's registry record,
//! where they count against `Config::output_budget` like any run's (the
//! oldest finished runs lose theirs first). The graph keeps the rest of
//! the [`Output`] (exit code, value, counts, flags) without the bytes, so
//! 2,000 tasks of 1 MB each cost the budget, not 2 GB. The handle's
//! `result`, `results`, `report` and `snapshot` fill the bytes in from the
//! run's record (with a store, from the store once the registry forgot
//! it); bytes reclaimed by the budget, or of a run forgotten without a
//! store, read as dropped (`stdout_dropped`, `stdout_truncated`).

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::spec::TaskKey;
use crate::error::Error;
use crate::output::Output;
use crate::run::{RunId, RunStatus};

/// Where a graph task is in its life. It only moves forward:
/// `Pending -> Ready -> Running -> {Succeeded, Failed, TimedOut, Cancelled,
/// Interrupted}`; a task that never runs ends `Skipped`, `Cancelled` or
/// `Interrupted` from `Pending` or `Ready`. The one way back is a retry by
/// hand (`GraphRun::retry`): a `Failed`, `TimedOut` or `Interrupted` task,
/// and the tasks `Skipped` because of it, go back to `Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for its dependencies.
    Pending,
    /// Dependencies succeeded; waiting for a slot (the graph's limit, the
    /// runtime's cap) or for its resources.
    Ready,
    /// Its run is under way.
    Running,
    /// Its run succeeded.
    Succeeded,
    /// Its run failed (non-zero exit, action error, could not start), after
    /// every retry.
    Failed,
    /// Its last attempt exceeded the task's time limit.
    TimedOut,
    /// Cancelled by the caller (`GraphRun::cancel`, `cancel_all`, or a
    /// cancel of its run).
    Cancelled,
    /// Cut short by the runtime: the coordinator died while it ran, or the
    /// orchestrator shut down before it ended.
    Interrupted,
    /// Never ran: a task it depends on (directly or further up) did not
    /// succeed.
    Skipped,
}

impl TaskStatus {
    /// Whether the task is over.
    pub fn is_terminal(&self) -> bool {
        !matches!(
            self,
            TaskStatus::Pending | TaskStatus::Ready | TaskStatus::Running
        )
    }

    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Ready => "ready",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::TimedOut => "timed_out",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Interrupted => "interrupted",
            TaskStatus::Skipped => "skipped",
        }
    }

    /// How a skip reason says a dependency ended ("failed", "timed out").
    pub(crate) fn verb(&self) -> &'static str {
        match self {
            TaskStatus::Failed => "failed",
            TaskStatus::TimedOut => "timed out",
            TaskStatus::Cancelled => "was cancelled",
            TaskStatus::Interrupted => "was interrupted",
            TaskStatus::Skipped => "was skipped",
            _ => "did not succeed",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<RunStatus> for TaskStatus {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Queued => TaskStatus::Ready,
            RunStatus::Running => TaskStatus::Running,
            RunStatus::Succeeded => TaskStatus::Succeeded,
            RunStatus::Failed => TaskStatus::Failed,
            RunStatus::Cancelled => TaskStatus::Cancelled,
            RunStatus::TimedOut => TaskStatus::TimedOut,
            RunStatus::Interrupted => TaskStatus::Interrupted,
        }
    }
}

/// Why a task did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    /// A short, stable name: an [`Error::kind`] ("timed_out",
    /// "not_found", ...), or "exit_code", "signal", "action_error" for a
    /// run that ended unsuccessfully, or "skipped".
    pub kind: String,
    /// What happened, in words.
    pub message: String,
    /// For a skipped task: the task whose failure it follows from.
    pub cause: Option<TaskKey>,
}

impl TaskError {
    pub(crate) fn from_error(e: &Error) -> Self {
        TaskError {
            kind: e.kind().to_string(),
            message: e.to_string(),
            cause: None,
        }
    }

    /// Why an unsuccessful output failed.
    pub(crate) fn from_output(out: &Output) -> Self {
        let stderr = out.stderr_str();
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        let (kind, mut message) = match (out.exit_code, out.signal) {
            (Some(code), _) => ("exit_code", format!("exited with code {code}")),
            (None, Some(signal)) => ("signal", format!("killed by signal {signal}")),
            (None, None) => ("action_error", "the action failed".to_string()),
        };
        if let Some(line) = last {
            message = if kind == "action_error" {
                line.trim().to_string()
            } else {
                format!("{message}: {}", line.trim())
            };
        }
        TaskError {
            kind: kind.to_string(),
            message,
            cause: None,
        }
    }

    /// A skip because `cause`, called `name`, ended `status`.
    pub(crate) fn skipped(cause: TaskKey, name: &str, status: TaskStatus) -> Self {
        TaskError {
            kind: "skipped".to_string(),
            message: format!("not run: {name:?} {}", status.verb()),
            cause: Some(cause),
        }
    }
}

/// One task's state (see [`GraphState`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    /// Where it is.
    pub status: TaskStatus,
    /// Attempts made (0 until it runs).
    pub attempts: u32,
    /// Its run in the registry, once it started.
    pub run: Option<RunId>,
    /// When its run started.
    pub started: Option<SystemTime>,
    /// When it reached its terminal status.
    pub finished: Option<SystemTime>,
    /// How long its run took, all attempts included (`None` if it never
    /// ran).
    pub duration: Option<Duration>,
    /// What its run produced, if it got to finish. In the graph's own
    /// state the captured bytes are counted as dropped (they live in the
    /// run's record, see the module docs); the handle's `snapshot` and
    /// results fill them in from there.
    pub output: Option<Box<Output>>,
    /// Why it did not succeed.
    pub error: Option<Box<TaskError>>,
    /// Order in which it became ready (for aging); 0 until then.
    pub ready_seq: u64,
}

impl TaskState {
    fn pending() -> Self {
        TaskState {
            status: TaskStatus::Pending,
            attempts: 0,
            run: None,
            started: None,
            finished: None,
            duration: None,
            output: None,
            error: None,
            ready_seq: 0,
        }
    }
}

/// Counts of a graph's tasks by status, and execution times. Every task is
/// in exactly one of `pending`, `running`, `completed`, `failed`,
/// `cancelled` and `skipped`, so they add up to `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GraphStats {
    /// Tasks in the graph.
    pub total: usize,
    /// Not started: waiting for dependencies, a slot or resources.
    pub pending: usize,
    /// Of `pending`, those whose dependencies all succeeded.
    pub ready: usize,
    /// Running.
    pub running: usize,
    /// Succeeded.
    pub completed: usize,
    /// Ran and did not succeed: failed, timed out or interrupted.
    pub failed: usize,
    /// Of `failed`, those that timed out.
    pub timed_out: usize,
    /// Of `failed`, those cut short by the runtime (also those that never
    /// started because it shut down).
    pub interrupted: usize,
    /// Cancelled by the caller.
    pub cancelled: usize,
    /// Never ran because a dependency did not succeed.
    pub skipped: usize,
    /// Tasks whose run ended (the ones `avg_exec` averages over).
    pub executed: usize,
    /// Mean run time of the executed tasks.
    pub avg_exec: Duration,
    /// Sum of the run times of the executed tasks.
    pub total_exec: Duration,
}

impl GraphStats {
    /// Tasks in a terminal status.
    pub fn finished(&self) -> usize {
        self.completed + self.failed + self.cancelled + self.skipped
    }

    /// Whether every task is in a terminal status.
    pub fn is_finished(&self) -> bool {
        self.finished() == self.total
    }

    fn count(&mut self, status: TaskStatus, add: bool) {
        let bump = |n: &mut usize| {
            if add {
                *n += 1;
            } else {
                *n -= 1;
            }
        };
        match status {
            TaskStatus::Pending => bump(&mut self.pending),
            TaskStatus::Ready => {
                bump(&mut self.pending);
                bump(&mut self.ready);
            }
            TaskStatus::Running => bump(&mut self.running),
            TaskStatus::Succeeded => bump(&mut self.completed),
            TaskStatus::Failed => bump(&mut self.failed),
            TaskStatus::TimedOut => {
                bump(&mut self.failed);
                bump(&mut self.timed_out);
            }
            TaskStatus::Interrupted => {
                bump(&mut self.failed);
                bump(&mut self.interrupted);
            }
            TaskStatus::Cancelled => bump(&mut self.cancelled),
            TaskStatus::Skipped => bump(&mut self.skipped),
        }
    }
}

/// Everything known about one graph's progress (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphState {
    /// One per task, in the order they were added.
    pub tasks: Vec<TaskState>,
    /// The counts, kept in step with `tasks`.
    pub stats: GraphStats,
    /// The next ready sequence number.
    pub next_ready: u64,
    /// Tasks that started or ended since the job last looked (the durable
    /// store journals them; see `graph/durable.rs`). Drained by every
    /// change of the job's state, so it stays short.
    #[serde(skip)]
    pub(crate) changed: Vec<u32>,
}

impl GraphState {
    /// Every one of `n` tasks pending.
    pub(crate) fn new(n: usize) -> Self {
        GraphState {
            tasks: (0..n).map(|_| TaskState::pending()).collect(),
            stats: GraphStats {
                total: n,
                pending: n,
                ..GraphStats::default()
            },
            next_ready: 1,
            changed: Vec::new(),
        }
    }

    /// `n` more tasks, pending (a graph that grows).
    pub(crate) fn grow(&mut self, n: usize) {
        self.tasks.extend((0..n).map(|_| TaskState::pending()));
        self.stats.total += n;
        self.stats.pending += n;
    }

    /// Task `i`'s status.
    pub fn status(&self, i: usize) -> TaskStatus {
        self.tasks[i].status
    }

    /// Move task `i` to `status`, keeping the counts (the one place a
    /// status changes). A terminal task stays as it is; returns whether
    /// the status changed.
    pub(crate) fn set_status(&mut self, i: usize, status: TaskStatus) -> bool {
        let task = &mut self.tasks[i];
        let old = task.status;
        if old == status || old.is_terminal() {
            return false;
        }
        task.status = status;
        if status == TaskStatus::Ready {
            task.ready_seq = self.next_ready;
            self.next_ready += 1;
        }
        if status == TaskStatus::Running || status.is_terminal() {
            self.changed.push(i as u32);
        }
        if status.is_terminal() {
            task.finished = Some(SystemTime::now());
            if let Some(took) = task.duration {
                self.stats.executed += 1;
                self.stats.total_exec += took;
                self.stats.avg_exec = self.stats.total_exec / self.stats.executed as u32;
            }
        }
        self.stats.count(old, false);
        self.stats.count(status, true);
        true
    }

    /// Put terminal task `i` back to `Pending`, as if it had never run (a
    /// retry by hand: `GraphRun::retry`), keeping the counts; its
    /// `ready_seq` is kept, so aging still counts from when it first
    /// became ready. The one way back from a terminal status; returns
    /// whether it was terminal.
    pub(crate) fn reopen(&mut self, i: usize) -> bool {
        let old = self.tasks[i].status;
        if !old.is_terminal() {
            return false;
        }
        let ready_seq = self.tasks[i].ready_seq;
        let task = std::mem::replace(&mut self.tasks[i], TaskState::pending());
        self.tasks[i].ready_seq = ready_seq;
        if let Some(took) = task.duration {
            self.stats.executed -= 1;
            self.stats.total_exec = self.stats.total_exec.saturating_sub(took);
            self.stats.avg_exec = match self.stats.executed {
                0 => Duration::ZERO,
                n => self.stats.total_exec / n as u32,
            };
        }
        self.stats.count(old, false);
        self.stats.count(TaskStatus::Pending, true);
        true
    }

    /// End task `i` without running it (skipped, cancelled, interrupted).
    pub(crate) fn end_unrun(&mut self, i: usize, status: TaskStatus, error: TaskError) -> bool {
        if !matches!(
            self.tasks[i].status,
            TaskStatus::Pending | TaskStatus::Ready
        ) {
            return false;
        }
        self.tasks[i].error = Some(Box::new(error));
        self.set_status(i, status)
    }
}
