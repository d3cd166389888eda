//! Jobs files: the TOML that `taskorch up` runs (and `taskorch batch`
//! reads `[[task]]` entries from). One array of tables per pattern:
//!
//! | section | pattern | what `up` does with each entry |
//! |---|---|---|
//! | `[[setup]]` | Simple | runs it, in file order, before anything else; a failure stops `up` (exit 1) |
//! | `[[task]]` | Concurrent | all tasks form one task graph: `after = ["name", ..]` orders them |
//! | `[[service]]` | LongRunning | starts it and prints its lines live (`name | text`) until shutdown |
//! | `[[launch]]` | FireAndForget | launches it and reports its end |
//! | `[[schedule]]` | Periodic | `every = "5s"` or `cron = "*/10 * * * * *"` (+ `zone`) |
//! | `[[pool]]` | Pooled | warm workers; `requests = [..]` are sent once they are up |
//! | `[[queue]]` | (named queue) | declared before anything starts: `concurrency = n`, `rate = "100/1s"` |
//!
//! Every entry needs a unique `name`. Commands are `command = ["prog",
//! "arg", ..]` (no shell) or `shell = "script"`; options `env`, `cwd`,
//! `timeout` (a human duration), `retries`, `priority` (`"low"`, `"normal"`,
//! `"high"`, `"critical"`) and `queue` (a `[[queue]]` of the same file); on every entry but
//! `[[schedule]]` and `[[pool]]` also `key = "id"` (`Task::key`) and
//! `labels = { k = "v" }` (`Task::label`). Unknown keys are refused.
//! `[[launch]]` entries may wait before they start: `start_after =
//! "10m"` (counted from when `up` launches it) or `start_at =
//! "2026-12-08T06:00:00Z"` (RFC 3339; a time in the past starts at once),
//! not both. Other entries refuse them: a `[[setup]]` would hold up
//! everything after it, a `[[service]]` the services after it, a
//! `[[task]]` starts when its `after` tasks allow and a `[[schedule]]`
//! when its trigger fires.
//!
//! A file is checked whole before anything starts, every key with the
//! runtime's own checks (`Task::validate`, `ScheduleSpec::validate`,
//! `PoolSpec::validate`, `Config::validate`), so what the runtime would
//! refuse after `up` started is refused here: every error names
//! `file:line:column`, the entry (`[[task]] "name"`) and the key.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::{Overlap, PoolSpec, Priority, QueueSpec, ScheduleSpec, Task, Trigger};

use super::{CliError, why};

/// A parsed and checked jobs file.
#[derive(Debug)]
pub(super) struct Jobs {
    pub(super) settings: Settings,
    pub(super) setup: Vec<TaskDef>,
    pub(super) task: Vec<TaskDef>,
    pub(super) service: Vec<TaskDef>,
    pub(super) launch: Vec<TaskDef>,
    pub(super) schedule: Vec<ScheduleDef>,
    pub(super) pool: Vec<PoolDef>,
    pub(super) queue: Vec<QueueDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    settings: Option<Spanned<Settings>>,
    #[serde(default)]
    setup: Vec<Spanned<TaskDef>>,
    #[serde(default)]
    task: Vec<Spanned<TaskDef>>,
    #[serde(default)]
    service: Vec<Spanned<TaskDef>>,
    #[serde(default)]
    launch: Vec<Spanned<TaskDef>>,
    #[serde(default)]
    schedule: Vec<Spanned<ScheduleDef>>,
    #[serde(default)]
    pool: Vec<Spanned<PoolDef>>,
    #[serde(default)]
    queue: Vec<Spanned<QueueDef>>,
}

/// `[settings]`: orchestrator settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    /// Most runs at once (default 64).
    pub(super) max_concurrency: Option<usize>,
    /// SIGTERM to SIGKILL.
    pub(super) kill_grace: Option<Dur>,
    /// How long runs may finish at shutdown.
    pub(super) shutdown_grace: Option<Dur>,
}

