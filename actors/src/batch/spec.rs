//! What a caller asks of the batch coordinator: a [`BatchSpec`] (the tasks
//! and the options), checked and turned into a [`BatchJob`], the one value
//! the caller's [`Batch`] handle and the batch's driver share.
//!
//! The job is shared (behind an `Arc`) rather than moved into the message
//! so that a request lost in a crashed mailbox can be re-sent without
//! copying the tasks: the driver that accepts the job takes the tasks out
//! of it exactly once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

use super::handle::{Batch, BatchProgress};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::task::Task;

/// A batch to run with the Concurrent pattern: the tasks, how many may run
/// at once, and what ends the batch early.
///
/// ```
/// use std::time::Duration;
/// use taskorch_actors::{BatchSpec, Task};
///
/// let spec = BatchSpec::new((0..100).map(|i| Task::command("gzip").arg(format!("part-{i}"))), 8)
///     .fail_fast(true)
///     .timeout(Duration::from_secs(600));
/// assert_eq!(spec.len(), 100);
/// ```
#[derive(Debug, Clone)]
pub struct BatchSpec {
    tasks: Vec<Task>,
    limit: usize,
    fail_fast: bool,
    timeout: Option<Duration>,
    report_each: bool,
}

impl BatchSpec {
    /// Run `tasks`, at most `limit` of them at once. Commands, shell
    /// scripts and in-process actions may be mixed.
    pub fn new(tasks: impl IntoIterator<Item = Task>, limit: usize) -> Self {
        BatchSpec {
            tasks: tasks.into_iter().collect(),
            limit,
            fail_fast: false,
            timeout: None,
            report_each: false,
        }
    }

    /// Also hand each result to [`Batch::next_finished`] as soon as its
    /// task ends, in the order they end (a caller that prints or logs
    /// per task need not wait for the whole batch). Default off. With it,
    /// each result's output bytes go to `next_finished` only: `wait` then
    /// returns every result with empty `stdout`/`stderr` (exit code,
    /// counts and truncation flags kept), so the batch never holds them
    /// twice.
    pub fn report_each(mut self, on: bool) -> Self {
        self.report_each = on;
        self
    }

    /// Stop at the first failure (a non-zero exit, an action error, or a
    /// task that could not run): runs in flight are terminated and report
    /// `Cancelled`, tasks not started yet report `Cancelled` too. Default
    /// off: every task runs whatever the others do.
    pub fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = on;
        self
    }

    /// A time limit for the whole batch, from the moment the coordinator
    /// starts it. Past it, runs in flight are terminated and every
    /// unfinished slot reports `TimedOut`. (Each task's own
    /// [`Task::timeout`] still applies to each of its attempts.)
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The concurrency limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Check the options (the tasks themselves are checked one by one as
    /// they start, so one bad task fails only its own slot).
    ///
    /// # Errors
    /// `InvalidTask` for a limit of zero or a zero timeout;
    /// `InvalidDuration` for a timeout above
    /// [`duration::MAX`](crate::duration::MAX).
    pub fn validate(&self) -> Result<()> {
        if self.limit == 0 {
            return Err(Error::InvalidTask(
                "batch limit must be at least 1 (got 0)".into(),
            ));
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(Error::InvalidTask(
                "batch timeout must be greater than zero".into(),
            ));
        }
        if let Some(limit) = self.timeout {
            crate::duration::check("BatchSpec::timeout", limit)?;
        }
        Ok(())
    }
}

/// A checked batch, shared by the caller's [`Batch`] handle and the driver
/// that runs it. Built by [`BatchJob::new`]; sent to the coordinator in
/// [`BatchMessage::Start`](super::BatchMessage::Start).
pub struct BatchJob {
    limit: usize,
    fail_fast: bool,
    timeout: Option<Duration>,
    total: usize,
    /// Fired by [`Batch::cancel`].
    cancel: CancellationToken,
    /// Written by the driver only, with a version bumped on every write;
    /// read by the handle. A plain lock and one `Notify` rather than a
    /// `watch` channel: the driver publishes once per finished run, and a
    /// `watch` send costs nine lock operations.
    progress: Mutex<(u64, BatchProgress)>,
    /// Woken on every publish.
    changed: Notify,
    /// Taken once, by the driver that accepts the job.
    pending: Mutex<Option<Pending>>,
    /// Results not yet taken by [`Batch::next_finished`] (task index,
    /// result), when the spec asked for them; woken through `changed`.
    finished: Option<Mutex<VecDeque<Finished>>>,
}

