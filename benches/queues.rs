//! Named queues and priorities, each against its target or a floor
//! measured in the same process run:
//!
//! 1. Rate limit: 12,000 no-op action runs sent (`run_batch`, 256 in flight)
//!    to a queue declared with `rate(1000, 1s)`, under a global cap of 64.
//!    Every start is stamped; after the bucket's initial burst (at most
//!    1,000 starts at once), the starts in the next 10 s are counted.
//!    Target: 1,000 starts/s ± 2 %.
//! 2. Priority inversion: a cap of 4 slots busy with a flood of 400 `Low`
//!    runs of 20 ms each (one slot turnover: at most 20 ms until a slot
//!    frees). A `High` run is then submitted, 20 times, one after the other:
//!    the time from its submit to its start, against one slot turnover
//!    (target: within it) and against the floor, a `Low` newcomer
//!    submitted the same way, which waits its turn behind the flood (what
//!    every run waited before priorities covered all work).
//!
//! ```text
//! cargo bench --bench queues --all-features
//! ```

mod util;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use taskorch::{Config, Orchestrator, Priority, QueueSpec, Task};
use tokio::sync::mpsc;
use util::{Samples, us};

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    println!("taskorch queue benchmarks");
    rate().await;
    inversion().await;
}

async fn rate() {
    let orch = Orchestrator::start(Config {
        max_concurrency: 64,
        ..Config::default()
    })
    .await
    .expect("start");
    orch.queue(QueueSpec::new("limited").rate(1000, Duration::from_secs(1)))
        .await
        .expect("declare");
    let starts = Arc::new(Mutex::new(Vec::with_capacity(12_000)));
    let stamps = Arc::clone(&starts);
    orch.register_action("stamp", move |_| {
        let stamps = Arc::clone(&stamps);
        async move {
            stamps.lock().expect("stamps").push(Instant::now());
            Ok(json!(null))
        }
    });
    let tasks = (0..12_000)
        .map(|_| Task::action("stamp", json!(null)).queue("limited"))
        .collect();
    let results = orch.run_batch(tasks, 256).await;
    assert!(results.iter().all(|r| r.is_ok()), "every run starts");
    let mut starts = starts.lock().expect("stamps").clone();
    starts.sort();
    let first = starts[0];
    // The burst: everything within the first 100 ms (the bucket starts
    // full); the steady rate is counted from the end of that window.
    let from = first + Duration::from_millis(100);
    let to = from + Duration::from_secs(10);
    let burst = starts.iter().filter(|&&t| t < from).count();
    let steady = starts.iter().filter(|&&t| t >= from && t < to).count();
    let measured = steady as f64 / 10.0;
    println!(
        "rate limit 1,000/s over 10 s: {measured:.1} starts/s (target 1,000 ± 2 %: ratio {:.3}; \
         initial burst {burst}, at most 1,000 + 100)",
        measured / 1000.0
    );
    orch.shutdown().await.expect("shutdown");
}

async fn inversion() {
    const TURNOVER: Duration = Duration::from_millis(20);
    let orch = Orchestrator::start(Config {
        max_concurrency: 4,
        ..Config::default()
    })
    .await
    .expect("start");
    orch.register_action("work", |_| async {
        tokio::time::sleep(TURNOVER).await;
        Ok(json!(null))
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    orch.register_action("started", move |_| {
        let _ = tx.send(Instant::now());
        async { Ok(json!(null)) }
    });
    let flood = |orch: &Orchestrator| {
        let orch = orch.clone();
        let tasks = (0..400)
            .map(|_| Task::action("work", json!(null)).priority(Priority::Low))
            .collect();
        tokio::spawn(async move { orch.run_batch(tasks, 400).await })
    };
    let mut high = Samples::with_capacity(20);
    let flooding = flood(&orch);
    // The flood is queued and running.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..20 {
        let submitted = Instant::now();
        let id = orch
            .launch(Task::action("started", json!(null)).priority(Priority::High))
            .await
            .expect("launch");
        let started = rx.recv().await.expect("started");
        high.push(started - submitted);
        orch.wait(id).await.expect("high run");
    }
    // The floor: a Low newcomer behind the same flood (a fresh one: the
    // first has thinned out).
    flooding.await.expect("flood");
    let flooding = flood(&orch);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let submitted = Instant::now();
    let id = orch
        .launch(Task::action("started", json!(null)).priority(Priority::Low))
        .await
        .expect("launch");
    let started = rx.recv().await.expect("started");
    let low = started - submitted;
    orch.wait(id).await.expect("low run");
    flooding.await.expect("flood");
    println!(
        "priority inversion, cap 4, flood of 400 Low x {} ms: High starts after median {} / max {} \
         (target: within one slot turnover, {}); a Low newcomer (FIFO floor) after {} \
         (ratio {:.4})",
        TURNOVER.as_millis(),
        us(high.median()),
        us(high.max()),
        us(TURNOVER),
        us(low),
        high.max().as_secs_f64() / low.as_secs_f64()
    );
    orch.shutdown().await.expect("shutdown");
}
