//! Task-graph benchmarks, each against a raw floor measured in the same
//! process run (rounds interleaved, so both sides see the same noise):
//!
//! 1. Memory: a 10,000-node random DAG of no-op actions (~3 dependencies
//!    per node), run to its end, its handle still held: bytes allocated
//!    and not freed per node (definition, state, outputs, and the runs in
//!    the registry). Measured first, on a fresh orchestrator, by the
//!    allocator (`stats_alloc`). Target: under 2 KiB per node.
//! 2. Scheduling overhead: the same kind of DAG at limit 64, end to end,
//!    against the same 10,000 no-ops through `run_batch` (limit 64) and
//!    through a raw 64-limited `JoinSet`. Per task: (ours - floor) /
//!    10,000. Target: under 20 us per task.
//! 3. A chain of 1,000 tasks: per-hop latency, from the moment one task's
//!    action returns to the moment the next one's action is called. Floor:
//!    the same hop through a bare `tokio::spawn` + `JoinHandle` await
//!    (one task ends, the waiting loop spawns the next). Target: median
//!    under 50 us.
//!
//! ```text
//! cargo bench --bench graph
//! ```
//! `BENCH_ROUNDS` sets the rounds per comparison (default 5).

mod util;

use std::alloc::System;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use taskorch::graph::{GraphTask, TaskGraph};
use taskorch::{Config, Orchestrator, Task};
use util::{Samples, fan_out, report, report_alone};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const NODES: usize = 10_000;
const EDGES: usize = 3;
const LIMIT: usize = 64;
const CHAIN: usize = 1_000;

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let rounds: usize = util::env_or("BENCH_ROUNDS", 5);
    println!("taskorch task-graph benchmarks ({rounds} rounds each, interleaved with the floor)");
    memory().await;
    let orch = Orchestrator::start(Config::default()).await.expect("start");
    orch.register_action("noop", noop);
    overhead(&orch, rounds).await;
    chain(&orch, rounds).await;
    orch.shutdown().await.expect("shutdown");
}

async fn noop(_: Value) -> Result<Value, String> {
    Ok(Value::Null)
}

/// The floor's job: the same function the action calls.
async fn noop_job() {
    noop(Value::Null).await.expect("noop");
}

/// A small deterministic generator (xorshift), so every round runs the
/// same graph shape without a dependency for it.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// `n` no-op tasks, each depending on up to `EDGES` random earlier ones.
fn random_dag(n: usize, limit: usize) -> TaskGraph {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut graph = TaskGraph::new().limit(limit);
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let mut deps = Vec::with_capacity(EDGES);
        if i > 0 {
            for _ in 0..EDGES.min(i) {
                deps.push(keys[rng.below(i)]);
            }
        }
        keys.push(graph.add(
            GraphTask::new(format!("n{i}"), Task::action("noop", Value::Null)).depends_on(deps),
        ));
    }
    graph
}

async fn memory() {
    // Every run kept (the default history limit would evict the oldest
    // and hide their cost).
    let config = Config {
        history_limit: 4 * NODES,
        ..Config::default()
    };
    let orch = Orchestrator::start(config).await.expect("start");
    orch.register_action("noop", noop);
    // Warm up the runtime's own one-time allocations.
    let warm = orch
        .graphs()
        .run(random_dag(100, LIMIT))
        .await
        .expect("graph");
    assert!(warm.success());
    drop(warm);
    let runs_before = orch.runs().len();

    let region = Region::new(ALLOCATOR);
    let graph = random_dag(NODES, LIMIT);
    let built = region.change();
    let run = orch.graphs().start(graph).await.expect("submit");
    let report = run.wait().await;
    assert!(report.success());
    drop(report);
    let held = region.change();
    let net = |c: stats_alloc::Stats| c.bytes_allocated as f64 - c.bytes_deallocated as f64;
    let per_node = net(held) / NODES as f64;
    let definition = net(built) / NODES as f64;
    assert_eq!(orch.runs().len(), runs_before + NODES);
    println!(
        "{:<44} ours {:>7.0} B/node held after the run (of which {:.0} B/node the TaskGraph as built)  (target < 2048 B; includes the {} runs in the registry)",
        "10,000-node DAG, memory", per_node, definition, NODES
    );
    drop(run);
    orch.shutdown().await.expect("shutdown");
}

