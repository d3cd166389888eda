//! The `taskorch` command-line tool, as a library (feature `cli`, on by
//! default): `src/bin/taskorch.rs` only parses [`Args`] and calls [`run`],
//! so the integration tests drive the same code through the real binary.
//!
//! # Subcommands
//! | command | pattern | what it does |
//! |---|---|---|
//! | `run -- CMD ..` | LongRunning | runs one command as a faithful pipe (stdin in, output out live and byte-exact), exits with its code |
//! | `stream -- CMD ..` | LongRunning | the same, `--timestamps` for timed lines; Ctrl-C cancels the process group (exit 130) |
//! | `batch FILE\|--stdin` | Concurrent | many commands, `-j N` at a time, progress, summary, joblog |
//! | `up jobs.toml` | all six | setup steps, a task graph, services, launches, schedules, pools |
//! | `runs`, `show`, `logs`, `trace` | — | read the store (and a running `up`); `runs --dead` lists dead letters |
//! | `metrics` | — | the live metrics of a running `up` |
//! | `nodes` | — | the nodes of a PostgreSQL store (`--store postgres://…`): live, stopped or gone |
//! | `rerun ID` | FireAndForget | runs a finished run's task again on the store (read-write), waits, exits with its code |
//! | `advise` | — | the [`Advisor`](crate::Advisor)'s recommendation |
//! | `serve` | — | the store's runs over HTTP, read-only (`up --http` serves a live API; see [`HttpArgs`]) |
//!
//! # The store directory
//! `--store DIR` (default `./.taskorch/` for `up` and the read commands;
//! `run`, `stream` and `batch` keep no history unless given one) holds
//! `taskorch.redb` (the durable store), `up.sock` and `up.pid` while a
//! `taskorch up` runs, and `trace.jsonl` / `trace.chrome.json`, the message
//! trace of the last process that worked on it.
//!
//! redb locks the database file to one process. So a read command first
//! asks a running `up` over its unix socket (`up.sock`), which answers from
//! its live orchestrator (that is how `logs --follow` follows a run); with
//! no `up` running it opens the file itself, read-only, and reads it as it
//! is: no recovery, no signal to any process, no byte changed (a crashed
//! store is recovered by the next `up`). A store
//! held by a process that does not serve reads (`run --store`, say) is
//! reported as in use: [`CliError::StoreInUse`].
//!
//! # Errors and exit codes
//! Work that ran reports its own status as the `Ok` exit code (the child's
//! exit code for `run` and `stream`, 124 after their `--timeout`, 1 when
//! a batch had failures); a command stopped by a signal exits 128 + its
//! number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP; see [`signals`]), except
//! `up`, for which a signal is the normal way to stop (exit 0). A
//! [`CliError`] means the tool could not do what was asked, and the binary
//! maps it to an exit code (2 bad input, 127 program not found, 126 not
//! executable, 141 when our reader went away, see [`pipe`]; 1 otherwise).

mod advise;
mod batch;
mod client;
mod http;
mod ids;
mod job_args;
mod joblog;
mod jobs;
mod json;
mod metrics;
mod nodes;
pub mod pipe;
mod read;
mod render;
mod rerun;
mod run;
mod serve;
pub mod signals;
mod store_dir;
mod trace;
mod up;
mod wire;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

pub use advise::AdviseArgs;
pub use batch::BatchArgs;
pub use http::{HttpArgs, ServeArgs};
pub use metrics::MetricsArgs;
pub use read::{LogsArgs, RunsArgs, ShowArgs};
pub use rerun::RerunArgs;
pub use run::{RunArgs, StreamArgs};
pub use signals::{Signal, Signals};
pub use trace::TraceArgs;
pub use up::UpArgs;

const EXAMPLES: &str = "\
Examples:
  taskorch run -- ls -l /tmp                  run one command, exit with its code
  taskorch stream -- ping -c 3 localhost      live output; Ctrl-C cancels it
  seq 100 | sed 's/^/echo /' | taskorch batch --stdin -j 8
  taskorch up examples/jobs.toml --for 10s    tasks, graph, schedules, pools
  taskorch runs --status failed --limit 20    history from ./.taskorch/
  taskorch rerun 2e4b6a70                     run a finished run's task again
  taskorch advise --duration 2h --streaming --tasks 1";

