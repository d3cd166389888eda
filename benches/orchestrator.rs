//! What automatic selection costs: `orch.execute(Request)` against calling
//! the pattern's own method directly, for all six patterns, each beside a
//! raw floor (tokio doing the same work without the orchestrator), all
//! three interleaved sample by sample in the same run so they see the same
//! noise.
//!
//! | pattern | work | direct call | raw floor |
//! |---|---|---|---|
//! | Simple | `/bin/true` | `run` | tokio `Command`, own group, `.output()` |
//! | Simple | no-op action | `run` | `tokio::spawn` of the same future |
//! | LongRunning | `/bin/echo`, every line read, then the output | `stream` | tokio `Command` + `BufReader::lines` |
//! | Concurrent | 8 x `/bin/true`, limit 4 | `run_batch` | `JoinSet` + `Semaphore(4)` |
//! | Concurrent | 64 no-op actions, limit 8 | `run_batch` | `JoinSet` + `Semaphore(8)` |
//! | FireAndForget | `/bin/true`, launch then wait | `launch` + `wait` | `tokio::spawn` of the raw command, awaited |
//! | FireAndForget | no-op action, launch then wait | `launch` + `wait` | `tokio::spawn` of the future, awaited |
//! | Periodic | add an hourly schedule | `schedule` | `tokio::spawn` of an interval loop |
//! | Pooled | one line to a `cat` worker | `Pool::request` | a pipe round trip to our own `cat` |
//!
//! Targets: `execute` within 5 % of the direct call for process work, and
//! under 2 us more for in-process work (median against median).
//!
//! Then, for the comparison matrix in README.md, throughput of each pattern
//! through `execute()` and the memory of an idle pool worker
//! (`orchestrator/throughput.rs`).
//!
//! ```text
//! cargo bench --bench orchestrator
//! ```
//! `BENCH_SAMPLES` sets the samples of the process rows (default 400; the
//! in-process rows take 20x as many).

#[path = "orchestrator/throughput.rs"]
mod throughput;
mod util;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use taskorch::{
    Config, Execution, Orchestrator, Pattern, Pool, PoolSpec, Request, ScheduleSpec, Task, Trigger,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use util::{RawWorker, Samples};

const WARMUP: usize = 50;

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are (see
    // benches/simple.rs).
    tokio::spawn(benches()).await.expect("benchmarks");
}

/// One line of the table.
struct Row {
    pattern: Pattern,
    work: &'static str,
    in_process: bool,
    execute: Samples,
    direct: Samples,
    floor: Samples,
}

/// Time the three variants `n` times each, rotating which goes first so
/// none always runs on a warmer cache. `$i` names the sample index.
macro_rules! interleave {
    ($n:expr, $i:ident, $execute:expr, $direct:expr, $floor:expr) => {{
        for $i in 0..WARMUP.min($n) {
            $execute;
            $direct;
            $floor;
        }
        let (mut execute, mut direct, mut floor) = (
            Samples::with_capacity($n),
            Samples::with_capacity($n),
            Samples::with_capacity($n),
        );
        for $i in 0..$n {
            for slot in 0..3 {
                match ($i + slot) % 3 {
                    0 => {
                        floor
                            .time(async {
                                $floor;
                            })
                            .await
                    }
                    1 => {
                        direct
                            .time(async {
                                $direct;
                            })
                            .await
                    }
                    _ => {
                        execute
                            .time(async {
                                $execute;
                            })
                            .await
                    }
                }
            }
        }
        (execute, direct, floor)
    }};
}

async fn benches() {
    let samples: usize = util::env_or("BENCH_SAMPLES", 400);
    let orch = Orchestrator::start(Config::default()).await.expect("start");
    orch.register_action("noop", |_| noop());
    println!(
        "taskorch execute() overhead ({samples} samples per process row, {} per in-process row, interleaved)",
        samples * 20
    );
    let mut rows = Vec::new();
    rows.push(simple_command(&orch, samples).await);
    rows.push(simple_action(&orch, samples * 20).await);
    rows.push(long_running(&orch, samples).await);
    rows.push(concurrent_commands(&orch, samples).await);
    rows.push(concurrent_actions(&orch, samples * 20).await);
    rows.push(launch_command(&orch, samples).await);
    rows.push(launch_action(&orch, samples * 20).await);
    rows.push(periodic(&orch, samples * 20).await);
    rows.push(pooled(&orch, samples * 20).await);
    print_table(&rows);
    println!();
    throughput::bench(&orch).await;
    orch.shutdown().await.expect("shutdown");
}

async fn noop() -> Result<Value, String> {
    Ok(Value::Null)
}

fn completed(execution: Execution) -> taskorch::Output {
    match execution {
        Execution::Completed(out) => out,
        other => panic!("expected Completed, got {other:?}"),
    }
}

async fn raw_command(program: &str) -> std::process::Output {
    let out = Command::new(program)
        .process_group(0)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("raw spawn");
    assert!(out.status.success());
    out
}

async fn simple_command(orch: &Orchestrator, n: usize) -> Row {
    let task = Task::command("/bin/true");
    let (execute, direct, floor) = interleave!(
        n,
        _i,
        assert!(completed(orch.execute(Request::new(task.clone())).await.unwrap()).success()),
        assert!(orch.run(task.clone()).await.unwrap().success()),
        raw_command("/bin/true").await
    );
    row(Pattern::Simple, "/bin/true", false, execute, direct, floor)
}

async fn simple_action(orch: &Orchestrator, n: usize) -> Row {
    let task = Task::action("noop", json!(null));
    let (execute, direct, floor) = interleave!(
        n,
        _i,
        assert!(completed(orch.execute(Request::new(task.clone())).await.unwrap()).success()),
        assert!(orch.run(task.clone()).await.unwrap().success()),
        tokio::spawn(noop()).await.unwrap().unwrap()
    );
    row(
        Pattern::Simple,
        "no-op action",
        true,
        execute,
        direct,
        floor,
    )
}

/// Read every line of a stream, then its output.
async fn drain(mut stream: taskorch::RunStream) {
    let mut lines = 0;
    while stream.next_line().await.is_some() {
        lines += 1;
    }
    assert_eq!(lines, 1);
    assert!(stream.wait().await.unwrap().success());
}

async fn raw_lines() {
    let mut child = Command::new("/bin/echo")
        .arg("progress 100%")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("raw spawn");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut count = 0;
    while lines.next_line().await.unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, 1);
    assert!(child.wait().await.unwrap().success());
}