async fn batch(orch: &Orchestrator, n: usize, limit: usize) -> Duration {
    let tasks = vec![Task::action("noop", Value::Null); n];
    let start = Instant::now();
    let results = orch.run_batch(tasks, limit).await;
    let took = start.elapsed();
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|o| o.success()))
    );
    took
}

async fn graph(orch: &Orchestrator, n: usize, limit: usize) -> Duration {
    // Built outside the timing: the caller's own work.
    let graph = random_dag(n, limit);
    let start = Instant::now();
    let report = orch.graphs().run(graph).await.expect("graph");
    let took = start.elapsed();
    assert!(report.success());
    took
}

async fn overhead(orch: &Orchestrator, rounds: usize) {
    graph(orch, 1_000, LIMIT).await;
    batch(orch, 1_000, LIMIT).await;
    fan_out(1_000, LIMIT, noop_job).await;
    let (mut ours, mut by_batch, mut raw) =
        (Samples::default(), Samples::default(), Samples::default());
    for round in 0..rounds {
        for slot in 0..3 {
            match (round + slot) % 3 {
                0 => ours.push(graph(orch, NODES, LIMIT).await),
                1 => by_batch.push(batch(orch, NODES, LIMIT).await),
                _ => raw.push(fan_out(NODES, LIMIT, noop_job).await),
            }
        }
    }
    let per = |s: &Samples| s.median().as_secs_f64() * 1e6 / NODES as f64;
    for (what, floor) in [
        ("run_batch, limit 64", &by_batch),
        ("raw JoinSet, limit 64", &raw),
    ] {
        println!(
            "{:<44} ours {:>8.2} us/task | floor ({what}) {:>6.2} us/task | overhead {:>6.2} us/task  (target < 20 us)",
            "10,000-node DAG (~3 deps/node), limit 64",
            per(&ours),
            per(floor),
            per(&ours) - per(floor),
        );
    }
}

/// Called and returned times of each action of a chain, by position.
type Stamps = Arc<Mutex<Vec<(Option<Instant>, Option<Instant>)>>>;

async fn chain(orch: &Orchestrator, rounds: usize) {
    let stamps: Stamps = Arc::new(Mutex::new(vec![(None, None); CHAIN]));
    let marks = Arc::clone(&stamps);
    orch.register_action("stamp", move |input: Value| {
        let marks = Arc::clone(&marks);
        async move {
            let i = input.as_u64().expect("index") as usize;
            let called = Instant::now();
            marks.lock().expect("stamps")[i] = (Some(called), Some(Instant::now()));
            Ok(Value::Null)
        }
    });
    let hops = |stamps: &Stamps, samples: &mut Samples| {
        let stamps = stamps.lock().expect("stamps");
        for pair in stamps.windows(2) {
            let (_, Some(done)) = pair[0] else { continue };
            let (Some(next), _) = pair[1] else { continue };
            samples.push(next.saturating_duration_since(done));
        }
    };
    let build = || {
        let mut graph = TaskGraph::new();
        let mut last = None;
        for i in 0..CHAIN {
            let mut task = GraphTask::new(format!("c{i}"), Task::action("stamp", json!(i)));
            if let Some(prev) = last {
                task = task.after(prev);
            }
            last = Some(graph.add(task));
        }
        graph
    };
    // Warm-up, not counted.
    assert!(orch.graphs().run(build()).await.expect("chain").success());
    raw_chain(&stamps).await;
    let (mut ours, mut floor) = (Samples::default(), Samples::default());
    for round in 0..rounds {
        for side in 0..2 {
            if (round + side) % 2 == 0 {
                assert!(orch.graphs().run(build()).await.expect("chain").success());
                hops(&stamps, &mut ours);
            } else {
                raw_chain(&stamps).await;
                hops(&stamps, &mut floor);
            }
        }
    }
    report(
        "chain of 1,000: dependency done -> next started",
        &ours,
        &floor,
        "median < 50 us",
    );
    report_alone("same, ours alone", &ours, "median < 50 us");
}

/// The floor of a hop: each task spawned once the previous one's join
/// handle resolved.
async fn raw_chain(stamps: &Stamps) {
    for i in 0..CHAIN {
        let marks = Arc::clone(stamps);
        tokio::spawn(async move {
            let called = Instant::now();
            marks.lock().expect("stamps")[i] = (Some(called), Some(Instant::now()));
        })
        .await
        .expect("task");
    }
}
