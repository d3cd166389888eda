//! [`Request`]: what the caller needs, described without naming a pattern,
//! and the one place that decides whether a request makes sense.
//!
//! A request is one task (or a batch of them) plus options: stream its
//! output, do not wait for it, run it on a clock, send it to a pool, or
//! an explicit pattern. [`Pattern::select`] applies the selection rules
//! (first match wins: periodic > streaming > concurrent > fire-and-forget >
//! pooled > simple). [`Request::validate`] refuses what no pattern can
//! honour — a pool request cannot stream, a schedule cannot run a batch —
//! with `Error::InvalidTask` naming both options, so a request is never
//! quietly run in a pattern the caller did not ask for.
//!
//! How conflicts are found: every option the caller set allows a set of
//! patterns (`.streaming(true)` only LongRunning, `.wait(false)` the
//! patterns that return before the work ends, ...). A request is valid
//! when the sets of all its options share a pattern, and the rules then
//! pick one of the shared ones. When they share none, the pairs of options
//! with nothing in common are named.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::pattern::Pattern;
use crate::scheduler::{ScheduleSpec, Trigger};
use crate::task::Task;

/// What to run and what the caller needs from it; `Orchestrator::execute`
/// picks the pattern ([`Pattern::select`]).
///
/// ```
/// use std::time::Duration;
/// use taskorch_actors::{Pattern, Request, Task};
///
/// let job = Task::command("make").arg("release");
/// assert_eq!(Pattern::select(&Request::new(job.clone())), Pattern::Simple);
/// assert_eq!(Pattern::select(&Request::new(job.clone()).streaming(true)), Pattern::LongRunning);
/// assert_eq!(Pattern::select(&Request::new(job.clone()).wait(false)), Pattern::FireAndForget);
/// assert_eq!(
///     Pattern::select(&Request::new(job.clone()).every(Duration::from_secs(60))),
///     Pattern::Periodic
/// );
///
/// // A pool answers one line; it has no output to stream.
/// let bad = Request::new(job.stdin("ping")).pooled("workers").streaming(true);
/// assert!(bad.validate().is_err());
/// ```
///
/// Setting an option twice keeps the last value (`.every` and `.schedule`
/// set the same trigger).
#[derive(Debug, Clone)]
pub struct Request {
    work: Work,
    streaming: Option<bool>,
    wait: Option<bool>,
    trigger: Option<Trigger>,
    pool: Option<String>,
    pattern: Option<Pattern>,
}

/// The tasks of a request: the one it was made with, or the batch that
/// replaced it.
#[derive(Debug, Clone)]
// One per request, moved rather than copied around: boxing the task would
// cost `execute` an allocation for nothing.
#[allow(clippy::large_enum_variant)]
enum Work {
    Single(Task),
    Batch { tasks: Vec<Task>, limit: usize },
}

/// A checked request, taken apart for the pattern that runs it: what
/// `Orchestrator::execute` hands to the pattern's own method.
#[derive(Debug)]
pub enum ExecutionPlan {
    /// `run(task)`.
    Simple(Task),
    /// `stream(task)`.
    LongRunning(Task),
    /// `run_batch(tasks, limit)`; a single task is a batch of one with a
    /// limit of 1.
    Concurrent {
        /// The tasks, in the order their results come back.
        tasks: Vec<Task>,
        /// Most tasks running at once.
        limit: usize,
    },
    /// `launch(task)`.
    FireAndForget(Task),
    /// `schedule(spec)`: the task under its display name.
    Periodic(ScheduleSpec),
    /// `Pool::request(line)` on the pool called `pool`.
    Pooled {
        /// The pool's name.
        pool: String,
        /// The request line: the task's stdin without its newline.
        line: String,
        /// The task's time limit, if it set one: the longest the caller
        /// waits for the reply (the pool's own `request_timeout` applies
        /// too).
        timeout: Option<Duration>,
    },
}