/// What runs: a command or a shell script, and its options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TaskDef {
    pub(super) name: Spanned<String>,
    command: Option<Spanned<Vec<String>>>,
    shell: Option<Spanned<String>>,
    env: Option<Spanned<BTreeMap<String, String>>>,
    cwd: Option<Spanned<PathBuf>>,
    timeout: Option<Spanned<Dur>>,
    #[serde(default)]
    retries: u32,
    /// Start no earlier than this long after `up` reaches the entry.
    start_after: Option<Spanned<Dur>>,
    /// Start no earlier than this time.
    start_at: Option<Spanned<At>>,
    priority: Option<Spanned<String>>,
    queue: Option<Spanned<String>>,
    /// `[[task]]` only: the tasks that must succeed first.
    #[serde(default)]
    pub(super) after: Vec<Spanned<String>>,
    /// The caller's own id for the run (`Task::key`): a `[[launch]]` whose
    /// key names a live run of the same `up` is not started twice.
    key: Option<Spanned<String>>,
    /// Labels (`Task::label`): `labels = { bot = "b-7" }`; `taskorch runs
    /// --label bot=b-7` finds the runs.
    labels: Option<Spanned<BTreeMap<String, String>>>,
}

/// `[[schedule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScheduleDef {
    pub(super) name: Spanned<String>,
    every: Option<Dur>,
    cron: Option<Spanned<String>>,
    zone: Option<Spanned<String>>,
    #[serde(default)]
    immediately: bool,
    overlap: Option<Spanned<String>>,
    command: Option<Spanned<Vec<String>>>,
    shell: Option<Spanned<String>>,
    env: Option<Spanned<BTreeMap<String, String>>>,
    cwd: Option<Spanned<PathBuf>>,
    timeout: Option<Spanned<Dur>>,
    #[serde(default)]
    retries: u32,
    priority: Option<Spanned<String>>,
    queue: Option<Spanned<String>>,
}

/// `[[queue]]`: a named queue, declared before anything starts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueueDef {
    name: Spanned<String>,
    concurrency: Option<Spanned<usize>>,
    /// `"N/interval"`: `"100/1s"`, `"5/m"`.
    rate: Option<Spanned<String>>,
}

/// `[[pool]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PoolDef {
    pub(super) name: Spanned<String>,
    command: Spanned<Vec<String>>,
    #[serde(default = "one")]
    workers: Spanned<usize>,
    recycle_after: Option<Spanned<u64>>,
    request_timeout: Option<Spanned<Dur>>,
    /// Lines sent to the pool once it is up (to show it answering).
    #[serde(default)]
    pub(super) requests: Vec<String>,
}

fn one() -> Spanned<usize> {
    Spanned::new(0..0, 1)
}

/// A human duration in a jobs file (`"30s"`, `"2h"`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Dur(pub(super) Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?}: {e} (try \"30s\", \"2h\", \"250ms\")"
            ))
        })?;
        super::check_duration(&text, parsed)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// An RFC 3339 time in a jobs file (`"2026-12-08T06:00:00Z"`).
#[derive(Debug, Clone, Copy)]
pub(super) struct At(pub(super) std::time::SystemTime);

impl<'de> Deserialize<'de> for At {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        super::run::parse_time(&text)
            .map(At)
            .map_err(serde::de::Error::custom)
    }
}

/// Where in the file an error is, and what it is.
pub(super) struct Located {
    span: Range<usize>,
    message: String,
}

fn at(span: Range<usize>, message: impl Into<String>) -> Located {
    Located {
        span,
        message: message.into(),
    }
}

/// Read and check the jobs file at `path`.
///
/// # Errors
/// `CliError::Usage` with `file:line:column: message` (naming the key).
pub(super) fn load(path: &Path) -> Result<Jobs, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Usage(format!(
            "{}: cannot read the jobs file: {e}",
            path.display()
        ))
    })?;
    parse(&text).map_err(|e| CliError::Usage(locate(path, &text, e)))
}

/// `path:line:column: message` (1-based, column in characters), with the
/// key at that place named when the message does not already.
fn locate(path: &Path, text: &str, e: Located) -> String {
    let start = e.span.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..start].chars().count() + 1;
    let mut message = e.message;
    // A value's error names no key; the key is what precedes `=` on its line.
    if let Some((key, _)) = text[line_start..start].split_once('=') {
        let key = key.trim();
        if !key.is_empty() && !message.contains(&format!("`{key}`")) {
            message = format!("{message} (key `{key}`)");
        }
    }
    format!("{}:{line}:{column}: {message}", path.display())
}

