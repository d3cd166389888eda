//! Runs one accepted task to its terminal status: attempts, retries with
//! backoff, per-attempt time-out, cancellation, and the registry updates
//! along the way. Every pattern actor runs its work through here, so the
//! semantics (what is retried, what a time-out or a cancel returns, how a
//! run ends when its actor dies) are the same everywhere.
//!
//! Work is split in two steps so bad input never becomes a run:
//! [`prepare`] checks the task and resolves its program or action (errors
//! here are returned before anything is registered), then [`execute`]
//! drives a registered run.
//!
//! # A panic inside a run's task
//! Whatever panics while a run is driven — the runtime's own code, an
//! action's closure before it returns its future, an overflow no check
//! caught — [`execute`] catches it and ends the run `Failed` with
//! `Error::RunPanicked` (naming the run and the panic): the outcome is
//! recorded (durably, with a store), the output ring is closed, every
//! waiter wakes, and the caller gets that error. A run task that ends
//! without an outcome in any other way (it panicked outside `execute`, or
//! the tokio runtime dropped it) is ended by its [`RunGuard`]. Every
//! pattern's run task goes through both, so no run is ever left `Queued`
//! or `Running` by its own task. (A panic *inside an action's future* is
//! the action's own failure, caught per attempt: a failed `Output` with
//! the panic message on stderr, retried like any failure.)

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::FutureExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::action::ActionFn;
use crate::context::{Context, OwnedPermit};
use crate::error::{Error, Result};
use crate::lines::LineLog;
use crate::output::Output;
use crate::panic_hook::panic_message;
use crate::process::{self, Ending, ProcessSpec, SHELL, exit_signal};
use crate::registry::RunRecord;
use crate::task::{Task, TaskKind};

/// A task whose input has been checked and whose program or action has been
/// found: ready to run, any number of times.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) task: Arc<Task>,
    work: Work,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Work {
    Process(PathBuf),
    Action(ActionFn),
}

/// Check `task` and resolve what it runs.
///
/// # Errors
/// `InvalidTask` (malformed task, missing working directory), `NotFound`,
/// `PermissionDenied`, `UnknownAction`; `UnknownQueue` for a queue never
/// declared; `Halted` while the runtime is halted; `CircuitOpen` while the
/// task's breaker is open.
pub(crate) fn prepare(ctx: &Context, task: Arc<Task>) -> Result<Prepared> {
    task.validate()?;
    ctx.queues().check(task.job().queue.as_deref())?;
    // Halted, or the task's circuit open: refused before anything exists.
    ctx.halt().check()?;
    if let Some(spec) = task.breaker_spec() {
        ctx.breakers().check(spec)?;
    }
    if let Some(dir) = task.dir()
        && !dir.is_dir()
    {
        return Err(Error::InvalidTask(format!(
            "working directory {} does not exist or is not a directory",
            dir.display()
        )));
    }
    let work = match task.kind() {
        TaskKind::Command => {
            // The task's own PATH if it sets one; removed or not set, ours.
            let path = crate::env::lookup(task.env_ops(), "PATH").flatten();
            let program = &task.command_spec().program;
            Work::Process(ctx.programs().resolve(program, path, task.dir())?)
        }
        TaskKind::Shell { .. } => Work::Process(ctx.programs().resolve(SHELL.0, None, None)?),
        TaskKind::Action { name, .. } => Work::Action(
            ctx.actions()
                .get(name)
                .ok_or_else(|| Error::UnknownAction(name.clone()))?,
        ),
    };
    Ok(Prepared { task, work })
}

/// The actor incarnation that owns runs. Stopping it stops its runs; the
/// reason it was stopped is what their callers get.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    actor: &'static str,
    token: CancellationToken,
    reason: Arc<OnceLock<Error>>,
}