/// `taskorch`: run commands under a supervising orchestrator, and read
/// back what ran.
#[derive(Debug, Parser)]
#[command(name = "taskorch", version, after_help = EXAMPLES)]
pub struct Args {
    /// Where taskorch keeps its history: a directory holding the run
    /// database (`taskorch.redb`), the last message trace, and `up.sock`
    /// while `taskorch up` runs (the read commands ask it). Default
    /// `./.taskorch/` for `up`, `runs`, `show`, `logs`, `trace` and `rerun`; `run`,
    /// `stream` and `batch` keep no history unless it is given.
    #[arg(long, global = true, value_name = "DIR", env = "TASKORCH_STORE")]
    pub store: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one command: its stdin ours, its output ours live and byte for
    /// byte, its retries on stderr; exit with its exit code.
    Run(RunArgs),
    /// Run one command with live output, byte for byte or (`--timestamps`)
    /// in timed lines; Ctrl-C cancels its whole process group.
    Stream(StreamArgs),
    /// Run many commands, N at a time (Concurrent pattern).
    Batch(BatchArgs),
    /// Run a jobs file: setup steps, a task graph, services, launches,
    /// schedules and pools, until Ctrl-C (or `--for`).
    Up(UpArgs),
    /// List runs from the store, newest first.
    Runs(RunsArgs),
    /// Run a finished run's task again, as a new run linked to it; wait
    /// for it and exit with its code (the store must not be held by `up`).
    Rerun(RerunArgs),
    /// Show one run: status, times, exit code, outcome.
    Show(ShowArgs),
    /// Print one run's output lines; `--follow` waits for new ones.
    Logs(LogsArgs),
    /// Summarise (or export) the message trace of the last process that
    /// worked on the store.
    Trace(TraceArgs),
    /// Print the live metrics of a running `taskorch up`: runs by status,
    /// rates, queue depth, latency percentiles, restarts, store commits.
    Metrics(MetricsArgs),
    /// List the orchestrators (nodes) that started on a PostgreSQL store,
    /// and which of them are live.
    Nodes(nodes::NodesArgs),
    /// Recommend an execution pattern for a piece of work, and say why.
    Advise(AdviseArgs),
    /// Serve the store's runs over HTTP, read-only (no `up` may hold it;
    /// `up JOBS --http ADDR` serves a live one), until Ctrl-C.
    Serve(ServeArgs),
}

/// Why a `taskorch` command could not do what was asked. The binary maps
/// each to an exit code (see the module docs).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input the argument parser could not catch: a malformed jobs
    /// file or one with a key the runtime would refuse (the message starts
    /// with `file:line:column` and names the entry and key), a command or
    /// `--timeout` the runtime would refuse, an ambiguous short run id, an
    /// unreadable input file. Nothing was started. Exit 2.
    #[error("{0}")]
    Usage(String),
    /// The program does not exist. Exit 127, like a shell.
    #[error("{program}: command not found")]
    NotFound {
        /// The program as given.
        program: String,
    },
    /// The program is not executable. Exit 126, like a shell.
    #[error("{program}: permission denied")]
    PermissionDenied {
        /// The program as given.
        program: String,
    },
    /// The store is held by another process that does not serve reads
    /// (another `taskorch up` for `up`; `run --store` and the like for the
    /// read commands). Exit 1.
    #[error(
        "the store {} is in use by another taskorch process{}; stop it, or pass --store DIR \
         to use another store", dir.display(), holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    StoreInUse {
        /// The store directory.
        dir: PathBuf,
        /// Who holds it, when known (`taskorch up, pid 1234`).
        holder: Option<String>,
    },
    /// A read command found no store. Exit 1.
    #[error(
        "no store at {}: nothing has run with it yet (`taskorch up` creates it; \
         `run`/`batch` with --store too)", .0.display()
    )]
    NoStore(PathBuf),
    /// `metrics` found no running `taskorch up` on the store: live
    /// figures need a live process. Exit 1.
    #[error(
        "no taskorch up is running on {}: metrics are live figures of a running runtime \
         (start `taskorch up JOBS` with this store, or pass --store DIR)", .0.display()
    )]
    NotRunning(PathBuf),
    /// Our stdout's reader went away (`taskorch up | head -3`): what ran
    /// was stopped as after Ctrl-C. Exit 141 (128 + SIGPIPE), quietly
    /// (see [`pipe`]).
    #[error("the output was closed")]
    OutputClosed,
    /// The run id is not in the store. Exit 1.
    #[error("no run {0} in the store")]
    UnknownRun(String),
    /// The orchestrator failed (an actor, the store, ...). Exit 1.
    #[error(transparent)]
    Runtime(#[from] crate::Error),
    /// Reading or writing a file or the terminal failed. Exit 1.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let context = context.into();
        move |source| CliError::Io { context, source }
    }

    /// The error for a task that could not be started: a missing or
    /// non-executable program gets its own variant (and exit code).
    fn from_start(e: crate::Error) -> CliError {
        match e {
            crate::Error::NotFound { program } => CliError::NotFound { program },
            crate::Error::PermissionDenied { program } => CliError::PermissionDenied { program },
            other => CliError::Runtime(other),
        }
    }
}

