//! `taskorch batch`: many commands, `-j N` at a time (Concurrent pattern).
//!
//! Input: one command per line (blank lines and `# comments` skipped), or a
//! TOML jobs file (`*.toml`, its `[[task]]` entries). A line without shell
//! syntax (`echo hello`) runs directly, split at whitespace, like `xargs`;
//! a line with any (`|`, `>`, quotes, `$`, `*`, ...) runs with `sh -c`.
//!
//! Output: each job's, whole and byte for byte, in input order as soon as
//! order allows (like `parallel -k`): the first unfinished job's output
//! streams live, the others wait in files (see [`spool`]) and follow the
//! moment their turn comes; stdout to stdout, stderr to stderr.
//!
//! While it runs: a progress bar (done / succeeded / running, ETA) on
//! stderr when stderr is a terminal, else a plain progress line at most
//! once a second. `--joblog` gets one line per job the moment it ends, so
//! a `--resume` after a crash (even `kill -9`) skips what already
//! succeeded. At the end, a summary table on stderr.
//!
//! One reading of each job ([`Verdict`]) feeds the progress line, the
//! summary, the joblog and the exit status, so they agree: the summary's
//! columns add up to JOBS, its EXIT column is the joblog's `Exitval`
//! (124 for a job that timed out, as GNU parallel and `timeout(1)`).
//! Exit 0 when every job succeeded, 1 when any did not, 130 after Ctrl-C
//! (which cancels the jobs in flight and starts no more), 141 when the
//! reader of our output went away (the batch is cancelled).

use std::future::Future;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressStyle};

use crate::batch::{BatchProgress, BatchSpec};
use crate::{Config, Error, Orchestrator, Output, Result as TaskResult, Task};

use super::joblog::{self, Entry, JobLog};
use super::run::{INTERRUPTED, exit_code};
use super::store_dir::{StoreDir, config_for};
use super::{CliError, jobs, parse_duration, render};
use spool::Spool;

mod spool;

const EXAMPLES: &str = "\
Examples:
  taskorch batch commands.txt -j 8
  find . -name '*.png' | sed 's/^/optipng /' | taskorch batch --stdin
  taskorch batch jobs.toml --joblog run.log          ([[task]] entries)
  taskorch batch commands.txt --joblog run.log --resume   (skip what succeeded)";

/// `taskorch batch`.
#[derive(Debug, ClapArgs)]
#[command(after_help = EXAMPLES)]
pub struct BatchArgs {
    /// File of commands, one per line (`-`: standard input), or a TOML
    /// jobs file (`*.toml`).
    #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
    pub file: Option<PathBuf>,
    /// Read the commands from standard input instead.
    #[arg(long)]
    pub stdin: bool,
    /// Jobs at once (default, and `0`: the number of CPUs).
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,
    /// Stop each job after this long (`30s`, `5m`).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Run a failing job again up to N more times.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// Write one line per job (GNU parallel's joblog format).
    #[arg(long, value_name = "FILE")]
    pub joblog: Option<PathBuf>,
    /// Skip the jobs that already succeeded in `--joblog`, append the rest.
    #[arg(long, requires = "joblog")]
    pub resume: bool,
}

/// One job: the text it is known by (joblog, summary) and its task.
struct Job {
    /// Its place in the input (1-based): the joblog's `Seq`, kept on resume.
    seq: usize,
    command: String,
    task: Task,
}

/// Bytes that make a line shell syntax rather than plain words.
const SHELL_SYNTAX: &[char] = &[
    '|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '"', '\'', '*', '?', '[', ']', '#', '~',
    '=', '%', '{', '}', '!',
];

/// The task for one input line.
fn line_task(line: &str) -> Task {
    if line.contains(SHELL_SYNTAX) {
        Task::shell(line)
    } else {
        let mut words = line.split_whitespace();
        // The caller skips blank lines, so there is a first word.
        let program = words.next().unwrap_or("true");
        Task::command(program).args(words)
    }
}

