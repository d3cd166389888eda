//! `GET /metrics`: Prometheus / OpenMetrics text through
//! `prometheus-client`. Names follow Prometheus conventions: the
//! `taskorch_` prefix, base units (`_seconds`, `_bytes`), `_total` on
//! counters (the encoder appends it), labels in snake case.
//!
//! Most figures are read from [`Orchestrator::metrics`] and the pools and
//! schedules at scrape time (a [`Collector`]); the two run histograms
//! (queue wait, run time) are fed by the event hub as runs start and end,
//! since the runtime keeps only a window of quantiles of them.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `taskorch_runs_submitted_total` | counter | `pattern` |
//! | `taskorch_runs_started_total` | counter | `pattern` |
//! | `taskorch_runs_finished_total` | counter | `pattern`, `status` |
//! | `taskorch_runs` | gauge | `status` (runs held now) |
//! | `taskorch_queue_depth` | gauge | `queue` (queued runs) |
//! | `taskorch_queue_running` | gauge | `queue` |
//! | `taskorch_queue_wait_seconds` | histogram | `pattern` |
//! | `taskorch_run_duration_seconds` | histogram | `pattern`, `status` |
//! | `taskorch_actor_restarts_total` | counter | `actor` |
//! | `taskorch_pool_workers` | gauge | `pool`, `state` (`busy`, `idle`) |
//! | `taskorch_pool_requests_total` | counter | `pool` (served) |
//! | `taskorch_pool_queued_requests` | gauge | `pool` |
//! | `taskorch_schedule_lateness_seconds` | gauge | `schedule` (how far past due its next fire is) |
//! | `taskorch_store_commits_total` | counter | |
//! | `taskorch_store_commit_seconds_total` | counter | (time spent committing) |
//! | `taskorch_store_commit_latency_seconds` | gauge | `quantile` (0.5, 0.9, 0.99, 1) |
//! | `taskorch_event_subscribers` | gauge | (`/events` clients) |
//! | `taskorch_event_subscribers_lagged_total` | counter | (`/events` clients dropped for lag, and lag of the hub itself) |
//! | `taskorch_http_unauthorized_total` | counter | |
//! | `taskorch_uptime_seconds` | gauge | |

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::{Orchestrator, Pattern, RunStatus};

use super::problem::Problem;
use super::state::AppState;

type Labels = Vec<(&'static str, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

/// What the HTTP side counts and the hub observes.
#[derive(Debug)]
pub(crate) struct HttpMetrics {
    queue_wait: Histograms,
    run_time: Histograms,
    lagged: AtomicU64,
    unauthorized: AtomicU64,
}

/// 1 ms to about 9 hours, doubling.
fn seconds_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 25))
}

impl HttpMetrics {
    pub(crate) fn new() -> Self {
        HttpMetrics {
            queue_wait: Family::new_with_constructor(seconds_buckets),
            run_time: Family::new_with_constructor(seconds_buckets),
            lagged: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
        }
    }

    pub(crate) fn queue_wait(&self, pattern: Pattern, wait: Duration) {
        self.queue_wait
            .get_or_create(&vec![("pattern", pattern.as_str().to_string())])
            .observe(wait.as_secs_f64());
    }

