//! Runtime-wide metrics: what `Orchestrator::metrics` answers, and what an
//! HTTP `/metrics` endpoint exports.
//!
//! Two halves:
//! - [`MetricsRecorder`], the recording side, one per runtime (held by the
//!   runtime [`Context`](crate::Context)). The run registry records every
//!   run's admission, start, end and eviction in it, at the one place each
//!   transition happens (next to the run events it emits), never at the
//!   pattern actors' call sites; the supervisor records restarts and
//!   give-ups; the store keeps its own commit recorder (see
//!   `Store::commit_metrics`).
//! - [`Metrics`], a snapshot: plain data, `Serialize`, read on demand.
//!
//! # What recording costs
//! Recording sits on the hot paths (every run's admit, start and finish;
//! every store commit), so it is atomics only: no lock, no allocation, no
//! `await`. A run costs a handful of relaxed `fetch_add`s on counters
//! indexed by pattern and status, one compare-and-swap per rate ring
//! (starts, finishes), one store into a latency window per measured time,
//! and three clock readings (`tokio::time::Instant`, so tests on paused time
//! see exact times): at admission, and the start and end readings the
//! runner takes anyway, which also time the run (`Output::duration`) and
//! stamp its trace event, so one reading serves all three. Restarts take a small lock, but only on a restart.
//! Everything that costs (copying and sorting windows, building maps) is
//! done by [`MetricsRecorder::snapshot`], i.e. by whoever asks.
//!
//! Counters are read without a common lock, so a snapshot taken while
//! runs move may see a run counted in two neighbouring states for an
//! instant; every counter is exact once the runs it counts are at rest.
//!
//! # Mapping to Prometheus
//! - [`RunCounts::current`]: a gauge `runs{pattern,status}`; `submitted`,
//!   `started`, `finished` are counters (`runs_*_total{pattern[,status]}`).
//! - [`QueueMetrics`]: gauges `queue_depth{queue}`, `queue_running{queue}`.
//! - [`LatencySummary`]: a summary (quantiles over the recent window,
//!   `_sum` and `_count` since start), in seconds.
//! - [`ActorMetrics::restarts`]: a counter `actor_restarts_total{actor}`.
//! - [`StoreMetrics`]: `store_commits_total` and a summary of commit time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::pattern::Pattern;
use crate::run::RunStatus;

mod rate;
mod seconds;
#[cfg(test)]
mod tests;
mod window;

pub(crate) use rate::RateRing;
pub(crate) use window::LatencyWindow;

/// The key of [`Metrics::queues`] for the global concurrency cap, which
/// every run waits in; reserved (a named queue cannot be called so).
pub const DEFAULT_QUEUE: &str = "default";

/// The span [`Metrics::starts_per_second`] and
/// [`Metrics::finishes_per_second`] are averaged over.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Recent samples each [`LatencySummary`] takes its percentiles from.
pub const LATENCY_WINDOW: usize = 1024;

/// Every status, in the order of the state machine (for counters indexed
/// by status).
const STATUSES: [RunStatus; 7] = [
    RunStatus::Queued,
    RunStatus::Running,
    RunStatus::Succeeded,
    RunStatus::Failed,
    RunStatus::Cancelled,
    RunStatus::TimedOut,
    RunStatus::Interrupted,
];

fn status_index(status: RunStatus) -> usize {
    match status {
        RunStatus::Queued => 0,
        RunStatus::Running => 1,
        RunStatus::Succeeded => 2,
        RunStatus::Failed => 3,
        RunStatus::Cancelled => 4,
        RunStatus::TimedOut => 5,
        RunStatus::Interrupted => 6,
    }
}

fn pattern_index(pattern: Pattern) -> usize {
    match pattern {
        Pattern::Simple => 0,
        Pattern::LongRunning => 1,
        Pattern::Concurrent => 2,
        Pattern::FireAndForget => 3,
        Pattern::Periodic => 4,
        Pattern::Pooled => 5,
    }
}

/// Counters of one pattern, indexed by status.
#[derive(Debug, Default)]
struct PatternCounters {
    /// Runs in the registry now, by status (a gauge: up and down).
    current: [AtomicU64; 7],
    submitted: AtomicU64,
    started: AtomicU64,
    /// Runs that ended since start, by terminal status.
    finished: [AtomicU64; 7],
}

/// The recording side of the runtime's metrics (see the module docs for
/// what each call costs). Times are nanoseconds since the recorder was
/// made, on tokio's clock.
pub struct MetricsRecorder {
    epoch: Instant,
    since: SystemTime,
    patterns: [PatternCounters; 6],
    starts: RateRing,
    finishes: RateRing,
    queue_wait: LatencyWindow,
    run_time: LatencyWindow,
    // Touched only on a restart or give-up (rare), so a lock is fine.
    actors: Mutex<BTreeMap<&'static str, ActorMetrics>>,
}

