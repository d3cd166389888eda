//! Message-trace benchmarks: the same workload on two orchestrators in the
//! same process, one recording (the default `trace_capacity`, 65,536
//! events) and one not (`trace_capacity: 0`), rounds interleaved and
//! rotated so both see the same noise. The untraced runtime is the floor.
//!
//! 1. `run_batch` of 100,000 no-op in-process actions at limit 64: one
//!    `Start` message and 100,000 run events per batch (the ring wraps).
//!    Target: tracing costs under 10 % of the throughput.
//! 2. The same number of no-op runs one at a time through `orch.run`: a
//!    request message and a run event per run, on the request path a
//!    caller waits on. Same target.
//! 3. Bytes allocated per run, traced and not: recording an event
//!    allocates nothing (the ring is reserved up front), so the two should
//!    match. Target: no difference.
//!
//! ```text
//! cargo bench --bench trace
//! ```
//! `BENCH_ROUNDS` sets the rounds per comparison (default 5).

mod util;

use std::alloc::System;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use taskorch::{Config, Orchestrator, Task};
use util::Samples;

// Counts allocated bytes for benchmark 3. It adds a few atomic operations
// to every allocation, on both sides alike.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const RUNS: usize = 100_000;
const LIMIT: usize = 64;

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let rounds: usize = util::env_or("BENCH_ROUNDS", 5);
    let traced = start(Config::default()).await;
    let untraced = start(Config {
        trace_capacity: 0,
        ..Config::default()
    })
    .await;
    println!(
        "taskorch message-trace benchmarks ({rounds} rounds each, traced (capacity {}) vs untraced, interleaved)",
        traced.observe().config().trace_capacity
    );
    batch(&traced, &untraced, rounds).await;
    one_at_a_time(&traced, &untraced, rounds).await;
    allocations(&traced, &untraced).await;
    let trace = traced.trace();
    println!(
        "  (the traced runtime's ring holds {} events; {} older ones were overwritten)",
        trace.len(),
        trace.dropped()
    );
    traced.shutdown().await.expect("shutdown");
    untraced.shutdown().await.expect("shutdown");
}

async fn start(config: Config) -> Orchestrator {
    let orch = Orchestrator::start(config).await.expect("start");
    orch.register_action("noop", |_| async { Ok(Value::Null) });
    orch
}

async fn run_batch(orch: &Orchestrator, tasks: &[Task]) -> Duration {
    let started = Instant::now();
    let results = orch.run_batch(tasks.to_vec(), LIMIT).await;
    let took = started.elapsed();
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|o| o.success()))
    );
    took
}

async fn sequential(orch: &Orchestrator, n: usize) -> Duration {
    let task = Task::action("noop", json!(null));
    let started = Instant::now();
    for _ in 0..n {
        assert!(orch.run(task.clone()).await.unwrap().success());
    }
    started.elapsed()
}

async fn batch(traced: &Orchestrator, untraced: &Orchestrator, rounds: usize) {
    let tasks = vec![Task::action("noop", Value::Null); RUNS];
    run_batch(traced, &tasks[..10_000]).await;
    run_batch(untraced, &tasks[..10_000]).await;
    let (mut on, mut off) = (Samples::default(), Samples::default());
    for round in 0..rounds {
        if round % 2 == 0 {
            off.push(run_batch(untraced, &tasks).await);
            on.push(run_batch(traced, &tasks).await);
        } else {
            on.push(run_batch(traced, &tasks).await);
            off.push(run_batch(untraced, &tasks).await);
        }
    }
    report_cost("run_batch 100,000 no-op actions, limit 64", RUNS, &on, &off);
}

async fn one_at_a_time(traced: &Orchestrator, untraced: &Orchestrator, rounds: usize) {
    let per_round = RUNS / rounds.max(1);
    sequential(traced, 2_000).await;
    sequential(untraced, 2_000).await;
    let (mut on, mut off) = (Samples::default(), Samples::default());
    for round in 0..rounds {
        if round % 2 == 0 {
            off.push(sequential(untraced, per_round).await);
            on.push(sequential(traced, per_round).await);
        } else {
            on.push(sequential(traced, per_round).await);
            off.push(sequential(untraced, per_round).await);
        }
    }
    report_cost(
        &format!("run() x {per_round} no-op actions, one at a time"),
        per_round,
        &on,
        &off,
    );
}

/// One line: median throughput traced and untraced, their ratio, and the
/// cost of tracing as a share of the untraced throughput.
fn report_cost(what: &str, n: usize, on: &Samples, off: &Samples) {
    let rate = |s: &Samples| n as f64 / s.median().as_secs_f64();
    let ratio = rate(on) / rate(off);
    println!(
        "{what:<44} traced {:>9.0}/s (median of {}) | untraced {:>9.0}/s | ratio {ratio:.3}, cost {:+.1} %  (target cost < 10 %)",
        rate(on),
        on.len(),
        rate(off),
        (1.0 - ratio) * 100.0,
    );
}

async fn allocations(traced: &Orchestrator, untraced: &Orchestrator) {
    const N: usize = 10_000;
    let per_run = |orch: &Orchestrator| {
        let orch = orch.clone();
        async move {
            let region = Region::new(ALLOCATOR);
            sequential(&orch, N).await;
            let change = region.change();
            change.bytes_allocated as f64 / N as f64
        }
    };
    // Twice each, alternating, so warm-up (a map growing, a cache filling)
    // is not charged to one side.
    let (mut on, mut off) = (0.0, 0.0);
    for _ in 0..2 {
        off = per_run(untraced).await;
        on = per_run(traced).await;
    }
    println!(
        "bytes allocated per run(), traced vs untraced  traced {on:.0} B | untraced {off:.0} B | difference {:+.0} B  (target 0: recording allocates nothing)",
        on - off
    );
}
