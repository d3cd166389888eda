//! [`PoolSpec`]: what a pool runs and how it treats its workers.
//!
//! Like a [`Task`](crate::Task), a spec is plain data: building one checks
//! nothing. [`PoolSpec::validate`] (called when the pool is opened) turns
//! settings that cannot work into `Error::InvalidConfig` naming the field.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::CommandSpec;
use crate::error::{Error, Result};
use crate::task::{Backoff, DEFAULT_MAX_OUTPUT};

/// Default time a worker may take to answer one request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Default number of stderr lines a pool keeps (all workers together).
pub const DEFAULT_LOG_LINES: usize = 1000;

/// Most workers one pool may have: a typo in a worker count must not fork
/// the machine to its knees.
pub const MAX_WORKERS: usize = 1024;

/// Default number of workers in a row that may fail at start before the
/// pool gives up.
pub const DEFAULT_MAX_START_FAILURES: u32 = 5;

/// A pool of warm worker processes, built with chained calls.
///
/// ```
/// use std::time::Duration;
/// use taskorch_actors::PoolSpec;
///
/// let spec = PoolSpec::command("scorer", "python3")
///     .args(["-u", "score.py"])
///     .workers(4)
///     .recycle_after(10_000)
///     .request_timeout(Duration::from_secs(2));
/// assert_eq!(spec.name(), "scorer");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolSpec {
    pub(crate) name: String,
    /// Program, arguments, environment and directory of every worker.
    /// Flattened, so the JSON form keeps the fields it had before they
    /// moved into `CommandSpec` (a pool spec is never stored with bincode,
    /// which cannot read a flattened struct back).
    #[serde(flatten)]
    pub(crate) command: CommandSpec,
    pub(crate) workers: usize,
    pub(crate) recycle_after: Option<u64>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) request_timeout: Duration,
    pub(crate) retry_idempotent: bool,
    pub(crate) max_reply: usize,
    pub(crate) log_lines: usize,
    pub(crate) max_start_failures: u32,
    pub(crate) restart_backoff: Backoff,
}

impl PoolSpec {
    /// A pool called `name` whose workers run `program` (a bare name is
    /// looked up on `PATH`). One worker unless [`workers`](Self::workers)
    /// says otherwise.
    pub fn command(name: impl Into<String>, program: impl Into<String>) -> Self {
        PoolSpec {
            name: name.into(),
            command: CommandSpec::new(program.into()),
            workers: 1,
            recycle_after: None,
            max_age: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry_idempotent: false,
            max_reply: DEFAULT_MAX_OUTPUT,
            log_lines: DEFAULT_LOG_LINES,
            max_start_failures: DEFAULT_MAX_START_FAILURES,
            restart_backoff: Backoff::exponential(
                Duration::from_millis(10),
                Duration::from_secs(5),
            )
            .with_jitter(0.2),
        }
    }

