//! `taskorch run` (Simple) and `taskorch stream` (LongRunning): one command,
//! its exit code as ours.
//!
//! Exit codes follow the shell: the child's own code; 128 + N when signal
//! N killed it; 124 when `--timeout` expired (as `timeout(1)`); 130 after
//! Ctrl-C, which cancels the child's whole process group (SIGTERM, grace,
//! SIGKILL). The child runs in its own process group, so a terminal's
//! Ctrl-C reaches only `taskorch`, which then stops the group cleanly.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args as ClapArgs;

use crate::{Error, Orchestrator, Output, StreamKind, Task};

use super::store_dir::{StoreDir, config_for};
use super::{CliError, parse_duration, pipe};

/// Exit code after Ctrl-C (128 + SIGINT), as a shell reports it.
pub(super) const INTERRUPTED: i32 = 130;
/// Exit code of a run that timed out, as `timeout(1)` reports it.
const TIMED_OUT: i32 = 124;

const RUN_EXAMPLES: &str = "\
Examples:
  taskorch run -- make test
  taskorch run --timeout 30s --retries 2 -- curl -fsS https://example.com
  taskorch run --store .taskorch --name backup -- ./backup.sh   (kept in history)";

const STREAM_EXAMPLES: &str = "\
Examples:
  taskorch stream -- ping -c 5 localhost
  taskorch stream --timeout 1h -- ./train.py --epochs 10
  (Ctrl-C stops the command and everything it started; exit 130)";

/// `taskorch run`.
#[derive(Debug, ClapArgs)]
#[command(after_help = RUN_EXAMPLES)]
pub struct RunArgs {
    /// Stop the command after this long (`30s`, `5m`, `2h`); exit 124.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Run it again up to N more times while it fails.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// The run's name in the history (default: the program).
    #[arg(long)]
    pub name: Option<String>,
    /// The program and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `taskorch stream`.
#[derive(Debug, ClapArgs)]
#[command(after_help = STREAM_EXAMPLES)]
pub struct StreamArgs {
    /// Stop the command after this long (`30s`, `5m`, `2h`); exit 124.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// The run's name in the history (default: the program).
    #[arg(long)]
    pub name: Option<String>,
    /// The program and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<String>,
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
    let (orch, dir) = start(store).await?;
    let task = task(&args.command, args.name.as_deref(), args.timeout).retries(args.retries);
    let result = tokio::select! {
        result = orch.run(task) => Some(result),
        () = shutdown => None,
    };
    // Ctrl-C: shutting down terminates the run's process group.
    let code = match result {
        None => Ok(INTERRUPTED),
        // A closed stdout is returned after the shutdown below.
        Some(Ok(out)) => write_output(&out).map(|()| exit_code(&out)),
        Some(Err(e)) => outcome_code(e),
    };
    finish(&orch, dir.as_ref()).await?;
    code
}

/// `taskorch stream`.
pub(super) async fn stream(
    args: StreamArgs,
    store: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> Result<i32, CliError> {
    let (orch, dir) = start(store).await?;
    let task = task(&args.command, args.name.as_deref(), args.timeout);
    let mut stream = match orch.stream(task).await {
        Ok(stream) => stream,
        Err(e) => {
            finish(&orch, dir.as_ref()).await?;
            return Err(CliError::from_start(e));
        }
    };
    tokio::pin!(shutdown);
    let mut interrupted = false;
    let mut closed = false;
    loop {
        tokio::select! {
            line = stream.next_line() => match line {
                Some(line) if !closed => {
                    if let Err(e) = print_line(line.stream, &line.text) {
                        if !matches!(e, CliError::OutputClosed) {
                            return Err(e);
                        }
                        // Our reader went away (`| head -1`): stop the
                        // command as Ctrl-C does, and drain what is left.
                        closed = true;
                        stream.cancel();
                    }
                }
                Some(_) => {}
                None => break,
            },
            () = &mut shutdown, if !interrupted && !closed => {
                interrupted = true;
                // The stream then ends with the lines written up to the stop.
                stream.cancel();
            }
        }
    }
    let waited = stream.wait().await;
    if closed {
        finish(&orch, dir.as_ref()).await?;
        return Err(CliError::OutputClosed);
    }
    let code = match waited {
        _ if interrupted => Ok(INTERRUPTED),
        Ok(out) => Ok(exit_code(&out)),
        Err(e) => outcome_code(e),
    };
    finish(&orch, dir.as_ref()).await?;
    code
}

/// One line of live output, to the stream it came from.
fn print_line(kind: StreamKind, text: &str) -> Result<(), CliError> {
    let line = format!("{text}\n");
    match kind {
        StreamKind::Stdout => pipe::write_stdout(line.as_bytes()),
        StreamKind::Stderr => pipe::write_stderr(line.as_bytes()),
    }
}

/// The captured output, each stream to ours. A reader that went away is
/// [`CliError::OutputClosed`] (see `pipe`).
pub(super) fn write_output(out: &Output) -> Result<(), CliError> {
    pipe::write_stdout(&out.stdout)?;
    pipe::write_stderr(&out.stderr)
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
fn outcome_code(e: Error) -> Result<i32, CliError> {
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
