//! What to run: [`Task`] (a command, a shell script or an in-process action)
//! and its retry [`Backoff`].
//!
//! A `Task` is plain data: building one checks nothing and costs nothing.
//! [`Task::validate`] (called by every pattern before it accepts a task)
//! turns malformed input into `Error::InvalidTask` naming the problem.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::breaker::{BreakerOptions, BreakerSpec};
use crate::command::{CommandSpec, Launch};
use crate::env::EnvOp;
use crate::error::{Error, Result};

mod job;
mod wire;

pub(crate) use job::check_queue;
pub use job::{
    JobOptions, MAX_KEY_BYTES, MAX_LABEL_KEY_BYTES, MAX_LABEL_VALUE_BYTES, MAX_LABELS,
    MAX_QUEUE_BYTES, Start,
};

/// Default cap on captured bytes per stream (1 MiB).
pub const DEFAULT_MAX_OUTPUT: usize = 1 << 20;

/// The hard ceiling on captured bytes per stream (256 MiB): the most
/// `Task::max_output`, `Config::max_output` and `Config::output_ring_bytes`
/// accept. Past it a task is refused (`InvalidTask`) and a configuration
/// too (`InvalidConfig`), naming the field and this limit, so no setting,
/// `usize::MAX` included, makes capture unbounded in memory.
pub const MAX_OUTPUT_CEILING: usize = 256 << 20;

/// The kind of work a [`Task`] does.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    /// Run a program with arguments (no shell involved); they are
    /// [`Task::command_line`].
    Command,
    /// Run a script with the system shell (`/bin/sh -c` on Unix,
    /// `cmd /C` on Windows).
    Shell {
        /// The script.
        script: String,
    },
    /// Call an in-process action registered with `register_action`.
    Action {
        /// The registered name.
        name: String,
        /// The input handed to the action.
        input: serde_json::Value,
    },
}

/// One unit of work, built with chained calls.
///
/// ```
/// use std::time::Duration;
/// use taskorch_actors::{Backoff, Task};
///
/// let task = Task::command("rsync")
///     .args(["-a", "src/", "backup/"])
///     .env("LC_ALL", "C")
///     .timeout(Duration::from_secs(600))
///     .retries(2)
///     .backoff(Backoff::exponential(Duration::from_secs(1), Duration::from_secs(30)));
/// assert_eq!(task.display_name(), "rsync");
/// ```
///
/// Serialized (the durable store, task files) in the form it had before
/// its command moved into a `CommandSpec`: see `wire`.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    kind: TaskKind,
    /// A command's program and arguments (empty for the other kinds), and
    /// the environment and directory of every process task.
    command: CommandSpec,
    stdin: Option<Vec<u8>>,
    // Not stored: a task read back from the store (a re-run, a recovered
    // run) has no stdin of ours to read, so it gets a null one.
    inherit_stdin: bool,
    // Not stored either: the files belong to the caller that asked (the
    // CLI's batch spool), not to a later re-run.
    tee: Option<Box<[PathBuf; 2]>>,
    name: Option<String>,
    timeout: Option<Duration>,
    retries: u32,
    backoff: Backoff,
    max_output: Option<usize>,
    stray_args: bool,
    breaker: Option<BreakerSpec>,
    // Not in the task's stored form (`wire`): the store keeps them in a
    // table of their own, so that form stays what older releases read.
    job: JobOptions,
}

impl Task {
    fn new(kind: TaskKind, program: String) -> Self {
        Task {
            kind,
            command: CommandSpec::new(program),
            stdin: None,
            inherit_stdin: false,
            tee: None,
            name: None,
            timeout: None,
            retries: 0,
            backoff: Backoff::default(),
            max_output: None,
            stray_args: false,
            breaker: None,
            job: JobOptions::default(),
        }
    }

    /// Run `program` directly (no shell). A bare name is looked up on `PATH`.
    pub fn command(program: impl Into<String>) -> Self {
        Task::new(TaskKind::Command, program.into())
    }

    /// Run `script` with the system shell.
    pub fn shell(script: impl Into<String>) -> Self {
        Task::new(
            TaskKind::Shell {
                script: script.into(),
            },
            String::new(),
        )
    }

    /// Call the in-process action registered under `name` with `input`.
    pub fn action(name: impl Into<String>, input: serde_json::Value) -> Self {
        Task::new(
            TaskKind::Action {
                name: name.into(),
                input,
            },
            String::new(),
        )
    }