impl ExecutionPlan {
    /// The pattern this plan runs in.
    pub fn pattern(&self) -> Pattern {
        match self {
            ExecutionPlan::Simple(_) => Pattern::Simple,
            ExecutionPlan::LongRunning(_) => Pattern::LongRunning,
            ExecutionPlan::Concurrent { .. } => Pattern::Concurrent,
            ExecutionPlan::FireAndForget(_) => Pattern::FireAndForget,
            ExecutionPlan::Periodic(_) => Pattern::Periodic,
            ExecutionPlan::Pooled { .. } => Pattern::Pooled,
        }
    }
}

// Defined here, not in `pattern.rs`: choosing a pattern is a rule about
// requests, and the pattern vocabulary must not import the request (and,
// through it, the scheduler).
impl Pattern {
    /// The pattern `request` runs in: the one it names with
    /// [`Request::pattern`], or else the first rule that matches —
    /// periodic (a trigger is given) > streaming > concurrent (a batch) >
    /// fire-and-forget (`wait(false)`) > pooled (a pool is named) > simple.
    ///
    /// This only applies the rules; it does not check that the options fit
    /// together. [`Request::validate`] does, and `Orchestrator::execute`
    /// always validates: a request whose options conflict (a pool request
    /// that streams, a batch on a schedule) is refused there, never run in
    /// the pattern picked here.
    pub fn select(request: &Request) -> Pattern {
        if let Some(pattern) = request.pattern_override() {
            pattern
        } else if request.trigger().is_some() {
            Pattern::Periodic
        } else if request.is_streaming() {
            Pattern::LongRunning
        } else if request.batch_limit().is_some() {
            Pattern::Concurrent
        } else if !request.waits() {
            Pattern::FireAndForget
        } else if request.pool_name().is_some() {
            Pattern::Pooled
        } else {
            Pattern::Simple
        }
    }
}

impl Request {
    /// A request to run `task`; with no options it runs Simple (run and
    /// wait for the output).
    pub fn new(task: Task) -> Self {
        Request {
            work: Work::Single(task),
            streaming: None,
            wait: None,
            trigger: None,
            pool: None,
            pattern: None,
        }
    }

    /// A request for a batch from the start: `tasks`, at most `limit` at
    /// once (Concurrent). The same as `Request::new(task).batch(tasks,
    /// limit)`, without a first task to replace.
    pub fn batch_of(tasks: Vec<Task>, limit: usize) -> Self {
        Request {
            work: Work::Batch { tasks, limit },
            ..Request::new(Task::command(""))
        }
    }

    /// Whether the caller wants the output line by line while it runs
    /// (LongRunning).
    pub fn streaming(mut self, streaming: bool) -> Self {
        self.streaming = Some(streaming);
        self
    }

    /// Whether the caller waits for the result (the default). `false`
    /// launches the task and returns its run id at once (FireAndForget).
    pub fn wait(mut self, wait: bool) -> Self {
        self.wait = Some(wait);
        self
    }

    /// Run the task every `interval` (Periodic), as a schedule named after
    /// the task ([`Task::display_name`]; set it with [`Task::name`]).
    pub fn every(self, interval: Duration) -> Self {
        self.schedule(Trigger::every(interval))
    }

    /// Run the task whenever `trigger` fires (Periodic): a cron expression
    /// or an interval, as [`every`](Self::every).
    pub fn schedule(mut self, trigger: Trigger) -> Self {
        self.trigger = Some(trigger);
        self
    }

    /// Run `tasks` instead of the request's task, at most `limit` at once,
    /// with one result per task in input order (Concurrent).
    pub fn batch(mut self, tasks: Vec<Task>, limit: usize) -> Self {
        self.work = Work::Batch { tasks, limit };
        self
    }

    /// Send the task's stdin — one line — to the open pool called `pool`
    /// and return its reply line (Pooled). Only the stdin and the time
    /// limit of the task are used; the pool's workers do the work.
    pub fn pooled(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }

    /// Run in `pattern`, whatever the selection rules would pick. Options
    /// that contradict it make the request invalid.
    pub fn pattern(mut self, pattern: Pattern) -> Self {
        self.pattern = Some(pattern);
        self
    }

    /// The tasks: the one the request was made with, or the batch.
    pub fn tasks(&self) -> &[Task] {
        match &self.work {
            Work::Single(task) => std::slice::from_ref(task),
            Work::Batch { tasks, .. } => tasks,
        }
    }