impl Owner {
    pub(crate) fn new(actor: &'static str, parent: &CancellationToken) -> Self {
        Owner {
            actor,
            token: parent.child_token(),
            reason: Arc::new(OnceLock::new()),
        }
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Stop every run of this owner; the first reason given wins.
    pub(crate) fn stop(&self, reason: Error) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// Why runs of this owner were stopped. A parent cancellation without a
    /// reason of our own is the runtime's emergency stop.
    pub(crate) fn reason(&self) -> Error {
        self.reason.get().cloned().unwrap_or(Error::ShuttingDown)
    }

    /// A guard that stops the owner's runs when dropped: held in the
    /// actor's state, it fires when the state is dropped after a panic.
    pub(crate) fn guard(&self) -> OwnerGuard {
        OwnerGuard(self.clone())
    }
}

/// See [`Owner::guard`].
#[derive(Debug)]
pub(crate) struct OwnerGuard(Owner);

impl Drop for OwnerGuard {
    fn drop(&mut self) {
        let actor = self.0.actor;
        self.0.stop(Error::actor_failed(
            actor,
            "the actor stopped while the run was in flight",
        ));
    }
}

/// Drive the registered run `record` of `prepared` to its end, record the
/// outcome, and return it.
///
/// The run is one event of the message trace (queued for an execution
/// permit, then executing) and one `tracing` span ("run": actor, run id,
/// correlation), inside which an action's own logging lands.
pub(crate) async fn execute(
    ctx: &Context,
    record: &RunRecord,
    prepared: &Prepared,
    owner: &Owner,
) -> Result<Output> {
    execute_in(ctx, record, prepared, owner, None).await
}

/// [`execute`] for a caller that already holds the run's execution permit
/// (a graph driver, which takes permits itself to start tasks in priority
/// order); the permit is freed when the run ends.
pub(crate) async fn execute_holding(
    ctx: &Context,
    record: &RunRecord,
    prepared: &Prepared,
    owner: &Owner,
    permit: OwnedPermit,
) -> Result<Output> {
    execute_in(ctx, record, prepared, owner, Some(permit)).await
}

/// [`execute`] with the permit it may hold: the trace event and the span
/// around [`drive`].
async fn execute_in(
    ctx: &Context,
    record: &RunRecord,
    prepared: &Prepared,
    owner: &Owner,
    held: Option<OwnedPermit>,
) -> Result<Output> {
    // Off, the trace costs no clock reads either.
    let traced = ctx.trace().is_on();
    // On the runtime's clock, like the run's start and end readings, so
    // the three stay in order under tokio's paused clock too.
    let entered = if traced {
        trace_ticks(Instant::now())
    } else {
        0
    };
    let correlation = record.correlation().map(|c| c.id);
    let span = tracing::debug_span!(
        target: "taskorch::run",
        "run",
        actor = owner.actor,
        message = "run",
        run_id = %record.id(),
        pattern = record.pattern().as_str(),
        correlation = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    if let Some(id) = correlation {
        span.record("correlation", tracing::field::display(id));
    }
    #[cfg(feature = "otel")]
    crate::trace::otel::adopt(&span, record.correlation().and_then(|c| c.otel_parent));
    let mut times = RunTimes::default();
    let guard = RunGuard::new(ctx, record, owner.actor);
    let driven = {
        // Pinned where it is made: the run's future is large, and each
        // adapter below would otherwise move it again.
        let driving = std::pin::pin!(drive(ctx, record, prepared, owner, held, &mut times));
        AssertUnwindSafe(driving)
            .catch_unwind()
            .instrument(span.clone())
            .await
    };
    let result = match driven {
        Ok(result) => result,
        Err(payload) => {
            let message = panic_message(&*payload);
            drop(payload);
            panicked(ctx, record, message).await
        }
    };
    drop(guard);
    span.record("status", record.status().as_str());
    let ok = matches!(&result, Ok(out) if out.success());
    if traced {
        // A run stopped before it started, or whose task panicked, has no
        // end reading of its own.
        let ended = times.ended.unwrap_or_else(Instant::now);
        ctx.trace().run(
            owner.actor,
            record.id(),
            correlation,
            entered,
            times.started.map(trace_ticks),
            Some(trace_ticks(ended)),
            ok,
        );
    }
    result
}

/// The clock readings of a run that [`drive`] takes and [`execute_in`]
/// traces: one reading at the start and one at the end serve the metrics,
/// `Output::duration` and the trace event alike.
#[derive(Debug, Default)]
struct RunTimes {
    /// When the run got its execution permit and started.
    started: Option<Instant>,
    /// When its work ended (before its end was recorded).
    ended: Option<Instant>,
}

/// The trace clock reading of `at`.
fn trace_ticks(at: Instant) -> u64 {
    crate::trace::ticks(at.into_std())
}

/// [`execute_in`] without the trace; notes in `times` when the run got its
/// execution permit and when its work ended.
async fn drive(
    ctx: &Context,
    record: &RunRecord,
    prepared: &Prepared,
    owner: &Owner,
    held: Option<OwnedPermit>,
    times: &mut RunTimes,
) -> Result<Output> {
    let Some(token) = record.token() else {
        // Ended before it started (cancelled while queued).
        return record.outcome().unwrap_or(Err(Error::Cancelled {
            run: Some(record.id()),
        }));
    };
    // Wait, still `Queued`, for a permit under the global concurrency cap.
    // Biased: a run stopped while queued must not start just because a
    // permit happens to be free too.
    let _permit = tokio::select! {
        biased;
        _ = token.cancelled() => {
            let stopped = Err(stop_error(record, owner));
            let _ = finish(ctx, record, stopped.clone(), Instant::now()).await;
            return record.outcome().unwrap_or(stopped);
        }
        permit = permit_for(ctx, record, held) => permit,
    };
    let started = Instant::now();
    if record.start_at(started).is_err() {
        return record
            .outcome()
            .unwrap_or_else(|| Err(stop_error(record, owner)));
    }
    times.started = Some(started);
    // Durable store: the start is committed before any work starts, so a
    // run found `Queued` after a crash certainly never started and may be
    // started again (see `store`). Nothing to wait for without a store.
    if let Err(e) = record.durable().await {
        let failed = Err(e);
        let _ = ctx.registry().finish_now(record, failed.clone());
        return failed;
    }
    let task = &prepared.task;
    // The injected fault `PanicInRun` hits the run's first attempt.
    let mut inject_panic = ctx.panic_in_run(owner.actor);
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        record.set_attempt(attempt);
        let fault = std::mem::take(&mut inject_panic);
        let result = match admit_attempt(ctx, task) {
            Err(refused) => Err(refused),
            Ok(trial) => {
                let result = attempt_once(ctx, record, prepared, &token, owner, fault).await;
                if let Some(trial) = trial {
                    trial.record(&result);
                }
                result
            }
        };
        let failed = match &result {
            Ok(out) => !out.success(),
            Err(e) => e.is_retryable(),
        };
        if !failed || attempt > task.retry_count() || token.is_cancelled() {
            break result;
        }
        let delay = task.backoff_policy().delay(attempt);
        tracing::debug!(run = %record.id(), attempt, ?delay, "retrying");
        record.note_retry(retry_notice(attempt, &result, delay));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = token.cancelled() => break Err(stop_error(record, owner)),
        }
    };
    let ended = Instant::now();
    times.ended = Some(ended);
    let result = result.map(|mut out| {
        out.attempts = attempt;
        out.duration = ended.saturating_duration_since(started);
        out
    });
    // `finish` refuses only a second outcome, which cannot happen here: this
    // task is the run's only runner. Durable before its waiters hear of it.
    let registry = ctx.registry();
    if registry.store().is_enabled() {
        // Boxed: see `finish`.
        let _ = Box::pin(registry.finish_timed(record, result.clone(), ended)).await;
    } else {
        let _ = registry.finish_now_timed(record, result.clone(), ended);
    }
    result
}

