//! Periodic pattern benchmarks, each beside a raw floor measured in the same
//! process run:
//!
//! 1. Start lateness at a 10 ms interval over 1,000 ticks: from each tick's
//!    exact time to the moment its in-process action starts, vs the
//!    lateness of a raw `tokio::time::interval(10ms)` running at the same
//!    time (half a period out of phase). Targets: median under 1 ms, p99
//!    under 3 ms.
//! 2. Memory per schedule with 10,000 schedules registered (interval; one
//!    shared cron expression; 10,000 distinct cron expressions), counted by
//!    an instrumented allocator. Target: under 1 KiB each.
//! 3. Tick cost with 10,000 schedules: the same lateness measure for one
//!    10 ms schedule while 10,000 others wait on the heap, vs the same
//!    schedule alone (a scan of all schedules per tick would show here); and
//!    the timing heap's pop + push at 10,000 entries vs a raw `BinaryHeap`
//!    and vs itself at 100 entries (O(log n): a small ratio).
//!
//! ```text
//! cargo bench --bench schedule
//! ```

mod util;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use taskorch::{Config, Orchestrator, ScheduleSpec, Task, Trigger};
use taskorch_actors::scheduler::TimerHeap;
use util::{Samples, report, report_alone};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const PERIOD: Duration = Duration::from_millis(10);
const WARMUP_TICKS: u64 = 20;

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let ticks: u64 = util::env_or("BENCH_TICKS", 1000);
    println!("taskorch periodic-pattern benchmarks ({ticks} ticks at {PERIOD:?})");
    let alone = lateness(ticks).await;
    memory().await;
    tick_cost(ticks / 3, &alone).await;
    heap_cost();
}

/// An orchestrator with a `stamp` action that records when each run starts.
async fn stamping() -> (Orchestrator, Arc<Mutex<Vec<Instant>>>) {
    let orch = Orchestrator::start(Config::default()).await.expect("start");
    let stamps = Arc::new(Mutex::new(Vec::with_capacity(4096)));
    let held = Arc::clone(&stamps);
    orch.register_action("stamp", move |_| {
        held.lock().expect("stamps").push(Instant::now());
        async { Ok(json!(null)) }
    });
    (orch, stamps)
}

/// Lateness of each stamp against the 10 ms grid anchored at `t0` (taken
/// just before the schedule was added, so the hop that adds it counts
/// against us).
fn lateness_of(stamps: &[Instant], t0: Instant) -> Samples {
    let mut samples = Samples::with_capacity(stamps.len());
    for stamp in stamps {
        let since = stamp.duration_since(t0);
        let k = since.as_nanos() / PERIOD.as_nanos();
        if (k as u64) < WARMUP_TICKS {
            continue;
        }
        samples.push(since - PERIOD * k as u32);
    }
    samples
}

async fn run_probe(orch: &Orchestrator, stamps: &Mutex<Vec<Instant>>, ticks: u64) -> Samples {
    stamps.lock().expect("stamps").clear();
    let t0 = Instant::now();
    let probe = orch
        .schedule(ScheduleSpec::new(
            "probe",
            Trigger::every(PERIOD),
            Task::action("stamp", json!(null)),
        ))
        .await
        .expect("schedule");
    tokio::time::sleep(PERIOD * (ticks + WARMUP_TICKS + 1) as u32).await;
    probe.remove().await.expect("remove");
    let missed = probe.info().missed;
    if missed > 0 {
        println!("  ({missed} ticks missed under load)");
    }
    lateness_of(&stamps.lock().expect("stamps"), t0)
}

async fn lateness(ticks: u64) -> Samples {
    let (orch, stamps) = stamping().await;
    // The floor runs alongside, half a period out of phase, so both see the
    // same machine load without waking at the same instant.
    let floor = tokio::spawn(async move {
        let start = tokio::time::Instant::now() + PERIOD / 2;
        let mut interval = tokio::time::interval_at(start, PERIOD);
        let mut samples = Samples::with_capacity(ticks as usize);
        for k in 0..ticks + WARMUP_TICKS {
            let due = interval.tick().await;
            if k >= WARMUP_TICKS {
                samples.push(tokio::time::Instant::now().duration_since(due));
            }
        }
        samples
    });
    let ours = run_probe(&orch, &stamps, ticks).await;
    let floor = floor.await.expect("floor");
    report(
        "start lateness, 10 ms interval",
        &ours,
        &floor,
        "median < 1 ms, p99 < 3 ms",
    );
    println!(
        "  ours max {} | floor max {} ({} ticks)",
        util::us(ours.max()),
        util::us(floor.max()),
        ours.len()
    );
    orch.shutdown().await.expect("shutdown");
    ours
}

