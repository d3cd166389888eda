//! FireAndForget benchmarks, each against a raw floor measured in the same
//! process run:
//!
//! 1. `launch` call latency: `orch.launch(Task::command("/bin/true"))` vs
//!    `tokio::spawn` of the raw process future (a hand-rolled
//!    fire-and-forget), interleaved sample by sample; each sample waits for
//!    its run to end *outside* the timing, so every launch meets an idle
//!    runtime. Target: median under 20 us, p99 under 200 us — the call must
//!    not wait for the spawn. The same figure while 2,000 runs pour through
//!    is printed from benchmark 2.
//! 2. End to end: 2,000 launched `/bin/true` runs, all waited, with
//!    `Config::max_concurrency = 8`, vs a raw tokio fan-out of the same
//!    commands at concurrency 8 (every task spawned at once, a semaphore
//!    letting 8 run), rounds interleaved. Target: throughput at least 85 %
//!    of the floor's. A second floor also sets the one environment variable
//!    every child must get (`TASKORCH_RUN_ID`; see `benches/simple.rs`).
//! 3. Registry: `status()` lookup with 100,000 finished runs vs a bare
//!    `DashMap` lookup (target: median under 1 us), a `most_recent(20)`
//!    query over them, and the memory one finished run record holds without
//!    output, counted by the allocator (target: under 512 bytes).
//! 4. Metrics: what recording costs each run (`orch.metrics()`'s counts,
//!    rates and latency windows: the registry's admit, start and finish
//!    calls into the recorder) vs a raw counter floor (three relaxed
//!    `fetch_add`s per run on shared counters), from one thread and from
//!    two at once; that cost as a share of one launched run of benchmark 2
//!    (recording cannot be switched off, so this share is the launch
//!    throughput lost to it); and the time of one snapshot (what a
//!    `/metrics` scrape pays), which does not grow with the runs held.
//!
//! ```text
//! cargo bench --bench launch
//! ```

mod util;

use std::alloc::System;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures::FutureExt;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use taskorch::{Config, Orchestrator, Pattern, RunId, RunQuery, RunStatus, Task};
use taskorch_actors::registry::Admission;
use taskorch_actors::{MetricsRecorder, Registry, Retention};
use tokio::sync::Semaphore;
use util::{Samples, report, report_alone};

// Counts allocated bytes for benchmark 3. It adds a few atomic operations
// to every allocation, for ours and the floors alike.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const WARMUP: usize = 100;

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let samples: usize = util::env_or("BENCH_SAMPLES", 2000);
    println!("taskorch fire-and-forget benchmarks ({samples} samples / runs)");
    // First, while nothing else in the process allocates.
    registry(100_000);
    launch_latency(samples).await;
    let runs_per_second = end_to_end(samples).await;
    metrics_recording(1_000_000, runs_per_second);
}

async fn raw_true(with_run_id: bool) {
    let mut command = tokio::process::Command::new("/bin/true");
    command.process_group(0).stdin(Stdio::null());
    if with_run_id {
        command.env(
            taskorch::task::RUN_ID_ENV,
            "0190a5c4-7d1e-7cc0-9a55-2f6c1f0e4b11",
        );
    }
    let out = command.output().await.expect("raw spawn");
    assert!(out.status.success());
}

async fn launch_latency(samples: usize) {
    let orch = Orchestrator::start(Config::default()).await.expect("start");
    let task = Task::command("/bin/true");
    let (mut ours, mut floor) = (
        Samples::with_capacity(samples),
        Samples::with_capacity(samples),
    );
    for i in 0..samples + WARMUP {
        let start = Instant::now();
        let id = orch.launch(task.clone()).await.expect("launch");
        let took = start.elapsed();
        assert!(orch.wait(id).await.expect("wait").success());

        let start = Instant::now();
        let handle = tokio::spawn(raw_true(true));
        let raw = start.elapsed();
        handle.await.expect("raw run");
        if i >= WARMUP {
            ours.push(took);
            floor.push(raw);
        }
    }
    report(
        "launch(/bin/true) call vs tokio::spawn",
        &ours,
        &floor,
        "median < 20 us, p99 < 200 us",
    );
    orch.shutdown().await.expect("shutdown");
}

