//! The high-throughput API scenario: warm Python workers answer price-quote
//! requests (Pooled) from many concurrent clients, while a health check
//! runs on a schedule (Periodic) and reports on the workers. Half-way, one
//! worker is crashed on purpose: its request fails with `WorkerDied`, the
//! pool replaces the worker, and the next health check shows the restart.
//!
//! Every request goes through `Orchestrator::execute`: the request line is
//! the task's stdin and `.pooled(POOL)` sends it to the pool. The health
//! check is an in-process action (it reads the pool's counters and pings
//! one worker), scheduled with `.every(..)`.
//!
//! Shared by `examples/api_service.rs` and the integration test
//! (`tests/scenarios.rs`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use taskorch::{Error, Execution, Orchestrator, Pattern, Pool, PoolSpec, Request, Task};

// Declared beside this module by whoever includes it (the example, the
// test), so the test binary holds one copy for all three scenarios.
use super::failure::{Failure, Result};
use super::wait::wait_for;

/// The pool's name.
pub const POOL: &str = "quotes";

/// The worker: one JSON request per line, one JSON reply per line.
const WORKER: &str = r#"
import json, os, sys
for line in sys.stdin:
    req = json.loads(line)
    op = req.get("op")
    if op == "quote":
        subtotal = sum(item["qty"] * item["price_cents"] for item in req["items"])
        tax = subtotal * req["tax_pct"] // 100
        reply = {"id": req["id"], "total_cents": subtotal + tax}
    elif op == "ping":
        reply = {"pong": os.getpid()}
    elif op == "crash":
        sys.exit(3)
    else:
        reply = {"id": req.get("id"), "error": "unknown op %r" % op}
    print(json.dumps(reply), flush=True)
"#;

/// The load and the service's shape.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Warm workers.
    pub workers: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Requests per client, in each of the two load phases.
    pub requests_per_client: usize,
    /// How often the health check runs.
    pub health_every: Duration,
}

/// What the health check found, as its action returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Health {
    /// Workers up.
    pub workers: usize,
    /// Requests answered so far.
    pub served: u64,
    /// Workers replaced so far.
    pub restarts: u64,
    /// A ping round trip, in microseconds.
    pub ping_us: u64,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Each stage and the pattern `execute` picked for it.
    pub stages: Vec<(&'static str, Pattern)>,
    /// Requests answered with the right total.
    pub answered: usize,
    /// Requests answered with a wrong total, or not at all.
    pub wrong: usize,
    /// Requests per second over both load phases.
    pub throughput: f64,
    /// Median and 99th percentile request latency.
    pub latency: (Duration, Duration),
    /// What the crashing request answered.
    pub crash: Error,
    /// Health checks run, and how many failed.
    pub health_runs: (u64, u64),
    /// The last health check's findings (after the crash).
    pub health: Health,
    /// Every worker process the pool had: the first ones and the
    /// replacement (all gone once `run` returns: the pool is closed).
    pub worker_pids: Vec<u32>,
}

/// Run the service under load; `say` gets a line for each step.
pub async fn run(
    orch: &Orchestrator,
    settings: &Settings,
    say: &(dyn Fn(String) + Sync),
) -> Result<Report> {
    let mut stages = Vec::new();
    let pool = orch
        .pool(
            PoolSpec::command(POOL, "python3")
                .args(["-u", "-c", WORKER])
                .workers(settings.workers)
                .request_timeout(Duration::from_secs(5)),
        )
        .await?;
    say(format!(
        "{} warm workers up: {:?}",
        settings.workers,
        pool.worker_pids()
    ));

    // The health check reaches the pool through a slot the scenario empties
    // at the end: the action is registered in the runtime the pool belongs
    // to, and a handle held there for good would keep both alive forever.
    let slot = Arc::new(Mutex::new(Some(pool.clone())));
    register_health_check(orch, Arc::clone(&slot));
    let request = Request::new(Task::action("health", json!(null)).name("health"))
        .every(settings.health_every);
    stages.push(("health", Pattern::select(&request)));
    let health = match orch.execute(request).await? {
        Execution::Scheduled(health) => health,
        other => return Err(Failure::unexpected("scheduling the health check", other)),
    };
    let outcome = serve(orch, settings, &pool, &health, &mut stages, say).await;
    // Stop the health check and close the pool whatever happened.
    let _ = health.remove().await;
    slot.lock().map(|mut held| held.take()).ok();
    pool.close().await?;
    outcome
}

