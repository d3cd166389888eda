//! One incarnation of a service: a run in the registry (and the store),
//! started as a process group or an in-process future in a task of its
//! own, and how it ended.
//!
//! Incarnations take no execution permit: a permanent service would hold
//! one for ever and starve the runs `max_concurrency` is for.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::spec::ServiceWork;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::lines::LineLog;
use crate::output::Output;
use crate::pattern::Pattern;
use crate::process::{self, Ending, ProcessLimits, ProcessSpec, StopSignal};
use crate::registry::{Admission, Journal, RunRecord};

/// The label every service run carries: `service=<name>` (find a
/// service's history with `RunQuery::label("service", name)`).
pub const SERVICE_LABEL: &str = "service";

/// Lines of stderr kept in a failure reason.
const STDERR_TAIL: usize = 5;

/// How an incarnation ended.
#[derive(Debug, Clone)]
pub(crate) enum Ended {
    /// The process exited (or was killed by a signal not ours), or the
    /// action returned.
    Exited {
        /// Whether it counts as a clean exit (exit 0, `Ok(())`).
        clean: bool,
        /// `"exit 1"`, `"signal 9"`, `"returned an error: ..."`.
        what: String,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// We stopped it (stop signal, grace, SIGKILL).
    Stopped,
    /// It could not be started at all.
    NotStarted(Error),
}

/// A running incarnation.
pub(crate) struct Incarnation {
    pub(crate) record: Arc<RunRecord>,
    /// Stops it (stop signal, grace, SIGKILL).
    pub(crate) stop: CancellationToken,
    /// Its output ring (commands).
    pub(crate) lines: Option<Arc<LineLog>>,
    pub(crate) task: JoinHandle<Ended>,
}

/// What an incarnation runs, resolved.
#[derive(Clone)]
pub(crate) enum Resolved {
    Command {
        command: crate::command::CommandSpec,
        program: PathBuf,
    },
    Action(super::spec::ServiceFn),
}

impl Resolved {
    /// Resolve the program of `work` (a missing program is refused before
    /// anything starts).
    ///
    /// # Errors
    /// `NotFound`, `PermissionDenied`, `InvalidTask` (missing directory).
    pub(crate) fn new(ctx: &Context, work: &ServiceWork) -> Result<Resolved> {
        match work {
            ServiceWork::Command(command) => {
                if let Some(dir) = command.dir()
                    && !dir.is_dir()
                {
                    return Err(Error::InvalidTask(format!(
                        "working directory {} does not exist or is not a directory",
                        dir.display()
                    )));
                }
                let path = crate::env::lookup(&command.env, "PATH").flatten();
                let program = ctx
                    .programs()
                    .resolve(&command.program, path, command.dir())?;
                Ok(Resolved::Command {
                    command: command.clone(),
                    program,
                })
            }
            ServiceWork::Action(f) => Ok(Resolved::Action(Arc::clone(f))),
        }
    }
}

/// Admit and start one incarnation of service `name`; `spawned` fires
/// once its process exists (an action: once it is called).
pub(crate) async fn start(
    ctx: &Arc<Context>,
    name: &str,
    work: &Resolved,
    stop_signal: StopSignal,
    stop_grace: std::time::Duration,
    spawned: tokio::sync::oneshot::Sender<()>,
) -> Incarnation {
    let mut admission = Admission::new(name, Pattern::LongRunning)
        .parent(Some(ctx.shutdown().root()))
        // The run without its task: its history and output survive a
        // restart, and a restart never starts it again by itself (the
        // service's keeper does).
        .journal(Journal::Record);
    admission
        .job
        .to_mut()
        .labels
        .insert(SERVICE_LABEL.to_string(), name.to_string());
    let record = ctx.registry().admit(admission);
    let stop = record.token().unwrap_or_default();
    let _ = record.start();
    record.set_attempt(1);
    let lines = match work {
        Resolved::Command { .. } => Some(Arc::clone(record.lines_or_init(|| {
            Arc::new(
                LineLog::new(record.id(), ctx.limits().lines).with_events(record.events().clone()),
            )
        }))),
        Resolved::Action(_) => None,
    };
    if let Err(e) = record.durable().await {
        // Not durable: the run must not start (see `store`).
        let _ = ctx.registry().finish_now(&record, Err(e.clone()));
        let task = tokio::spawn(async move { Ended::NotStarted(e) });
        return Incarnation {
            record,
            stop,
            lines,
            task,
        };
    }
    let task = {
        let ctx = Arc::clone(ctx);
        let record = Arc::clone(&record);
        let work = work.clone();
        let stop = stop.clone();
        let lines = lines.clone();
        tokio::spawn(async move {
            let (outcome, ended) = match work {
                Resolved::Command { command, program } => {
                    let limits = ProcessLimits {
                        kill_grace: stop_grace,
                        drain_timeout: ctx.limits().process.drain_timeout,
                    };
                    run_process(
                        &ctx,
                        &record,
                        &command,
                        &program,
                        lines.as_deref(),
                        stop_signal,
                        &limits,
                        &stop,
                        spawned,
                    )
                    .await
                }
                Resolved::Action(f) => {
                    let _ = spawned.send(());
                    run_action(&record, f, &stop).await
                }
            };
            let _ = ctx.registry().finish(&record, outcome).await;
            ended
        })
    };
    Incarnation {
        record,
        stop,
        lines,
        task,
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_process(
    ctx: &Context,
    record: &RunRecord,
    command: &crate::command::CommandSpec,
    program: &std::path::Path,
    lines: Option<&LineLog>,
    stop_signal: StopSignal,
    limits: &ProcessLimits,
    stop: &CancellationToken,
    spawned: tokio::sync::oneshot::Sender<()>,
) -> (Result<Output>, Ended) {
    let spec = ProcessSpec {
        launch: command.launch(program),
        stdin: None,
        inherit_stdin: false,
        tee: None,
        max_output: ctx.limits().max_output,
        run_id: record.id(),
        traceparent: None,
        lines,
        stop_signal,
    };
    let on_spawn = |pid| {
        record.set_pid(pid);
        let _ = spawned.send(());
        false
    };
    let finished = Box::pin(process::run(&spec, limits, stop, None, on_spawn)).await;
    let mut fin = match finished {
        Ok(fin) => fin,
        Err(e) => {
            if matches!(e, Error::NotFound { .. } | Error::PermissionDenied { .. }) {
                ctx.programs().forget(&command.program);
            }
            return (Err(e.clone()), Ended::NotStarted(e));
        }
    };
    let mut out = Output::empty(record.id());
    out.exit_code = fin.status.code();
    out.signal = process::exit_signal(&fin.status);
    out.stdout_truncated = fin.stdout.truncated();
    out.stderr_truncated = fin.stderr.truncated();
    out.stdout_dropped = fin.stdout.dropped();
    out.stderr_dropped = fin.stderr.dropped();
    out.stdout = fin.stdout.take();
    out.stderr = fin.stderr.take();
    if fin.ending != Ending::Exited {
        return (
            Err(Error::Cancelled {
                run: Some(record.id()),
            }),
            Ended::Stopped,
        );
    }
    let what = match (out.exit_code, out.signal) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "ended".to_string(),
    };
    let ended = Ended::Exited {
        clean: out.exit_code == Some(0),
        what,
        stderr_tail: tail(&out.stderr),
    };
    (Ok(out), ended)
}

async fn run_action(
    record: &RunRecord,
    f: super::spec::ServiceFn,
    stop: &CancellationToken,
) -> (Result<Output>, Ended) {
    let mut out = Output::empty(record.id());
    let call = AssertUnwindSafe(async move { f().await }).catch_unwind();
    let result = tokio::select! {
        result = call => result,
        _ = stop.cancelled() => {
            return (Err(Error::Cancelled { run: Some(record.id()) }), Ended::Stopped);
        }
    };
    let (clean, what) = match result {
        Ok(Ok(())) => {
            out.value = Some(serde_json::Value::Null);
            (true, "returned".to_string())
        }
        Ok(Err(message)) => {
            out.stderr = message.clone().into_bytes();
            (false, format!("returned an error: {message}"))
        }
        Err(panic) => {
            let message = crate::panic_hook::panic_message(&*panic);
            out.stderr = format!("panicked: {message}").into_bytes();
            (false, format!("panicked: {message}"))
        }
    };
    (
        Ok(out),
        Ended::Exited {
            clean,
            what,
            stderr_tail: String::new(),
        },
    )
}

/// The last [`STDERR_TAIL`] lines of `stderr`, joined with " | ".
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let from = lines.len().saturating_sub(STDERR_TAIL);
    lines[from..].join(" | ")
}