fn parse(text: &str) -> Result<Jobs, Located> {
    let file: File = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        at(e.span().unwrap_or(0..0), message)
    })?;
    if let Some(settings) = &file.settings {
        check_settings(settings)?;
    }
    let mut queues: HashMap<String, Range<usize>> = HashMap::new();
    for def in &file.queue {
        let name = &def.get_ref().name;
        def.get_ref().spec()?;
        if queues.insert(name.get_ref().clone(), name.span()).is_some() {
            return Err(at(
                name.span(),
                format!(
                    "duplicate [[queue]] {:?}: declare each queue once",
                    name.get_ref()
                ),
            ));
        }
    }
    let mut names: HashMap<String, Range<usize>> = HashMap::new();
    let mut unique = |name: &Spanned<String>, section: &str| -> Result<(), Located> {
        if name.get_ref().trim().is_empty() {
            return Err(at(name.span(), format!("empty `name` in [[{section}]]")));
        }
        if names.insert(name.get_ref().clone(), name.span()).is_some() {
            return Err(at(
                name.span(),
                format!(
                    "duplicate `name` {:?}: every entry needs its own",
                    name.get_ref()
                ),
            ));
        }
        Ok(())
    };
    for (section, list) in [
        ("setup", &file.setup),
        ("task", &file.task),
        ("service", &file.service),
        ("launch", &file.launch),
    ] {
        for def in list {
            unique(&def.get_ref().name, section)?;
            check_task(def, section)?;
            let entry = format!("[[{section}]] {:?}", def.get_ref().name());
            def.get_ref().keys().check_queue(&queues, &entry)?;
        }
    }
    for def in &file.schedule {
        unique(&def.get_ref().name, "schedule")?;
        def.get_ref().spec()?;
        let entry = format!("[[schedule]] {:?}", def.get_ref().name());
        def.get_ref().keys().check_queue(&queues, &entry)?;
    }
    for def in &file.pool {
        unique(&def.get_ref().name, "pool")?;
        def.get_ref().check()?;
    }
    check_graph(&file.task)?;
    let inner = |v: Vec<Spanned<TaskDef>>| v.into_iter().map(Spanned::into_inner).collect();
    Ok(Jobs {
        settings: file.settings.map(Spanned::into_inner).unwrap_or_default(),
        setup: inner(file.setup),
        task: inner(file.task),
        service: inner(file.service),
        launch: inner(file.launch),
        schedule: file.schedule.into_iter().map(Spanned::into_inner).collect(),
        pool: file.pool.into_iter().map(Spanned::into_inner).collect(),
        queue: file.queue.into_iter().map(Spanned::into_inner).collect(),
    })
}

fn check_task(def: &Spanned<TaskDef>, section: &str) -> Result<(), Located> {
    let task = def.get_ref();
    let name = task.name.get_ref();
    match (&task.command, &task.shell) {
        (None, None) => {
            return Err(at(
                def.span(),
                format!("[[{section}]] {name:?} needs `command` (an array) or `shell` (a string)"),
            ));
        }
        (Some(_), Some(_)) => {
            return Err(at(
                def.span(),
                format!("[[{section}]] {name:?} has both `command` and `shell`: keep one"),
            ));
        }
        (Some(command), None) if command.get_ref().is_empty() => {
            return Err(at(command.span(), "empty `command`: name the program"));
        }
        _ => {}
    }
    if section != "task"
        && let Some(first) = task.after.first()
    {
        return Err(at(
            first.span(),
            format!("`after` is for [[task]] entries; [[{section}]] {name:?} cannot have one"),
        ));
    }
    let entry = format!("[[{section}]] {name:?}");
    task.keys().check(&entry)?;
    check_start(task, section, &entry)?;
    let bad = |span: Range<usize>, key: &str, e: crate::Error| {
        at(span, format!("{entry}: `{key}`: {}", why(e)))
    };
    if let Some(key) = &task.key {
        Task::shell("true")
            .key(key.get_ref())
            .validate()
            .map_err(|e| bad(key.span(), "key", e))?;
    }
    if let Some(labels) = &task.labels {
        let mut labelled = Task::shell("true");
        for (k, v) in labels.get_ref() {
            labelled = labelled.label(k, v);
        }
        labelled
            .validate()
            .map_err(|e| bad(labels.span(), "labels", e))?;
    }
    task.task()
        .validate()
        .map_err(|e| at(def.span(), format!("{entry}: {}", why(e))))
}

