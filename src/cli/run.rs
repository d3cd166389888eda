//! `taskorch run` and `taskorch stream`: one command as a faithful pipe,
//! its exit code as ours.
//!
//! # What passes through
//! - **Output, live and byte for byte**: the child's stdout to our stdout
//!   and its stderr to our stderr, each chunk as soon as it is read, with
//!   nothing decoded, added or cut (`stream --timestamps` alone works in
//!   lines, prefixing each with the time). The run's own `RunStream`
//!   applies back-pressure: when our reader is slow, the child waits on
//!   its full pipe, as in a shell pipeline, so nothing is dropped and
//!   memory stays bounded. What a `--store` keeps is capped per stream
//!   (`max_output`); `show` says when it was cut and how many bytes it
//!   dropped. The two commands differ only in their options (`--retries`
//!   for `run`, `--timestamps` for `stream`).
//! - **Stdin**: the child reads ours directly (a pipe, a file), so
//!   `echo hi | taskorch run -- cat` prints `hi`. A terminal is not handed
//!   over: the child runs in its own process group, where reading the
//!   terminal would stop it (SIGTTIN); it gets a null stdin instead. A
//!   closed stdin reads as end of file. A retry reads on where the failed
//!   attempt stopped.
//! - **Retries** are announced on stderr as they happen:
//!   `taskorch: attempt 1 failed (exit 1), retrying in 100ms`.
//!
//! # Exit codes
//! The child's own code; 128 + N when signal N killed it; 124 when
//! `--timeout` expired (as `timeout(1)`, after printing what the command
//! wrote until then); 130 after Ctrl-C, which cancels the child's whole
//! process group (SIGTERM, grace, SIGKILL) and still prints what it wrote
//! up to the stop; 141 when our reader closed its pipe (`| head`): the
//! command is stopped and we exit quietly, as a pipeline writer does. The
//! child runs in its own process group, so a terminal's Ctrl-C reaches
//! only `taskorch`, which then stops the group cleanly.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::Args as ClapArgs;

use crate::{Error, Orchestrator, Output, RunStream, StreamKind, Task};

use super::store_dir::{StoreDir, config_for};
use super::{CliError, parse_duration};

/// Exit code after Ctrl-C (128 + SIGINT), as a shell reports it.
pub(super) const INTERRUPTED: i32 = 130;
/// Exit code of a run that timed out, as `timeout(1)` reports it.
const TIMED_OUT: i32 = 124;

const RUN_EXAMPLES: &str = "\
Examples:
  taskorch run -- make test
  taskorch run --timeout 30s --retries 2 -- curl -fsS https://example.com
  taskorch run --store .taskorch --name backup -- ./backup.sh   (kept in history)
  tar c src | taskorch run -- gzip -9 > src.tar.gz              (stdin and stdout pass through)
  taskorch run --after 10m -- ./report.sh                       (waits, then runs; Ctrl-C before: exit 130)
  taskorch run --at 2026-12-08T06:00:00Z -- ./backup.sh         (a time in the past runs now)";

const STREAM_EXAMPLES: &str = "\
Examples:
  taskorch stream -- ping -c 5 localhost
  taskorch stream --timeout 1h -- ./train.py --epochs 10
  taskorch stream --timestamps -- ./deploy.sh          (each line with its time)
  (Ctrl-C stops the command and everything it started; exit 130)";