fn read_jobs(args: &BatchArgs) -> Result<Vec<Job>, CliError> {
    let text = match &args.file {
        Some(path)
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("toml")) =>
        {
            return toml_jobs(path);
        }
        Some(path) if path.as_os_str() != "-" => std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("{}: cannot read: {e}", path.display())))?,
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::Usage(format!("cannot read standard input: {e}")))?;
            text
        }
    };
    let source = args
        .file
        .as_ref()
        .map_or_else(|| "standard input".to_string(), |p| p.display().to_string());
    let mut jobs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let task = line_task(line);
        // What the runtime would refuse for this job (a NUL byte) is bad
        // input, found before any job starts.
        task.validate()
            .map_err(|e| CliError::Usage(format!("{source}:{}: {}", n + 1, super::why(e))))?;
        jobs.push(Job {
            seq: jobs.len() + 1,
            command: line.to_string(),
            task,
        });
    }
    Ok(jobs)
}

/// The `[[task]]` entries of a jobs file; anything else belongs to `up`.
fn toml_jobs(path: &std::path::Path) -> Result<Vec<Job>, CliError> {
    let file = jobs::load(path)?;
    let refuse = |what: &str| {
        CliError::Usage(format!(
            "{}: batch runs [[task]] entries only; this file has {what}: run it with `taskorch up`",
            path.display()
        ))
    };
    if !file.setup.is_empty() || !file.service.is_empty() || !file.launch.is_empty() {
        return Err(refuse("[[setup]], [[service]] or [[launch]] entries"));
    }
    if !file.schedule.is_empty() || !file.pool.is_empty() {
        return Err(refuse("[[schedule]] or [[pool]] entries"));
    }
    if file.task.iter().any(|t| !t.after.is_empty()) {
        return Err(refuse("`after` dependencies"));
    }
    Ok(file
        .task
        .iter()
        .enumerate()
        .map(|(i, t)| Job {
            seq: i + 1,
            command: t.name().to_string(),
            task: t.task(),
        })
        .collect())
}

