//! Caller's keys and labels, each against a floor measured in the same
//! process run:
//!
//! 1. Keyed submit: `orch.launch` of a task with a fresh key (the dedup
//!    check under the key lock, then an ordinary launch) vs the same
//!    launch without a key, interleaved sample by sample; each sample
//!    waits for its run to end outside the timing. Target: keyed median at
//!    most 1.2x the unkeyed one. Also printed: a launch whose key names a
//!    live run (answered from the index, nothing started).
//! 2. Label query in memory: 100,000 finished runs with 3 labels each
//!    (`bot` = one of 1,000, `desk` one of 3, `strategy` one of 7);
//!    `RunQuery::label("bot", ..)` (100 runs) vs the same selection by a
//!    full scan (`RunQuery::name`, names spread alike). Target: under
//!    10 ms.
//! 3. Label query in the store: the same 100,000 runs journaled to a
//!    store; `Store::history` by label (the `labels` index) vs by name (a
//!    scan of the runs table). Target: under 10 ms.
//!
//! ```text
//! cargo bench --bench keys
//! BENCH_SAMPLES=500 BENCH_RUNS=20000 cargo bench --bench keys   (quicker)
//! ```

mod util;

use std::time::{Duration, Instant};

use futures::FutureExt;
use taskorch::{Config, Orchestrator, Pattern, RunQuery, Task};
use taskorch_actors::registry::{Admission, Journal};
use taskorch_actors::{Registry, Retention, Store, StoreLimits};
use util::{Samples, report, report_alone};

const WARMUP: usize = 100;

#[tokio::main]
async fn main() {
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let samples: usize = util::env_or("BENCH_SAMPLES", 2000);
    let runs: usize = util::env_or("BENCH_RUNS", 100_000);
    println!("taskorch keys and labels benchmarks ({samples} samples, {runs} labelled runs)");
    keyed_launch(samples).await;
    labels_in_memory(runs);
    labels_in_store(runs).await;
}

async fn keyed_launch(samples: usize) {
    let orch = Orchestrator::start(Config::default()).await.expect("start");
    let plain = Task::command("/bin/true");
    // Built before timing: the key's allocation is the caller's.
    let keyed: Vec<Task> = (0..samples + WARMUP)
        .map(|i| Task::command("/bin/true").key(format!("bench-key-{i}")))
        .collect();
    let (mut ours, mut floor, mut hit) = (
        Samples::with_capacity(samples),
        Samples::with_capacity(samples),
        Samples::with_capacity(samples),
    );
    for (i, task) in keyed.into_iter().enumerate() {
        let again = task.clone();
        let start = Instant::now();
        let id = orch.launch(task).await.expect("keyed launch");
        let took = start.elapsed();
        // The key is live now: this launch is answered by the index.
        let start = Instant::now();
        let same = orch.launch(again).await.expect("dedup launch");
        let dedup = start.elapsed();
        assert_eq!(same, id);
        orch.wait(id).await.expect("wait");

        let start = Instant::now();
        let other = orch.launch(plain.clone()).await.expect("launch");
        let raw = start.elapsed();
        orch.wait(other).await.expect("wait");
        if i >= WARMUP {
            ours.push(took);
            floor.push(raw);
            hit.push(dedup);
        }
    }
    report(
        "launch with a fresh key vs without a key",
        &ours,
        &floor,
        "ratio <= 1.2x",
    );
    report_alone(
        "launch whose key names a live run",
        &hit,
        "no target (nothing is started)",
    );
    orch.shutdown().await.expect("shutdown");
}

/// The task of run `i`: 3 labels, and a name spread like its `bot`.
fn labelled(i: usize) -> (String, Task) {
    let name = format!("n-{}", i % 1000);
    let task = Task::command("true")
        .label("bot", format!("b-{}", i % 1000))
        .label("desk", format!("d-{}", i % 3))
        .label("strategy", format!("s-{}", i % 7));
    (name, task)
}

fn labels_in_memory(n: usize) {
    let registry = Registry::new(Retention {
        history_limit: n,
        ..Retention::default()
    });
    for i in 0..n {
        let (name, task) = labelled(i);
        let run = registry.admit(Admission::new(name, Pattern::FireAndForget).job(task.job()));
        run.start().expect("queued -> running");
        registry
            .finish(&run, Ok(util::empty_output(run.id())))
            .now_or_never()
            .expect("no store: nothing to wait for")
            .expect("running -> succeeded");
    }
    let (mut ours, mut floor) = (Samples::default(), Samples::default());
    for k in 0..50 {
        let bot = format!("b-{}", (k * 37) % 1000);
        let name = format!("n-{}", (k * 37) % 1000);
        let start = Instant::now();
        let found = registry.query(&RunQuery::new().label("bot", bot)).len();
        ours.push(start.elapsed());
        let start = Instant::now();
        let scanned = registry.query(&RunQuery::new().name(name)).len();
        floor.push(start.elapsed());
        assert_eq!(found, scanned);
    }
    report(
        "label query, 100,000 runs x 3 labels, memory",
        &ours,
        &floor,
        "< 10 ms; floor: the same runs by a full scan",
    );
}

async fn labels_in_store(n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = StoreLimits {
        history_limit: n,
        output_budget: 64 << 20,
        kill_grace: Duration::from_secs(1),
    };
    let (store, _) = Store::open(dir.path().join("bench.redb"), limits).expect("open store");
    {
        let registry = Registry::with_store(
            Retention {
                history_limit: n,
                ..Retention::default()
            },
            store.clone(),
        );
        // Finished many at a time: the store's group commit writes each
        // batch in one transaction.
        for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
            let records: Vec<_> = chunk
                .iter()
                .map(|&i| {
                    let (name, task) = labelled(i);
                    let run = registry.admit(
                        Admission::new(name, Pattern::FireAndForget)
                            .journal(Journal::Record)
                            .job(task.job()),
                    );
                    run.start().expect("queued -> running");
                    run
                })
                .collect();
            futures::future::join_all(
                records
                    .iter()
                    .map(|run| registry.finish(run, Ok(util::empty_output(run.id())))),
            )
            .await;
        }
    }
    let (mut ours, mut floor) = (Samples::default(), Samples::default());
    for k in 0..50 {
        let bot = format!("b-{}", (k * 37) % 1000);
        let name = format!("n-{}", (k * 37) % 1000);
        let start = Instant::now();
        let found = store
            .history(&RunQuery::new().label("bot", bot))
            .expect("history")
            .len();
        ours.push(start.elapsed());
        let start = Instant::now();
        let scanned = store
            .history(&RunQuery::new().name(name))
            .expect("history")
            .len();
        floor.push(start.elapsed());
        assert_eq!(found, scanned);
    }
    report(
        "label query, 100,000 runs x 3 labels, store",
        &ours,
        &floor,
        "< 10 ms; floor: the same runs by a scan of the table",
    );
    store.close();
}