/// `start_after` / `start_at`: one of them, on an entry that can wait,
/// within the runtime's limits (`Task::validate`).
fn check_start(task: &TaskDef, section: &str, entry: &str) -> Result<(), Located> {
    let (key, span, start) = match (&task.start_after, &task.start_at) {
        (None, None) => return Ok(()),
        (Some(_), Some(at_time)) => {
            return Err(at(
                at_time.span(),
                format!("{entry}: `start_at`: `start_after` is given too; keep one"),
            ));
        }
        (Some(after), None) => (
            "start_after",
            after.span(),
            Task::shell("true").start_after(after.get_ref().0),
        ),
        (None, Some(at_time)) => (
            "start_at",
            at_time.span(),
            Task::shell("true").start_at(at_time.get_ref().0),
        ),
    };
    if section != "launch" {
        return Err(at(
            span,
            format!("{entry}: `{key}`: a delayed start is for [[launch]] entries only"),
        ));
    }
    start
        .validate()
        .map_err(|e| at(span, format!("{entry}: `{key}`: {}", why(e))))
}

/// `[settings]`, each key with the runtime's own check
/// (`Config::validate`) on a default configuration.
fn check_settings(settings: &Spanned<Settings>) -> Result<(), Located> {
    let s = settings.get_ref();
    let checks = [
        (
            "max_concurrency",
            s.max_concurrency.map(|n| crate::Config {
                max_concurrency: n,
                ..crate::Config::default()
            }),
        ),
        (
            "kill_grace",
            s.kill_grace.map(|Dur(d)| crate::Config {
                kill_grace: d,
                ..crate::Config::default()
            }),
        ),
        (
            "shutdown_grace",
            s.shutdown_grace.map(|Dur(d)| crate::Config {
                shutdown_grace: d,
                ..crate::Config::default()
            }),
        ),
    ];
    for (key, config) in checks {
        if let Some(config) = config {
            config
                .validate()
                .map_err(|e| at(settings.span(), format!("[settings]: `{key}`: {}", why(e))))?;
        }
    }
    Ok(())
}

/// Every `after` names a task, and the tasks form no cycle.
fn check_graph(tasks: &[Spanned<TaskDef>]) -> Result<(), Located> {
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.get_ref().name.get_ref().as_str(), i))
        .collect();
    for t in tasks {
        for dep in &t.get_ref().after {
            if !index.contains_key(dep.get_ref().as_str()) {
                return Err(at(
                    dep.span(),
                    format!(
                        "`after` names {:?}, which is no [[task]] in this file",
                        dep.get_ref()
                    ),
                ));
            }
        }
    }
    // Depth-first search; 1 = on the current path, 2 = done.
    fn visit(
        i: usize,
        tasks: &[Spanned<TaskDef>],
        index: &HashMap<&str, usize>,
        mark: &mut [u8],
    ) -> Result<(), Located> {
        mark[i] = 1;
        for dep in &tasks[i].get_ref().after {
            let j = index[dep.get_ref().as_str()];
            match mark[j] {
                1 => {
                    return Err(at(
                        dep.span(),
                        format!(
                            "`after` makes a cycle: {:?} waits for {:?}, which waits (directly or not) for {:?}",
                            tasks[i].get_ref().name.get_ref(),
                            dep.get_ref(),
                            tasks[i].get_ref().name.get_ref()
                        ),
                    ));
                }
                0 => visit(j, tasks, index, mark)?,
                _ => {}
            }
        }
        mark[i] = 2;
        Ok(())
    }
    let mut mark = vec![0u8; tasks.len()];
    for i in 0..tasks.len() {
        if mark[i] == 0 {
            visit(i, tasks, &index, &mut mark)?;
        }
    }
    Ok(())
}

/// The keys of an entry that runs a command (`[[setup]]`, `[[task]]`,
/// `[[service]]`, `[[launch]]`, `[[schedule]]`), for building and checking.
struct CommandKeys<'a> {
    command: Option<&'a Spanned<Vec<String>>>,
    shell: Option<&'a Spanned<String>>,
    env: Option<&'a Spanned<BTreeMap<String, String>>>,
    cwd: Option<&'a Spanned<PathBuf>>,
    timeout: Option<&'a Spanned<Dur>>,
    priority: Option<&'a Spanned<String>>,
    queue: Option<&'a Spanned<String>>,
}