/// `taskorch batch`.
pub(super) async fn run(
    args: BatchArgs,
    store: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> Result<i32, CliError> {
    let limit = match args.jobs {
        // GNU parallel's `-j 0` is "as many as it can"; here that is one
        // per core, the most that helps CPU-bound jobs.
        Some(0) | None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n) => n,
    };
    let mut jobs = read_jobs(&args)?;
    let total_input = jobs.len();
    if args.resume
        && let Some(path) = &args.joblog
    {
        let mut done = joblog::succeeded(path)?;
        jobs.retain(|job| match done.get_mut(&job.command) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        });
        if jobs.len() < total_input {
            eprintln!(
                "taskorch: resuming: {} of {total_input} jobs already succeeded in {}",
                total_input - jobs.len(),
                path.display()
            );
        }
    }
    let mut log = match &args.joblog {
        Some(path) => Some(JobLog::open(path, args.resume)?),
        None => None,
    };
    if jobs.is_empty() {
        eprintln!("taskorch: nothing to run");
        return log.map_or(Ok(0), |l| l.finish().map(|()| 0));
    }
    let spool = Spool::new()?;
    let dir = store.map(|dir| StoreDir { dir });
    // Every byte of every job reaches our output (and its spool file);
    // what the runtime also keeps — in memory, and with `--store` in the
    // history — is a bounded sample, so a batch of chatty jobs stays as
    // small as `parallel -k`. A run whose bytes were reclaimed says so
    // (`show`: truncated, bytes dropped).
    let config = Config {
        output_budget: BATCH_OUTPUT_BUDGET,
        max_output: BATCH_OUTPUT_BUDGET / 16,
        output_ring_bytes: BATCH_OUTPUT_BUDGET / 16,
        ..config_for(jobs.len())
    };
    let orch = match &dir {
        Some(dir) => dir.start(config).await?,
        None => Orchestrator::start(config).await?,
    };
    let tasks = jobs.iter().enumerate().map(|(index, job)| {
        let mut task = job.task.clone().retries(args.retries);
        if let Some(limit) = args.timeout {
            task = task.timeout(limit);
        }
        spool.wrap(index, task)
    });
    let began = Instant::now();
    let mut batch = orch
        .start_batch(BatchSpec::new(tasks.collect::<Vec<_>>(), limit).report_each(true))
        .await?;
    let (printer, printer_stopped) = spool.printer(jobs.len());
    tokio::pin!(printer_stopped);
    let mut progress = Progress::new(batch.len());
    let mut summary = render::BatchSummary::default();
    // The progress line is also refreshed while no job ends, for the
    // count of running ones.
    let mut refresh = tokio::time::interval(Duration::from_secs(1));
    tokio::pin!(shutdown);
    let mut interrupted = false;
    let mut reader_gone = false;
    loop {
        tokio::select! {
            // Results first: the joblog line of a finished job is written
            // before anything else happens.
            biased;
            ended = batch.next_finished() => {
                let Some((index, result)) = ended else { break };
                let job = &jobs[index];
                let verdict = Verdict::of(&result);
                let received = spool.received(index);
                if let Some(log) = &mut log {
                    log.write(&entry(&orch, job, &result, &verdict, received))?;
                }
                summary.add(&job.command, &verdict);
                // A command's output is in its spool files (see `spool`);
                // only an action's captured bytes are printed from here.
                let (stdout, stderr) = match result {
                    Ok(out) if job.task.is_action() => (out.stdout, out.stderr),
                    _ => (Vec::new(), Vec::new()),
                };
                printer.ended(index, stdout, stderr);
                progress.show(&summary, batch.progress());
            }
            _ = refresh.tick() => progress.show(&summary, batch.progress()),
            // Stopped before the batch ended: nobody reads our output any
            // more. Stop, as a pipeline's writer does.
            _ = &mut printer_stopped, if !reader_gone => {
                reader_gone = true;
                batch.cancel();
            }
            () = &mut shutdown, if !interrupted => {
                interrupted = true;
                batch.cancel();
            }
        }
    }
    progress.finish();
    let printed = printer.finish();
    let elapsed = began.elapsed();
    if let Some(log) = log {
        log.finish()?;
    }
    eprint!("{}", summary.table(elapsed));
    orch.shutdown().await?;
    if let Some(dir) = &dir {
        dir.write_trace(&orch)?;
    }
    match printed {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Err(CliError::OutputClosed),
        Err(e) => return Err(CliError::io("writing the jobs' output")(e)),
        Ok(()) => {}
    }
    Ok(if interrupted {
        INTERRUPTED
    } else {
        i32::from(summary.failed() > 0)
    })
}

/// Captured output the runtime keeps across a batch's finished jobs (see
/// `run`): 4 MiB; a sixteenth of it per stream and per line ring of each
/// job, so the jobs in flight add little to it.
const BATCH_OUTPUT_BUDGET: usize = 4 << 20;

/// Exit value of a timed-out job in the joblog and the summary, as
/// `timeout(1)` and GNU parallel report it.
const TIMED_OUT: i32 = 124;

/// How a job ended, read once: the progress line, the summary, the joblog
/// and the exit status all count this, so they agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    Succeeded,
    /// Ran and failed: a non-zero exit, a signal, or an error of the runtime.
    Failed,
    /// The program was not found or not executable.
    NotStarted,
    TimedOut,
    /// Ctrl-C (or the reader of our output went away) stopped it.
    Cancelled,
}

/// A job's [`Ended`], with the joblog's `Exitval` and `Signal` and, for a
/// job that did not succeed, why.
#[derive(Debug, Clone)]
pub(super) struct Verdict {
    pub(super) ended: Ended,
    pub(super) exit: i32,
    pub(super) signal: i32,
    pub(super) why: String,
}