async fn long_running(orch: &Orchestrator, n: usize) -> Row {
    let task = Task::command("/bin/echo").arg("progress 100%");
    let (execute, direct, floor) = interleave!(
        n,
        _i,
        match orch
            .execute(Request::new(task.clone()).streaming(true))
            .await
            .unwrap()
        {
            Execution::Streaming(stream) => drain(stream).await,
            other => panic!("expected Streaming, got {other:?}"),
        },
        drain(orch.stream(task.clone()).await.unwrap()).await,
        raw_lines().await
    );
    let work = "/bin/echo, read lines, wait";
    row(Pattern::LongRunning, work, false, execute, direct, floor)
}

fn batch_ok(results: Vec<taskorch::Result<taskorch::Output>>, n: usize) {
    assert_eq!(results.len(), n);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|o| o.success()))
    );
}

/// The samples of a Concurrent row: `tasks`, at most `limit` at once,
/// against a raw fan-out of as many `floor_work` futures.
async fn concurrent<F, Fut>(
    orch: &Orchestrator,
    n: usize,
    tasks: Vec<Task>,
    limit: usize,
    floor_work: F,
) -> (Samples, Samples, Samples)
where
    F: Fn() -> Fut + Copy,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let count = tasks.len();
    interleave!(
        n,
        _i,
        match orch
            .execute(Request::batch_of(tasks.clone(), limit))
            .await
            .unwrap()
        {
            Execution::Batch(results) => batch_ok(results, count),
            other => panic!("expected Batch, got {other:?}"),
        },
        batch_ok(orch.run_batch(tasks.clone(), limit).await, count),
        util::fan_out(count, limit, floor_work).await
    )
}

async fn concurrent_commands(orch: &Orchestrator, n: usize) -> Row {
    let tasks = vec![Task::command("/bin/true"); 8];
    let floor = || async {
        raw_command("/bin/true").await;
    };
    let (execute, direct, floor) = concurrent(orch, n, tasks, 4, floor).await;
    let work = "8 x /bin/true, limit 4";
    row(Pattern::Concurrent, work, false, execute, direct, floor)
}

async fn concurrent_actions(orch: &Orchestrator, n: usize) -> Row {
    let tasks = vec![Task::action("noop", json!(null)); 64];
    let floor = || async {
        noop().await.unwrap();
    };
    let (execute, direct, floor) = concurrent(orch, n, tasks, 8, floor).await;
    let work = "64 no-op actions, limit 8";
    row(Pattern::Concurrent, work, true, execute, direct, floor)
}

/// Launch `task` through `execute()` and wait for it.
async fn execute_launch(orch: &Orchestrator, task: &Task) {
    let request = Request::new(task.clone()).wait(false);
    match orch.execute(request).await.unwrap() {
        Execution::Launched(id) => assert!(orch.wait(id).await.unwrap().success()),
        other => panic!("expected Launched, got {other:?}"),
    }
}

/// Launch `task` with `launch` and wait for it.
async fn direct_launch(orch: &Orchestrator, task: &Task) {
    let id = orch.launch(task.clone()).await.unwrap();
    assert!(orch.wait(id).await.unwrap().success());
}

async fn launch_command(orch: &Orchestrator, n: usize) -> Row {
    let task = Task::command("/bin/true");
    let (execute, direct, floor) = interleave!(
        n,
        _i,
        execute_launch(orch, &task).await,
        direct_launch(orch, &task).await,
        tokio::spawn(raw_command("/bin/true")).await.unwrap()
    );
    let work = "/bin/true, launch + wait";
    row(Pattern::FireAndForget, work, false, execute, direct, floor)
}