    /// Add one argument (commands only; ignored by shell and action tasks,
    /// which `validate` reports).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        if self.takes_args() {
            self.command.arg(arg);
        }
        self
    }

    /// Add several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if self.takes_args() {
            self.command.args(args);
        }
        self
    }

    /// Set an environment variable for the process (inherits the rest).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Remove an environment variable from the process's environment,
    /// inherited or set before. A later [`env`](Self::env) sets it again.
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Start the process with an empty environment: nothing inherited,
    /// nothing set before this call. Variables set after it are the whole
    /// environment, with the runtime's own (`TASKORCH_RUN_ID`, `TASKORCH_HOST`, and
    /// `TRACEPARENT` inside a span). A bare program name is still looked up
    /// on the orchestrator's `PATH` unless the task sets one.
    pub fn env_clear(mut self) -> Self {
        self.command.env_clear();
        self
    }

    /// Run the process in this directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Bytes written to the process's stdin, which is then closed. Without
    /// it the process gets a null stdin (reads see end of file).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Let the process read this process's own stdin (the file descriptor
    /// is handed over, so a pipe or file feeds the child directly, with
    /// the writer held back by the pipe as in a shell pipeline). Ignored
    /// when [`stdin`](Self::stdin) bytes are set, and by actions. Not
    /// kept in a durable store: a run recovered or re-run from it gets a
    /// null stdin. Retries read on from where the failed attempt stopped.
    ///
    /// The process runs in its own process group: if stdin is a terminal,
    /// a read from it stops the process (`SIGTTIN`), so pass a terminal
    /// only to a command that does not read it (the CLI passes a null
    /// stdin instead).
    pub fn inherit_stdin(mut self) -> Self {
        self.inherit_stdin = true;
        self
    }

    /// Also append every byte the process writes to `stdout` and `stderr`
    /// to these files (created if missing; every attempt appends), as it is
    /// read: the whole output on disk, uncut, while the run's capture stays
    /// bounded by [`max_output`](Self::max_output). For a caller that must
    /// keep all of a chatty command's output without holding it in memory
    /// (the CLI's `batch` spools each job this way). Not stored with the
    /// task: a re-run writes no file. A file that cannot be opened fails the
    /// attempt with `Error::Io` naming it; a write that fails stops that
    /// file's copy with a warning, and the run goes on.
    pub fn tee_output(mut self, stdout: impl Into<PathBuf>, stderr: impl Into<PathBuf>) -> Self {
        self.tee = Some(Box::new([stdout.into(), stderr.into()]));
        self
    }

    /// The files set by [`tee_output`](Self::tee_output), stdout's first.
    pub fn tee_paths(&self) -> Option<(&Path, &Path)> {
        self.tee
            .as_deref()
            .map(|[out, err]| (out.as_path(), err.as_path()))
    }

    /// A human name for the run (defaults to the program or action name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Time limit for each attempt; past it the process group is
    /// terminated and the attempt ends with `Error::TimedOut`.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Retry up to `n` more times after a failed attempt (non-zero exit,
    /// time-out, action error): at most `1 + n` attempts in all.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Delay between attempts (default: exponential from 100 ms to 10 s).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Cap on captured bytes per stream (default 1 MiB); the rest is read
    /// and discarded, and the output is flagged truncated. At most
    /// [`MAX_OUTPUT_CEILING`]: [`validate`](Self::validate) refuses more.
    pub fn max_output(mut self, bytes: usize) -> Self {
        self.max_output = Some(bytes);
        self
    }

    /// Guard this task with the circuit breaker of dependency `key`: tasks
    /// with the same key share one breaker, which opens after repeated
    /// failures and then refuses work at once with `Error::CircuitOpen`
    /// (see [`breaker`](crate::breaker)). Default options:
    /// [`BreakerOptions::default`].
    pub fn breaker(mut self, key: impl Into<String>) -> Self {
        let options = self.breaker.take().map(|b| b.options).unwrap_or_default();
        self.breaker = Some(BreakerSpec {
            key: key.into(),
            options,
        });
        self
    }

    /// The options of this task's breaker (set the key with
    /// [`breaker`](Self::breaker); options without a key are refused by
    /// `validate`).
    pub fn breaker_options(mut self, options: BreakerOptions) -> Self {
        match &mut self.breaker {
            Some(spec) => spec.options = options,
            None => {
                self.breaker = Some(BreakerSpec {
                    key: String::new(),
                    options,
                })
            }
        }
        self
    }

    /// The task's breaker, if it has one.
    pub fn breaker_spec(&self) -> Option<&BreakerSpec> {
        self.breaker.as_ref()
    }

    /// Whether arguments may be added (a command's); shell and action
    /// tasks have no argument list: the builder stays infallible and
    /// `validate` names the mistake.
    fn takes_args(&mut self) -> bool {
        // Written as a branch that only ever sets the flag: the
        // `stray_args |= !is_command` form came out of rustc 1.95's
        // release build setting the flag for command tasks too (every
        // `Task::command(..).args(..)` then failed validation; debug builds
        // were right).
        if let TaskKind::Command = self.kind {
            return true;
        }
        self.stray_args = true;
        false
    }

    /// What kind of work this is.
    pub fn kind(&self) -> &TaskKind {
        &self.kind
    }

    /// The command: a command task's program and arguments, every process
    /// task's environment and directory.
    pub(crate) fn command_spec(&self) -> &CommandSpec {
        &self.command
    }

    /// A command's program (a bare name is looked up on `PATH`) and its
    /// arguments; `None` for a shell script or an action.
    pub fn command_line(&self) -> Option<(&str, &[String])> {
        matches!(self.kind, TaskKind::Command)
            .then(|| (self.command.program.as_str(), self.command.args.as_slice()))
    }

    /// The name runs of this task are listed under.
    pub fn display_name(&self) -> &str {
        if let Some(name) = &self.name {
            return name;
        }
        match &self.kind {
            TaskKind::Command => {
                let program = &self.command.program;
                Path::new(program)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(program)
            }
            TaskKind::Shell { .. } => "sh",
            TaskKind::Action { name, .. } => name,
        }
    }

    /// Environment variables set on the process, in the order they were
    /// set (see [`env_remove`](Self::env_remove) and
    /// [`env_clear`](Self::env_clear) for what else may change).
    pub fn env_vars(&self) -> impl Iterator<Item = (&str, &str)> {
        crate::env::set_vars(&self.command.env)
    }

    /// Every change to the environment, in order.
    pub(crate) fn env_ops(&self) -> &[EnvOp] {
        &self.command.env
    }

    /// The working directory, if set.
    pub fn dir(&self) -> Option<&Path> {
        self.command.dir()
    }

    /// What the process layer spawns for this task: its program resolved
    /// to `program`, shown as `display`, with `args` (a command's own, or
    /// the shell's flag and script).
    pub(crate) fn launch<'a>(
        &'a self,
        program: &'a Path,
        display: &'a str,
        args: &'a [String],
    ) -> Launch<'a> {
        Launch {
            display,
            args,
            ..self.command.launch(program)
        }
    }

    /// Bytes for stdin, if set.
    pub fn stdin_bytes(&self) -> Option<&[u8]> {
        self.stdin.as_deref()
    }

    /// Whether the process reads this process's stdin
    /// ([`inherit_stdin`](Self::inherit_stdin)).
    pub fn inherits_stdin(&self) -> bool {
        self.inherit_stdin && self.stdin.is_none()
    }

    /// Take the stdin bytes out, leaving none: a pool request reuses them
    /// as its request line instead of copying them.
    pub(crate) fn take_stdin(&mut self) -> Option<Vec<u8>> {
        self.stdin.take()
    }

    /// The per-attempt time limit, if set.
    pub fn time_limit(&self) -> Option<Duration> {
        self.timeout
    }

    /// Retries allowed after the first attempt.
    pub fn retry_count(&self) -> u32 {
        self.retries
    }

    /// The delay policy between attempts.
    pub fn backoff_policy(&self) -> &Backoff {
        &self.backoff
    }

    /// The capture cap per stream, if set on the task.
    pub fn output_cap(&self) -> Option<usize> {
        self.max_output
    }

    /// Whether this task runs an in-process action.
    pub fn is_action(&self) -> bool {
        matches!(self.kind, TaskKind::Action { .. })
    }

    /// Check the task for input no process could accept.
    ///
    /// # Errors
    /// `Error::InvalidTask` naming the problem: an empty program name or
    /// script, a NUL byte in the program, an argument, the script or the
    /// environment, an environment name that is empty or contains `=`,
    /// arguments on a shell or action task, a zero timeout, a `max_output`
    /// over [`MAX_OUTPUT_CEILING`], or circuit breaker options out of range
    /// (or without a key).
    ///
    /// The job options are checked too ([`JobOptions::validate`]):
    /// `InvalidKey`, `InvalidLabel`, `InvalidQueue` or `InvalidDuration`.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(Error::InvalidTask(msg));
        match &self.kind {
            TaskKind::Command => {
                let CommandSpec { program, args, .. } = &self.command;
                if program.trim().is_empty() {
                    return invalid("empty program name".into());
                }
                if program.contains('\0') {
                    return invalid(format!("NUL byte in program name {program:?}"));
                }
                if let Some((i, arg)) = args.iter().enumerate().find(|(_, a)| a.contains('\0')) {
                    return invalid(format!("NUL byte in argument {i} ({arg:?}) of {program}"));
                }
            }
            TaskKind::Shell { script } => {
                if script.trim().is_empty() {
                    return invalid("empty shell script".into());
                }
                if script.contains('\0') {
                    return invalid("NUL byte in shell script".into());
                }
            }
            TaskKind::Action { name, .. } => {
                if name.is_empty() {
                    return invalid("empty action name".into());
                }
            }
        }
        if self.stray_args {
            return invalid(format!(
                "arguments given to a {} task; only Task::command takes arguments",
                if self.is_action() { "action" } else { "shell" }
            ));
        }
        crate::env::validate(&self.command.env, "", Error::InvalidTask)?;
        if let Some(limit) = self.timeout {
            if limit.is_zero() {
                return invalid("timeout must be greater than zero".into());
            }
            crate::duration::check("Task::timeout", limit)?;
        }
        self.backoff.validate("Task::backoff")?;
        if let Some(bytes) = self.max_output.filter(|&b| b > MAX_OUTPUT_CEILING) {
            return invalid(format!(
                "max_output must be at most {MAX_OUTPUT_CEILING} bytes (256 MiB), not {bytes}"
            ));
        }
        if let Some(spec) = &self.breaker {
            if spec.key.is_empty() {
                return invalid(
                    "breaker options without a key: call Task::breaker(key) too".into(),
                );
            }
            spec.options.validate(&spec.key)?;
        }
        self.job.validate()
    }
}