/// `taskorch run`.
#[derive(Debug, ClapArgs)]
#[command(after_help = RUN_EXAMPLES)]
pub struct RunArgs {
    /// The caller's own id for the run (`Task::key`). With `--store`, a
    /// run of the same key that finished within the key window (60 s) is
    /// not started again: its stored output and exit code are given back.
    #[arg(long, value_parser = super::job_args::parse_key, value_name = "KEY")]
    pub key: Option<String>,
    /// A label `k=v` on the run (`Task::label`), repeatable; `taskorch runs
    /// --label k=v` finds it.
    #[arg(long = "label", value_parser = super::job_args::parse_label, value_name = "K=V")]
    pub labels: Vec<(String, String)>,
    /// Stop the command after this long (`30s`, `5m`, `2h`); exit 124.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Run it again up to N more times while it fails.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// The run's name in the history (default: the program).
    #[arg(long)]
    pub name: Option<String>,
    /// When to start the command (`--after`, `--at`).
    #[command(flatten)]
    pub start: StartArgs,
    /// The program and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `taskorch stream`.
#[derive(Debug, ClapArgs)]
#[command(after_help = STREAM_EXAMPLES)]
pub struct StreamArgs {
    /// The caller's own id for the run (`Task::key`). With `--store`, a
    /// run of the same key that finished within the key window (60 s) is
    /// not started again: its stored output and exit code are given back.
    #[arg(long, value_parser = super::job_args::parse_key, value_name = "KEY")]
    pub key: Option<String>,
    /// A label `k=v` on the run (`Task::label`), repeatable; `taskorch runs
    /// --label k=v` finds it.
    #[arg(long = "label", value_parser = super::job_args::parse_label, value_name = "K=V")]
    pub labels: Vec<(String, String)>,
    /// Stop the command after this long (`30s`, `5m`, `2h`); exit 124.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// The run's name in the history (default: the program).
    #[arg(long)]
    pub name: Option<String>,
    /// Print the output line by line, each line prefixed with the time it
    /// was read (RFC 3339, UTC, milliseconds). Without it the output is
    /// passed through byte for byte.
    #[arg(long)]
    pub timestamps: bool,
    /// When to start the command (`--after`, `--at`).
    #[command(flatten)]
    pub start: StartArgs,
    /// The program and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// When `run` and `stream` start the command (at once by default). The
/// command waits in `taskorch`: Ctrl-C (or SIGTERM) before the start exits
/// 130 and nothing runs.
#[derive(Debug, Clone, Copy, ClapArgs)]
pub struct StartArgs {
    /// Start the command this long from now (`10s`, `5m`, `2h`).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", conflicts_with = "at")]
    pub after: Option<Duration>,
    /// Start the command at this time (RFC 3339: `2026-12-08T06:00:00Z`,
    /// `2026-12-08T07:00:00+01:00`); a time in the past starts it now.
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub at: Option<SystemTime>,
}

impl StartArgs {
    /// `task` with the start these options ask for.
    fn apply(self, task: Task) -> Task {
        match (self.after, self.at) {
            (Some(delay), _) => task.start_after(delay),
            (None, Some(at)) => task.start_at(at),
            (None, None) => task,
        }
    }
}

/// An RFC 3339 time (`--at`): UTC (`Z`) or with an offset (`+01:00`).
pub(super) fn parse_time(s: &str) -> Result<SystemTime, String> {
    let bad =
        |why: String| format!("{s:?}: {why} (an RFC 3339 time, such as 2026-12-08T06:00:00Z)");
    // humantime reads UTC times; an offset is applied here.
    let (base, offset) = match s
        .len()
        .checked_sub(6)
        .and_then(|i| s.get(i..).map(|o| (i, o)))
    {
        Some((i, o)) if (o.starts_with('+') || o.starts_with('-')) && o.as_bytes()[3] == b':' => {
            let hours: u64 = o[1..3].parse().map_err(|_| bad("bad offset".into()))?;
            let minutes: u64 = o[4..].parse().map_err(|_| bad("bad offset".into()))?;
            if hours > 23 || minutes > 59 {
                return Err(bad("bad offset".into()));
            }
            let offset = Duration::from_secs(hours * 3600 + minutes * 60);
            (&s[..i], Some((o.starts_with('+'), offset)))
        }
        _ => (s, None),
    };
    let local = humantime::parse_rfc3339_weak(base).map_err(|e| bad(e.to_string()))?;
    // Local time = UTC + offset, so UTC = local - offset.
    let utc = match offset {
        None => Some(local),
        Some((true, ahead)) => local.checked_sub(ahead),
        Some((false, behind)) => local.checked_add(behind),
    };
    utc.ok_or_else(|| bad("out of range".into()))
}

/// The job options of `run` and `stream`: `--key` and `--label`.
fn with_job(mut task: Task, key: Option<String>, labels: Vec<(String, String)>) -> Task {
    if let Some(key) = key {
        task = task.key(key);
    }
    for (k, v) in labels {
        task = task.label(k, v);
    }
    task
}

/// The task for `CMD ARGS..`.
fn task(command: &[String], name: Option<&str>, timeout: Option<Duration>) -> Task {
    let mut task = Task::command(&command[0]).args(command[1..].iter().cloned());
    if let Some(name) = name {
        task = task.name(name);
    }
    if let Some(limit) = timeout {
        task = task.timeout(limit);
    }
    task
}

/// An orchestrator for one command: on the store if one was given.
async fn start(store: Option<PathBuf>) -> Result<(Orchestrator, Option<StoreDir>), CliError> {
    match store {
        Some(dir) => {
            let dir = StoreDir { dir };
            Ok((dir.start(config_for(1)).await?, Some(dir)))
        }
        None => Ok((Orchestrator::start(config_for(1)).await?, None)),
    }
}

/// Shut down, and leave the trace in the store directory.
async fn finish(orch: &Orchestrator, dir: Option<&StoreDir>) -> Result<(), CliError> {
    orch.shutdown().await?;
    if let Some(dir) = dir {
        dir.write_trace(orch)?;
    }
    Ok(())
}

/// `taskorch run`.
pub(super) async fn run(
    args: RunArgs,
    store: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> Result<i32, CliError> {
    let task = task(&args.command, args.name.as_deref(), args.timeout).retries(args.retries);
    let task = with_job(task, args.key, args.labels);
    pass_through(args.start.apply(task), store, Framing::Bytes, shutdown).await
}

/// `taskorch stream`.
pub(super) async fn stream(
    args: StreamArgs,
    store: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> Result<i32, CliError> {
    let task = with_job(
        args.start
            .apply(task(&args.command, args.name.as_deref(), args.timeout)),
        args.key,
        args.labels,
    );
    let framing = if args.timestamps {
        Framing::TimestampedLines
    } else {
        Framing::Bytes
    };
    pass_through(task, store, framing, shutdown).await
}

/// How the child's output reaches ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Every byte as the child wrote it.
    Bytes,
    /// Line by line, each prefixed with the time it was read.
    TimestampedLines,
}

/// Why the copy of the child's output stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Ctrl-C (or SIGTERM).
    Interrupted,
    /// Our reader closed its end of a pipe (`| head`).
    PipeClosed,
}

/// Run `task` with its output copied live to ours, its stdin ours (unless
/// that is a terminal), and its retries announced on stderr; its outcome
/// as our exit code.
async fn pass_through(
    task: Task,
    store: Option<PathBuf>,
    framing: Framing,
    shutdown: impl Future<Output = ()>,
) -> Result<i32, CliError> {
    let (orch, dir) = start(store).await?;
    // A terminal stays ours: the child runs in its own process group, and
    // a read from the terminal there would stop it (SIGTTIN). A closed
    // stdin reads as /dev/null (see the binary).
    let task = if std::io::stdin().is_terminal() {
        task
    } else {
        task.inherit_stdin()
    };
    if let Some(code) = keyed_run(&orch, &task).await {
        finish(&orch, dir.as_ref()).await?;
        return code;
    }
    tokio::pin!(shutdown);
    if let Some(start) = task.job().start {
        let due = humantime::format_rfc3339_seconds(start.due(SystemTime::now()));
        eprintln!("taskorch: waiting until {due} to start (Ctrl-C cancels)");
    }
    // A delayed start waits in `stream`; a stop before it leaves nothing
    // behind (the future is dropped before anything was submitted).
    let started = tokio::select! {
        started = orch.stream(task) => started,
        () = &mut shutdown => {
            finish(&orch, dir.as_ref()).await?;
            return Ok(INTERRUPTED);
        }
    };
    let mut stream = match started {
        Ok(stream) => stream,
        Err(e) => {
            finish(&orch, dir.as_ref()).await?;
            return Err(CliError::from_start(e));
        }
    };
    let stop = copy_output(&mut stream, framing, shutdown).await;
    let code = match (stop, stream.wait().await) {
        (Err(e), _) => Err(e),
        (Ok(Some(Stop::Interrupted)), _) => Ok(INTERRUPTED),
        // 141, quietly (see `pipe`).
        (Ok(Some(Stop::PipeClosed)), _) => Err(CliError::OutputClosed),
        (Ok(None), Ok(out)) => Ok(exit_code(&out)),
        (Ok(None), Err(e)) => outcome_code(e),
    };
    finish(&orch, dir.as_ref()).await?;
    code
}

/// The answer for a task whose key names a stored run (finished within
/// the key window, found after the store was reopened): that run's output
/// and exit code, as `run` of a keyed task in the library gives back.
/// `None` when the key names no run (or the task has no key).
async fn keyed_run(orch: &Orchestrator, task: &Task) -> Option<Result<i32, CliError>> {
    let key = task.job().key.as_deref()?;
    let run = orch.observe().find_key(key).ok()??;
    // `find_key` also names runs past the window: those start again.
    let held = run.finished.is_none_or(|at| {
        at.checked_add(orch.observe().config().key_window)
            .is_none_or(|end| end > std::time::SystemTime::now())
    });
    if !held {
        return None;
    }
    let id = run.id;
    let note = format!("taskorch: key {key} names run {id}; not started again");
    Some(match orch.wait(id).await {
        Ok(out) => {
            let written = write_all(StreamKind::Stdout, &out.stdout)
                .and_then(|()| write_all(StreamKind::Stderr, &out.stderr));
            match written {
                Ok(()) => {
                    eprintln!("{note}");
                    Ok(exit_code(&out))
                }
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::OutputClosed),
                Err(e) => Err(CliError::io("writing output")(e)),
            }
        }
        Err(e) => {
            eprintln!("{note}");
            outcome_code(e)
        }
    })
}

/// Copy `stream`'s output to ours until it ends (`None`), or until
/// Ctrl-C or a closed pipe stop it (the run is cancelled then, and the
/// output it wrote up to the stop is still copied after a Ctrl-C).
async fn copy_output(
    stream: &mut RunStream,
    framing: Framing,
    shutdown: impl Future<Output = ()>,
) -> Result<Option<Stop>, CliError> {
    tokio::pin!(shutdown);
    let mut stop = None;
    let mut retries = stream.retries();
    let mut retries_open = true;
    loop {
        // Biased: output before a retry notice, so the notice follows the
        // failed attempt's last bytes.
        let written = tokio::select! {
            biased;
            piece = next_piece(stream, framing) => match piece {
                Some((kind, bytes)) => write_all(kind, &bytes),
                None => break,
            },
            retry = retries.next(), if retries_open => match retry {
                Some(notice) => write_all(StreamKind::Stderr, format!("taskorch: {notice}\n").as_bytes()),
                None => {
                    retries_open = false;
                    Ok(())
                }
            },
            () = &mut shutdown, if stop.is_none() => {
                stop = Some(Stop::Interrupted);
                // The output then ends with what was written up to the stop.
                stream.cancel();
                Ok(())
            }
        };
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                // Nobody reads any more: stop the command, quietly, as a
                // shell pipeline's writer dies of SIGPIPE.
                stream.cancel();
                return Ok(Some(Stop::PipeClosed));
            }
            Err(e) => {
                stream.cancel();
                return Err(CliError::io("writing output")(e));
            }
        }
    }
    Ok(stop)
}

