//! Workflow, event and halt benchmarks, against raw floors measured in the
//! same process run:
//!
//! 1. Per-block overhead: a 1,000-block linear workflow of in-process
//!    no-op blocks (each reads the previous block's output). Per block:
//!    from one block's action returning to the next one's being called
//!    (the graph's hop plus gathering inputs, checking outputs, events).
//!    Floor: the same hop through a bare `tokio::spawn` + await. Targets:
//!    median under 50 us, worst case under 2 ms.
//! 2. Event fan-out: 2,000 no-op runs one after another, with no
//!    subscriber (floor) and with 10 subscribers each draining in its own
//!    task. Target: under 10 % slower.
//! 3. Halt latency: 100 running `sleep 30` processes; from `halt()` to
//!    every run ended (each group got SIGTERM, the leader exited and was
//!    reaped), and how long `halt()` itself took. Target: every group
//!    signalled within 10 ms.
//!
//! ```text
//! cargo bench --bench workflow
//! ```
//! `BENCH_ROUNDS` sets the rounds (default 5).

mod util;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use taskorch::workflow::{Block, BlockType, ValueType, Workflow};
use taskorch::{Config, Orchestrator, RunStatus, Task};
use util::{Samples, report, report_alone};

const BLOCKS: usize = 1_000;
const RUNS: usize = 2_000;
const SUBSCRIBERS: usize = 10;
const PROCESSES: usize = 100;

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!("taskorch workflow benchmarks ({rounds} rounds each, interleaved with the floor)");
    blocks(rounds).await;
    fan_out(rounds).await;
    halt(rounds).await;
}

async fn blocks(rounds: usize) {
    let orch = Orchestrator::start(Config {
        history_limit: 100_000,
        ..Config::default()
    })
    .await
    .expect("start");
    // Each call notes when it was called and when it returned.
    let marks: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let noted = Arc::clone(&marks);
    orch.register_action("noop", move |input: Value| {
        let noted = Arc::clone(&noted);
        async move {
            let called = Instant::now();
            let x = input["inputs"]["x"].as_u64().unwrap_or(0) + 1;
            noted.lock().unwrap().push((called, Instant::now()));
            Ok(json!({ "x": x }))
        }
    });
    orch.workflows().register_block_type(
        "first",
        BlockType::action("noop").output("x", ValueType::Number),
    );
    orch.workflows().register_block_type(
        "next",
        BlockType::action("noop")
            .input("x", ValueType::Number)
            .output("x", ValueType::Number),
    );
    let mut workflow = Workflow {
        id: "chain".into(),
        description: String::new(),
        blocks: Vec::with_capacity(BLOCKS),
    };
    for i in 0..BLOCKS {
        workflow.blocks.push(Block {
            id: format!("b{i}"),
            name: String::new(),
            category: "bench".into(),
            block_type: if i == 0 { "first" } else { "next" }.into(),
            inputs: if i == 0 {
                Default::default()
            } else {
                [("x".to_string(), format!("b{}.x", i - 1))].into()
            },
            outputs: Vec::new(),
            params: Value::Null,
        });
    }
    let (mut ours, mut floor) = (
        Samples::with_capacity(BLOCKS * rounds),
        Samples::with_capacity(BLOCKS * rounds),
    );
    for _ in 0..rounds {
        marks.lock().unwrap().clear();
        let report = orch
            .workflows()
            .run(workflow.clone())
            .await
            .expect("workflow");
        assert!(report.succeeded);
        assert_eq!(
            report.outputs[&format!("b{}", BLOCKS - 1)]["x"],
            json!(BLOCKS)
        );
        let marks = marks.lock().unwrap().clone();
        for pair in marks.windows(2) {
            ours.push(pair[1].0 - pair[0].1);
        }
        // Floor: one task ends, the loop spawns the next.
        let mut last = Instant::now();
        for _ in 0..BLOCKS {
            let called = tokio::spawn(async { Instant::now() }).await.expect("hop");
            floor.push(called - last);
            last = Instant::now();
        }
    }
    report(
        "workflow: per-block hop (1,000-block chain)",
        &ours,
        &floor,
        "median < 50 us",
    );
    report_alone("workflow: per-block hop, worst case", &ours, "max < 2 ms");
    orch.shutdown().await.expect("shutdown");
}

async fn fan_out(rounds: usize) {
    let orch = Orchestrator::start(Config {
        history_limit: 100_000,
        ..Config::default()
    })
    .await
    .expect("start");
    orch.register_action("noop", |_| async { Ok(Value::Null) });
    let (mut alone, mut watched) = (
        Samples::with_capacity(rounds),
        Samples::with_capacity(rounds),
    );
    for _ in 0..rounds {
        alone.push(runs(&orch).await);
        let mut readers = Vec::new();
        for _ in 0..SUBSCRIBERS {
            let mut stream = orch.observe().subscribe();
            readers.push(tokio::spawn(async move {
                let mut seen = 0u64;
                while stream.next().await.is_some() {
                    seen += 1;
                }
                seen
            }));
        }
        watched.push(runs(&orch).await);
        for reader in readers {
            reader.abort();
        }
    }
    let per_run = |s: &Samples| {
        let mut out = Samples::with_capacity(s.len());
        for i in 0..s.len() {
            out.push(s.quantile(i as f64 / (s.len().max(2) - 1) as f64) / RUNS as u32);
        }
        out
    };
    report(
        "events: run with 10 subscribers vs none",
        &per_run(&watched),
        &per_run(&alone),
        "ratio < 1.10x",
    );
    orch.shutdown().await.expect("shutdown");
}

async fn runs(orch: &Orchestrator) -> Duration {
    let start = Instant::now();
    for _ in 0..RUNS {
        orch.run(Task::action("noop", Value::Null))
            .await
            .expect("run");
    }
    start.elapsed()
}

async fn halt(rounds: usize) {
    let orch = Orchestrator::start(Config {
        max_concurrency: PROCESSES * 2,
        kill_grace: Duration::from_secs(2),
        ..Config::default()
    })
    .await
    .expect("start");
    let (mut call, mut ended) = (
        Samples::with_capacity(rounds),
        Samples::with_capacity(rounds),
    );
    for _ in 0..rounds {
        let mut ids = Vec::with_capacity(PROCESSES);
        for _ in 0..PROCESSES {
            ids.push(
                orch.launch(Task::command("sleep").arg("30"))
                    .await
                    .expect("launch"),
            );
        }
        // Every process started (it has a pid) before the halt.
        while !ids.iter().all(|id| {
            orch.observe()
                .find_run(*id)
                .is_some_and(|info| info.status == RunStatus::Running)
        }) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = Instant::now();
        let cancelled = orch.guard().halt("bench");
        call.push(start.elapsed());
        assert_eq!(cancelled, Some(PROCESSES));
        while !ids
            .iter()
            .all(|id| orch.status(*id).is_some_and(|s| s.is_terminal()))
        {
            tokio::task::yield_now().await;
        }
        ended.push(start.elapsed());
        orch.guard().resume();
    }
    report_alone("halt: halt() call, 100 running processes", &call, "-");
    report_alone(
        "halt: to every run ended (SIGTERM + reap)",
        &ended,
        "every group signalled < 10 ms",
    );
    orch.shutdown().await.expect("shutdown");
}