/// Delay between attempts of a task (and between restarts of an actor).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: u32,
    jitter: f64,
}

impl Backoff {
    /// The same delay before every retry.
    pub fn fixed(delay: Duration) -> Self {
        Backoff {
            initial: delay,
            max: delay,
            factor: 1,
            jitter: 0.0,
        }
    }

    /// Doubling delays: `initial`, `2 * initial`, ... capped at `max`.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            factor: 2,
            jitter: 0.0,
        }
    }

    /// No delay at all.
    pub fn none() -> Self {
        Backoff::fixed(Duration::ZERO)
    }

    /// Spread each delay randomly by up to `fraction` of itself in either
    /// direction (clamped to 0..=1), so that many retrying callers do not
    /// move in lock-step.
    pub fn with_jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// The delay before retry number `retry` (1 for the first retry),
    /// without jitter. Grows until it reaches `max` and stays there, for
    /// any number of retries.
    pub fn base_delay(&self, retry: u32) -> Duration {
        if retry == 0 {
            return Duration::ZERO;
        }
        // Saturates at u32::MAX (from 2^32 on with the factor 2) instead of
        // wrapping to 0, which made retry 33 and later start over at
        // `initial`.
        let mult =
            u32::try_from(u64::from(self.factor).saturating_pow(retry - 1)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(mult.max(1)).min(self.max)
    }

    /// The delay before retry number `retry`, jitter applied (at most
    /// [`duration::MAX`](crate::duration::MAX), whatever the settings).
    pub fn delay(&self, retry: u32) -> Duration {
        let base = self.base_delay(retry);
        // A deserialized backoff was never clamped by `with_jitter`.
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        if jitter == 0.0 || base.is_zero() {
            return base;
        }
        let spread = rand::random_range(-jitter..=jitter);
        crate::duration::mul_f64(base, 1.0 + spread)
    }

    /// Check the durations and the jitter; `field` names the setting in
    /// the error.
    ///
    /// # Errors
    /// `InvalidDuration` for an `initial` or `max` above
    /// [`duration::MAX`](crate::duration::MAX), or a jitter that is not a
    /// fraction in `0..=1` (only a deserialized backoff can have one).
    pub fn validate(&self, field: &str) -> Result<()> {
        // The field names are built only for an error: every submit of
        // every task checks its backoff, and two `format!`s there were
        // most of what the check cost.
        for (which, delay) in [("initial delay", self.initial), ("maximum delay", self.max)] {
            if delay > crate::duration::MAX {
                crate::duration::check(&format!("{field} ({which})"), delay)?;
            }
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::InvalidDuration {
                field: format!("{field} (jitter {})", self.jitter),
                value: None,
                limit: "a jitter is a fraction of the delay, from 0 to 1".to_string(),
            });
        }
        Ok(())
    }
}

impl Default for Backoff {
    /// Exponential from 100 ms to 10 s.
    fn default() -> Self {
        Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
    }
}
