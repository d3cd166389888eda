//! [`Config`]: everything an [`Orchestrator`](crate::Orchestrator) is
//! started with. Every field has a default; set the ones you need:
//!
//! ```
//! use std::time::Duration;
//! use taskorch::Config;
//!
//! let config = Config {
//!     kill_grace: Duration::from_millis(500),
//!     ..Config::default()
//! };
//! assert_eq!(config.max_concurrency, 64);
//! ```

use std::path::PathBuf;
use std::time::Duration;

use taskorch_actors::scheduler::Clock;
use taskorch_actors::{
    Backoff, Error, Limits, LineLimits, ProcessLimits, RestartIntensity, Result, Retention,
    RuntimeConfig, Strategy, SupervisorPolicy,
};
use taskorch_actors::{PostgresUrl, StoreConfig};

/// Orchestrator settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most units of work running at once across all patterns (default 64).
    pub max_concurrency: usize,
    /// Between SIGTERM and SIGKILL when a process group is stopped
    /// (cancel, time-out, shutdown). Default 2 s.
    pub kill_grace: Duration,
    /// How long runs in flight may finish on their own at shutdown before
    /// they are terminated. Default 5 s.
    pub shutdown_grace: Duration,
    /// Default cap on captured bytes per stream for tasks that set none
    /// (default 1 MiB, at most [`MAX_OUTPUT_CEILING`](taskorch_actors::MAX_OUTPUT_CEILING)).
    pub max_output: usize,
    /// Finished runs kept in the registry (default 10,000).
    pub history_limit: usize,
    /// Bytes of captured output kept across finished runs (default 64 MiB).
    pub output_budget: usize,
    /// How long a finished run keeps its caller's key
    /// ([`Task::key`](crate::Task::key)): a task submitted with that key
    /// within this time after the run ended gets the finished run back
    /// instead of a new one. Default 60 s
    /// ([`DEFAULT_KEY_WINDOW`](taskorch_actors::registry::DEFAULT_KEY_WINDOW)),
    /// Oban's default uniqueness period: it absorbs a client's retry of a
    /// submit whose answer was lost, yet a nightly job with a fixed key
    /// runs again the next night. Zero: only queued and running runs
    /// hold their key (Temporal's "allow duplicate" reuse policy).
    pub key_window: Duration,
    /// Most launched (fire-and-forget) runs in flight at once, waiting for
    /// an execution slot or running (default 100,000); past it `launch`
    /// answers `QueueFull`.
    pub max_queued: usize,
    /// Which children restart together when one fails (default one_for_one).
    pub strategy: Strategy,
    /// Restarts of one child tolerated within a window before it is marked
    /// `Failed` (default 5 in 10 s).
    pub restart_intensity: RestartIntensity,
    /// Delay before the 2nd, 3rd, ... restart of a child within the
    /// intensity window; the first is immediate. Default exponential from
    /// 10 ms to 2 s with 20 % jitter.
    pub restart_backoff: Backoff,
    /// How long a request waits for a restarting actor to come back before
    /// it fails with `ActorFailed` (default 5 s).
    pub restart_wait: Duration,
    /// How long `system_status` waits for each child's answer (default 1 s).
    pub status_timeout: Duration,
    /// How long output is still read after a process exited while a
    /// descendant that escaped its group holds the pipe (default 250 ms).
    pub drain_timeout: Duration,
    /// Output lines kept per run for `output(id)` and late readers; past it
    /// the oldest lines go and are counted as dropped (default 10,000).
    pub output_ring_lines: usize,
    /// Bytes of line text kept per run, with the same eviction (default
    /// 4 MiB). Must be at least `max_line_bytes`, and at most
    /// [`MAX_OUTPUT_CEILING`](taskorch_actors::MAX_OUTPUT_CEILING).
    pub output_ring_bytes: usize,
    /// Longest output line in bytes; a longer one is cut into pieces of this
    /// size on a character boundary, each but the last flagged in
    /// `CapturedOutput::split` (default 64 KiB, at least 4).
    pub max_line_bytes: usize,
    /// Events the message trace keeps (`Orchestrator::trace`): every
    /// message every actor handles, every run, supervisor events. The
    /// ring is reserved up front (about 100 bytes per event, touched as
    /// events arrive) and the oldest events are overwritten once it is
    /// full. Default 65,536; 0 turns recording off. At most
    /// 16,777,216.
    pub trace_capacity: usize,
    /// The wall clock cron schedules follow (default the system clock).
    /// [`Clock::simulated`] starts at a chosen time and advances with tokio
    /// time, so cron schedules can be tested on paused time.
    pub clock: Clock,
    /// The durable store: a redb database file that keeps every accepted
    /// run, its output and the schedules across restarts (default `None`:
    /// everything lives in memory and a restart forgets it). Set it with
    /// [`Config::store`]; see the README section "Durable state".
    pub store: Option<PathBuf>,
    /// The PostgreSQL store (feature `postgres`; see docs/postgres.md):
    /// when set, used instead of `store`. Set it with
    /// `Config::store(StoreConfig::postgres(url))`.
    pub postgres: Option<PostgresUrl>,
    /// Events a subscriber of the event stream (`Orchestrator::subscribe`)
    /// may fall behind by before it loses the oldest (it then reads a
    /// `Lagged(n)` marker). Default 4,096; at least 1, at most 1,048,576
    /// (the channel reserves a slot per event up front).
    pub event_capacity: usize,
    /// Bytes of events (approximate: `Event::approx_bytes`) a subscriber
    /// may fall behind by before it loses the oldest, whichever of this and
    /// `event_capacity` comes first: what a lagging subscriber can pin in
    /// memory. Default 16 MiB; at least 1 (the newest event always gets
    /// through to a subscriber that keeps up, whatever its size).
    pub event_capacity_bytes: usize,
    /// How [`logging::init`](crate::logging::init) formats log lines
    /// (default [`LogFormat::Compact`]). Nothing is installed unless the
    /// application calls it.
    pub log_format: LogFormat,
    /// Which log lines [`logging::init`](crate::logging::init) keeps, as an
    /// `EnvFilter` directive ("info", "taskorch=debug,warn"); `RUST_LOG`
    /// wins when set. Default "info".
    pub log_filter: String,
}