impl Verdict {
    fn of(result: &TaskResult<Output>) -> Verdict {
        let (ended, exit, signal, why) = match result {
            Ok(out) if out.success() => (Ended::Succeeded, 0, 0, String::new()),
            Ok(out) => match out.signal {
                // GNU's joblog: the signal in its column, no exit value.
                Some(signal) => (
                    Ended::Failed,
                    -1,
                    signal,
                    format!("killed by signal {signal}"),
                ),
                None => {
                    let exit = exit_code(out).min(255);
                    (Ended::Failed, exit, 0, format!("exit {exit}"))
                }
            },
            Err(e @ (Error::NotFound { .. } | Error::PermissionDenied { .. })) => {
                (Ended::NotStarted, error_exit(e), 0, e.to_string())
            }
            Err(e @ Error::TimedOut { .. }) => (Ended::TimedOut, TIMED_OUT, 0, e.to_string()),
            Err(e @ (Error::Cancelled { .. } | Error::ShuttingDown)) => {
                (Ended::Cancelled, -1, 0, e.to_string())
            }
            Err(e) => (Ended::Failed, -1, 0, e.to_string()),
        };
        Verdict {
            ended,
            exit,
            signal,
            why,
        }
    }
}

/// The joblog line of one job.
fn entry(
    orch: &Orchestrator,
    job: &Job,
    result: &TaskResult<Output>,
    verdict: &Verdict,
    received: u64,
) -> Entry {
    let (runtime, run) = match result {
        Ok(out) => (out.duration, Some(out.run_id)),
        Err(e) => (Duration::ZERO, error_run(e)),
    };
    let info = run.and_then(|id| orch.observe().find_run(id));
    let start = info
        .as_ref()
        .and_then(|info| info.started)
        .unwrap_or_else(|| SystemTime::now() - runtime);
    // A run that ended in an error still ran for a while.
    let runtime = match (result, &info) {
        (Err(_), Some(info)) => info
            .started
            .and_then(|s| SystemTime::now().duration_since(s).ok())
            .unwrap_or(runtime),
        _ => runtime,
    };
    Entry {
        seq: job.seq,
        start,
        runtime,
        received,
        exit: verdict.exit,
        signal: verdict.signal,
        command: job.command.clone(),
    }
}

/// The run an error belongs to, when it says.
fn error_run(e: &Error) -> Option<crate::RunId> {
    match e {
        Error::TimedOut { run, .. } | Error::Cancelled { run } => *run,
        _ => None,
    }
}

/// The shell's exit code for a job that could not run or finish.
pub(super) fn error_exit(e: &Error) -> i32 {
    match e {
        Error::NotFound { .. } => 127,
        Error::PermissionDenied { .. } => 126,
        _ => -1,
    }
}

/// The progress display: a bar on a terminal, plain lines otherwise.
enum Progress {
    Bar(ProgressBar),
    Lines { last: Option<Instant> },
}

impl Progress {
    fn new(total: usize) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::Lines { last: None };
        }
        let bar = ProgressBar::new(total as u64);
        // A constant template; should it ever be refused, a plain bar is
        // still a bar.
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress::Bar(bar)
    }

    /// Counts from `summary` (what the summary table will say), the number
    /// running from the runtime.
    fn show(&mut self, summary: &render::BatchSummary, p: BatchProgress) {
        let (total, running) = (p.total, p.running);
        let done = summary.total();
        let succeeded = summary.succeeded();
        match self {
            Progress::Bar(bar) => {
                bar.set_position(done as u64);
                bar.set_message(format!("done, {succeeded} succeeded, {running} running"));
            }
            Progress::Lines { last } => {
                let finished = done >= total;
                let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
                if due || finished {
                    *last = Some(Instant::now());
                    // Nothing runs once every job is in.
                    let running = if finished { 0 } else { running };
                    eprintln!(
                        "taskorch: {done}/{total} done, {succeeded} succeeded, {running} running"
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
