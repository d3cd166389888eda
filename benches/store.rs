//! Durable store benchmarks, each beside what it is compared with in the
//! same process run:
//!
//! 1. Durable `launch` throughput: 64 callers launch 20,000 no-op action
//!    runs as fast as `launch` answers, with the store on (each answer
//!    waits for its run's `Queued` record to be committed; group commit
//!    lets one fsync carry many) vs the store off, rounds interleaved,
//!    median of each. Targets: at least 5,000 accepted runs/s, and at least
//!    50 % of the store-off figure.
//! 2. Restart with 100,000 finished runs in history: how long
//!    `Orchestrator::start` takes to be ready on that file (target under
//!    500 ms). Start reads only the runs that were not finished, so it does
//!    not grow with history.
//! 3. Disk: the file size over those 100,000 finished runs without output
//!    (no-op actions), redb's free space and indexes included (target under
//!    300 bytes per run).
//! 4. A durable task graph: `run_graph` of 1,000 independent no-op action
//!    tasks with the store on (definition committed before submit answers,
//!    every task's start and end journaled) vs off, rounds interleaved,
//!    median of each. No target: it prints what the journal costs.
//!
//! ```text
//! cargo bench --bench store
//! ```

mod util;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use taskorch::RunQuery;
use taskorch::graph::{GraphTask, TaskGraph};
use taskorch::{Config, Orchestrator, RunId, Task};
use util::Samples;

const CALLERS: usize = 64;

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let runs: usize = util::env_or("BENCH_RUNS", 20_000);
    println!("taskorch durable store benchmarks");
    let dir = tempfile::tempdir().expect("temp dir");
    launch_throughput(dir.path(), runs).await;
    restart(dir.path(), 100_000).await;
    graph_submit(dir.path(), util::env_or("BENCH_GRAPH_TASKS", 1_000)).await;
}

/// One `run_graph` of `n` independent no-op tasks; its wall time.
async fn graph_round(dir: &Path, round: usize, n: usize, durable: bool) -> Duration {
    let path = dir.join(format!("graph-{round}.redb"));
    let orch = started(config(durable.then_some(path.as_path()), n)).await;
    let mut graph = TaskGraph::new();
    for i in 0..n {
        graph.add(GraphTask::new(
            format!("t{i}"),
            Task::action("noop", json!(null)),
        ));
    }
    let start = Instant::now();
    let report = orch.graphs().run(graph).await.expect("graph");
    let took = start.elapsed();
    assert!(report.success());
    orch.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_file(&path);
    took
}

async fn graph_submit(dir: &Path, n: usize) {
    let (mut on, mut off) = (Samples::with_capacity(3), Samples::with_capacity(3));
    // One warm-up round of each, then three measured, interleaved.
    for round in 0..4 {
        let a = graph_round(dir, round, n, false).await;
        let b = graph_round(dir, round, n, true).await;
        if round > 0 {
            off.push(a);
            on.push(b);
        }
    }
    let (on, off) = (on.median(), off.median());
    println!(
        "durable graph of {n} no-op tasks, run_graph  ours {:>8.1} ms (store on) | floor {:>8.1} ms (store off, same run) | ratio {:.2}",
        on.as_secs_f64() * 1e3,
        off.as_secs_f64() * 1e3,
        on.as_secs_f64() / off.as_secs_f64()
    );
}

fn config(store: Option<&Path>, history_limit: usize) -> Config {
    let config = Config {
        max_concurrency: 64,
        history_limit,
        ..Config::default()
    };
    match store {
        Some(path) => config.store(path),
        None => config,
    }
}

/// Launch `n` no-op runs from [`CALLERS`] tasks; returns how long until
/// every launch was answered, and the ids (waited for outside the timing).
async fn launch_all(orch: &Orchestrator, n: usize) -> (Duration, Vec<RunId>) {
    let orch = Arc::new(orch.clone());
    let start = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let orch = Arc::clone(&orch);
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in (c..n).step_by(CALLERS) {
                    let task = Task::action("noop", json!(null)).name("bench");
                    ids.push(orch.launch(task).await.expect("launch"));
                }
                ids
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(n);
    for caller in callers {
        ids.extend(caller.await.expect("caller"));
    }
    (start.elapsed(), ids)
}

async fn started(config: Config) -> Orchestrator {
    let orch = Orchestrator::start(config).await.expect("start");
    orch.register_action("noop", |_| async { Ok(json!(null)) });
    orch
}

async fn one_round(dir: &Path, round: usize, n: usize, durable: bool) -> f64 {
    let path = dir.join(format!("launch-{round}.redb"));
    let orch = started(config(durable.then_some(path.as_path()), n)).await;
    let (took, ids) = launch_all(&orch, n).await;
    for id in ids {
        orch.wait(id).await.expect("run");
    }
    orch.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_file(&path);
    n as f64 / took.as_secs_f64()
}

async fn launch_throughput(dir: &Path, n: usize) {
    let (mut on, mut off) = (Vec::new(), Vec::new());
    // One warm-up round of each, then three measured, interleaved.
    for round in 0..4 {
        let a = one_round(dir, round, n, false).await;
        let b = one_round(dir, round, n, true).await;
        if round > 0 {
            off.push(a);
            on.push(b);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (on, off) = (median(&mut on), median(&mut off));
    println!(
        "launch {n} no-op runs, {CALLERS} callers, store on  ours {on:>9.0} runs/s | floor {off:>9.0} runs/s (store off, same run) | ratio {:.3}  (target >= 5,000 runs/s and >= 0.50)",
        on / off
    );
}

async fn restart(dir: &Path, n: usize) {
    let path = dir.join("history.redb");
    let orch = started(config(Some(&path), n)).await;
    let fill = Instant::now();
    let (_, ids) = launch_all(&orch, n).await;
    for id in ids {
        orch.wait(id).await.expect("run");
    }
    orch.shutdown().await.expect("shutdown");
    drop(orch);
    println!(
        "filled a store with {n} finished runs in {:.1} s",
        fill.elapsed().as_secs_f64()
    );

    let mut starts = Samples::with_capacity(5);
    for _ in 0..5 {
        let begin = Instant::now();
        let orch = Orchestrator::start(config(Some(&path), n))
            .await
            .expect("start");
        starts.push(begin.elapsed());
        let stored = orch
            .observe()
            .history(&RunQuery::new().most_recent(1))
            .expect("history");
        assert_eq!(stored.len(), 1);
        orch.shutdown().await.expect("shutdown");
    }
    println!(
        "Orchestrator::start with {n} runs in history  median {:>9.2} ms  max {:>9.2} ms  (target < 500 ms)",
        starts.median().as_secs_f64() * 1e3,
        starts.max().as_secs_f64() * 1e3,
    );
    let orch = Orchestrator::start(config(Some(&path), n))
        .await
        .expect("start");
    let listed = orch
        .observe()
        .history(&RunQuery::new())
        .expect("history")
        .len();
    orch.shutdown().await.expect("shutdown");
    let bytes = std::fs::metadata(&path).expect("store file").len();
    println!(
        "disk per finished run record, no output      {:>6} bytes  ({listed} runs, file {:.1} MiB)  (target < 300 bytes)",
        bytes / listed.max(1) as u64,
        bytes as f64 / (1 << 20) as f64
    );
}