/// Run the parsed command line. `shutdown` resolves on Ctrl-C / SIGTERM
/// (the binary passes its signal handlers; tests pass what they like): it
/// cancels what runs (`run`, `stream`, `batch`; exit 130) or shuts `up`
/// down gracefully (exit 0).
///
/// Returns the exit code of the work (see the module docs).
///
/// # Errors
/// A [`CliError`] when the tool itself could not do what was asked.
pub async fn run(args: Args, shutdown: impl Future<Output = ()> + Send) -> Result<i32, CliError> {
    dispatch(args, shutdown, std::future::pending()).await
}

/// Run the parsed command line under the process's [`Signals`] (what the
/// binary does): the first signal stops the work as `shutdown` does in
/// [`run`], a second one forces `up`'s stop, and a command the signal
/// stopped exits 128 + its number (`up` excepted: 0).
///
/// # Errors
/// A [`CliError`] when the tool itself could not do what was asked.
pub async fn run_with_signals(args: Args, signals: &Signals) -> Result<i32, CliError> {
    // For `up` and `serve` a signal is the normal way to stop.
    let up = matches!(args.command, Command::Up(_) | Command::Serve(_));
    let code = dispatch(args, signals.shutdown(), signals.forced()).await?;
    Ok(match signals.received() {
        // The commands report a stop by any signal as Ctrl-C's code.
        Some(signal) if !up && code == run::INTERRUPTED => signal.exit_code(),
        _ => code,
    })
}

async fn dispatch(
    args: Args,
    shutdown: impl Future<Output = ()> + Send,
    forced: impl Future<Output = ()> + Send,
) -> Result<i32, CliError> {
    let store = args.store;
    match args.command {
        Command::Run(a) => {
            check_command(&a.command, a.timeout)?;
            run::run(a, store, shutdown).await
        }
        Command::Stream(a) => {
            check_command(&a.command, a.timeout)?;
            run::stream(a, store, shutdown).await
        }
        Command::Batch(a) => {
            check_command(&[], a.timeout)?;
            batch::run(a, store, shutdown).await
        }
        Command::Up(a) => up::run(a, store, shutdown, forced).await,
        Command::Runs(a) => read::runs(a, store).await,
        Command::Rerun(a) => rerun::run(a, store, shutdown).await,
        Command::Show(a) => read::show(a, store).await,
        Command::Logs(a) => read::logs(a, store, shutdown).await,
        Command::Trace(a) => trace::run(a, store).await,
        Command::Metrics(a) => metrics::run(a, store).await,
        Command::Nodes(a) => nodes::run(a, store).await,
        Command::Advise(a) => advise::run(a),
        Command::Serve(a) => http::serve(a, store, shutdown).await,
    }
}

/// Check `CMD ARGS..` and `--timeout` with the runtime's own checks
/// (`Task::validate`) before anything starts: a task the runtime would
/// refuse is bad input (exit 2), named by its argument.
fn check_command(command: &[String], timeout: Option<Duration>) -> Result<(), CliError> {
    if let Some(limit) = timeout {
        crate::Task::shell("true")
            .timeout(limit)
            .validate()
            .map_err(|e| {
                CliError::Usage(format!(
                    "--timeout {}: {}",
                    humantime::format_duration(limit),
                    why(e)
                ))
            })?;
    }
    if let Some((program, args)) = command.split_first() {
        crate::Task::command(program)
            .args(args.iter().cloned())
            .validate()
            .map_err(|e| CliError::Usage(format!("CMD: {}", why(e))))?;
    }
    Ok(())
}

/// What a runtime error says, without the variant's prefix (`invalid
/// task: `): the CLI puts the entry or argument in front instead.
fn why(e: crate::Error) -> String {
    match e {
        crate::Error::InvalidTask(why) | crate::Error::InvalidConfig(why) => why,
        other => other.to_string(),
    }
}

/// A human duration (`30s`, `2h`, `1h 30m`, `250ms`) for clap, at most
/// `taskorch_actors::duration::MAX` (100 years).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (try 30s, 2h, 1h30m, 250ms)"))?;
    check_duration(s, d)
}

/// `d` (parsed from `text`), if the runtime can work with it.
fn check_duration(text: &str, d: Duration) -> Result<Duration, String> {
    if d > taskorch_actors::duration::MAX {
        return Err(format!(
            "{text:?} is too long: a duration may be at most 100 years"
        ));
    }
    Ok(d)
}