/// The format of log lines written by [`logging::init`](crate::logging::init).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One line per event, human-readable.
    #[default]
    Compact,
    /// Multi-line, coloured, for a developer's terminal.
    Pretty,
    /// One JSON object per line, with the current span's fields (run id,
    /// correlation id) and the span list: for log shippers.
    Json,
}

impl Default for Config {
    /// The runtime's own defaults ([`RuntimeConfig::default`]), so each
    /// is written down once.
    fn default() -> Self {
        let RuntimeConfig {
            limits,
            retention,
            policy,
            restart_wait,
            max_queued,
            clock,
            store,
            postgres,
        } = RuntimeConfig::default();
        Config {
            max_concurrency: limits.max_concurrency,
            kill_grace: limits.process.kill_grace,
            shutdown_grace: limits.shutdown_grace,
            max_output: limits.max_output,
            history_limit: retention.history_limit,
            output_budget: retention.output_budget,
            key_window: retention.key_window,
            max_queued,
            strategy: policy.strategy,
            restart_intensity: policy.intensity,
            restart_backoff: policy.backoff,
            restart_wait,
            status_timeout: policy.status_timeout,
            drain_timeout: limits.process.drain_timeout,
            output_ring_lines: limits.lines.ring_lines,
            output_ring_bytes: limits.lines.ring_bytes,
            max_line_bytes: limits.lines.max_line,
            trace_capacity: limits.trace_capacity,
            clock,
            store,
            postgres,
            event_capacity: limits.event_capacity,
            event_capacity_bytes: limits.event_capacity_bytes,
            log_format: LogFormat::Compact,
            log_filter: "info".to_string(),
        }
    }
}

impl Config {
    /// What the runtime is started with; the inverse of `Config::default`.
    pub(crate) fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            limits: Limits {
                process: ProcessLimits {
                    kill_grace: self.kill_grace,
                    drain_timeout: self.drain_timeout,
                },
                shutdown_grace: self.shutdown_grace,
                max_output: self.max_output,
                max_concurrency: self.max_concurrency,
                lines: LineLimits {
                    ring_lines: self.output_ring_lines,
                    ring_bytes: self.output_ring_bytes,
                    max_line: self.max_line_bytes,
                },
                trace_capacity: self.trace_capacity,
                event_capacity: self.event_capacity,
                event_capacity_bytes: self.event_capacity_bytes,
            },
            retention: Retention {
                history_limit: self.history_limit,
                output_budget: self.output_budget,
                key_window: self.key_window,
            },
            policy: SupervisorPolicy {
                strategy: self.strategy,
                intensity: self.restart_intensity,
                backoff: self.restart_backoff,
                status_timeout: self.status_timeout,
            },
            restart_wait: self.restart_wait,
            max_queued: self.max_queued,
            clock: self.clock,
            store: self.store.clone(),
            postgres: self.postgres.clone(),
        }
    }
}