/// A task's index in the input and its result.
type Finished = (usize, Result<Output>);

/// What the accepting driver takes out of a [`BatchJob`].
pub(crate) struct Pending {
    pub(crate) tasks: Vec<Task>,
    pub(crate) results: oneshot::Sender<Vec<Result<Output>>>,
}

impl std::fmt::Debug for BatchJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchJob")
            .field("limit", &self.limit)
            .field("fail_fast", &self.fail_fast)
            .field("timeout", &self.timeout)
            .field("progress", &self.progress().1)
            .finish_non_exhaustive()
    }
}

impl BatchJob {
    /// Check `spec` and build the job and the caller's handle to it.
    ///
    /// # Errors
    /// As [`BatchSpec::validate`].
    pub fn new(spec: BatchSpec) -> Result<(Arc<BatchJob>, Batch)> {
        spec.validate()?;
        let total = spec.tasks.len();
        let (results_tx, results_rx) = oneshot::channel();
        let job = Arc::new(BatchJob {
            limit: spec.limit,
            fail_fast: spec.fail_fast,
            timeout: spec.timeout,
            total,
            cancel: CancellationToken::new(),
            progress: Mutex::new((0, BatchProgress::queued(total))),
            changed: Notify::new(),
            pending: Mutex::new(Some(Pending {
                tasks: spec.tasks,
                results: results_tx,
            })),
            finished: spec.report_each.then(|| Mutex::new(VecDeque::new())),
        });
        let handle = Batch::new(Arc::clone(&job), results_rx);
        Ok((job, handle))
    }

    /// Number of tasks.
    pub fn total(&self) -> usize {
        self.total
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn fail_fast(&self) -> bool {
        self.fail_fast
    }

    pub(crate) fn time_limit(&self) -> Option<Duration> {
        self.timeout
    }

    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    pub(crate) fn publish(&self, progress: BatchProgress) {
        {
            let mut current = self.progress.lock();
            current.0 += 1;
            current.1 = progress;
        }
        self.changed.notify_waiters();
    }

    /// Hand slot `index`'s result to `Batch::next_finished` when the spec
    /// asked for it (the next `publish` wakes the reader), and return what
    /// the slot keeps for `Batch::wait`: without `report_each`, all of it;
    /// with it, the result without its output bytes, which were handed
    /// over once rather than held twice until the batch ends (1,000 jobs of
    /// 1 MiB each would otherwise hold a gigabyte).
    pub(crate) fn report(&self, index: usize, result: Result<Output>) -> Result<Output> {
        let Some(finished) = &self.finished else {
            return result;
        };
        let kept = match &result {
            Ok(out) => Ok(Output {
                run_id: out.run_id,
                exit_code: out.exit_code,
                stdout: Vec::new(),
                stderr: Vec::new(),
                stdout_truncated: out.stdout_truncated,
                stderr_truncated: out.stderr_truncated,
                stdout_dropped: out.stdout_dropped,
                stderr_dropped: out.stderr_dropped,
                value: out.value.clone(),
                duration: out.duration,
                attempts: out.attempts,
                signal: out.signal,
            }),
            Err(e) => Err(e.clone()),
        };
        finished.lock().push_back((index, result));
        kept
    }

    /// The oldest result not yet taken; `None` when none waits (always
    /// `None` without `report_each`).
    pub(crate) fn take_finished(&self) -> Option<Finished> {
        self.finished.as_ref()?.lock().pop_front()
    }

    /// Whether the spec asked for each result.
    pub(crate) fn reports_each(&self) -> bool {
        self.finished.is_some()
    }

    /// The progress and its version.
    pub(crate) fn progress(&self) -> (u64, BatchProgress) {
        *self.progress.lock()
    }

    pub(crate) fn changed(&self) -> &Notify {
        &self.changed
    }

    /// Take the tasks and the results port; `None` if a driver already
    /// took them.
    pub(crate) fn take(&self) -> Option<Pending> {
        self.pending.lock().take()
    }
}