/// The [`CommandKeys`] of an entry struct whose fields spell them alike:
/// one place to add a key, whatever entry kinds share it.
macro_rules! command_keys {
    ($def:expr) => {
        CommandKeys {
            command: $def.command.as_ref(),
            shell: $def.shell.as_ref(),
            env: $def.env.as_ref(),
            cwd: $def.cwd.as_ref(),
            timeout: $def.timeout.as_ref(),
            priority: $def.priority.as_ref(),
            queue: $def.queue.as_ref(),
        }
    };
}

/// A `priority` key's value.
fn priority(value: &Spanned<String>, entry: &str) -> Result<Priority, Located> {
    match value.get_ref().as_str() {
        "low" => Ok(Priority::Low),
        "normal" => Ok(Priority::Normal),
        "high" => Ok(Priority::High),
        "critical" => Ok(Priority::Critical),
        other => Err(at(
            value.span(),
            format!(
                "{entry}: `priority`: invalid priority {other:?} (expected \"low\", \"normal\", \"high\" or \"critical\")"
            ),
        )),
    }
}

impl CommandKeys<'_> {
    /// `queue` names a `[[queue]]` of the file (`queues`, by name).
    fn check_queue(
        &self,
        queues: &HashMap<String, Range<usize>>,
        entry: &str,
    ) -> Result<(), Located> {
        if let Some(queue) = self.queue
            && !queues.contains_key(queue.get_ref())
        {
            return Err(at(
                queue.span(),
                format!(
                    "{entry}: `queue`: unknown queue {:?}: declare it with a [[queue]] entry",
                    queue.get_ref()
                ),
            ));
        }
        Ok(())
    }

    /// Check each key on its own with the runtime's own checks (the ones
    /// that would otherwise refuse the task after `up` started), so the
    /// message can name the key. `entry` is `[[task]] "name"`.
    fn check(&self, entry: &str) -> Result<(), Located> {
        let bad = |span: Range<usize>, key: &str, e: crate::Error| {
            at(span, format!("{entry}: `{key}`: {}", why(e)))
        };
        if let Some(command) = self.command
            && let Some((program, args)) = command.get_ref().split_first()
        {
            Task::command(program)
                .args(args.iter().cloned())
                .validate()
                .map_err(|e| bad(command.span(), "command", e))?;
        }
        if let Some(script) = self.shell {
            Task::shell(script.get_ref())
                .validate()
                .map_err(|e| bad(script.span(), "shell", e))?;
        }
        if let Some(env) = self.env {
            for (key, value) in env.get_ref() {
                Task::shell("true")
                    .env(key, value)
                    .validate()
                    .map_err(|e| bad(env.span(), "env", e))?;
            }
        }
        // The runtime checks the directory only when it starts the task
        // (it may appear later); a jobs file names it up front, so a
        // missing one is a mistake in the file. Same words as the runtime.
        if let Some(dir) = self.cwd
            && !dir.get_ref().is_dir()
        {
            return Err(at(
                dir.span(),
                format!(
                    "{entry}: `cwd`: working directory {} does not exist or is not a directory",
                    dir.get_ref().display()
                ),
            ));
        }
        if let Some(limit) = self.timeout {
            Task::shell("true")
                .timeout(limit.get_ref().0)
                .validate()
                .map_err(|e| bad(limit.span(), "timeout", e))?;
        }
        if let Some(value) = self.priority {
            priority(value, entry)?;
        }
        if let Some(queue) = self.queue {
            Task::shell("true")
                .queue(queue.get_ref())
                .validate()
                .map_err(|e| bad(queue.span(), "queue", e))?;
        }
        Ok(())
    }

    /// The task to run.
    fn build(&self, name: &str, retries: u32) -> Task {
        let mut task = match (self.command, self.shell) {
            (Some(argv), _) => match argv.get_ref().split_first() {
                Some((program, args)) => Task::command(program).args(args.iter().cloned()),
                // Refused while the file is read; `validate` names it too.
                None => Task::command(""),
            },
            (None, Some(script)) => Task::shell(script.get_ref()),
            // Refused while the file is read; `validate` names it too.
            (None, None) => Task::shell(""),
        };
        task = task.name(name).retries(retries);
        for (k, v) in self.env.map(Spanned::get_ref).into_iter().flatten() {
            task = task.env(k, v);
        }
        if let Some(dir) = self.cwd {
            task = task.current_dir(dir.get_ref());
        }
        if let Some(limit) = self.timeout {
            task = task.timeout(limit.get_ref().0);
        }
        // Checked while the file is read (`check`).
        if let Some(p) = self.priority.and_then(|p| priority(p, "").ok()) {
            task = task.priority(p);
        }
        if let Some(queue) = self.queue {
            task = task.queue(queue.get_ref());
        }
        task
    }
}