impl Config {
    /// Keep runs, output and schedules in the database file at `path`
    /// (created, with its directory, if missing). A restarted orchestrator
    /// on the same file marks the runs a crash cut short `Interrupted`,
    /// starts again the runs that were accepted but never started, brings
    /// the schedules back, and answers `observe().history`, `find_run` and `output`
    /// for runs from before the restart. One orchestrator per file.
    ///
    /// A [`StoreConfig::postgres`] URL (or a string starting with
    /// `postgres://`) keeps the same state in a PostgreSQL database
    /// instead (feature `postgres`, see docs/postgres.md); the start then
    /// fails with `Error::StoreConnect`, `Error::InvalidStoreUrl` or
    /// `Error::StoreSchemaTooNew` if the database cannot be used.
    ///
    /// ```
    /// use taskorch::store::StoreConfig;
    /// let config = taskorch::Config::default().store("/var/lib/myapp/taskorch.redb");
    /// assert!(config.store.is_some());
    /// let config = config.store(StoreConfig::postgres("postgres://app@db/taskorch"));
    /// assert!(config.store.is_none() && config.postgres.is_some());
    /// ```
    pub fn store(mut self, store: impl Into<StoreConfig>) -> Self {
        match store.into() {
            StoreConfig::File(path) => {
                self.store = Some(path);
                self.postgres = None;
            }
            StoreConfig::Postgres(url) => {
                self.store = None;
                self.postgres = Some(url);
            }
        }
        self
    }

    /// For a long-lived service: the durable store in `taskorch.redb` in
    /// the working directory (chain [`store`](Self::store) to put the file
    /// elsewhere), JSON log lines at "info", and larger limits than the
    /// defaults (256 runs at once, 100,000 finished runs and 256 MiB of
    /// output kept, 16,384 events of slack per subscriber).
    pub fn production() -> Self {
        Config {
            max_concurrency: 256,
            history_limit: 100_000,
            output_budget: 256 << 20,
            event_capacity: 16_384,
            log_format: LogFormat::Json,
            log_filter: "info".to_string(),
            ..Config::default()
        }
        .store("taskorch.redb")
    }

    /// For a developer's machine: pretty log lines with taskorch's own at
    /// "debug", no store, and small limits that surface mistakes early
    /// (8 runs at once, 1,000 finished runs and 16 MiB of output kept,
    /// 500 ms kill grace, 1 s shutdown grace, 1,024 events of slack, a
    /// 4,096-event message trace).
    pub fn development() -> Self {
        Config {
            max_concurrency: 8,
            history_limit: 1_000,
            output_budget: 16 << 20,
            kill_grace: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(1),
            event_capacity: 1_024,
            trace_capacity: 4_096,
            log_format: LogFormat::Pretty,
            log_filter: "taskorch=debug,info".to_string(),
            ..Config::default()
        }
    }
}