    /// The batch's concurrency limit, if [`batch`](Self::batch) was given.
    pub fn batch_limit(&self) -> Option<usize> {
        match &self.work {
            Work::Single(_) => None,
            Work::Batch { limit, .. } => Some(*limit),
        }
    }

    /// Whether the caller asked for live output.
    pub fn is_streaming(&self) -> bool {
        self.streaming == Some(true)
    }

    /// Whether the caller waits for the result (true unless `.wait(false)`).
    pub fn waits(&self) -> bool {
        self.wait != Some(false)
    }

    /// The trigger, if the request runs on a clock.
    pub fn trigger(&self) -> Option<&Trigger> {
        self.trigger.as_ref()
    }

    /// The pool the request goes to, if any.
    pub fn pool_name(&self) -> Option<&str> {
        self.pool.as_deref()
    }

    /// The pattern named with [`pattern`](Self::pattern), if any.
    pub fn pattern_override(&self) -> Option<Pattern> {
        self.pattern
    }

    /// Check the request and return the pattern it runs in.
    ///
    /// # Errors
    /// `InvalidTask` naming the options that conflict (`.pooled(..)` with
    /// `.streaming(true)`, `.batch(..)` with `.every(..)`, `.pattern(p)`
    /// with an option `p` cannot honour, ...), or what a pattern is
    /// missing: a trigger for `pattern(Periodic)`, a pool for
    /// `pattern(Pooled)`, a stdin line for a pool request (not UTF-8 or
    /// more than one line is refused too), a batch limit of at least 1, an
    /// interval above zero, a pool name that is not empty. The tasks
    /// themselves are checked by the pattern that runs them.
    pub fn validate(&self) -> Result<Pattern> {
        let options = self.options();
        let conflicts = conflicts(options.iter().flatten());
        if !conflicts.is_empty() {
            return Err(Error::InvalidTask(format!(
                "conflicting request options: {}",
                conflicts.join("; ")
            )));
        }
        let pattern = Pattern::select(self);
        if let Work::Batch { limit: 0, tasks } = &self.work {
            return Err(Error::InvalidTask(format!(
                "`.batch({} tasks, 0)`: the concurrency limit must be at least 1",
                tasks.len()
            )));
        }
        match pattern {
            Pattern::Periodic => {
                let trigger = self.trigger.as_ref().ok_or_else(missing_trigger)?;
                if trigger.interval().is_some_and(|d| d.is_zero()) {
                    return Err(Error::InvalidTask(
                        "`.every(0ns)`: the interval must be greater than zero".into(),
                    ));
                }
            }
            Pattern::Pooled => {
                let pool = self.pool.as_deref().ok_or_else(missing_pool)?;
                if let Work::Single(task) = &self.work {
                    pool_line(pool, task)?;
                }
            }
            _ => {}
        }
        Ok(pattern)
    }