/// 2,000 launched runs at concurrency 8: how long until all are waited,
/// and each launch call's latency.
async fn ours_fan_out(n: usize, launches: &mut Samples) -> Duration {
    let orch = Orchestrator::start(Config {
        max_concurrency: 8,
        ..Config::default()
    })
    .await
    .expect("start");
    let task = Task::command("/bin/true");
    let start = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(
            launches
                .time(orch.launch(task.clone()))
                .await
                .expect("launch"),
        );
    }
    for id in ids {
        assert!(orch.wait(id).await.expect("wait").success());
    }
    let took = start.elapsed();
    orch.shutdown().await.expect("shutdown");
    took
}

/// The same work as raw tokio: every task spawned at once, 8 at a time.
async fn raw_fan_out(n: usize, with_run_id: bool) -> Duration {
    let limit = Arc::new(Semaphore::new(8));
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let limit = Arc::clone(&limit);
            tokio::spawn(async move {
                // Never closed, so `acquire` cannot fail.
                let _slot = limit.acquire().await.expect("semaphore open");
                raw_true(with_run_id).await;
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("raw run");
    }
    start.elapsed()
}

/// Answers our throughput (runs per second).
async fn end_to_end(n: usize) -> f64 {
    const ROUNDS: usize = 3;
    let mut launches = Samples::with_capacity(n * ROUNDS);
    let (mut ours, mut floor, mut floor_env) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    // Warm-up: program caches, the process table, the allocator.
    ours_fan_out(n / 10, &mut Samples::default()).await;
    raw_fan_out(n / 10, false).await;
    for round in 0..ROUNDS {
        // Rotate the order so no variant always runs first.
        for slot in 0..3 {
            match (round + slot) % 3 {
                0 => ours += ours_fan_out(n, &mut launches).await,
                1 => floor += raw_fan_out(n, false).await,
                _ => floor_env += raw_fan_out(n, true).await,
            }
        }
    }
    let rate = |total: Duration| (n * ROUNDS) as f64 / total.as_secs_f64();
    for (what, floor) in [
        ("raw tokio fan-out", floor),
        ("raw fan-out + TASKORCH_RUN_ID env", floor_env),
    ] {
        println!(
            "{n} launched /bin/true, all waited, conc 8    ours {:>7.0} runs/s | floor {:>7.0} runs/s ({what}) | ratio {:.3}  (target >= 0.85)",
            rate(ours),
            rate(floor),
            rate(ours) / rate(floor),
        );
    }
    report_alone(
        "launch call while 2,000 runs pour through",
        &launches,
        "median < 20 us, p99 < 200 us",
    );
    rate(ours)
}

/// The raw floor of metrics recording: a counter per transition, shared.
#[derive(Default)]
struct RawCounters {
    admitted: AtomicU64,
    started: AtomicU64,
    finished: AtomicU64,
}

impl RawCounters {
    fn run(&self) {
        self.admitted.fetch_add(1, Ordering::Relaxed);
        self.started.fetch_add(1, Ordering::Relaxed);
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the registry records of one run, in the order it does.
fn recorded_run(metrics: &MetricsRecorder) {
    let queued = metrics.admitted(Pattern::FireAndForget);
    let started = metrics.started(Pattern::FireAndForget, queued);
    metrics.finished(
        Pattern::FireAndForget,
        RunStatus::Running,
        RunStatus::Succeeded,
        Some(started),
    );
}

/// Time `n` runs of `record`, split over `threads` threads at once; answers
/// the time per run.
fn per_run(n: usize, threads: usize, record: &(dyn Fn() + Sync)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..n / threads {
                    record();
                }
            });
        }
    });
    start.elapsed() / n as u32
}

