//! The rest of the comparison matrix in README.md, measured through
//! `execute()`: how many units of work per second each pattern sustains
//! with 8 callers (or a limit of 8; for Periodic, how many firings per
//! second 100 fast schedules get), and what a pool worker holds in memory
//! while idle.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::json;
use taskorch::{Execution, Orchestrator, PoolSpec, Request, Task};

const RUNS: usize = 400;
const CALLERS: usize = 8;
const REQUESTS: usize = 20_000;
/// Periodic: this many schedules of the no-op action, each every `TICK`,
/// watched for `WATCH`: 10,000 firings a second are due.
const SCHEDULES: usize = 100;
const TICK: Duration = Duration::from_millis(10);
const WATCH: Duration = Duration::from_secs(2);

/// `total` calls of `call`, spread over `CALLERS` tasks; calls per second.
async fn per_second<F, Fut>(orch: &Orchestrator, total: usize, call: F) -> f64
where
    F: Fn(Orchestrator, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let (orch, call) = (orch.clone(), call.clone());
            tokio::spawn(async move {
                for i in 0..total / CALLERS {
                    call(orch.clone(), c * total + i).await;
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("caller");
    }
    (total / CALLERS * CALLERS) as f64 / started.elapsed().as_secs_f64()
}

fn line(what: &str, rate: f64, unit: &str) {
    println!("{what:<58} {rate:>10.0} {unit}");
}

pub async fn bench(orch: &Orchestrator) {
    println!("throughput through execute() ({CALLERS} callers, or a limit of {CALLERS}):");
    let rate = per_second(orch, RUNS, |orch, _| async move {
        match orch.execute(Request::new(Task::command("/bin/true"))).await {
            Ok(Execution::Completed(out)) => assert!(out.success()),
            other => panic!("{other:?}"),
        }
    })
    .await;
    line("Simple: /bin/true", rate, "runs/s");

    let rate = per_second(orch, RUNS, |orch, _| async move {
        let request = Request::new(Task::command("/bin/echo").arg("line")).streaming(true);
        match orch.execute(request).await {
            Ok(Execution::Streaming(mut stream)) => {
                while stream.next_line().await.is_some() {}
                assert!(stream.wait().await.unwrap().success());
            }
            other => panic!("{other:?}"),
        }
    })
    .await;
    line(
        "LongRunning: /bin/echo, lines read, output waited",
        rate,
        "runs/s",
    );

    let started = Instant::now();
    let request = Request::batch_of(vec![Task::command("/bin/true"); RUNS], CALLERS);
    match orch.execute(request).await {
        Ok(Execution::Batch(results)) => {
            assert!(
                results
                    .iter()
                    .all(|r| r.as_ref().is_ok_and(|o| o.success()))
            )
        }
        other => panic!("{other:?}"),
    }
    let rate = RUNS as f64 / started.elapsed().as_secs_f64();
    line("Concurrent: one batch of /bin/true", rate, "runs/s");

    let rate = per_second(orch, RUNS, |orch, _| async move {
        let request = Request::new(Task::command("/bin/true")).wait(false);
        match orch.execute(request).await {
            Ok(Execution::Launched(id)) => assert!(orch.wait(id).await.unwrap().success()),
            other => panic!("{other:?}"),
        }
    })
    .await;
    line(
        "FireAndForget: /bin/true, launched then waited",
        rate,
        "runs/s",
    );

    let rate = periodic_firings(orch).await;
    let due = SCHEDULES as f64 / TICK.as_secs_f64();
    line(
        &format!("Periodic: {SCHEDULES} schedules x {TICK:?}, no-op action ({due:.0}/s due)"),
        rate,
        "firings/s",
    );

    orch.pool(PoolSpec::command("bench-rate", "/bin/cat").workers(4))
        .await
        .expect("pool");
    let rate = per_second(orch, REQUESTS, |orch, i| async move {
        let line = format!("request {i}");
        let request =
            Request::new(Task::command("/bin/cat").stdin(line.as_str())).pooled("bench-rate");
        match orch.execute(request).await {
            Ok(Execution::Pooled(reply)) => assert_eq!(reply, line),
            other => panic!("{other:?}"),
        }
    })
    .await;
    line("Pooled: 4 cat workers", rate, "requests/s");
    if let Some(pool) = orch.observe().pools().find("bench-rate") {
        pool.close().await.expect("close");
    }

    println!("memory held by an idle pool worker (VmRSS of the process):");
    for (what, spec) in [
        ("cat", PoolSpec::command("rss-cat", "/bin/cat")),
        (
            "python3 echo loop",
            PoolSpec::command("rss-python", "python3").args([
                "-u",
                "-c",
                "import sys\nfor l in sys.stdin:\n    print(l, end='', flush=True)",
            ]),
        ),
    ] {
        match orch.pool(spec).await {
            Ok(pool) => {
                // One answer first, so the worker is fully started.
                pool.request("warm").await.expect("warm-up request");
                let rss: Vec<u64> = pool.worker_pids().into_iter().filter_map(vm_rss).collect();
                let kib = rss.iter().sum::<u64>() / rss.len().max(1) as u64;
                println!("{:<58} {kib:>10} KiB", format!("Pooled: one {what} worker"));
                pool.close().await.expect("close");
            }
            Err(e) => println!("Pooled: one {what} worker: not measured ({e})"),
        }
    }
}

/// Firings per second of `SCHEDULES` schedules added through `execute()`
/// (the `noop` action registered by the caller), counted from each
/// schedule's `runs` over `WATCH` once all are running.
async fn periodic_firings(orch: &Orchestrator) -> f64 {
    let mut schedules = Vec::with_capacity(SCHEDULES);
    for i in 0..SCHEDULES {
        let task = Task::action("noop", json!(null)).name(format!("rate-{i}"));
        match orch.execute(Request::new(task).every(TICK)).await {
            Ok(Execution::Scheduled(schedule)) => schedules.push(schedule),
            other => panic!("expected Scheduled, got {other:?}"),
        }
    }
    let runs =
        |schedules: &[taskorch::Schedule]| -> u64 { schedules.iter().map(|s| s.info().runs).sum() };
    // One period first, so every schedule has its timer on the heap.
    tokio::time::sleep(TICK * 2).await;
    let (before, started) = (runs(&schedules), Instant::now());
    tokio::time::sleep(WATCH).await;
    let rate = (runs(&schedules) - before) as f64 / started.elapsed().as_secs_f64();
    for schedule in schedules {
        schedule.remove().await.expect("remove");
    }
    rate
}

/// Resident memory of `pid` in KiB.
fn vm_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}