/// The next piece of output to copy, framed: a raw chunk, or a line with
/// its time. `None` at the end of the run's output.
///
/// # Cancel safety
/// Cancel safe, as `next_chunk` and `next_line` are.
async fn next_piece(stream: &mut RunStream, framing: Framing) -> Option<(StreamKind, Vec<u8>)> {
    match framing {
        Framing::Bytes => stream.next_chunk().await.map(|c| (c.stream, c.bytes)),
        Framing::TimestampedLines => stream.next_line().await.map(|line| {
            let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now());
            (line.stream, format!("{stamp} {}\n", line.text).into_bytes())
        }),
    }
}

/// Write `bytes` to our stream of the same kind, at once: no buffering,
/// so a prompt without a newline shows too. A slow reader of ours blocks
/// this write, which holds the child (back-pressure, as in a pipeline);
/// on a multi-threaded runtime `block_in_place` lets its other tasks go on
/// meanwhile (a current-thread runtime, which cannot, just waits).
fn write_all(kind: StreamKind, bytes: &[u8]) -> std::io::Result<()> {
    let write = || match kind {
        StreamKind::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        StreamKind::Stderr => std::io::stderr().lock().write_all(bytes),
    };
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(write)
    } else {
        write()
    }
}

/// The shell's exit code for a finished run.
pub(super) fn exit_code(out: &Output) -> i32 {
    match (out.exit_code, out.signal) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        // An in-process action: success or not.
        (None, None) => i32::from(!out.success()),
    }
}

/// A run that could not run or finish: the exit code, or the error.
pub(super) fn outcome_code(e: Error) -> Result<i32, CliError> {
    match e {
        Error::TimedOut { after, .. } => {
            eprintln!(
                "taskorch: timed out after {}",
                humantime::format_duration(after)
            );
            Ok(TIMED_OUT)
        }
        Error::Cancelled { .. } | Error::ShuttingDown => Ok(INTERRUPTED),
        other => Err(CliError::from_start(other)),
    }
}
