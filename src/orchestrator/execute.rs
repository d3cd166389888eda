//! Automatic pattern selection: `execute(Request)` checks the request,
//! picks the pattern and hands the work to that pattern's own method — no
//! pattern is implemented twice.

use taskorch_actors::{Error, ExecutionPlan, Request, Result};

use super::Orchestrator;
use crate::execution::Execution;

impl Orchestrator {
    /// Run `request` in the pattern its options call for and return that
    /// pattern's result.
    ///
    /// The pattern is the one named with `Request::pattern`, or else the
    /// first rule that matches ([`Pattern::select`](crate::Pattern::select)):
    ///
    /// | request | pattern | delegates to | answer |
    /// |---|---|---|---|
    /// | `.every(d)` / `.schedule(trigger)` | Periodic | [`schedule`](Self::schedule), named after the task | `Scheduled(Schedule)` |
    /// | `.streaming(true)` | LongRunning | [`stream`](Self::stream) | `Streaming(RunStream)` |
    /// | `.batch(tasks, limit)` | Concurrent | [`run_batch`](Self::run_batch) | `Batch(Vec<Result<Output>>)` |
    /// | `.wait(false)` | FireAndForget | [`launch`](Self::launch) | `Launched(RunId)` |
    /// | `.pooled(name)` | Pooled | [`Pool::request`](crate::Pool::request) with the task's stdin line | `Pooled(String)` |
    /// | none of these | Simple | [`run`](Self::run) | `Completed(Output)` |
    ///
    /// ```no_run
    /// # async fn f(orch: taskorch::Orchestrator) -> taskorch::Result<()> {
    /// use std::time::Duration;
    /// use taskorch::{Execution, Request, Task};
    ///
    /// let encode = Task::command("ffmpeg").args(["-i", "in.mov", "out.mp4"]);
    /// if let Execution::Streaming(mut stream) = orch.execute(Request::new(encode).streaming(true)).await? {
    ///     while let Some(line) = stream.next_line().await {
    ///         eprintln!("{}", line.text);
    ///     }
    /// }
    /// let health = Task::command("curl").args(["-fsS", "localhost:8080/health"]).name("health");
    /// let every_5s = orch.execute(Request::new(health).every(Duration::from_secs(5))).await?;
    /// # let _ = every_5s; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `InvalidTask` before anything runs when the options conflict or a
    /// pattern lacks what it needs (see [`Request::validate`]); then the
    /// errors of the pattern's own method. A Concurrent request is `Ok`
    /// with each task's outcome in its slot, as `run_batch` reports it. A
    /// pool request answers `PoolUnavailable` when no pool of that name is
    /// open, and `TimedOut { run: None, .. }` when the task's own
    /// `timeout` passes before the reply.
    ///
    /// # Cancel safety
    /// As the pattern's own method: a run, batch or schedule the actor has
    /// accepted goes on if the future is dropped; a pool request is
    /// skipped or its reply discarded.
    pub async fn execute(&self, request: Request) -> Result<Execution> {
        Ok(match request.into_plan()? {
            ExecutionPlan::Simple(task) => Execution::Completed(self.run(task).await?),
            ExecutionPlan::LongRunning(task) => Execution::Streaming(self.stream(task).await?),
            ExecutionPlan::Concurrent { tasks, limit } => {
                Execution::Batch(self.run_batch(tasks, limit).await)
            }
            ExecutionPlan::FireAndForget(task) => Execution::Launched(self.launch(task).await?),
            ExecutionPlan::Periodic(spec) => Execution::Scheduled(self.schedule(spec).await?),
            ExecutionPlan::Pooled {
                pool,
                line,
                timeout,
            } => {
                // By name, not through a `Pool` handle: making one per
                // request costs three reference counts shared with the
                // pool's workers.
                let request = self.inner.pools.request(&pool, line);
                let reply = match timeout {
                    // `Pools::request` is cancel safe: a request dropped by
                    // the time-out is skipped or its reply discarded.
                    Some(after) => tokio::time::timeout(after, request)
                        .await
                        .map_err(|_| Error::TimedOut { run: None, after })?,
                    None => request.await,
                };
                Execution::Pooled(reply?)
            }
        })
    }
}
