//! `taskorch batch`: many commands, `-j N` at a time (Concurrent pattern).
//!
//! Input: one command per line (blank lines and `# comments` skipped), or a
//! TOML jobs file (`*.toml`, its `[[task]]` entries). A line without shell
//! syntax (`echo hello`) runs directly, split at whitespace, like `xargs`;
//! a line with any (`|`, `>`, quotes, `$`, `*`, ...) runs with `sh -c`.
//!
//! While it runs: a progress bar (done / failed / running, ETA) on stderr
//! when stderr is a terminal, else a plain progress line at most once a
//! second. At the end, each job's captured output in input order (stdout
//! to stdout, stderr to stderr, like `parallel -k`), then a summary table
//! on stderr. Exit 0 when every job succeeded, 1 when any failed, 130
//! after Ctrl-C (which cancels the jobs in flight and starts no more).

use std::future::Future;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressStyle};

use crate::{BatchProgress, BatchSpec, Error, Orchestrator, Output, Result as TaskResult, Task};

use super::joblog::{self, Entry, JobLog};
use super::run::{INTERRUPTED, exit_code, write_output};
use super::store_dir::{StoreDir, config_for};
use super::{CliError, jobs, parse_duration, render};

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
    /// File of commands, one per line, or a TOML jobs file (`*.toml`).
    #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
    pub file: Option<PathBuf>,
    /// Read the commands from standard input instead.
    #[arg(long)]
    pub stdin: bool,
    /// Jobs at once (default: the number of CPUs).
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
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("{}: cannot read: {e}", path.display())))?,
        None => {
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
        Some(0) => return Err(CliError::Usage("-j must be at least 1".into())),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
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
    let dir = store.map(|dir| StoreDir { dir });
    let config = config_for(jobs.len());
    let orch = match &dir {
        Some(dir) => dir.start(config).await?,
        None => Orchestrator::start(config).await?,
    };
    let tasks = jobs.iter().map(|job| {
        let mut task = job.task.clone().retries(args.retries);
        if let Some(limit) = args.timeout {
            task = task.timeout(limit);
        }
        task
    });
    let began = Instant::now();
    let mut batch = orch
        .batch(BatchSpec::new(tasks.collect::<Vec<_>>(), limit))
        .await?;
    let mut progress = Progress::new(batch.len());
    tokio::pin!(shutdown);
    let mut interrupted = false;
    loop {
        tokio::select! {
            p = batch.changed() => {
                progress.show(&p);
                if p.is_finished() {
                    break;
                }
            }
            () = &mut shutdown, if !interrupted => {
                interrupted = true;
                batch.cancel();
            }
        }
    }
    progress.finish();
    let results = batch.wait().await;
    let elapsed = began.elapsed();
    let mut summary = render::BatchSummary::default();
    let mut closed = false;
    for (job, result) in jobs.iter().zip(&results) {
        if let Ok(out) = result
            && !closed
        {
            match write_output(out) {
                // Our reader went away: the joblog and the shutdown still
                // happen; then exit 141 (see `pipe`).
                Err(CliError::OutputClosed) => closed = true,
                other => other?,
            }
        }
        let entry = entry(&orch, job, result);
        summary.add(&job.command, result, entry.exit);
        if let Some(log) = &mut log {
            log.write(&entry)?;
        }
    }
    if let Some(log) = log {
        log.finish()?;
    }
    eprint!("{}", summary.table(elapsed));
    orch.shutdown().await?;
    if let Some(dir) = &dir {
        dir.write_trace(&orch)?;
    }
    if closed {
        return Err(CliError::OutputClosed);
    }
    Ok(if interrupted {
        INTERRUPTED
    } else {
        i32::from(summary.failed() > 0)
    })
}

/// The joblog line of one job.
fn entry(orch: &Orchestrator, job: &Job, result: &TaskResult<Output>) -> Entry {
    let (runtime, received, exit, signal, run) = match result {
        Ok(out) => (
            out.duration,
            (out.stdout.len() + out.stderr.len()) as u64,
            exit_code(out).min(255),
            out.signal.unwrap_or(0),
            Some(out.run_id),
        ),
        Err(e) => (Duration::ZERO, 0, error_exit(e), 0, error_run(e)),
    };
    let start = run
        .and_then(|id| orch.run_info(id))
        .and_then(|info| info.started)
        .unwrap_or_else(|| SystemTime::now() - runtime);
    Entry {
        seq: job.seq,
        start,
        runtime,
        received,
        exit: if signal != 0 { -1 } else { exit },
        signal,
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

    fn show(&mut self, p: &BatchProgress) {
        match self {
            Progress::Bar(bar) => {
                bar.set_position(p.done as u64);
                bar.set_message(format!("done, {} failed, {} running", p.failed, p.running));
            }
            Progress::Lines { last } => {
                let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
                if due || p.is_finished() {
                    *last = Some(Instant::now());
                    eprintln!(
                        "taskorch: {}/{} done, {} failed, {} running",
                        p.done, p.total, p.failed, p.running
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
