//! The LongRunning pattern: start a task, watch its output live, cancel it
//! mid-way, read its output back later by run id.

use std::sync::Arc;

use taskorch_actors::executor::ExecutorMessage;
use taskorch_actors::{CapturedOutput, Result, RunId, RunStream, Task};

use super::Orchestrator;

impl Orchestrator {
    /// Start `task` and return as soon as it is accepted, with a
    /// [`RunStream`] of its output as the child writes it: lines (stdout
    /// and stderr interleaved in arrival order, [`RunStream::next_line`]) or
    /// raw bytes, stdout and stderr apart ([`RunStream::next_chunk`]);
    /// [`RunStream::wait`] gives the [`Output`](crate::Output) at the end.
    ///
    /// The stream is lossless: it gets every byte, and while its reader is
    /// behind, the child's pipes are not read (the child waits, as in a
    /// shell pipeline). Other readers ([`output`](Self::output),
    /// [`Observer::subscribe_output`](crate::events::Observer::subscribe_output)) read a bounded ring
    /// and are told what it dropped. See [`RunStream`].
    ///
    /// Dropping the stream does not stop the run (see [`RunStream`]);
    /// [`cancel`](Self::cancel) or [`RunStream::cancel_on_drop`] do.
    ///
    /// A task whose key ([`Task::key`]) names a live run, or one finished
    /// within `Config::key_window`, starts nothing, as with
    /// [`launch`](Self::launch): the answer follows that run
    /// ([`RunStream::is_owner`] is `false`), reading its ring like
    /// `subscribe_output` (the lines it still holds, then live ones, so it
    /// may miss lines and never slows the run), and its `wait` gives that
    /// run's outcome. The stream that started the run keeps its lossless
    /// queue.
    ///
    /// A task with a delayed start is waited for first, as by
    /// [`run`](Self::run): the stream is answered once the task is due and
    /// accepted.
    ///
    /// # Errors
    /// Input errors before anything runs, as [`run`](Self::run):
    /// `InvalidTask`, `NotFound`, `PermissionDenied`, `UnknownAction`;
    /// `ActorFailed` if the executor failed while accepting the task;
    /// `ShuttingDown`. Errors of the run itself (time-out, cancel, ...) come
    /// from [`RunStream::wait`].
    ///
    /// # Cancel safety
    /// If the future is dropped after the executor accepted the task, the
    /// run goes on without a stream, like a dropped [`RunStream`]; it is
    /// listed by [`runs`](Self::runs).
    pub async fn stream(&self, task: Task) -> Result<RunStream> {
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
            .request(|reply| ExecutorMessage::Stream {
                task: Arc::clone(&task),
                reply,
            })
            .await
    }

    /// Every output line of run `id` still held in its ring, with the count
    /// of older lines dropped to keep the ring bounded. Works for runs of
    /// every pattern, while they run and after they end, whether or not
    /// anyone streamed them; an in-process action has no lines. `None` if
    /// the id is unknown here.
    ///
    /// Finished runs keep their lines until the registry's retention
    /// reclaims them (`Config::output_budget`, `Config::history_limit`);
    /// then `lines` is empty and `dropped` counts them.
    pub fn output(&self, id: RunId) -> Option<CapturedOutput> {
        let record = self.inner.ctx.registry().get(id)?;
        Some(record.captured())
    }
}