/// End `record` with `outcome` (see `Registry::finish_timed`), its end
/// read at `at`. Boxed: the future that waits for the store's commit is
/// ~400 bytes, and inline it would grow every run's future (which must
/// stay small to be cheap to allocate) for the runs without a store too.
async fn finish(
    ctx: &Context,
    record: &RunRecord,
    outcome: Result<Output>,
    at: Instant,
) -> std::result::Result<crate::run::RunStatus, crate::registry::IllegalTransition> {
    Box::pin(ctx.registry().finish_timed(record, outcome, at)).await
}

/// What a caller watching the run hears of failed attempt `attempt`.
fn retry_notice(attempt: u32, result: &Result<Output>, delay: Duration) -> crate::run::RetryNotice {
    let (exit_code, signal, error) = match result {
        Ok(out) => (out.exit_code, out.signal, None),
        Err(e) => (None, None, Some(e.to_string())),
    };
    crate::run::RetryNotice {
        attempt,
        exit_code,
        signal,
        error,
        delay,
    }
}

/// End `record`, whose task panicked with `message`, with `RunPanicked`;
/// what its caller gets (the recorded outcome, if one came first).
async fn panicked(ctx: &Context, record: &RunRecord, message: String) -> Result<Output> {
    let error = Error::RunPanicked {
        run: record.id(),
        message,
    };
    tracing::error!(run = %record.id(), %error, "a run's task panicked");
    match finish(ctx, record, Err(error.clone()), Instant::now()).await {
        Ok(_) => Err(error),
        // It had ended before the panic: that outcome stands.
        Err(_) => record.outcome().unwrap_or(Err(error)),
    }
}

