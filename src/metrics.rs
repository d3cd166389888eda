//! Runtime-wide metrics: the parts of [`Metrics`](crate::Metrics) (which is
//! at the crate root), what [`Orchestrator::metrics`](crate::Orchestrator::metrics)
//! answers.
//!
//! A snapshot holds: counts of runs by pattern and status (in the registry
//! now, and since start: submitted, started, finished by outcome), queue
//! depths, starts and finishes per second over the last minute, latency
//! percentiles of queue wait and run time over the last
//! [`LATENCY_WINDOW`] runs, restarts per supervised actor, the store's
//! commit latency, and the uptime. Its JSON form (`serde_json`) keeps
//! every duration in seconds, in fields named `*_seconds`, and lists every
//! pattern and status even at zero: the shape an HTTP `/metrics` endpoint
//! exports (counters, gauges, and summaries in Prometheus terms).
//!
//! Recording costs a few atomic operations per run, taken where the run
//! registry changes a run's status; no lock, no allocation, no `await` on
//! the hot path (see the runtime's `metrics` module for the details).
//!
//! ```
//! use taskorch::{Config, Orchestrator, Pattern, RunStatus, Task};
//! use taskorch::metrics::DEFAULT_QUEUE;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> taskorch::Result<()> {
//! let orch = Orchestrator::start(Config::default()).await?;
//! orch.register_action("noop", |v| async move { Ok(v) });
//! orch.run(Task::action("noop", serde_json::json!(1))).await?;
//!
//! let m = orch.metrics();
//! assert!(m.running);
//! assert_eq!(m.pattern(Pattern::Simple).finished(RunStatus::Succeeded), 1);
//! assert_eq!(m.queues[DEFAULT_QUEUE].queued, 0);
//! assert_eq!(m.run_time.count, 1);
//! println!("{}", serde_json::to_string_pretty(&m).expect("plain data"));
//!
//! orch.shutdown().await?;
//! assert!(!orch.is_running());
//! # Ok(())
//! # }
//! ```

pub use taskorch_actors::metrics::{
    ActorMetrics, DEFAULT_QUEUE, LATENCY_WINDOW, LatencySummary, QueueMetrics, RATE_WINDOW,
    RunCounts, StoreMetrics,
};