    /// Add one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.command.arg(arg);
        self
    }

    /// Add several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command.args(args);
        self
    }

    /// Set an environment variable for every worker (on top of the
    /// orchestrator's environment).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Remove an environment variable from the workers' environment,
    /// inherited or set before. A later [`env`](Self::env) sets it again.
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Start the workers with an empty environment: nothing inherited,
    /// nothing set before this call. Variables set after it are the whole
    /// environment, with the pool's own (`TASKORCH_POOL`, the worker id).
    /// A bare program name is still looked up on the orchestrator's `PATH`.
    pub fn env_clear(mut self) -> Self {
        self.command.env_clear();
        self
    }

    /// Run the workers in `dir`.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Number of warm workers (default 1, at most [`MAX_WORKERS`]).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Replace each worker, gracefully, after it has answered `n` requests
    /// (default: never). Guards against slow leaks in the worker program.
    pub fn recycle_after(mut self, n: u64) -> Self {
        self.recycle_after = Some(n);
        self
    }

    /// Replace each worker, gracefully, once it is older than `age`
    /// (default: never). Each worker's deadline is shortened by a random
    /// 0-10 % so that workers started together are not all replaced at
    /// the same moment.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// How long a worker may take to answer one request (default 30 s),
    /// counted from the moment a worker takes the request off the queue.
    /// A worker that takes longer is killed and replaced; the request
    /// answers `Error::TimedOut`.
    pub fn request_timeout(mut self, limit: Duration) -> Self {
        self.request_timeout = limit;
        self
    }

    /// Whether requests are safe to send twice (default `false`). When
    /// `true`, a request whose worker died before answering is retried
    /// once, on another worker, ahead of the queue; when `false` it
    /// answers `Error::WorkerDied`.
    pub fn retry_idempotent(mut self, yes: bool) -> Self {
        self.retry_idempotent = yes;
        self
    }

    /// Longest reply line accepted, in bytes (default 1 MiB). A longer one
    /// is a protocol error: the request answers `Error::WorkerProtocol`
    /// and the worker is replaced.
    pub fn max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }

    /// Stderr lines kept in the pool's log ring, all workers together
    /// (default 1000); older lines are dropped and counted.
    pub fn log_lines(mut self, n: usize) -> Self {
        self.log_lines = n;
        self
    }

    /// How many workers in a row may fail at start (die or misbehave
    /// before answering their first request) before the pool stops
    /// replacing them and reports `PoolUnavailable` with their last stderr
    /// lines (default 5). Any answered request resets the count.
    pub fn max_start_failures(mut self, n: u32) -> Self {
        self.max_start_failures = n;
        self
    }

    /// Delay before replacing a worker that failed, by the number of
    /// failures in a row (the first replacement is immediate). Default
    /// exponential from 10 ms to 5 s with 20 % jitter.
    pub fn restart_backoff(mut self, backoff: Backoff) -> Self {
        self.restart_backoff = backoff;
        self
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program the workers run, as given.
    pub fn program(&self) -> &str {
        &self.command.program
    }

    /// Check the spec for settings that cannot work.
    ///
    /// # Errors
    /// `Error::InvalidConfig` naming the field: an empty name or program, a
    /// NUL byte in the program, an argument or the environment, an invalid
    /// environment variable name, zero workers or more than
    /// [`MAX_WORKERS`], `recycle_after(0)`, a zero
    /// `max_age`, `request_timeout`, `max_reply`, `log_lines` or
    /// `max_start_failures`.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(Error::InvalidConfig(msg));
        let name = &self.name;
        if name.trim().is_empty() {
            return invalid("PoolSpec name must not be empty".into());
        }
        if self.command.program.trim().is_empty() {
            return invalid(format!("pool {name}: empty program name"));
        }
        if self.command.program.contains('\0') {
            return invalid(format!("pool {name}: NUL byte in program name"));
        }
        if let Some(i) = self.command.args.iter().position(|a| a.contains('\0')) {
            return invalid(format!("pool {name}: NUL byte in argument {i}"));
        }
        crate::env::validate(
            &self.command.env,
            &format!("pool {name}: "),
            Error::InvalidConfig,
        )?;
        crate::duration::check("PoolSpec::request_timeout", self.request_timeout)?;
        if let Some(age) = self.max_age {
            crate::duration::check("PoolSpec::max_age", age)?;
        }
        self.restart_backoff.validate("PoolSpec::restart_backoff")?;
        let checks: [(bool, &str); 8] = [
            (self.workers == 0, "PoolSpec::workers must be at least 1"),
            (
                self.workers > MAX_WORKERS,
                "PoolSpec::workers must be at most 1024",
            ),
            (
                self.recycle_after == Some(0),
                "PoolSpec::recycle_after must be at least 1",
            ),
            (
                self.max_age == Some(Duration::ZERO),
                "PoolSpec::max_age must be greater than zero",
            ),
            (
                self.request_timeout.is_zero(),
                "PoolSpec::request_timeout must be greater than zero",
            ),
            (
                self.max_reply == 0,
                "PoolSpec::max_reply must be at least 1",
            ),
            (
                self.log_lines == 0,
                "PoolSpec::log_lines must be at least 1",
            ),
            (
                self.max_start_failures == 0,
                "PoolSpec::max_start_failures must be at least 1",
            ),
        ];
        if let Some((_, what)) = checks.iter().find(|(bad, _)| *bad) {
            return invalid(format!("pool {name}: {what}"));
        }
        Ok(())
    }
}
