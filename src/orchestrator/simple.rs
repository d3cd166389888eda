//! The Simple pattern: run one task, wait, get its output.

use std::sync::Arc;

use taskorch_actors::executor::ExecutorMessage;
use taskorch_actors::{Output, Result, Task};

use super::Orchestrator;

impl Orchestrator {
    /// Run `task` to completion and return its output.
    ///
    /// A non-zero exit is `Ok` with [`Output::success`] `false`; retries
    /// (`Task::retries`) happen before this returns, and
    /// [`Output::attempts`] counts them.
    ///
    /// A task with a delayed start (`Task::start_at`, `start_after`) is
    /// waited for here, in the caller, until it is due (a time in the past
    /// is due at once), then run; the run is registered when it starts.
    /// Dropping the future while it waits submits nothing.
    ///
    /// # Errors
    /// `InvalidTask` for malformed input, `NotFound` / `PermissionDenied`
    /// for a program that cannot be run, `UnknownAction`, `TimedOut`,
    /// `Cancelled` (another task called [`cancel`](Self::cancel)),
    /// `ActorFailed` if the executor died meanwhile, `ShuttingDown` (also
    /// when shutdown begins while a delayed task waits); `InvalidDuration`
    /// for a delayed start too far ahead.
    ///
    /// # Cancel safety
    /// Dropping the future does not stop the run: it continues to its end
    /// and stays readable through [`wait`](Self::wait) by the run id in the
    /// registry ([`runs`](Self::runs) lists it).
    pub async fn run(&self, task: Task) -> Result<Output> {
        self.inner.ctx.shutdown().check()?;
        // Most tasks start at once: they skip `until_start`, whose future
        // would copy the (large) task in and out again.
        let task = if task.job().start.is_none() {
            Arc::new(task)
        } else {
            Arc::new(self.until_start(task).await?)
        };
        self.inner
            .executor
            .request(|reply| ExecutorMessage::Run {
                task: Arc::clone(&task),
                reply,
            })
            .await
    }
}