    pub(crate) fn run_time(&self, pattern: Pattern, status: RunStatus, took: Duration) {
        let labels = vec![
            ("pattern", pattern.as_str().to_string()),
            ("status", status.as_str().to_string()),
        ];
        self.run_time
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// An SSE client was dropped for lag.
    pub(crate) fn client_lagged(&self) {
        self.lagged.fetch_add(1, Ordering::Relaxed);
    }

    /// The hub itself fell `n` events behind the runtime.
    pub(crate) fn pump_lagged(&self, _n: u64) {
        self.lagged.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn unauthorized(&self) {
        self.unauthorized.fetch_add(1, Ordering::Relaxed);
    }
}

/// The scrape-time figures of one orchestrator.
#[derive(Debug)]
struct Runtime {
    orch: Orchestrator,
    state: AppState,
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    rows: &[(Labels, u64)],
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, value) in rows {
        ConstCounter::new(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    rows: &[(Labels, f64)],
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, value) in rows {
        ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn label(k: &'static str, v: impl Into<String>) -> Labels {
    vec![(k, v.into())]
}

impl Collector for Runtime {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let m = self.orch.metrics();
        let by_pattern = |f: &dyn Fn(&crate::metrics::RunCounts) -> u64| -> Vec<(Labels, u64)> {
            m.runs_by_pattern
                .iter()
                .map(|(p, counts)| (label("pattern", p.clone()), f(counts)))
                .collect()
        };
        counter(
            &mut e,
            "taskorch_runs_submitted",
            "Runs accepted",
            None,
            &by_pattern(&|c| c.submitted),
        )?;
        counter(
            &mut e,
            "taskorch_runs_started",
            "Runs that got their slot and started",
            None,
            &by_pattern(&|c| c.started),
        )?;
        let finished: Vec<(Labels, u64)> =
            m.runs_by_pattern
                .iter()
                .flat_map(|(p, counts)| {
                    counts.finished.iter().map(move |(s, n)| {
                        (vec![("pattern", p.clone()), ("status", s.clone())], *n)
                    })
                })
                .collect();
        counter(
            &mut e,
            "taskorch_runs_finished",
            "Runs that reached a terminal status",
            None,
            &finished,
        )?;
        let current: Vec<(Labels, f64)> = m
            .runs
            .current
            .iter()
            .map(|(s, n)| (label("status", s.clone()), *n as f64))
            .collect();
        gauge(
            &mut e,
            "taskorch_runs",
            "Runs held in the registry now, by status",
            None,
            &current,
        )?;
        let depth: Vec<(Labels, f64)> = m
            .queues
            .iter()
            .map(|(q, qm)| (label("queue", q.clone()), qm.queued as f64))
            .collect();
        gauge(
            &mut e,
            "taskorch_queue_depth",
            "Runs waiting in the queue",
            None,
            &depth,
        )?;
        let running: Vec<(Labels, f64)> = m
            .queues
            .iter()
            .map(|(q, qm)| (label("queue", q.clone()), qm.running as f64))
            .collect();
        gauge(
            &mut e,
            "taskorch_queue_running",
            "Runs of the queue running",
            None,
            &running,
        )?;
        let restarts: Vec<(Labels, u64)> = m
            .actors
            .iter()
            .map(|(a, am)| (label("actor", a.clone()), am.restarts))
            .collect();
        counter(
            &mut e,
            "taskorch_actor_restarts",
            "Restarts of supervised actors",
            None,
            &restarts,
        )?;
        self.pools(&mut e)?;
        self.schedules(&mut e)?;
        if let Some(store) = m.store {
            counter(
                &mut e,
                "taskorch_store_commits",
                "Store commits",
                None,
                &[(Vec::new(), store.commits)],
            )?;
            let mut spent = e.encode_descriptor(
                "taskorch_store_commit_seconds",
                "Time spent committing to the store",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(store.commit_latency.sum.as_secs_f64())
                .encode(spent.encode_family(&Vec::<(&str, String)>::new())?)?;
            let l = store.commit_latency;
            let quantiles: Vec<(Labels, f64)> = [
                ("0.5", l.p50),
                ("0.9", l.p90),
                ("0.99", l.p99),
                ("1", l.max),
            ]
            .into_iter()
            .filter_map(|(q, d)| d.map(|d| (label("quantile", q), d.as_secs_f64())))
            .collect();
            gauge(
                &mut e,
                "taskorch_store_commit_latency_seconds",
                "Store commit latency over the recent window",
                None,
                &quantiles,
            )?;
        }
        let clients = self.state.hub.as_ref().map_or(0, |h| h.clients());
        gauge(
            &mut e,
            "taskorch_event_subscribers",
            "Clients of /events",
            None,
            &[(Vec::new(), clients as f64)],
        )?;
        let lagged = self.state.metrics.lagged.load(Ordering::Relaxed);
        counter(
            &mut e,
            "taskorch_event_subscribers_lagged",
            "Event subscribers that fell behind (clients dropped, hub lag)",
            None,
            &[(Vec::new(), lagged)],
        )?;
        let unauthorized = self.state.metrics.unauthorized.load(Ordering::Relaxed);
        counter(
            &mut e,
            "taskorch_http_unauthorized",
            "Requests refused for a missing or wrong token",
            None,
            &[(Vec::new(), unauthorized)],
        )?;
        gauge(
            &mut e,
            "taskorch_uptime_seconds",
            "Time since the orchestrator started",
            None,
            &[(Vec::new(), m.uptime.as_secs_f64())],
        )?;
        Ok(())
    }
}

impl Runtime {
    fn pools(&self, e: &mut DescriptorEncoder) -> std::fmt::Result {
        let mut workers = Vec::new();
        let mut served = Vec::new();
        let mut queued = Vec::new();
        for name in self.orch.observe().pools().names() {
            let Some(pool) = self.orch.observe().pools().find(&name) else {
                continue;
            };
            let stats = pool.stats();
            let idle = stats.workers.saturating_sub(stats.busy);
            workers.push((
                vec![("pool", name.clone()), ("state", "busy".to_string())],
                stats.busy as f64,
            ));
            workers.push((
                vec![("pool", name.clone()), ("state", "idle".to_string())],
                idle as f64,
            ));
            served.push((label("pool", name.clone()), stats.served));
            queued.push((label("pool", name), stats.queued as f64));
        }
        gauge(
            e,
            "taskorch_pool_workers",
            "Pool workers, busy or idle",
            None,
            &workers,
        )?;
        counter(
            e,
            "taskorch_pool_requests",
            "Pool requests served",
            None,
            &served,
        )?;
        gauge(
            e,
            "taskorch_pool_queued_requests",
            "Pool requests waiting for a worker",
            None,
            &queued,
        )
    }

    fn schedules(&self, e: &mut DescriptorEncoder) -> std::fmt::Result {
        let now = SystemTime::now();
        let late: Vec<(Labels, f64)> = self
            .orch
            .observe()
            .schedules()
            .list()
            .iter()
            .map(|s| {
                let info = s.info();
                let late = match (info.enabled, info.next_due) {
                    (true, Some(due)) => now.duration_since(due).unwrap_or_default(),
                    _ => Duration::ZERO,
                };
                (label("schedule", s.name()), late.as_secs_f64())
            })
            .collect();
        gauge(
            e,
            "taskorch_schedule_lateness_seconds",
            "How far past due the schedule's next fire is",
            None,
            &late,
        )
    }
}

/// The exposition text for `state`.
pub(crate) fn render(state: &AppState) -> Result<String, crate::Error> {
    let orch = state.live("GET /metrics")?.clone();
    let mut registry = Registry::default();
    // `register_with_unit` appends `_seconds`.
    registry.register_with_unit(
        "taskorch_queue_wait",
        "Time runs waited between accepted and started",
        Unit::Seconds,
        state.metrics.queue_wait.clone(),
    );
    registry.register_with_unit(
        "taskorch_run_duration",
        "Run time from start to end",
        Unit::Seconds,
        state.metrics.run_time.clone(),
    );
    registry.register_collector(Box::new(Runtime {
        orch,
        state: state.clone(),
    }));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(|_| crate::Error::actor_failed("http", "encoding the metrics failed"))?;
    Ok(text)
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    responses(
        (status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String),
        (status = 405, description = "read-only server", body = super::problem::ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_metrics(State(state): State<AppState>) -> Response {
    match render(&state) {
        Ok(text) => {
            let mut response = text.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        Err(e) => Problem(e).into_response(),
    }
}
