//! `taskorch up jobs.toml`: run a jobs file (see `jobs` for the format)
//! with the durable store, until Ctrl-C / SIGTERM or `--for DURATION`.
//!
//! Order: the file is read and checked whole (a bad file starts nothing,
//! exit 2); the store is opened (held by another `up`: exit 1); `[[setup]]`
//! steps run one by one (a failure stops here, exit 1); then services,
//! launches, schedules, pools and the task graph all start. Each event is
//! one line on stdout: `KIND NAME what happened`.
//!
//! The task graph is named after the jobs file: if the store held that
//! file's graph unfinished (a crash), the runtime adopted it at start and
//! `up` resumes it instead of submitting a new one (see `run_tasks`).
//!
//! Graceful shutdown (SIGINT, SIGTERM or SIGHUP, also during the store's
//! recovery or `[[setup]]`; `--for` elapsed; stdout's reader gone):
//! services are cancelled (SIGTERM to their process groups, then SIGKILL
//! after the kill grace), the orchestrator shuts down (runs in flight get
//! `shutdown_grace`, then are stopped and end `Interrupted`), the trace is
//! written to the store directory, the read socket is removed. Exit 0 (141
//! when stdout's reader went away, see `pipe`). A second signal forces
//! the stop: `Orchestrator::abort` (every group still gets SIGTERM, then
//! SIGKILL), without waiting for `shutdown_grace`.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args as ClapArgs;
use tokio::task::JoinSet;

use crate::graph::{GraphTask, TaskGraph, TaskKey, TaskResult, TaskStatus};
use crate::{Error, Orchestrator, Output, RunId, RunStatus};

use super::jobs::{self, Jobs, TaskDef};
use super::render::duration;
use super::serve::Server;
use super::store_dir::{StoreDir, config_for};
use super::wire::describe;
use super::{CliError, parse_duration, pipe};

const EXAMPLES: &str = "\
Examples:
  taskorch up examples/jobs.toml                  until Ctrl-C
  taskorch up examples/jobs.toml --for 10s        then a graceful shutdown
  taskorch up jobs.toml --store /var/lib/myapp/taskorch
While it runs, from another shell: taskorch runs, taskorch logs ID --follow";

/// `taskorch up`.
#[derive(Debug, ClapArgs)]
#[command(after_help = EXAMPLES)]
pub struct UpArgs {
    /// The jobs file (TOML).
    #[arg(value_name = "JOBS_FILE")]
    pub file: PathBuf,
    /// Shut down gracefully after this long (`10s`, `1h`) instead of
    /// waiting for Ctrl-C.
    #[arg(long = "for", value_parser = parse_duration, value_name = "DURATION")]
    pub run_for: Option<Duration>,
    /// Serve the HTTP API and the dashboard on this address
    /// (`127.0.0.1:8080`; port 0 picks a free one) while `up` runs.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Token options of `--http`.
    #[command(flatten)]
    pub http_args: super::http::HttpArgs,
}

/// One event line. A reader that went away (`| head`) is noticed by
/// `run` through `pipe::closed`, which stops everything; the line itself
/// is dropped.
fn event(kind: &str, name: &str, what: impl std::fmt::Display) {
    let _ = pipe::line(format_args!("{kind:<8} {name:<14} {what}"));
}

/// A line of `up`'s own, to stdout (dropped if the reader went away).
fn say(what: impl std::fmt::Display) {
    let _ = pipe::line(what);
}

/// How a run ended, in words.
fn outcome(result: &Result<Output, Error>) -> String {
    match result {
        Ok(out) if out.success() => format!("succeeded in {}", duration(out.duration)),
        Ok(out) => match (out.exit_code, out.signal) {
            (Some(code), _) => format!("failed: exit {code} after {}", duration(out.duration)),
            (None, Some(signal)) => format!("failed: killed by signal {signal}"),
            (None, None) => format!("failed: {}", out.stderr_str().trim()),
        },
        Err(e) => format!("failed: {e}"),
    }
}

/// A finished run's stdout, one event line per line.
fn print_lines(kind: &str, name: &str, result: &Result<Output, Error>) {
    if let Ok(out) = result {
        for line in out.stdout_str().lines() {
            event(kind, name, format_args!("| {line}"));
        }
    }
}