/// Ends its run if the run's task lets go of it without an outcome: a
/// panic outside [`execute`] (`RunPanicked`), or the task dropped unfinished
/// by the tokio runtime (`ActorFailed`, so the run is `Interrupted`).
/// Nobody else would finish such a run, and its waiters would wait
/// forever. Create one at the top of every run task; [`execute`] holds one
/// too.
pub(crate) struct RunGuard<'a> {
    ctx: &'a Context,
    record: &'a RunRecord,
    actor: &'static str,
}

impl<'a> RunGuard<'a> {
    /// Guard `record`, owned by `actor`'s run task.
    pub(crate) fn new(ctx: &'a Context, record: &'a RunRecord, actor: &'static str) -> Self {
        RunGuard { ctx, record, actor }
    }
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        if self.record.status().is_terminal() {
            return;
        }
        let error = if std::thread::panicking() {
            Error::RunPanicked {
                run: self.record.id(),
                message: format!("the {} run task panicked (see the log)", self.actor),
            }
        } else {
            Error::actor_failed(self.actor, "the run's task ended before the run did")
        };
        // Refused only if it finished in between: then its outcome stands.
        let _ = self.ctx.registry().finish_now(self.record, Err(error));
    }
}

/// The permit a run holds while it executes: the one it was handed, or one
/// it waited for, by its priority and in its queue (kept with the run, so
/// a run resumed after a restart waits as it did before).
async fn permit_for(ctx: &Context, record: &RunRecord, held: Option<OwnedPermit>) -> OwnedPermit {
    match held {
        Some(permit) => permit,
        None => {
            ctx.execution_permit(record.priority(), record.queue())
                .await
        }
    }
}

/// What a stopped run reports: `Cancelled` if the caller asked for it,
/// otherwise why its owner stopped (with this run's id, where the owner
/// stopped a whole group of runs with one reason).
fn stop_error(record: &RunRecord, owner: &Owner) -> Error {
    if record.cancel_requested() {
        Error::Cancelled {
            run: Some(record.id()),
        }
    } else {
        owner.reason().for_run(record.id())
    }
}

/// One attempt of the run. `inject_panic` (the injected fault
/// `PanicInRun`) makes it panic once the work has begun: right after the
/// process is spawned, or before the action is called.
async fn attempt_once(
    ctx: &Context,
    record: &RunRecord,
    prepared: &Prepared,
    token: &CancellationToken,
    owner: &Owner,
    inject_panic: bool,
) -> Result<Output> {
    let task = &prepared.task;
    let deadline = task
        .time_limit()
        .map(|limit| crate::duration::after(Instant::now(), limit));
    let timed_out = || Error::TimedOut {
        run: Some(record.id()),
        after: task.time_limit().unwrap_or_default(),
    };
    let mut out = Output::empty(record.id());
    match &prepared.work {
        Work::Action(action) => {
            let TaskKind::Action { input, .. } = task.kind() else {
                unreachable!("prepare pairs Work::Action only with action tasks")
            };
            if inject_panic {
                panic_in_run(ctx, owner.actor, record);
            }
            let call = AssertUnwindSafe(action(input.clone())).catch_unwind();
            let expiry = sleep_until(deadline);
            let result = tokio::select! {
                result = call => result,
                _ = token.cancelled() => return Err(stop_error(record, owner)),
                _ = expiry => return Err(timed_out()),
            };
            match result {
                Ok(Ok(value)) => out.value = Some(value),
                Ok(Err(message)) => out.stderr = message.into_bytes(),
                Err(panic) => {
                    out.stderr = format!("action panicked: {}", panic_message(&*panic)).into_bytes()
                }
            }
            Ok(out)
        }
        Work::Process(program) => {
            let script_args;
            let (display, args): (&str, &[String]) = match task.kind() {
                TaskKind::Command => (&task.command_spec().program, &task.command_spec().args),
                TaskKind::Shell { script } => {
                    script_args = [SHELL.1.to_string(), script.clone()];
                    (SHELL.0, &script_args)
                }
                TaskKind::Action { .. } => {
                    unreachable!("prepare pairs Work::Process only with processes")
                }
            };
            // Every process run captures its lines (not only streamed ones),
            // so `output(id)` and late readers work for any run; attempts
            // of one run share the ring, so `seq` keeps rising across them.
            let lines = record.lines_or_init(|| {
                Arc::new(
                    LineLog::new(record.id(), ctx.limits().lines)
                        .with_events(record.events().clone()),
                )
            });
            // Chunks for the run's owner say which attempt wrote them.
            lines.begin_attempt(record.attempt());
            // With an OpenTelemetry layer, the run's own span (this is
            // inside it); else only requests made inside a `tracing` span
            // have one.
            #[cfg(feature = "otel")]
            let traceparent = crate::trace::otel::traceparent()
                .or_else(|| record.correlation().and_then(|c| c.traceparent()));
            #[cfg(not(feature = "otel"))]
            let traceparent = record.correlation().and_then(|c| c.traceparent());
            let spec = ProcessSpec {
                launch: task.launch(program, display, args),
                stdin: task.stdin_bytes(),
                inherit_stdin: task.inherits_stdin(),
                tee: task.tee_paths(),
                max_output: task.output_cap().unwrap_or(ctx.limits().max_output),
                run_id: record.id(),
                traceparent: traceparent.as_deref(),
                lines: Some(lines),
                stop_signal: process::StopSignal::Term,
            };
            let limits = ctx.limits().process;
            let on_spawn = |pid| {
                record.set_pid(pid);
                if inject_panic {
                    panic_in_run(ctx, owner.actor, record);
                }
                let kill = ctx.kill_at_spawn(owner.actor);
                if kill {
                    ctx.trace().note(
                        owner.actor,
                        "KillChildProcess",
                        crate::trace::EventKind::Fault,
                        crate::trace::Outcome::Ok,
                        None,
                        Some(record.id()),
                    );
                }
                kill
            };
            // Boxed: the process future is large (pipes, timers, termination)
            // and would otherwise inflate every run's future, actions
            // included, which tokio copies on spawn.
            let mut fin = Box::pin(process::run(&spec, &limits, token, deadline, on_spawn))
                .await
                .inspect_err(|e| {
                    if matches!(e, Error::NotFound { .. } | Error::PermissionDenied { .. }) {
                        // The cached path went stale (see process::resolve).
                        ctx.programs().forget(display);
                    }
                })?;
            match fin.ending {
                Ending::Exited => {}
                Ending::Stopped => return Err(stop_error(record, owner)),
                Ending::TimedOut => return Err(timed_out()),
            }
            out.exit_code = fin.status.code();
            out.signal = exit_signal(&fin.status);
            out.stdout_truncated = fin.stdout.truncated();
            out.stderr_truncated = fin.stderr.truncated();
            out.stdout_dropped = fin.stdout.dropped();
            out.stderr_dropped = fin.stderr.dropped();
            out.stdout = fin.stdout.take();
            out.stderr = fin.stderr.take();
            Ok(out)
        }
    }
}