async fn serve(
    orch: &Orchestrator,
    settings: &Settings,
    pool: &Pool,
    health: &taskorch::Schedule,
    stages: &mut Vec<(&'static str, Pattern)>,
    say: &(dyn Fn(String) + Sync),
) -> Result<Report> {
    stages.push(("request", Pattern::select(&quote_request(&quote(0)))));
    let mut worker_pids = pool.worker_pids();
    let started = Instant::now();
    let mut latencies = load(orch, settings, 0).await?;
    say(format!(
        "phase 1: {} requests answered",
        latencies.iter().filter(|l| l.is_some()).count()
    ));

    // Crash one worker on purpose.
    let crash = match orch
        .execute(quote_request(&json!({"op": "crash"}).to_string()))
        .await
    {
        Err(e) => e,
        Ok(answer) => {
            return Err(Failure::broken(
                "crashing a worker",
                format!("the crash request was answered: {answer:?}"),
            ));
        }
    };
    say(format!("a crashing request answered: {crash}"));
    // The pool replaces the worker by itself; wait until it has.
    wait_for(Duration::from_secs(30), || {
        let stats = pool.stats();
        (stats.restarts >= 1 && stats.workers == settings.workers).then_some(())
    })
    .await?;
    say(format!("worker replaced: {:?}", pool.worker_pids()));
    worker_pids.extend(pool.worker_pids());
    worker_pids.sort_unstable();
    worker_pids.dedup();

    latencies.extend(load(orch, settings, 1).await?);
    let elapsed = started.elapsed();
    let total = latencies.len();
    let mut ok: Vec<Duration> = latencies.into_iter().flatten().collect();
    ok.sort_unstable();
    let answered = ok.len();
    say(format!(
        "phase 2: {answered} of {total} requests answered in all, {:.0} requests/s",
        total as f64 / elapsed.as_secs_f64()
    ));

    // A health check that started after the load (`runs` counts runs
    // started, `last` is the latest): it sees every request and the
    // restart. One already going may have counted only part of phase 2.
    let runs_after_load = health.info().runs;
    let last = wait_for(Duration::from_secs(30), || {
        let info = health.info();
        let last = info.last.filter(|l| l.status.is_terminal())?;
        (info.runs > runs_after_load).then_some(last)
    })
    .await?;
    let out = orch.wait(last.id).await?;
    if !out.success() {
        return Err(Failure::step("the health check", &out));
    }
    let value = out.value.clone().unwrap_or_default();
    let checked: Health = serde_json::from_value(value)
        .map_err(|e| Failure::broken("health check", format!("{e}: {}", out.stderr_str())))?;
    let info = health.info();
    say(format!(
        "health check #{}: {} workers, {} served, {} restarts, ping {} us",
        info.runs, checked.workers, checked.served, checked.restarts, checked.ping_us
    ));
    Ok(Report {
        stages: stages.clone(),
        answered,
        wrong: total - answered,
        throughput: total as f64 / elapsed.as_secs_f64(),
        latency: (quantile(&ok, 0.5), quantile(&ok, 0.99)),
        crash,
        health_runs: (info.runs, info.failures),
        health: checked,
        worker_pids,
    })
}

/// The health check: the pool's counters and one ping round trip.
fn register_health_check(orch: &Orchestrator, slot: Arc<Mutex<Option<Pool>>>) {
    orch.register_action("health", move |_| {
        let pool = slot.lock().ok().and_then(|held| held.clone());
        async move {
            let pool = pool.ok_or("the service is stopped")?;
            let started = Instant::now();
            let pong = pool
                .request(json!({"op": "ping"}).to_string())
                .await
                .map_err(|e| e.to_string())?;
            let ping_us = started.elapsed().as_micros() as u64;
            if !pong.contains("pong") {
                return Err(format!("unexpected answer to a ping: {pong}"));
            }
            let stats = pool.stats();
            Ok(json!({
                "workers": stats.workers,
                "served": stats.served,
                "restarts": stats.restarts,
                "ping_us": ping_us,
            }))
        }
    });
}

/// A price quote request; its expected total is `expected_total(id)`.
fn quote(id: u64) -> String {
    json!({
        "op": "quote",
        "id": id,
        "items": [
            {"qty": 1 + id % 3, "price_cents": 1999},
            {"qty": 2, "price_cents": 250 + id % 100},
        ],
        "tax_pct": 8,
    })
    .to_string()
}

fn expected_total(id: u64) -> u64 {
    let subtotal = (1 + id % 3) * 1999 + 2 * (250 + id % 100);
    subtotal + subtotal * 8 / 100
}

/// A request for the pool: the line is the task's stdin.
fn quote_request(line: &str) -> Request {
    Request::new(Task::command(POOL).stdin(line)).pooled(POOL)
}

#[derive(Deserialize)]
struct Quote {
    id: u64,
    total_cents: u64,
}

/// Every client sends its requests one after another; all clients at once.
/// One latency per request; `None` for a request answered wrong or not
/// at all.
async fn load(
    orch: &Orchestrator,
    settings: &Settings,
    phase: u64,
) -> Result<Vec<Option<Duration>>> {
    let per_client = settings.requests_per_client as u64;
    let clients: Vec<_> = (0..settings.clients as u64)
        .map(|client| {
            let orch = orch.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_client as usize);
                for n in 0..per_client {
                    let id = (phase * 1_000_000) + client * per_client + n;
                    let started = Instant::now();
                    let answer = orch.execute(quote_request(&quote(id))).await;
                    let right = match answer {
                        Ok(Execution::Pooled(reply)) => serde_json::from_str::<Quote>(&reply)
                            .is_ok_and(|q| q.id == id && q.total_cents == expected_total(id)),
                        _ => false,
                    };
                    latencies.push(right.then(|| started.elapsed()));
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for client in clients {
        let latencies = client
            .await
            .map_err(|e| Failure::broken("a client", e.to_string()))?;
        all.extend(latencies);
    }
    Ok(all)
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
