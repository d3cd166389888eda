//! Supervised services, each figure beside a raw floor measured in the
//! same process run where one exists:
//!
//! 1. Crash -> restarted and ready (ready = process started): SIGKILL the
//!    service's process, time until the `ServiceReady` event of the new
//!    incarnation; floor: a raw respawn loop of the same program (tokio
//!    `Command` in its own process group: kill, reap, spawn again),
//!    interleaved sample by sample. Every restart is immediate here (a
//!    1 ns window: each restart is the first of its window), so the
//!    target is within 1.2x with no backoff to add.
//! 2. CPU of a service that crash-loops (`/bin/false`) until its
//!    intensity trips (10 restarts in 60 s, default backoff): our
//!    process's CPU time (from `/proc/self/stat`) and wall time until
//!    `Failed`, events and runs it produced (no busy loop, no flood).
//! 3. Memory per idle supervised service, counted by the allocator
//!    (`stats_alloc`): 1,000 in-process services that wait for ever, and
//!    100 `sleep` command services (beyond the child process: what our
//!    process holds for each). Target < 4 KiB.
//!
//! ```text
//! cargo bench --bench services --all-features
//! ```

mod util;

use std::process::Stdio;
use std::time::{Duration, Instant};

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use taskorch::events::{EventBody, EventItem};
use taskorch::{Backoff, Config, Orchestrator, ServiceSpec, ServiceState};
use tokio::process::Command;
use util::{Samples, report};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const WARMUP: usize = 20;

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let samples: usize = util::env_or("BENCH_SAMPLES", 300);
    let orch = Orchestrator::start(Config::default()).await.expect("start");
    println!("taskorch service benchmarks ({samples} samples for latency)");
    restart_latency(&orch, samples).await;
    crash_loop_cpu(&orch).await;
    memory(&orch).await;
    orch.shutdown().await.expect("shutdown");
}

async fn restart_latency(orch: &Orchestrator, samples: usize) {
    let svc = orch
        .supervise(
            ServiceSpec::command("bench-sleep", "/bin/sleep")
                .args(["1000"])
                // Each restart is the first of its window: immediate.
                .intensity(u32::MAX, Duration::from_nanos(1))
                .backoff(Backoff::none()),
        )
        .await
        .expect("supervise");
    svc.wait_ready().await.expect("ready");
    let mut events = orch.observe().subscribe();
    let mut raw = spawn_raw();
    let (mut ours, mut floor) = (
        Samples::with_capacity(samples),
        Samples::with_capacity(samples),
    );
    for i in 0..WARMUP + samples {
        // Ours: kill, then the next ServiceReady of this service.
        let pid = svc.status().pid.expect("a running incarnation");
        let started = Instant::now();
        taskorch::process::kill_pid(pid);
        loop {
            match events.next().await.expect("event stream") {
                EventItem::Event(e) => {
                    if let EventBody::ServiceReady { service, .. } = e.body
                        && service == "bench-sleep"
                    {
                        break;
                    }
                }
                EventItem::Lagged(_) => {}
            }
        }
        let took = started.elapsed();
        // Ready is published as the pid is recorded; both are there now.
        assert_eq!(svc.status().state, ServiceState::Ready);
        // The floor: the same program, killed, reaped and spawned again.
        let started = Instant::now();
        let _ = raw.start_kill();
        let _ = raw.wait().await;
        raw = spawn_raw();
        let raw_took = started.elapsed();
        if i >= WARMUP {
            ours.push(took);
            floor.push(raw_took);
        }
    }
    let _ = raw.start_kill();
    let _ = raw.wait().await;
    report(
        "crash -> restarted and ready (sleep)",
        &ours,
        &floor,
        "within 1.2x + backoff (0 here)",
    );
    println!(
        "{:<44} ours p99 {:.2} us vs floor p99 {:.2} us",
        "",
        ours.p99().as_secs_f64() * 1e6,
        floor.p99().as_secs_f64() * 1e6
    );
    orch.observe()
        .services()
        .remove("bench-sleep")
        .await
        .expect("remove");
}

fn spawn_raw() -> tokio::process::Child {
    Command::new("/bin/sleep")
        .arg("1000")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sleep")
}

/// CPU time of this process so far (user + system), from
/// `/proc/self/stat` (clock ticks of 10 ms: Linux's USER_HZ is 100).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ")".
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13
    // after the state field that follows ")".
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

async fn crash_loop_cpu(orch: &Orchestrator) {
    let mut events = orch.observe().subscribe();
    let cpu = cpu_time();
    let started = Instant::now();
    let svc = orch
        .supervise(
            ServiceSpec::command("bench-crash", "/bin/false")
                .intensity(10, Duration::from_secs(60)),
        )
        .await
        .expect("supervise");
    let _ = svc.wait_ready().await;
    while svc.status().state != ServiceState::Failed {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let wall = started.elapsed();
    let used = cpu_time().saturating_sub(cpu);
    let mut count = 0;
    while let Some(item) = events.try_next() {
        if matches!(item, EventItem::Event(_)) {
            count += 1;
        }
    }
    println!(
        "{:<44} {:>8.1} ms CPU over {:>8.1} ms wall ({:.1} % of one core), {} restarts, {} events  (target: no busy loop)",
        "crash loop until the intensity trips",
        used.as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3,
        100.0 * used.as_secs_f64() / wall.as_secs_f64(),
        svc.status().restarts,
        count
    );
    orch.observe()
        .services()
        .remove("bench-crash")
        .await
        .expect("remove");
}

async fn memory(orch: &Orchestrator) {
    const ACTIONS: usize = 1000;
    let region = Region::new(GLOBAL);
    let mut handles = Vec::with_capacity(ACTIONS);
    for i in 0..ACTIONS {
        let spec = ServiceSpec::action(format!("idle-{i:04}"), std::future::pending);
        handles.push(orch.supervise(spec).await.expect("supervise"));
    }
    for h in &handles {
        h.wait_ready().await.expect("ready");
    }
    drop(handles);
    let change = region.change();
    let held = change.bytes_allocated as f64 - change.bytes_deallocated as f64;
    println!(
        "{:<44} {:>8.0} B per service  (target < 4096 B; {ACTIONS} in-process services)",
        "memory per idle service",
        held / ACTIONS as f64
    );
    const COMMANDS: usize = 100;
    let region = Region::new(GLOBAL);
    let mut handles = Vec::with_capacity(COMMANDS);
    for i in 0..COMMANDS {
        let spec = ServiceSpec::command(format!("idle-sleep-{i:03}"), "/bin/sleep").args(["1000"]);
        handles.push(orch.supervise(spec).await.expect("supervise"));
    }
    for h in &handles {
        h.wait_ready().await.expect("ready");
    }
    drop(handles);
    let change = region.change();
    let held = change.bytes_allocated as f64 - change.bytes_deallocated as f64;
    println!(
        "{:<44} {:>8.0} B per service  (target < 4096 B beyond the child; {COMMANDS} `sleep` services)",
        "memory per idle command service",
        held / COMMANDS as f64
    );
}