impl Config {
    /// Check the settings.
    ///
    /// # Errors
    /// `InvalidConfig` naming the field when a value cannot work
    /// (`max_concurrency`, `history_limit`, `max_queued` or
    /// `output_ring_lines`, `event_capacity` or `event_capacity_bytes` of
    /// zero, `max_line_bytes` under 4, `output_ring_bytes` under
    /// `max_line_bytes`, `max_output` or `output_ring_bytes` over
    /// [`MAX_OUTPUT_CEILING`](taskorch_actors::MAX_OUTPUT_CEILING),
    /// `event_capacity` over 1,048,576, `trace_capacity` over 16,777,216).
    pub fn validate(&self) -> Result<()> {
        if self.max_concurrency == 0 {
            return Err(Error::InvalidConfig(
                "Config::max_concurrency must be at least 1".into(),
            ));
        }
        if self.history_limit == 0 {
            return Err(Error::InvalidConfig(
                "Config::history_limit must be at least 1".into(),
            ));
        }
        if self.output_ring_lines == 0 {
            return Err(Error::InvalidConfig(
                "Config::output_ring_lines must be at least 1".into(),
            ));
        }
        if self.max_line_bytes < 4 {
            return Err(Error::InvalidConfig(format!(
                "Config::max_line_bytes must be at least 4 (one UTF-8 character), not {}",
                self.max_line_bytes
            )));
        }
        if self.output_ring_bytes < self.max_line_bytes {
            return Err(Error::InvalidConfig(format!(
                "Config::output_ring_bytes ({}) must be at least Config::max_line_bytes ({})",
                self.output_ring_bytes, self.max_line_bytes
            )));
        }
        if self.max_queued == 0 {
            return Err(Error::InvalidConfig(
                "Config::max_queued must be at least 1".into(),
            ));
        }
        for (field, bytes) in [
            ("max_output", self.max_output),
            ("output_ring_bytes", self.output_ring_bytes),
        ] {
            if bytes > taskorch_actors::MAX_OUTPUT_CEILING {
                return Err(Error::InvalidConfig(format!(
                    "Config::{field} must be at most {} bytes, not {bytes}",
                    taskorch_actors::MAX_OUTPUT_CEILING
                )));
            }
        }
        if self.event_capacity == 0 {
            return Err(Error::InvalidConfig(
                "Config::event_capacity must be at least 1".into(),
            ));
        }
        // Every duration the runtime adds to a clock: one above the limit
        // would overflow it (and used to panic in the actor doing so).
        let durations = [
            ("Config::kill_grace", self.kill_grace),
            ("Config::shutdown_grace", self.shutdown_grace),
            ("Config::restart_wait", self.restart_wait),
            ("Config::status_timeout", self.status_timeout),
            ("Config::drain_timeout", self.drain_timeout),
            (
                "Config::restart_intensity.within",
                self.restart_intensity.within,
            ),
        ];
        for (field, value) in durations {
            taskorch_actors::duration::check(field, value)?;
        }
        self.restart_backoff.validate("Config::restart_backoff")?;
        if self.event_capacity > taskorch_actors::events::MAX_EVENT_CAPACITY {
            return Err(Error::InvalidConfig(format!(
                "Config::event_capacity must be at most {} events, not {}",
                taskorch_actors::events::MAX_EVENT_CAPACITY,
                self.event_capacity
            )));
        }
        if self.event_capacity_bytes == 0 {
            return Err(Error::InvalidConfig(
                "Config::event_capacity_bytes must be at least 1".into(),
            ));
        }
        if self.trace_capacity > taskorch_actors::trace::MAX_TRACE_CAPACITY {
            return Err(Error::InvalidConfig(format!(
                "Config::trace_capacity must be at most {} events (0 turns tracing off), not {}",
                taskorch_actors::trace::MAX_TRACE_CAPACITY,
                self.trace_capacity
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use taskorch_actors::{Backoff, LineLimits, RestartIntensity, RuntimeConfig, Strategy};

    use super::Config;

    #[test]
    fn the_default_config_starts_the_runtime_with_its_own_defaults() {
        assert_eq!(
            format!("{:?}", Config::default().runtime()),
            format!("{:?}", RuntimeConfig::default())
        );
    }

    #[test]
    fn every_setting_reaches_its_runtime_field() {
        let ms = Duration::from_millis;
        let config = Config {
            max_concurrency: 3,
            kill_grace: ms(1),
            shutdown_grace: ms(2),
            max_output: 5,
            history_limit: 6,
            output_budget: 7,
            max_queued: 8,
            strategy: Strategy::RestForOne,
            restart_intensity: RestartIntensity {
                max_restarts: 9,
                within: ms(3),
            },
            restart_backoff: Backoff::fixed(ms(4)),
            restart_wait: ms(5),
            status_timeout: ms(6),
            drain_timeout: ms(7),
            output_ring_lines: 10,
            output_ring_bytes: 11,
            max_line_bytes: 12,
            trace_capacity: 13,
            event_capacity: 14,
            event_capacity_bytes: 15,
            ..Config::default()
        }
        .store("/tmp/x.redb");
        let rt = config.runtime();
        let l = rt.limits;
        assert_eq!(l.max_concurrency, 3);
        assert_eq!(
            (l.process.kill_grace, l.process.drain_timeout),
            (ms(1), ms(7))
        );
        assert_eq!(l.shutdown_grace, ms(2));
        assert_eq!(l.max_output, 5);
        assert_eq!(
            l.lines,
            LineLimits {
                ring_lines: 10,
                ring_bytes: 11,
                max_line: 12
            }
        );
        assert_eq!(
            (l.trace_capacity, l.event_capacity, l.event_capacity_bytes),
            (13, 14, 15)
        );
        assert_eq!(
            (rt.retention.history_limit, rt.retention.output_budget),
            (6, 7)
        );
        assert_eq!(rt.policy.strategy, Strategy::RestForOne);
        assert_eq!(rt.policy.intensity, config.restart_intensity);
        assert_eq!(rt.policy.backoff, Backoff::fixed(ms(4)));
        assert_eq!(rt.policy.status_timeout, ms(6));
        assert_eq!((rt.restart_wait, rt.max_queued), (ms(5), 8));
        assert_eq!(rt.store, config.store);
    }
}