// By hand: the windows hold thousands of samples, too many for a log line.
impl std::fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsRecorder")
            .field("uptime", &self.epoch.elapsed())
            .field("started", &self.run_time.count())
            .finish_non_exhaustive()
    }
}

impl Default for MetricsRecorder {
    fn default() -> Self {
        MetricsRecorder::new()
    }
}

impl MetricsRecorder {
    /// A recorder whose uptime starts now.
    pub fn new() -> Self {
        MetricsRecorder {
            epoch: Instant::now(),
            since: SystemTime::now(),
            patterns: Default::default(),
            starts: RateRing::default(),
            finishes: RateRing::default(),
            queue_wait: LatencyWindow::new(LATENCY_WINDOW),
            run_time: LatencyWindow::new(LATENCY_WINDOW),
            actors: Mutex::new(BTreeMap::new()),
        }
    }

    /// Nanoseconds since the recorder was made (the time stamps runs keep
    /// for their queue wait and run time).
    pub(crate) fn now(&self) -> u64 {
        nanos(self.epoch.elapsed())
    }

    // The four calls below are the registry's (one per transition); they
    // are public for benchmarks and for embedders with a registry of their
    // own. Called by anyone else they skew the counts.

    /// A run of `pattern` was admitted (`Queued`); answers the time stamp
    /// the run keeps for [`started`](Self::started).
    pub fn admitted(&self, pattern: Pattern) -> u64 {
        let p = &self.patterns[pattern_index(pattern)];
        p.submitted.fetch_add(1, Ordering::Relaxed);
        p.current[status_index(RunStatus::Queued)].fetch_add(1, Ordering::Relaxed);
        self.now()
    }

    /// A run of `pattern` admitted at `queued` started; answers the time
    /// stamp it keeps for [`finished`](Self::finished).
    pub fn started(&self, pattern: Pattern, queued: u64) -> u64 {
        self.started_at(pattern, queued, Instant::now())
    }

    /// The time stamp of clock reading `at` (0 for a reading before the
    /// recorder was made).
    pub(crate) fn stamp(&self, at: Instant) -> u64 {
        nanos(at.saturating_duration_since(self.epoch))
    }

    /// [`started`](Self::started) at clock reading `at`, which the caller
    /// also uses (the runner times the run and traces it from the same
    /// reading: one clock read, not three).
    pub(crate) fn started_at(&self, pattern: Pattern, queued: u64, at: Instant) -> u64 {
        let now = self.stamp(at);
        let p = &self.patterns[pattern_index(pattern)];
        p.started.fetch_add(1, Ordering::Relaxed);
        self.moved(p, RunStatus::Queued, RunStatus::Running);
        self.starts.add(now);
        self.queue_wait.record(now.saturating_sub(queued));
        now
    }

    /// A run of `pattern` went from `from` to the terminal `to`; `started`
    /// is its start's time stamp (`None` if it never ran).
    pub fn finished(&self, pattern: Pattern, from: RunStatus, to: RunStatus, started: Option<u64>) {
        self.finished_at(pattern, from, to, started, Instant::now());
    }

    /// [`finished`](Self::finished) at clock reading `at` (see
    /// [`started_at`](Self::started_at)).
    pub(crate) fn finished_at(
        &self,
        pattern: Pattern,
        from: RunStatus,
        to: RunStatus,
        started: Option<u64>,
        at: Instant,
    ) {
        let now = self.stamp(at);
        let p = &self.patterns[pattern_index(pattern)];
        p.finished[status_index(to)].fetch_add(1, Ordering::Relaxed);
        self.moved(p, from, to);
        self.finishes.add(now);
        if let Some(started) = started {
            self.run_time.record(now.saturating_sub(started));
        }
    }