/// Raise the injected fault `PanicInRun` in `record`'s task.
fn panic_in_run(ctx: &Context, actor: &'static str, record: &RunRecord) -> ! {
    ctx.trace().note(
        actor,
        "PanicInRun",
        crate::trace::EventKind::Fault,
        crate::trace::Outcome::Ok,
        None,
        Some(record.id()),
    );
    crate::panic_hook::planned(format!(
        "injected fault: run {} of {actor} panics in its task",
        record.id()
    ))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Stop an actor incarnation's runs: at shutdown, give them
/// `shutdown_grace` to finish on their own first; on any other stop (a
/// strategy restart), stop them at once. Then wait for their clean-up
/// (terminations run in parallel, each bounded by `kill_grace`).
pub(crate) async fn drain_runs(
    ctx: &Context,
    owner: &Owner,
    runs: &TaskTracker,
    actor: &'static str,
) {
    runs.close();
    if ctx.shutdown().is_closing() {
        let grace = ctx.limits().shutdown_grace;
        if tokio::time::timeout(grace, runs.wait()).await.is_ok() {
            return;
        }
        owner.stop(Error::ShuttingDown);
    } else {
        owner.stop(Error::actor_failed(actor, "stopped by the supervisor"));
    }
    let bound = ctx
        .limits()
        .process
        .kill_grace
        .saturating_add(Duration::from_secs(1));
    let _ = tokio::time::timeout(bound, runs.wait()).await;
}

/// Admit one attempt under the runtime's halt and the task's breaker:
/// refused at once while halted or while the breaker is open; otherwise
/// the breaker's trial (if the task has a breaker), which counts the
/// attempt's outcome. Here, not in `breaker.rs`: it reads the runtime's
/// halt and the task, which sit above the breakers.
///
/// A plain function, not an async wrapper around the attempt: a wrapper
/// future would hold the attempt's future twice (as its argument and as
/// what it awaits), adding ~600 bytes to every run's future.
fn admit_attempt<'a>(
    ctx: &'a Context,
    task: &'a Task,
) -> Result<Option<crate::breaker::Trial<'a>>> {
    ctx.halt().check()?;
    task.breaker_spec()
        .map(|spec| ctx.breakers().admit(spec))
        .transpose()
}