/// `taskorch up`. `shutdown` (the first signal) stops it gracefully,
/// `forced` (a second one) without waiting for graces.
pub(super) async fn run(
    args: UpArgs,
    store: Option<PathBuf>,
    shutdown: impl Future<Output = ()> + Send,
    forced: impl Future<Output = ()> + Send,
) -> Result<i32, CliError> {
    let jobs = jobs::load(&args.file)?;
    // The graph's name, by which a later `up` of the same file finds it
    // again after a crash (see `run_tasks`).
    let graph_name = format!(
        "taskorch up {}",
        std::fs::canonicalize(&args.file)
            .unwrap_or_else(|_| args.file.clone())
            .display()
    );
    let dir = StoreDir::or_default(store);
    let mut config = config_for(0);
    if let Some(n) = jobs.settings.max_concurrency {
        config.max_concurrency = n;
    }
    if let Some(d) = jobs.settings.kill_grace {
        config.kill_grace = d.0;
    }
    if let Some(d) = jobs.settings.shutdown_grace {
        config.shutdown_grace = d.0;
    }
    // The signal handlers are installed (by the binary) before this: a
    // signal during the store's recovery is held, and stops us below,
    // once the orchestrator can stop what it started.
    let orch = dir.start(config).await?;
    // Before anything is sent to them; checked while the file was read.
    for def in &jobs.queue {
        if let Ok(spec) = def.spec() {
            orch.queue(spec).await?;
        }
    }
    let pid = std::process::id();
    let _ = std::fs::write(dir.pid_file(), format!("{pid}\n"));
    let listener = match args.http {
        Some(addr) => {
            let http = crate::server::Http::new(&orch).commands(commands(&jobs));
            match super::http::start(http, addr, &args.http_args).await {
                Ok(listener) => Some(listener),
                Err(e) => {
                    let _ = orch.shutdown().await;
                    let _ = std::fs::remove_file(dir.pid_file());
                    return Err(e);
                }
            }
        }
        None => None,
    };
    let server = match Server::start(orch.clone(), &dir, commands(&jobs)) {
        Ok(server) => Some(server),
        Err(e) => {
            eprintln!("taskorch: warning: reads will not be served while up runs: {e}");
            None
        }
    };
    say(format_args!(
        "taskorch up {}: store {}, pid {pid}; {}",
        args.file.display(),
        dir.shown(),
        match args.run_for {
            Some(d) => format!("stopping in {}", humantime::format_duration(d)),
            None => "Ctrl-C to stop".into(),
        }
    ));
    tokio::pin!(shutdown);
    let mut background = JoinSet::new();
    let mut services = Vec::new();
    // A signal or a closed stdout during `[[setup]]` stops the step (the
    // orchestrator's shutdown below terminates its process group).
    let set_up = tokio::select! {
        // A signal held since before the store was opened wins over a
        // setup that has nothing to wait for.
        biased;
        () = &mut shutdown => None,
        () = pipe::closed() => None,
        done = setup(&orch, &jobs) => Some(done),
    };
    let code = match set_up {
        Some(Ok(())) => {
            services = start_all(&orch, &jobs, &graph_name, &mut background).await;
            let stop = async {
                match args.run_for {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => {}
                () = stop => {}
                () = pipe::closed() => {}
            }
            0
        }
        Some(Err(())) => 1,
        None => 0,
    };
    say("taskorch up: shutting down");
    let stopping = async {
        for id in services {
            let _ = orch.cancel(id).await;
        }
        orch.shutdown().await
    };
    tokio::pin!(stopping);
    tokio::select! {
        result = &mut stopping => result?,
        () = forced => {
            let _ = pipe::write_stderr(b"taskorch up: second signal: stopping every run now\n");
            // Every process group still gets SIGTERM, then SIGKILL after
            // the kill grace; the shutdown under way then ends at once.
            orch.abort();
            stopping.await?;
        }
    }
    background.abort_all();
    if let Some(server) = server {
        server.stop();
    }
    if let Some(listener) = listener {
        listener.stop().await;
    }
    let _ = std::fs::remove_file(dir.pid_file());
    dir.write_trace(&orch)?;
    let mut counts: HashMap<RunStatus, usize> = HashMap::new();
    for run in orch.runs() {
        *counts.entry(run.status).or_default() += 1;
    }
    let mut counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    counts.sort();
    say(format_args!(
        "taskorch up: stopped; runs this session: {}",
        if counts.is_empty() {
            "none".into()
        } else {
            counts.join(", ")
        }
    ));
    if pipe::is_closed() {
        return Err(CliError::OutputClosed);
    }
    Ok(code)
}

/// The command of every entry, by name (for `show` over the socket).
fn commands(jobs: &Jobs) -> Arc<HashMap<String, String>> {
    let mut map = HashMap::new();
    for def in jobs
        .setup
        .iter()
        .chain(&jobs.task)
        .chain(&jobs.service)
        .chain(&jobs.launch)
    {
        map.insert(def.name().to_string(), describe(&def.task()));
    }
    for def in &jobs.schedule {
        if let Ok(spec) = def.spec() {
            map.insert(def.name().to_string(), describe(spec.task()));
        }
    }
    Arc::new(map)
}

/// `[[setup]]`, one by one; the first failure stops `up`.
async fn setup(orch: &Orchestrator, jobs: &Jobs) -> Result<(), ()> {
    for def in &jobs.setup {
        let result = orch.run(def.task()).await;
        print_lines("setup", def.name(), &result);
        event("setup", def.name(), outcome(&result));
        if !matches!(&result, Ok(out) if out.success()) {
            eprintln!(
                "taskorch: setup step {:?} failed; nothing else was started",
                def.name()
            );
            return Err(());
        }
    }
    Ok(())
}

/// Start services, launches, schedules, pools and tasks; returns the
/// services' run ids (cancelled first at shutdown).
async fn start_all(
    orch: &Orchestrator,
    jobs: &Jobs,
    graph_name: &str,
    background: &mut JoinSet<()>,
) -> Vec<RunId> {
    let mut services = Vec::new();
    for def in &jobs.service {
        let name = def.name().to_string();
        match orch.stream(def.task()).await {
            Ok(mut stream) => {
                services.push(stream.run_id());
                event(
                    "service",
                    &name,
                    format_args!("started (run {})", stream.run_id()),
                );
                background.spawn(async move {
                    while let Some(line) = stream.next_line().await {
                        event("service", &name, format_args!("| {}", line.text));
                    }
                    match stream.wait().await {
                        Err(Error::Cancelled { .. }) => event("service", &name, "stopped"),
                        result => event("service", &name, outcome(&result)),
                    }
                });
            }
            Err(e) => event("service", &name, format_args!("failed to start: {e}")),
        }
    }
    for def in &jobs.launch {
        let name = def.name().to_string();
        match orch.launch(def.task()).await {
            Ok(id) => {
                event("launch", &name, format_args!("launched (run {id})"));
                let orch = orch.clone();
                background.spawn(async move {
                    let result = orch.wait(id).await;
                    print_lines("launch", &name, &result);
                    event("launch", &name, outcome(&result));
                });
            }
            Err(e) => event("launch", &name, format_args!("failed to launch: {e}")),
        }
    }
    for def in &jobs.schedule {
        let name = def.name().to_string();
        // Checked when the file was read.
        let Ok(spec) = def.spec() else { continue };
        match orch.schedule(spec).await {
            Ok(schedule) => {
                event("schedule", &name, "added");
                let orch = orch.clone();
                background.spawn(watch_schedule(orch, schedule, name));
            }
            Err(e) => event("schedule", &name, format_args!("refused: {e}")),
        }
    }
    for def in &jobs.pool {
        let name = def.name().to_string();
        match orch.pool(def.spec()).await {
            Ok(pool) => {
                event(
                    "pool",
                    &name,
                    format_args!("{} workers up", pool.stats().workers),
                );
                let requests = def.requests.clone();
                background.spawn(async move {
                    for request in requests {
                        match pool.request(request.as_str()).await {
                            Ok(reply) => {
                                event("pool", &name, format_args!("{request:?} -> {reply:?}"))
                            }
                            Err(e) => event("pool", &name, format_args!("{request:?} failed: {e}")),
                        }
                    }
                });
            }
            Err(e) => event("pool", &name, format_args!("failed to open: {e}")),
        }
    }
    if !jobs.task.is_empty() {
        let orch = orch.clone();
        let tasks: Vec<TaskDef> = jobs.task.clone();
        let name = graph_name.to_string();
        background.spawn(async move { run_tasks(&orch, &tasks, name).await });
    }
    services
}

/// Report each run of a schedule as it ends.
async fn watch_schedule(orch: Orchestrator, schedule: crate::Schedule, name: String) {
    let mut reported: Option<RunId> = None;
    loop {
        let info = schedule.info();
        if let Some(last) = info.last.filter(|r| r.status.is_terminal())
            && reported != Some(last.id)
        {
            reported = Some(last.id);
            let result = orch.wait(last.id).await;
            event(
                "schedule",
                &name,
                format_args!("run #{}: {}", info.runs, outcome(&result)),
            );
        }
        // Schedules fire at most a few times a second in a jobs file; a
        // tenth of a second is prompt enough for a log line.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `[[task]]` entries, as one task graph: each starts once every task
/// in its `after` succeeded, independent ones concurrently (up to the
/// runtime's cap); a task whose dependency did not succeed is skipped, and
/// so are its own dependents. One event line per task as it ends.
///
/// The graph is named after the jobs file (`graph_name`). If the store
/// held this file's graph unfinished (an `up` crashed or was killed), the
/// runtime adopted it at start: it is resumed instead of submitting a new
/// one, so finished tasks keep their result and only unfinished ones run.
async fn run_tasks(orch: &Orchestrator, tasks: &[TaskDef], graph_name: String) {
    if tasks.is_empty() {
        return;
    }
    let adopted = orch
        .graphs()
        .list()
        .into_iter()
        .filter(|g| g.resumed && g.name.as_deref() == Some(graph_name.as_str()))
        .max_by_key(|g| g.id)
        .and_then(|g| orch.graphs().find(g.id));
    let run = match adopted {
        Some(run) => {
            let stats = run.stats();
            event(
                "task",
                "-",
                format_args!(
                    "resuming the graph an earlier `up` left unfinished ({} of {} tasks had ended)",
                    stats.total - stats.pending - stats.ready - stats.running,
                    stats.total
                ),
            );
            run
        }
        None => {
            let Some(graph) = build_graph(tasks, graph_name) else {
                event("task", "-", "the tasks' dependencies form a cycle");
                return;
            };
            match orch.graphs().start(graph).await {
                Ok(run) => run,
                Err(e) => {
                    event("task", "-", format_args!("could not start the tasks: {e}"));
                    return;
                }
            }
        }
    };
    // The graph has no change feed: look at it every few milliseconds and
    // report each task once, when it has ended. A resumed graph's tasks
    // that had ended before are reported too, as they ended then.
    let mut reported: HashSet<&str> = HashSet::new();
    loop {
        let finished = run.is_finished();
        for t in tasks {
            if reported.contains(t.name()) {
                continue;
            }
            let Some(result) = run.key(t.name()).and_then(|key| run.result(key)) else {
                continue;
            };
            if !result.status.is_terminal() {
                continue;
            }
            if let Some(out) = &result.output {
                print_lines("task", t.name(), &Ok(out.clone()));
            }
            event("task", t.name(), task_outcome(&result));
            reported.insert(t.name());
        }
        if finished {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The tasks as a graph named `name`; `None` if their dependencies form
/// a cycle (the file was checked for that when it was read).
fn build_graph(tasks: &[TaskDef], name: String) -> Option<TaskGraph> {
    let mut graph = TaskGraph::new().named(name);
    let mut keys: HashMap<&str, TaskKey> = HashMap::new();
    // A task may name one that comes later in the file: add each once all
    // it waits for are in. Every pass of an acyclic file adds at least one.
    while keys.len() < tasks.len() {
        let before = keys.len();
        for t in tasks {
            if keys.contains_key(t.name()) {
                continue;
            }
            let deps: Option<Vec<TaskKey>> = t
                .after
                .iter()
                .map(|d| keys.get(d.get_ref().as_str()).copied())
                .collect();
            if let Some(deps) = deps {
                let key = graph.add(GraphTask::new(t.name(), t.task()).depends_on(deps));
                keys.insert(t.name(), key);
            }
        }
        if keys.len() == before {
            return None;
        }
    }
    Some(graph)
}

/// How a graph task ended, in words.
fn task_outcome(result: &TaskResult) -> String {
    let why = result.error_message.as_deref().unwrap_or("");
    match (result.status, &result.output) {
        (TaskStatus::Skipped, _) => format!("skipped: {why}"),
        (TaskStatus::Succeeded | TaskStatus::Failed, Some(out)) => outcome(&Ok(out.clone())),
        (status, _) => format!("{}: {why}", status.as_str()),
    }
}