    /// Check the request ([`validate`](Self::validate)) and take it apart
    /// for the pattern that runs it.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn into_plan(self) -> Result<ExecutionPlan> {
        let pattern = self.validate()?;
        let Request {
            work,
            trigger,
            pool,
            ..
        } = self;
        Ok(match pattern {
            Pattern::Concurrent => match work {
                Work::Single(task) => ExecutionPlan::Concurrent {
                    tasks: vec![task],
                    limit: 1,
                },
                Work::Batch { tasks, limit } => ExecutionPlan::Concurrent { tasks, limit },
            },
            Pattern::Simple => ExecutionPlan::Simple(single(work, pattern)?),
            Pattern::LongRunning => ExecutionPlan::LongRunning(single(work, pattern)?),
            Pattern::FireAndForget => ExecutionPlan::FireAndForget(single(work, pattern)?),
            Pattern::Periodic => {
                let trigger = trigger.ok_or_else(missing_trigger)?;
                let task = single(work, pattern)?;
                let name = task.display_name().to_string();
                ExecutionPlan::Periodic(ScheduleSpec::new(name, trigger, task))
            }
            Pattern::Pooled => {
                let pool = pool.ok_or_else(missing_pool)?;
                let task = single(work, pattern)?;
                let timeout = task.time_limit();
                let line = owned_pool_line(&pool, task)?;
                ExecutionPlan::Pooled {
                    pool,
                    line,
                    timeout,
                }
            }
        })
    }

    /// The request line `.pooled(..)` sends: the task's stdin, which must
    /// be UTF-8 and one line (a single trailing newline is dropped).
    ///
    /// # Errors
    /// `InvalidTask` if the request is not a pool request or its stdin is
    /// missing, not UTF-8, or more than one line.
    pub fn pool_line(&self) -> Result<String> {
        let pool = self.pool.as_deref().ok_or_else(missing_pool)?;
        match &self.work {
            Work::Single(task) => pool_line(pool, task).map(str::to_string),
            Work::Batch { .. } => Err(Error::InvalidTask(format!(
                "`.pooled({pool:?})` sends one task's stdin; a batch has no single line"
            ))),
        }
    }

    /// The options the caller set, in selection order. A fixed array, not
    /// a `Vec`: `execute` checks every request, and this keeps the check
    /// free of allocation.
    fn options(&self) -> [Option<Opt<'_>>; 6] {
        let batch = match &self.work {
            Work::Batch { tasks, limit } => Some(Opt::Batch(tasks.len(), *limit)),
            Work::Single(_) => None,
        };
        [
            self.pattern.map(Opt::Pattern),
            self.trigger.as_ref().map(Opt::Schedule),
            self.streaming.map(Opt::Streaming),
            batch,
            self.wait.map(Opt::Wait),
            self.pool.as_deref().map(Opt::Pooled),
        ]
    }
}

/// One option the caller set.
#[derive(Debug, Clone, Copy)]
enum Opt<'a> {
    Pattern(Pattern),
    Schedule(&'a Trigger),
    Streaming(bool),
    Batch(usize, usize),
    Wait(bool),
    Pooled(&'a str),
}

/// A set of patterns, one bit per pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Patterns(u8);

impl Patterns {
    const ALL: Patterns = Patterns(0b11_1111);

    fn of(list: &[Pattern]) -> Self {
        Patterns(list.iter().fold(0, |bits, p| bits | bit(*p)))
    }

    fn without(self, pattern: Pattern) -> Self {
        Patterns(self.0 & !bit(pattern))
    }

    fn meets(self, other: Patterns) -> bool {
        self.0 & other.0 != 0
    }
}

fn bit(pattern: Pattern) -> u8 {
    match pattern {
        Pattern::Simple => 1,
        Pattern::LongRunning => 1 << 1,
        Pattern::Concurrent => 1 << 2,
        Pattern::FireAndForget => 1 << 3,
        Pattern::Periodic => 1 << 4,
        Pattern::Pooled => 1 << 5,
    }
}

impl Opt<'_> {
    /// The patterns that can honour this option.
    fn allows(&self) -> Patterns {
        use Pattern::*;
        match self {
            Opt::Pattern(p) => Patterns::of(&[*p]),
            Opt::Schedule(_) => Patterns::of(&[Periodic]),
            Opt::Streaming(true) => Patterns::of(&[LongRunning]),
            Opt::Streaming(false) => Patterns::ALL.without(LongRunning),
            Opt::Batch(..) => Patterns::of(&[Concurrent]),
            // Not waiting: the patterns whose call returns before the work
            // ends (a stream and a schedule return at once too).
            Opt::Wait(false) => Patterns::of(&[FireAndForget, LongRunning, Periodic]),
            // Waiting for the result: all but launching and walking away.
            // A schedule's results are kept in the run registry.
            Opt::Wait(true) => Patterns::ALL.without(FireAndForget),
            Opt::Pooled(_) => Patterns::of(&[Pooled]),
        }
    }
}

