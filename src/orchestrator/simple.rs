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
    /// # Errors
    /// `InvalidTask` for malformed input, `NotFound` / `PermissionDenied`
    /// for a program that cannot be run, `UnknownAction`, `TimedOut`,
    /// `Cancelled` (another task called [`cancel`](Self::cancel)),
    /// `ActorFailed` if the executor died meanwhile, `ShuttingDown`.
    ///
    /// # Cancel safety
    /// Dropping the future does not stop the run: it continues to its end
    /// and stays readable through [`wait`](Self::wait) by the run id in the
    /// registry ([`runs`](Self::runs) lists it).
    pub async fn run(&self, task: Task) -> Result<Output> {
        self.inner.ctx.shutdown().check()?;
        let task = Arc::new(task);
        self.inner
            .executor
            .request(|reply| ExecutorMessage::Run {
                task: Arc::clone(&task),
                reply,
            })
            .await
    }
}