fn metrics_recording(n: usize, runs_per_second: f64) {
    const ROUNDS: usize = 5;
    let metrics = MetricsRecorder::new();
    let raw = RawCounters::default();
    for threads in [1, 2] {
        let (mut ours, mut floor) = (Samples::default(), Samples::default());
        for _ in 0..ROUNDS {
            ours.push(per_run(n, threads, &|| recorded_run(&metrics)));
            floor.push(per_run(n, threads, &|| raw.run()));
        }
        report(
            &format!("metrics recorded per run, {threads} thread(s) vs 3 counters"),
            &ours,
            &floor,
            "no target (see the share below)",
        );
        if threads == 2 {
            let share = ours.median().as_secs_f64() * runs_per_second;
            println!(
                "metrics recording as a share of one launched run  {:>6.3} %  (at {runs_per_second:.0} runs/s of benchmark 2)  (target < 1 %)",
                share * 100.0
            );
        }
    }
    std::hint::black_box(raw.admitted.load(Ordering::Relaxed));

    let mut snapshots = Samples::default();
    for _ in 0..200 {
        let start = Instant::now();
        let snap = metrics.snapshot(Default::default(), None, true);
        snapshots.push(start.elapsed());
        assert_eq!(
            snap.run_time.window as usize,
            taskorch::metrics::LATENCY_WINDOW
        );
    }
    report_alone(
        "metrics snapshot (full latency windows)",
        &snapshots,
        "no target (a scrape)",
    );
}

fn registry(n: usize) {
    let registry = Registry::new(Retention {
        history_limit: n,
        ..Retention::default()
    });
    let counted = Region::new(ALLOCATOR);
    let mut ids = Vec::with_capacity(n);
    let baseline = counted.change();
    for _ in 0..n {
        let run = registry.admit(Admission::new("nightly-export", Pattern::FireAndForget));
        run.start().expect("queued -> running");
        let id = run.id();
        // Without a store, finishing never waits.
        registry
            .finish(&run, Ok(util::empty_output(id)))
            .now_or_never()
            .expect("no store: nothing to wait for")
            .expect("running -> succeeded");
        ids.push(id);
    }
    let grown = counted.change();
    // The id list is the benchmark's, not the registry's.
    let held = (grown.bytes_allocated - baseline.bytes_allocated)
        - (grown.bytes_deallocated - baseline.bytes_deallocated)
        - ids.capacity() * std::mem::size_of::<RunId>();
    println!(
        "memory per finished run record (no output)      {:>6} bytes  ({n} records, name of 14 bytes, map and retention queue included)  (target < 512 bytes)",
        held / n
    );

    let raw: DashMap<RunId, RunStatus> = ids.iter().map(|&id| (id, RunStatus::Succeeded)).collect();
    // Time batches of lookups (one clock read is ~25 ns, as long as a
    // lookup), striding through the ids so consecutive lookups hit
    // different shards and cache lines.
    const BATCH: usize = 100;
    let stride = 7_919;
    let (mut ours, mut floor) = (Samples::default(), Samples::default());
    let mut k = 0;
    for _ in 0..2_000 {
        let start = Instant::now();
        for _ in 0..BATCH {
            k = (k + stride) % n;
            assert!(registry.status(ids[k]).is_some());
        }
        ours.push(start.elapsed() / BATCH as u32);
        let start = Instant::now();
        for _ in 0..BATCH {
            k = (k + stride) % n;
            assert!(raw.get(&ids[k]).map(|s| *s).is_some());
        }
        floor.push(start.elapsed() / BATCH as u32);
    }
    report(
        "status() with 100,000 finished vs DashMap get",
        &ours,
        &floor,
        "median < 1 us",
    );

    let mut query = Samples::default();
    let recent = RunQuery::new().most_recent(20);
    for _ in 0..20 {
        let found = std::hint::black_box(query_timed(&registry, &recent, &mut query));
        assert_eq!(found, 20);
    }
    report_alone(
        "query most_recent(20) over 100,000 runs",
        &query,
        "no target (dashboards)",
    );
}

fn query_timed(registry: &Registry, query: &RunQuery, samples: &mut Samples) -> usize {
    let start = Instant::now();
    let found = registry.query(query).len();
    samples.push(start.elapsed());
    found
}