impl fmt::Display for Opt<'_> {
    /// The option as the caller wrote it, and what it asks for.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opt::Pattern(p) => write!(f, "`.pattern({p:?})` names the pattern"),
            Opt::Schedule(trigger) => match trigger.interval() {
                Some(interval) => write!(
                    f,
                    "`.every({interval:?})` runs the task on a clock (Periodic)"
                ),
                None => write!(
                    f,
                    "`.schedule({trigger})` runs the task on a clock (Periodic)"
                ),
            },
            Opt::Streaming(true) => {
                f.write_str("`.streaming(true)` streams one run's output live (LongRunning)")
            }
            Opt::Streaming(false) => f.write_str("`.streaming(false)` asks for no live output"),
            Opt::Batch(tasks, limit) => write!(
                f,
                "`.batch({tasks} tasks, {limit})` runs several tasks and returns every result (Concurrent)"
            ),
            Opt::Wait(false) => f.write_str(
                "`.wait(false)` returns before the work ends (FireAndForget, or a stream or schedule)",
            ),
            Opt::Wait(true) => f.write_str("`.wait(true)` waits for the result"),
            Opt::Pooled(pool) => write!(
                f,
                "`.pooled({pool:?})` sends one line to a warm worker and returns its reply (Pooled)"
            ),
        }
    }
}

/// Every pair of options no single pattern can honour, as messages.
fn conflicts<'a>(options: impl Iterator<Item = &'a Opt<'a>> + Clone) -> Vec<String> {
    let mut found = Vec::new();
    for (i, a) in options.clone().enumerate() {
        for b in options.clone().skip(i + 1) {
            if !a.allows().meets(b.allows()) {
                found.push(format!("{a} but {b}"));
            }
        }
    }
    let shared = options
        .clone()
        .fold(Patterns::ALL, |set, opt| Patterns(set.0 & opt.allows().0));
    if found.is_empty() && shared.0 == 0 {
        // Every pair can be honoured but not all together; name them all.
        let all: Vec<String> = options.map(ToString::to_string).collect();
        found.push(format!("no pattern honours all of {}", all.join(", ")));
    }
    found
}

fn missing_trigger() -> Error {
    Error::InvalidTask(
        "`.pattern(Periodic)` needs a trigger: add `.every(interval)` or `.schedule(trigger)`"
            .into(),
    )
}

fn missing_pool() -> Error {
    Error::InvalidTask("`.pattern(Pooled)` needs a pool: add `.pooled(name)`".into())
}

/// The one task of a single-task pattern.
fn single(work: Work, pattern: Pattern) -> Result<Task> {
    match work {
        Work::Single(task) => Ok(task),
        // `validate` refuses a batch outside Concurrent; this names it
        // should the two ever disagree.
        Work::Batch { tasks, .. } => Err(Error::InvalidTask(format!(
            "`.batch({} tasks, ..)` cannot run as {pattern:?}, which runs one task",
            tasks.len()
        ))),
    }
}

/// The task's stdin as one request line for `pool`, borrowed: `validate`
/// checks every pool request with it and allocates nothing.
fn pool_line<'t>(pool: &str, task: &'t Task) -> Result<&'t str> {
    let invalid = |why: String| Err(Error::InvalidTask(format!("`.pooled({pool:?})`: {why}")));
    if pool.trim().is_empty() {
        return invalid("the pool name is empty".into());
    }
    let Some(bytes) = task.stdin_bytes() else {
        return invalid(
            "the request line is the task's stdin, and the task has none: add `.stdin(line)`"
                .into(),
        );
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return invalid("the task's stdin is not UTF-8; a request line must be text".into());
    };
    let line = text
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(text);
    if let Some(at) = line.find('\n') {
        return invalid(format!(
            "the task's stdin has a newline at byte {at}; a pool request is one line"
        ));
    }
    Ok(line)
}

/// [`pool_line`], moving the task's stdin into the line instead of
/// copying it: `execute` sends every pool request through here.
fn owned_pool_line(pool: &str, mut task: Task) -> Result<String> {
    let len = pool_line(pool, &task)?.len();
    let mut bytes = task.take_stdin().unwrap_or_default();
    // The line is a prefix of the stdin (only a trailing newline is cut),
    // so the truncated bytes are the line, UTF-8 as `pool_line` checked.
    bytes.truncate(len);
    String::from_utf8(bytes).map_err(|e| {
        Error::InvalidTask(format!(
            "`.pooled({pool:?})`: the task's stdin is not UTF-8 ({e})"
        ))
    })
}

#[cfg(test)]
mod tests;