    /// A run of `pattern` with `status` left the registry (evicted, or
    /// replaced by a record of the same id).
    pub fn removed(&self, pattern: Pattern, status: RunStatus) {
        let p = &self.patterns[pattern_index(pattern)];
        let _ = p.current[status_index(status)].fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |n| n.checked_sub(1),
        );
    }

    fn moved(&self, p: &PatternCounters, from: RunStatus, to: RunStatus) {
        p.current[status_index(to)].fetch_add(1, Ordering::Relaxed);
        // Never below zero, even if a transition races its snapshot.
        let _ =
            p.current[status_index(from)]
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// List the supervised child `actor` with no restarts yet, so it is
    /// reported (with zeros) before its first failure.
    pub(crate) fn actor_started(&self, actor: &'static str) {
        self.actors.lock().entry(actor).or_default();
    }

    /// The supervisor restarted `actor`.
    pub(crate) fn actor_restarted(&self, actor: &'static str) {
        self.actors.lock().entry(actor).or_default().restarts += 1;
    }

    /// The supervisor gave up on `actor` (restart intensity exceeded, or a
    /// restart failed).
    pub(crate) fn actor_gave_up(&self, actor: &'static str) {
        self.actors.lock().entry(actor).or_default().gave_up += 1;
    }

    /// A snapshot, with the queues and the store's figures the caller
    /// knows (the recorder sits below both). `running`: whether the
    /// runtime still accepts work.
    pub fn snapshot(
        &self,
        queues: BTreeMap<String, QueueMetrics>,
        store: Option<StoreMetrics>,
        running: bool,
    ) -> Metrics {
        let now = self.now();
        let uptime = Duration::from_nanos(now);
        let by_pattern: BTreeMap<String, RunCounts> = Pattern::ALL
            .iter()
            .map(|&p| {
                let counters = &self.patterns[pattern_index(p)];
                (p.as_str().to_string(), RunCounts::read(counters))
            })
            .collect();
        let mut runs = RunCounts::zero();
        for counts in by_pattern.values() {
            runs.add(counts);
        }
        let window = RATE_WINDOW.min(uptime).max(Duration::from_secs(1));
        Metrics {
            running,
            since: self.since,
            uptime,
            runs,
            runs_by_pattern: by_pattern,
            queues,
            starts_per_second: self.starts.count(now) as f64 / window.as_secs_f64(),
            finishes_per_second: self.finishes.count(now) as f64 / window.as_secs_f64(),
            rate_window: window,
            queue_wait: self.queue_wait.summary(),
            run_time: self.run_time.summary(),
            actors: self
                .actors
                .lock()
                .iter()
                .map(|(name, m)| (name.to_string(), *m))
                .collect(),
            store,
        }
    }
}

/// `d` in nanoseconds, saturating (585 years).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A snapshot of the runtime's metrics (`Orchestrator::metrics`).
///
/// In JSON every duration is a number of seconds (a float) in a field
/// whose name ends in `_seconds`; statuses and patterns are keyed by their
/// lower-case names (`"succeeded"`, `"fire_and_forget"`), every one listed
/// even at zero, so an exporter sees a stable set of series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metrics {
    /// Whether the runtime accepts work (`Orchestrator::is_running`).
    pub running: bool,
    /// When the runtime started (wall clock).
    #[serde(with = "seconds::system_time", rename = "since_unix_seconds")]
    pub since: SystemTime,
    /// Time since the runtime started.
    #[serde(with = "seconds::duration", rename = "uptime_seconds")]
    pub uptime: Duration,
    /// Runs of every pattern together.
    pub runs: RunCounts,
    /// Runs per pattern, keyed by [`Pattern::as_str`]; every pattern is
    /// listed.
    pub runs_by_pattern: BTreeMap<String, RunCounts>,
    /// Runs waiting and running per queue: the global concurrency cap
    /// (`Config::max_concurrency`, every run) under [`DEFAULT_QUEUE`], and
    /// each named queue (`Orchestrator::queue`) under its name, counting
    /// its runs waiting for a permit in it and running.
    pub queues: BTreeMap<String, QueueMetrics>,
    /// Runs started per second, averaged over [`rate_window`](Self::rate_window).
    pub starts_per_second: f64,
    /// Runs finished per second, averaged over [`rate_window`](Self::rate_window).
    pub finishes_per_second: f64,
    /// What the rates are averaged over: the last [`RATE_WINDOW`] (a
    /// minute), or the uptime while it is shorter (at least one second).
    /// The counts are kept per whole second of uptime, so the span
    /// actually covered is between one second less and the window.
    #[serde(with = "seconds::duration", rename = "rate_window_seconds")]
    pub rate_window: Duration,
    /// From admission (`Queued`) to start (`Running`): the wait for an
    /// execution permit.
    pub queue_wait: LatencySummary,
    /// From start to the terminal status (retries included), for runs that
    /// started.
    pub run_time: LatencySummary,
    /// Restarts and give-ups per supervised actor ("executor", ...), keyed
    /// by the child's name; every child is listed from start.
    pub actors: BTreeMap<String, ActorMetrics>,
    /// The durable store's commits; `None` without a store.
    pub store: Option<StoreMetrics>,
}

impl Metrics {
    /// The counts of `pattern`'s runs.
    pub fn pattern(&self, pattern: Pattern) -> RunCounts {
        self.runs_by_pattern
            .get(pattern.as_str())
            .cloned()
            .unwrap_or_else(RunCounts::zero)
    }