impl TaskDef {
    /// The entry's name.
    pub(super) fn name(&self) -> &str {
        self.name.get_ref()
    }

    fn keys(&self) -> CommandKeys<'_> {
        command_keys!(self)
    }

    /// The task to run.
    pub(super) fn task(&self) -> Task {
        let mut task = self.keys().build(self.name.get_ref(), self.retries);
        if let Some(key) = &self.key {
            task = task.key(key.get_ref());
        }
        for (k, v) in self
            .labels
            .as_ref()
            .map(Spanned::get_ref)
            .into_iter()
            .flatten()
        {
            task = task.label(k, v);
        }
        match (&self.start_after, &self.start_at) {
            (Some(after), _) => task.start_after(after.get_ref().0),
            (None, Some(at_time)) => task.start_at(at_time.get_ref().0),
            (None, None) => task,
        }
    }
}

impl ScheduleDef {
    /// The entry's name.
    pub(super) fn name(&self) -> &str {
        self.name.get_ref()
    }

    fn keys(&self) -> CommandKeys<'_> {
        command_keys!(self)
    }

    /// The schedule to add; checked (cron expression, zone, overlap) while
    /// the file is read.
    pub(super) fn spec(&self) -> Result<ScheduleSpec, Located> {
        let name = self.name.get_ref();
        let mut trigger = match (&self.every, &self.cron) {
            (Some(Dur(every)), None) => {
                if every.is_zero() {
                    return Err(at(
                        self.name.span(),
                        format!("schedule {name:?}: `every` must be more than 0"),
                    ));
                }
                Trigger::every(*every)
            }
            (None, Some(cron)) => Trigger::cron(cron.get_ref())
                .map_err(|e| at(cron.span(), format!("invalid `cron`: {e}")))?,
            _ => {
                return Err(at(
                    self.name.span(),
                    format!("schedule {name:?} needs exactly one of `every` (\"5s\") and `cron`"),
                ));
            }
        };
        if let Some(zone) = &self.zone {
            if self.cron.is_none() {
                return Err(at(zone.span(), "`zone` applies to `cron` schedules only"));
            }
            trigger = trigger
                .in_time_zone(zone.get_ref())
                .map_err(|e| at(zone.span(), format!("invalid `zone`: {e}")))?;
        }
        if self.immediately {
            trigger = trigger.immediately();
        }
        match (&self.command, &self.shell) {
            (None, None) | (Some(_), Some(_)) => {
                return Err(at(
                    self.name.span(),
                    format!("schedule {name:?} needs one of `command` (an array) and `shell`"),
                ));
            }
            (Some(c), None) if c.get_ref().is_empty() => {
                return Err(at(c.span(), "empty `command`: name the program"));
            }
            _ => {}
        }
        let keys = self.keys();
        let entry = format!("[[schedule]] {name:?}");
        keys.check(&entry)?;
        let task = keys.build(name, self.retries);
        let mut spec = ScheduleSpec::new(name, trigger, task);
        if let Some(overlap) = &self.overlap {
            spec = spec.overlap(match overlap.get_ref().as_str() {
                "skip" => Overlap::Skip,
                "queue" => Overlap::Queue,
                "allow" => Overlap::Allow,
                other => {
                    return Err(at(
                        overlap.span(),
                        format!("invalid `overlap` {other:?} (expected \"skip\", \"queue\" or \"allow\")"),
                    ));
                }
            });
        }
        spec.validate()
            .map_err(|e| at(self.name.span(), format!("{entry}: {}", why(e))))?;
        Ok(spec)
    }
}