async fn launch_action(orch: &Orchestrator, n: usize) -> Row {
    let task = Task::action("noop", json!(null));
    let (execute, direct, floor) = interleave!(
        n,
        _i,
        execute_launch(orch, &task).await,
        direct_launch(orch, &task).await,
        tokio::spawn(noop()).await.unwrap().unwrap()
    );
    let work = "no-op action, launch + wait";
    row(Pattern::FireAndForget, work, true, execute, direct, floor)
}

/// Adding a schedule: only the call is timed; each schedule is removed
/// (and each floor task aborted) outside the timing.
async fn periodic(orch: &Orchestrator, n: usize) -> Row {
    let hourly = Duration::from_secs(3600);
    let task = |kind: &str, i: usize| Task::action("noop", json!(null)).name(format!("{kind}-{i}"));
    let (mut execute, mut direct, mut floor) = (
        Samples::with_capacity(n),
        Samples::with_capacity(n),
        Samples::with_capacity(n),
    );
    for i in 0..WARMUP + n {
        let keep = i >= WARMUP;
        for slot in 0..3 {
            match (i + slot) % 3 {
                0 => {
                    let started = Instant::now();
                    let ticker = tokio::spawn(async move {
                        let mut interval = tokio::time::interval(hourly);
                        interval.tick().await;
                        loop {
                            interval.tick().await;
                            noop().await.unwrap();
                        }
                    });
                    if keep {
                        floor.push(started.elapsed());
                    }
                    ticker.abort();
                }
                1 => {
                    let spec = ScheduleSpec::new(
                        format!("direct-{i}"),
                        Trigger::every(hourly),
                        task("direct", i),
                    );
                    let started = Instant::now();
                    let schedule = orch.schedule(spec).await.unwrap();
                    if keep {
                        direct.push(started.elapsed());
                    }
                    schedule.remove().await.unwrap();
                }
                _ => {
                    let task = task("execute", i);
                    let started = Instant::now();
                    let schedule = match orch.execute(Request::new(task).every(hourly)).await {
                        Ok(Execution::Scheduled(schedule)) => schedule,
                        other => panic!("expected Scheduled, got {other:?}"),
                    };
                    if keep {
                        execute.push(started.elapsed());
                    }
                    schedule.remove().await.unwrap();
                }
            }
        }
    }
    let work = "add an hourly schedule";
    row(Pattern::Periodic, work, true, execute, direct, floor)
}

async fn pooled(orch: &Orchestrator, n: usize) -> Row {
    let pool: Pool = orch
        .pool(PoolSpec::command("bench-echo", "/bin/cat"))
        .await
        .expect("pool");
    let mut raw = RawWorker::spawn();
    let line = "ping 0123456789";
    let task = Task::command("/bin/cat").stdin(line);
    let (execute, direct, floor) = interleave!(
        n,
        _i,
        match orch
            .execute(Request::new(task.clone()).pooled("bench-echo"))
            .await
            .unwrap()
        {
            Execution::Pooled(reply) => assert_eq!(reply, line),
            other => panic!("expected Pooled, got {other:?}"),
        },
        assert_eq!(pool.request(line).await.unwrap(), line),
        raw.round_trip(line).await
    );
    pool.close().await.expect("close");
    let work = "one line to a cat worker";
    row(Pattern::Pooled, work, false, execute, direct, floor)
}

fn row(
    pattern: Pattern,
    work: &'static str,
    in_process: bool,
    execute: Samples,
    direct: Samples,
    floor: Samples,
) -> Row {
    Row {
        pattern,
        work,
        in_process,
        execute,
        direct,
        floor,
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<14} {:<28} {:<10} {:>12} {:>12} {:>12} {:>9} {:>10} {:>9}  target",
        "pattern", "work", "kind", "execute", "direct", "raw floor", "ex/dir", "ex-dir", "ex/floor"
    );
    for r in rows {
        let (e, d, f) = (
            micros(r.execute.median()),
            micros(r.direct.median()),
            micros(r.floor.median()),
        );
        let (kind, target, met) = if r.in_process {
            ("in-proc", "< +2 us", e - d < 2.0)
        } else {
            ("process", "< 1.05x", e / d < 1.05)
        };
        println!(
            "{:<14} {:<28} {:<10} {:>9.2} us {:>9.2} us {:>9.2} us {:>8.3}x {:>+7.2} us {:>8.3}x  {target} {}",
            format!("{:?}", r.pattern),
            r.work,
            kind,
            e,
            d,
            f,
            e / d,
            e - d,
            e / f,
            if met { "ok" } else { "MISSED" }
        );
    }
    println!(
        "(medians; ex/dir = execute() over the pattern's own method; ex/floor = execute() over raw tokio)"
    );
}