    /// Restarts of the supervised actor `name` (0 if unknown).
    pub fn restarts(&self, name: &str) -> u64 {
        self.actors.get(name).map_or(0, |a| a.restarts)
    }
}

/// Counts of runs (of one pattern, or of all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Runs in the registry now, by status ([`RunStatus::as_str`]; every
    /// status listed). Finished runs count until the registry evicts them
    /// (`Retention::history_limit`).
    pub current: BTreeMap<String, u64>,
    /// Runs admitted since start (runs a store held and this runtime took
    /// back count too).
    pub submitted: u64,
    /// Runs that started since start (each run once, whatever its retries).
    pub started: u64,
    /// Runs that ended since start, by terminal status (every terminal
    /// status listed).
    pub finished: BTreeMap<String, u64>,
}

impl RunCounts {
    fn zero() -> Self {
        RunCounts {
            current: STATUSES
                .iter()
                .map(|s| (s.as_str().to_string(), 0))
                .collect(),
            submitted: 0,
            started: 0,
            finished: STATUSES
                .iter()
                .filter(|s| s.is_terminal())
                .map(|s| (s.as_str().to_string(), 0))
                .collect(),
        }
    }

    fn read(counters: &PatternCounters) -> Self {
        let mut counts = RunCounts::zero();
        for (i, status) in STATUSES.iter().enumerate() {
            let key = status.as_str();
            if let Some(n) = counts.current.get_mut(key) {
                *n = counters.current[i].load(Ordering::Relaxed);
            }
            if let Some(n) = counts.finished.get_mut(key) {
                *n = counters.finished[i].load(Ordering::Relaxed);
            }
        }
        counts.submitted = counters.submitted.load(Ordering::Relaxed);
        counts.started = counters.started.load(Ordering::Relaxed);
        counts
    }

    fn add(&mut self, other: &RunCounts) {
        for (key, n) in &other.current {
            *self.current.entry(key.clone()).or_default() += n;
        }
        for (key, n) in &other.finished {
            *self.finished.entry(key.clone()).or_default() += n;
        }
        self.submitted += other.submitted;
        self.started += other.started;
    }

    /// Runs in the registry now with `status`.
    pub fn current(&self, status: RunStatus) -> u64 {
        self.current.get(status.as_str()).copied().unwrap_or(0)
    }

    /// Runs in the registry now, whatever their status.
    pub fn in_registry(&self) -> u64 {
        self.current.values().sum()
    }

    /// Runs that ended with `status` since start.
    pub fn finished(&self, status: RunStatus) -> u64 {
        self.finished.get(status.as_str()).copied().unwrap_or(0)
    }

    /// Runs that ended since start, whatever their status.
    pub fn finished_total(&self) -> u64 {
        self.finished.values().sum()
    }
}

/// One queue: runs waiting for a slot, and runs holding one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMetrics {
    /// Runs accepted and not started (`Queued`): waiting for a permit.
    pub queued: u64,
    /// Runs executing (`Running`).
    pub running: u64,
    /// Most runs the queue lets execute at once.
    pub concurrency: usize,
    /// Slots free right now (permits not taken).
    pub free: usize,
    /// Whether the queue is paused (starts nothing until resumed).
    pub paused: bool,
}

/// Durations over the recent window: percentiles of the last
/// [`LATENCY_WINDOW`] samples, and count and sum since start.
///
/// Percentiles are nearest-rank over the window (exact for the samples it
/// holds); `None` before the first sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples since start.
    pub count: u64,
    /// Their sum.
    #[serde(with = "seconds::duration", rename = "sum_seconds")]
    pub sum: Duration,
    /// Samples the percentiles are taken from (at most [`LATENCY_WINDOW`]).
    pub window: u64,
    /// Median of the window.
    #[serde(with = "seconds::option", rename = "p50_seconds")]
    pub p50: Option<Duration>,
    /// 90th percentile of the window.
    #[serde(with = "seconds::option", rename = "p90_seconds")]
    pub p90: Option<Duration>,
    /// 99th percentile of the window.
    #[serde(with = "seconds::option", rename = "p99_seconds")]
    pub p99: Option<Duration>,
    /// Longest sample of the window.
    #[serde(with = "seconds::option", rename = "max_seconds")]
    pub max: Option<Duration>,
}

/// One supervised actor's failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorMetrics {
    /// Times the supervisor restarted it since start.
    pub restarts: u64,
    /// Times the supervisor gave up on it (it stayed `Failed`).
    pub gave_up: u64,
}

/// The durable store's commits, measured in its writer thread around each
/// transaction (apply and fsync).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreMetrics {
    /// Transactions committed since the store was opened (one per group
    /// of changes: see the store's group commit).
    pub commits: u64,
    /// Time each commit took.
    pub commit_latency: LatencySummary,
}