impl QueueDef {
    /// The queue to declare, each key checked with the runtime's own check
    /// (`QueueSpec::validate`), naming the key.
    pub(super) fn spec(&self) -> Result<QueueSpec, Located> {
        let name = self.name.get_ref();
        let entry = format!("[[queue]] {name:?}");
        let bad = |span: Range<usize>, key: &str, e: crate::Error| {
            at(span, format!("{entry}: `{key}`: {}", why(e)))
        };
        let mut spec = QueueSpec::new(name);
        spec.validate()
            .map_err(|e| bad(self.name.span(), "name", e))?;
        if let Some(n) = &self.concurrency {
            spec = spec.concurrency(*n.get_ref());
            spec.validate()
                .map_err(|e| bad(n.span(), "concurrency", e))?;
        }
        if let Some(rate) = &self.rate {
            let (starts, per) = parse_rate(rate.get_ref())
                .map_err(|why| at(rate.span(), format!("{entry}: `rate`: {why}")))?;
            spec = spec.rate(starts, per);
            spec.validate().map_err(|e| bad(rate.span(), "rate", e))?;
        }
        Ok(spec)
    }
}

/// `"N/interval"` (`"100/1s"`, `"5/m"`: a bare unit is one of it).
fn parse_rate(text: &str) -> Result<(u32, Duration), String> {
    let hint = "(expected \"N/interval\", as \"100/1s\" or \"5/m\")";
    let Some((n, per)) = text.split_once('/') else {
        return Err(format!("invalid rate {text:?} {hint}"));
    };
    let starts: u32 = n
        .trim()
        .parse()
        .map_err(|e| format!("invalid rate {text:?}: starts {n:?}: {e} {hint}"))?;
    let per = per.trim();
    let per = if per.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("1{per}")
    } else {
        per.to_string()
    };
    let per = humantime::parse_duration(&per)
        .map_err(|e| format!("invalid rate {text:?}: interval: {e} {hint}"))?;
    Ok((starts, per))
}

impl PoolDef {
    /// The entry's name.
    pub(super) fn name(&self) -> &str {
        self.name.get_ref()
    }

    /// The pool to open.
    pub(super) fn spec(&self) -> PoolSpec {
        let argv = self.command.get_ref();
        let mut spec = PoolSpec::command(self.name.get_ref(), &argv[0])
            .args(argv[1..].iter().cloned())
            .workers(*self.workers.get_ref());
        if let Some(n) = &self.recycle_after {
            spec = spec.recycle_after(*n.get_ref());
        }
        if let Some(limit) = &self.request_timeout {
            spec = spec.request_timeout(limit.get_ref().0);
        }
        spec
    }

    /// Check each key with the runtime's own checks (`PoolSpec::validate`),
    /// naming the key; then the whole spec.
    fn check(&self) -> Result<(), Located> {
        let name = self.name.get_ref();
        let entry = format!("[[pool]] {name:?}");
        let Some((program, args)) = self.command.get_ref().split_first() else {
            return Err(at(
                self.command.span(),
                "empty `command`: name the worker program",
            ));
        };
        let base = || PoolSpec::command(name, program).args(args.iter().cloned());
        let bad = |span: Range<usize>, key: &str, e: crate::Error| {
            at(span, format!("{entry}: `{key}`: {}", why(e)))
        };
        base()
            .validate()
            .map_err(|e| bad(self.command.span(), "command", e))?;
        if *self.workers.get_ref() == 0 {
            return Err(at(self.workers.span(), "`workers` must be at least 1"));
        }
        base()
            .workers(*self.workers.get_ref())
            .validate()
            .map_err(|e| bad(self.workers.span(), "workers", e))?;
        if let Some(n) = &self.recycle_after {
            base()
                .recycle_after(*n.get_ref())
                .validate()
                .map_err(|e| bad(n.span(), "recycle_after", e))?;
        }
        if let Some(limit) = &self.request_timeout {
            base()
                .request_timeout(limit.get_ref().0)
                .validate()
                .map_err(|e| bad(limit.span(), "request_timeout", e))?;
        }
        self.spec()
            .validate()
            .map_err(|e| at(self.name.span(), format!("{entry}: {}", why(e))))
    }
}

#[cfg(test)]
mod tests;
