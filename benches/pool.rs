//! Pooled pattern benchmarks, each against a raw floor measured in the same
//! process run:
//!
//! 1. One request through a one-worker pool of `cat` (a trivial echo
//!    worker) vs a raw pipe round trip to a `cat` we spawned ourselves
//!    (write a line, read a line), interleaved sample by sample. Target:
//!    median within 1.3x.
//! 2. Throughput, 8 concurrent callers: a 4-worker pool vs the same with 1
//!    worker (target: at least 100,000 requests/s, and at least 2.5x one
//!    worker), and vs 4 raw pipes driven by one task each.
//! 3. A warm Python worker vs spawning Python per request (through
//!    `orch.run`): the ratio (expect about 2,000x).
//!
//! ```text
//! cargo bench --bench pool
//! ```

mod util;

use std::time::Instant;

use taskorch::{Config, Orchestrator, Pool, PoolSpec, Task};
use util::{RawWorker, Samples, report, us};

const WARMUP: usize = 500;

/// The Python echo worker: one line in, the same line out, flushed.
const PYTHON_ECHO: &str =
    "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)\n    sys.stdout.flush()\n";

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let samples: usize = util::env_or("BENCH_SAMPLES", 5000);
    let orch = Orchestrator::start(Config::default()).await.expect("start");
    println!("taskorch pool benchmarks ({samples} samples for latency)");
    round_trip(&orch, samples).await;
    throughput(&orch, samples * 20).await;
    python(&orch).await;
    orch.shutdown().await.expect("shutdown");
}

async fn round_trip(orch: &Orchestrator, samples: usize) {
    let pool = orch
        .pool(PoolSpec::command("bench-echo", "/bin/cat"))
        .await
        .expect("pool");
    let mut raw = RawWorker::spawn();
    let request = "ping 0123456789";
    for _ in 0..WARMUP {
        raw.round_trip(request).await;
        assert_eq!(pool.request(request).await.unwrap(), request);
    }
    let (mut ours, mut floor) = (
        Samples::with_capacity(samples),
        Samples::with_capacity(samples),
    );
    for i in 0..samples {
        // Alternate which goes first, so neither always runs warmer.
        if i % 2 == 0 {
            floor.time(raw.round_trip(request)).await;
            ours.time(pool.request(request)).await.unwrap();
        } else {
            ours.time(pool.request(request)).await.unwrap();
            floor.time(raw.round_trip(request)).await;
        }
    }
    report(
        "pool.request round trip (cat) vs raw pipe",
        &ours,
        &floor,
        "<= 1.3x",
    );
    pool.close().await.expect("close");
}

/// Requests per second with `callers` tasks sharing `pool`.
async fn pool_rate(pool: &Pool, callers: usize, total: usize) -> f64 {
    let per_caller = total / callers;
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let request = format!("caller {c}");
                for _ in 0..per_caller {
                    assert_eq!(pool.request(request.as_str()).await.unwrap(), request);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (per_caller * callers) as f64 / started.elapsed().as_secs_f64()
}

/// Requests per second over `workers` raw pipes, one task each.
async fn raw_rate(workers: usize, total: usize) -> f64 {
    let per_worker = total / workers;
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            tokio::spawn(async move {
                let mut raw = RawWorker::spawn();
                for _ in 0..per_worker {
                    raw.round_trip("raw").await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (per_worker * workers) as f64 / started.elapsed().as_secs_f64()
}

async fn throughput(orch: &Orchestrator, total: usize) {
    const CALLERS: usize = 8;
    let four = orch
        .pool(PoolSpec::command("bench-four", "/bin/cat").workers(4))
        .await
        .expect("pool");
    let one = orch
        .pool(PoolSpec::command("bench-one", "/bin/cat"))
        .await
        .expect("pool");
    // Warm both, then measure each twice, interleaved, and keep the best
    // run of each (noise on a shared machine only ever slows things down).
    pool_rate(&four, CALLERS, total / 10).await;
    pool_rate(&one, CALLERS, total / 10).await;
    let (mut rate4, mut rate1, mut raw4) = (0f64, 0f64, 0f64);
    for _ in 0..2 {
        rate4 = rate4.max(pool_rate(&four, CALLERS, total).await);
        rate1 = rate1.max(pool_rate(&one, CALLERS, total).await);
        raw4 = raw4.max(raw_rate(4, total).await);
    }
    println!(
        "{:<44} ours {:>9.0} req/s | 1 worker {:>9.0} req/s | ratio {:.2}x  (target >= 100,000 req/s and >= 2.5x)",
        "4 workers, 8 callers",
        rate4,
        rate1,
        rate4 / rate1
    );
    println!(
        "{:<44} ours {:>9.0} req/s | floor {:>9.0} req/s (4 raw pipes, 1 task each) | ratio {:.3}x",
        "4 workers, 8 callers vs raw pipes",
        rate4,
        raw4,
        rate4 / raw4
    );
    four.close().await.expect("close");
    one.close().await.expect("close");
}

async fn python(orch: &Orchestrator) {
    let pool = match orch
        .pool(PoolSpec::command("bench-python", "python3").args(["-u", "-c", PYTHON_ECHO]))
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            println!("python warm vs spawn: skipped ({e})");
            return;
        }
    };
    let task = Task::command("python3")
        .args(["-u", "-c", PYTHON_ECHO])
        .stdin("ping\n");
    let mut warm = Samples::with_capacity(2000);
    let mut spawn = Samples::with_capacity(30);
    for _ in 0..200 {
        pool.request("ping").await.unwrap();
    }
    for _ in 0..2000 {
        assert_eq!(warm.time(pool.request("ping")).await.unwrap(), "ping");
    }
    // Spawning Python costs tens of milliseconds: a few samples suffice.
    orch.run(task.clone()).await.unwrap();
    for _ in 0..30 {
        let out = spawn.time(orch.run(task.clone())).await.unwrap();
        assert_eq!(out.stdout_str(), "ping\n");
    }
    println!(
        "{:<44} warm median {:>11} | spawn median {:>11} | ratio {:.0}x  (expect ~2,000x)",
        "python echo: pool vs spawn-per-request",
        us(warm.median()),
        us(spawn.median()),
        spawn.median().as_secs_f64() / warm.median().as_secs_f64()
    );
    pool.close().await.expect("close");
}