async fn memory() {
    const N: usize = 10_000;
    let orch = Orchestrator::start(Config::default()).await.expect("start");
    orch.register_action("noop", |_| async { Ok(json!(null)) });
    type MakeTrigger = fn(usize) -> Trigger;
    let kinds: [(&str, MakeTrigger); 3] = [
        ("interval", |i| {
            Trigger::every(Duration::from_secs(3600 + i as u64))
        }),
        ("cron, one shared expression", |_| {
            Trigger::cron("0 30 3 * * *").expect("cron")
        }),
        ("cron, 10,000 distinct expressions", |i| {
            Trigger::cron(format!("{} {} {} * * *", i % 60, (i / 60) % 60, i / 3600)).expect("cron")
        }),
    ];
    for (kind, trigger) in kinds {
        // Everything the caller builds (names, triggers, tasks) counts too:
        // it is handed over and held for the schedule's life.
        let region = Region::new(GLOBAL);
        let mut handles = Vec::with_capacity(N);
        for i in 0..N {
            let spec = ScheduleSpec::new(
                format!("{kind}-{i:05}"),
                trigger(i),
                Task::action("noop", json!(null)),
            );
            handles.push(orch.schedule(spec).await.expect("schedule"));
        }
        // The handles are the caller's; dropping them keeps the schedules.
        drop(handles);
        let change = region.change();
        let held = change.bytes_allocated as f64 - change.bytes_deallocated as f64;
        println!(
            "{:<44} {:>8.0} B per schedule  (target < 1024 B; {N} schedules, {kind})",
            "memory per schedule",
            held / N as f64
        );
        for s in orch.observe().schedules().list() {
            s.remove().await.expect("remove");
        }
    }
    orch.shutdown().await.expect("shutdown");
}

async fn tick_cost(ticks: u64, alone: &Samples) {
    let (orch, stamps) = stamping().await;
    orch.register_action("noop", |_| async { Ok(json!(null)) });
    for i in 0..10_000u64 {
        orch.schedule(ScheduleSpec::new(
            format!("idle-{i:05}"),
            Trigger::every(Duration::from_secs(3600) + Duration::from_millis(i)),
            Task::action("noop", json!(null)),
        ))
        .await
        .expect("schedule");
    }
    let crowded = run_probe(&orch, &stamps, ticks).await;
    report(
        "lateness with 10,000 schedules vs alone",
        &crowded,
        alone,
        "ratio ~1: no scan per tick",
    );
    orch.shutdown().await.expect("shutdown");
}

/// One scheduler tick's heap work: pop the due item, push its next time.
fn heap_cost() {
    fn ours(n: usize, rounds: usize) -> Samples {
        let base = Instant::now();
        let payload = Arc::new(());
        let mut heap = TimerHeap::new();
        for i in 0..n {
            heap.push(
                base + Duration::from_nanos(i as u64 * 7919 % 1_000_003),
                (i as u64, Arc::clone(&payload)),
            );
        }
        let far = base + Duration::from_secs(3600);
        let mut samples = Samples::with_capacity(rounds);
        for r in 0..rounds {
            let start = Instant::now();
            for _ in 0..100 {
                let (at, item) = heap.pop_due(far).expect("due");
                heap.push(at + Duration::from_micros(1000 + r as u64 % 7), item);
            }
            samples.push(start.elapsed() / 100);
        }
        samples
    }
    fn raw(n: usize, rounds: usize) -> Samples {
        let base = Instant::now();
        let mut heap = BinaryHeap::new();
        for i in 0..n {
            heap.push(Reverse((
                base + Duration::from_nanos(i as u64 * 7919 % 1_000_003),
                i as u64,
            )));
        }
        let mut samples = Samples::with_capacity(rounds);
        for r in 0..rounds {
            let start = Instant::now();
            for _ in 0..100 {
                let Reverse((at, i)) = heap.pop().expect("due");
                heap.push(Reverse((
                    at + Duration::from_micros(1000 + r as u64 % 7),
                    i,
                )));
            }
            samples.push(start.elapsed() / 100);
        }
        samples
    }
    let rounds = 2000;
    let (big, small, floor) = (ours(10_000, rounds), ours(100, rounds), raw(10_000, rounds));
    report(
        "heap pop+push, 10,000 entries vs raw BinaryHeap",
        &big,
        &floor,
        "O(log n)",
    );
    report(
        "heap pop+push, 10,000 vs 100 entries",
        &big,
        &small,
        "~log(10,000)/log(100) = 2x, not 100x",
    );
    report_alone("heap pop+push, 10,000 entries", &big, "O(log n)");
}
