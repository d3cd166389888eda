//! Concurrent pattern benchmarks, each against a raw floor measured in the
//! same process run, rounds interleaved (and rotated) so both see the same
//! noise:
//!
//! 1. Memory: a batch of 100,000 queued tasks, in resident bytes per task
//!    beyond the tasks themselves (the `Vec<Task>` the caller built).
//!    Measured first, in a fresh process, from `VmRSS`: the real cost,
//!    allocator included. Target: under 1 KiB per task.
//! 2. `run_batch` of 500 x `/bin/true` at limit 8 vs a raw tokio fan-out of
//!    the same commands (`JoinSet` + `Semaphore(8)`, each in its own process
//!    group with both streams captured: `.process_group(0).stdin(null)
//!    .output()`). Target: at least 90 % of the floor's throughput. A
//!    second floor also sets `TASKORCH_RUN_ID`, which every child of ours
//!    gets (setting any variable makes std rebuild the child's whole
//!    environment).
//! 3. `run_batch` of 100,000 no-op in-process actions at limit 64 vs a
//!    64-limited `JoinSet` calling the same function. Target: at least
//!    200,000 actions/s.
//!
//! ```text
//! cargo bench --bench batch
//! ```
//! `BENCH_ROUNDS` sets the rounds per comparison (default 5).

mod util;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use taskorch::batch::BatchSpec;
use taskorch::{Config, Orchestrator, Task};
use tokio::sync::Semaphore;
use util::{Samples, fan_out};

const COMMANDS: usize = 500;
const COMMAND_LIMIT: usize = 8;
const ACTIONS: usize = 100_000;
const ACTION_LIMIT: usize = 64;
const QUEUED: usize = 100_000;

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let rounds: usize = util::env_or("BENCH_ROUNDS", 5);
    let orch = Orchestrator::start(Config::default()).await.expect("start");
    orch.register_action("noop", noop);
    println!(
        "taskorch concurrent-pattern benchmarks ({rounds} rounds each, interleaved with the floor)"
    );
    memory(&orch).await;
    commands(&orch, rounds).await;
    actions(&orch, rounds).await;
    orch.shutdown().await.expect("shutdown");
}

async fn noop(_: Value) -> Result<Value, String> {
    Ok(Value::Null)
}

/// Resident set size of this process, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line");
    kb * 1024
}

async fn memory(orch: &Orchestrator) {
    // Held shut while measuring: the first ACTION_LIMIT tasks run and wait
    // on it, all the others stay queued.
    let gate = Arc::new(Semaphore::new(0));
    let permits = Arc::clone(&gate);
    orch.register_action("hold", move |_| {
        let permits = Arc::clone(&permits);
        async move {
            permits.acquire().await.expect("never closed").forget();
            Ok(Value::Null)
        }
    });
    let base = rss();
    let tasks: Vec<Task> = (0..QUEUED)
        .map(|i| Task::action("hold", json!(i)))
        .collect();
    let with_tasks = rss();
    let mut batch = orch
        .start_batch(BatchSpec::new(tasks, ACTION_LIMIT))
        .await
        .expect("batch");
    while batch.changed().await.running < ACTION_LIMIT {}
    let queued = rss();
    let p = batch.progress();
    assert_eq!(p.queued, QUEUED - ACTION_LIMIT);

    let per_task = (with_tasks.saturating_sub(base)) as f64 / QUEUED as f64;
    let beyond = (queued.saturating_sub(with_tasks)) as f64 / QUEUED as f64;
    println!(
        "{:<44} ours {:>9.0} B/task beyond the tasks | the tasks themselves {:>6.0} B/task  (target < 1024 B; {} queued + {} running, resident memory)",
        "batch of 100,000 queued tasks", beyond, per_task, p.queued, p.running
    );
    gate.add_permits(QUEUED);
    let results = batch.wait().await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|o| o.success()))
    );
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

async fn ours(orch: &Orchestrator, tasks: &[Task], limit: usize) -> Duration {
    let tasks = tasks.to_vec();
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

async fn commands(orch: &Orchestrator, rounds: usize) {
    let tasks = vec![Task::command("/bin/true"); COMMANDS];
    // Warm up: program resolution, the runtime's threads, page cache.
    ours(orch, &tasks[..100], COMMAND_LIMIT).await;
    fan_out(100, COMMAND_LIMIT, || raw_true(false)).await;

    let (mut mine, mut floor, mut floor_env) =
        (Samples::default(), Samples::default(), Samples::default());
    for round in 0..rounds {
        for slot in 0..3 {
            match (round + slot) % 3 {
                0 => floor.push(fan_out(COMMANDS, COMMAND_LIMIT, || raw_true(false)).await),
                1 => floor_env.push(fan_out(COMMANDS, COMMAND_LIMIT, || raw_true(true)).await),
                _ => mine.push(ours(orch, &tasks, COMMAND_LIMIT).await),
            }
        }
    }
    report_rate(
        "500 x /bin/true, limit 8, vs JoinSet+Semaphore",
        COMMANDS,
        &mine,
        &floor,
        ">= 0.90",
    );
    report_rate(
        "same, floor also sets TASKORCH_RUN_ID",
        COMMANDS,
        &mine,
        &floor_env,
        "contract floor",
    );
}

async fn actions(orch: &Orchestrator, rounds: usize) {
    let tasks = vec![Task::action("noop", Value::Null); ACTIONS];
    ours(orch, &tasks[..10_000], ACTION_LIMIT).await;
    let (mut mine, mut floor) = (Samples::default(), Samples::default());
    for round in 0..rounds {
        if round % 2 == 0 {
            floor.push(
                fan_out(ACTIONS, ACTION_LIMIT, || async {
                    noop(Value::Null).await.unwrap();
                })
                .await,
            );
            mine.push(ours(orch, &tasks, ACTION_LIMIT).await);
        } else {
            mine.push(ours(orch, &tasks, ACTION_LIMIT).await);
            floor.push(
                fan_out(ACTIONS, ACTION_LIMIT, || async {
                    noop(Value::Null).await.unwrap();
                })
                .await,
            );
        }
    }
    report_rate(
        "100,000 no-op actions, limit 64, vs JoinSet",
        ACTIONS,
        &mine,
        &floor,
        ">= 200,000/s",
    );
}

/// One line: median throughput of ours and of the floor, and ours as a
/// fraction of the floor (higher is better).
fn report_rate(what: &str, n: usize, ours: &Samples, floor: &Samples, target: &str) {
    let rate = |s: &Samples| n as f64 / s.median().as_secs_f64();
    println!(
        "{what:<44} ours {:>9.0}/s (median of {}) | floor {:>9.0}/s | ours/floor {:.3}  (target {target})",
        rate(ours),
        ours.len(),
        rate(floor),
        rate(ours) / rate(floor),
    );
}
