//! The FireAndForget pattern: start it now, come back for the result later.

use std::sync::Arc;

use taskorch_actors::launcher::LauncherMessage;
use taskorch_actors::{Result, RunId, Task};

use super::Orchestrator;

impl Orchestrator {
    /// Start `task` and return its [`RunId`] as soon as the run is accepted
    /// (registered as `Queued`), before its process is spawned. Follow it
    /// with [`status`](Self::status), [`wait`](Self::wait) (any number of
    /// waiters, before or after it ends), [`cancel`](Self::cancel),
    /// [`observe().find_run`](crate::events::Observer::find_run) and [`observe().find_runs`](crate::events::Observer::find_runs).
    ///
    /// The run belongs to the runtime, not to the caller or to the launcher
    /// actor: it keeps going if the launcher crashes and restarts, and only
    /// [`shutdown`](Self::shutdown) (after `shutdown_grace`) or a cancel
    /// stops it. Its outcome stays in the registry until retention evicts
    /// it (`Config::history_limit`, `Config::output_budget`).
    ///
    /// A task with a delayed start (`Task::start_at`, `start_after`) is
    /// answered at once too, and stays `Queued` until it is due (a time in
    /// the past: at once); a cancel before then ends it `Cancelled` with
    /// nothing started. With a store its due time survives a restart, and
    /// one missed while the application was down runs once on the next
    /// start (see `docs/jobs.md`).
    ///
    /// # Errors
    /// Returned by `launch` itself, before anything runs: `InvalidTask` for
    /// malformed input, `InvalidDuration` for a start too far ahead,
    /// `NotFound` / `PermissionDenied` for a program that cannot be run,
    /// `UnknownAction`; `QueueFull` when `Config::max_queued`
    /// launched runs are already queued or running; `ShuttingDown`;
    /// `ActorFailed` if the launcher failed while handling this launch
    /// (the run was then not accepted). Everything that happens to the run
    /// afterwards is reported by [`wait`](Self::wait).
    ///
    /// # Cancel safety
    /// If the future is dropped before it completes, the launch may or may
    /// not have been accepted; an accepted run goes on and is listed by
    /// [`runs`](Self::runs).
    pub async fn launch(&self, task: Task) -> Result<RunId> {
        self.submit_launch(task, None).await
    }

    /// Launch `task`, as a rerun of `rerun_of` if given (see
    /// [`rerun`](Self::rerun)).
    pub(super) async fn submit_launch(&self, task: Task, rerun_of: Option<RunId>) -> Result<RunId> {
        self.inner.ctx.shutdown().check()?;
        let task = Arc::new(task);
        self.inner
            .launcher
            .request(|reply| LauncherMessage::Launch {
                task: Arc::clone(&task),
                rerun_of,
                reply,
            })
            .await
            // Dropping the answer is the run's go-ahead (see `Launched`).
            .map(|launched| launched.id())
    }
}
