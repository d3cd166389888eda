//! Durable state: run history and resume after a crash.
//!
//! Run it twice. The first run opens a store, launches a few jobs (one of
//! them long), adds a schedule, and then "crashes" (exits without shutting
//! down, leaving the long job's process behind). The second run finds the
//! crash: the long job is `Interrupted` and its process stopped, jobs that
//! were accepted but never started are started again (once), the schedule
//! is back with its counters, and the history of the first run is there.
//!
//! ```text
//! cargo run --release --example durable     # first run: works, then crashes
//! cargo run --release --example durable     # second run: recovers
//! ```
//!
//! The crash tests (`tests/durable_crash.rs`, `tests/durable_graph.rs`)
//! drive the same binary with arguments:
//! `durable <db> <marker> work|drain|hold|graph|graph-action|graph-grow|halt|workflow|queues`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use taskorch::RunQuery;
use taskorch::graph::{GraphTask, TaskGraph};
use taskorch::schedule::CatchUp;
use taskorch::store::StoreConfig;
use taskorch::workflow::{BlockType, ValueType, Workflow};
use taskorch::{Config, Orchestrator, Priority, QueueSpec, RunStatus, ScheduleSpec, Task, Trigger};

#[tokio::main]
async fn main() -> taskorch::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [db, marker, mode] => harness(Path::new(db), Path::new(marker), mode).await,
        _ => demo().await,
    }
}

async fn demo() -> taskorch::Result<()> {
    let path = std::env::temp_dir().join("taskorch-durable-demo.redb");
    println!("store: {}", path.display());
    // One run at a time, so the jobs launched after the long one are still
    // queued when the first run crashes.
    let config = Config {
        max_concurrency: 1,
        ..Config::default().store(&path)
    };
    let orch = Orchestrator::start(config).await?;
    let before = orch.observe().history(&RunQuery::new())?;
    if before.is_empty() {
        println!("empty history: first run");
    } else {
        println!(
            "history from earlier runs ({} runs), newest first:",
            before.len()
        );
        for run in before.iter().take(10) {
            println!("  {} {:<12} {}", run.id, run.status, run.name);
        }
    }
    let schedule = ScheduleSpec::new(
        "heartbeat",
        Trigger::every(Duration::from_millis(500)),
        Task::command("true"),
    )
    .catch_up(CatchUp::Last);
    // Added again on every start: a schedule restored from the store is
    // adopted (same counters), not refused as a duplicate.
    let heartbeat = orch.schedule(schedule).await?;
    println!(
        "schedule heartbeat: {} runs so far, {} missed",
        heartbeat.info().runs,
        heartbeat.info().missed
    );
    if !before.is_empty() {
        // The jobs that were queued at the crash were started again; wait
        // for them.
        for _ in 0..200 {
            let active = orch
                .observe()
                .history(&RunQuery::new().status(RunStatus::Queued))?
                .len()
                + orch
                    .observe()
                    .history(&RunQuery::new().status(RunStatus::Running))?
                    .len();
            if active == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for job in orch.observe().history(&RunQuery::new())? {
            println!("  now {} {:<12} {}", job.id, job.status, job.name);
        }
        for status in [RunStatus::Interrupted, RunStatus::Succeeded] {
            let n = orch
                .observe()
                .history(&RunQuery::new().status(status))?
                .len();
            println!("{n} runs {status}");
        }
        orch.shutdown().await?;
        std::fs::remove_file(&path).ok();
        println!("shut down cleanly; store removed, so the next run starts afresh");
        return Ok(());
    }
    let long = orch
        .launch(Task::command("sleep").arg("60").name("long-export"))
        .await?;
    for i in 0..3 {
        orch.launch(Task::shell(format!("echo job {i}")).name(format!("job-{i}")))
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    println!("long-export {long} is {:?}", orch.status(long));
    for job in orch.observe().history(&RunQuery::new())? {
        println!("  {} {:<12} {}", job.id, job.status, job.name);
    }
    println!("crashing now (no shutdown): run me again");
    std::process::exit(0);
}

/// The crash test's child: see `tests/durable_crash.rs`.
async fn harness(db: &Path, marker: &Path, mode: &str) -> taskorch::Result<()> {
    let hold = mode == "hold" || mode == "halt" || mode == "workflow";
    let orch = Orchestrator::start(Config {
        kill_grace: Duration::from_millis(200),
        shutdown_grace: Duration::from_millis(200),
        max_concurrency: if hold { 1 } else { 4 },
        // A `postgres://` URL (tests/postgres.rs) is a PostgreSQL store.
        ..Config::default().store(db.to_str().map_or_else(|| db.into(), StoreConfig::parse))
    })
    .await?;
    let mark = format!("echo \"$TASKORCH_RUN_ID\" >> '{}'", marker.display());
    let spec = ScheduleSpec::new(
        "tick",
        Trigger::every(Duration::from_millis(40)),
        Task::shell(mark.clone()),
    );
    let mut out = std::io::stdout();
    match mode {
        "work" => {
            orch.schedule(spec).await?;
            // A small graph per start: each task marks its run id (as every
            // run does) and its graph task, so the test can tell that no
            // graph task ran twice across restarts.
            let label = std::process::id();
            let step = |name: &str, pause: u32| {
                let line = format!("G {label}/{name}");
                GraphTask::new(
                    name,
                    Task::shell(format!(
                        "{mark}; echo '{line}' >> '{}'; sleep 0.0{pause}",
                        marker.display()
                    )),
                )
            };
            let mut graph = TaskGraph::new().named(format!("round-{label}"));
            let first = graph.add(step("first", 3));
            let left = graph.add(step("left", 5).after(first));
            let right = graph.add(step("right", 2).after(first));
            graph.add(step("last", 1).depends_on([left, right]));
            orch.graphs().start(graph).await?;
            writeln!(out, "ready").ok();
            for i in 0u64.. {
                let task = Task::shell(format!("{mark}; sleep 0.0{}", 1 + i % 5)).name("job");
                let id = orch.launch(task).await?;
                // Printed only once `launch` returned: the run is accepted
                // and durable, so the test may hold us to it.
                writeln!(out, "launched {id}").ok();
                out.flush().ok();
                tokio::time::sleep(Duration::from_millis(8)).await;
            }
        }
        "hold" => {
            let pids = marker.with_extension("pids");
            let blocker = Task::shell(format!(
                "sleep 60 & echo $! > '{}'; echo $$ >> '{}'; wait",
                pids.display(),
                pids.display()
            ))
            .name("blocker");
            let id = orch.launch(blocker).await?;
            writeln!(out, "blocker {id}").ok();
            for _ in 0..3 {
                let id = orch
                    .launch(Task::shell(mark.clone()).name("waiting"))
                    .await?;
                writeln!(out, "queued {id}").ok();
            }
            // An in-process action: after the restart it waits, queued,
            // until the new process registers the action again.
            orch.register_action("echo", |input| async move { Ok(input) });
            let action = Task::action("echo", serde_json::json!({"n": 1})).name("waiting-action");
            let id = orch.launch(action).await?;
            writeln!(out, "queued-action {id}").ok();
            writeln!(out, "ready").ok();
            out.flush().ok();
            std::future::pending::<()>().await;
        }
        "queues" => queues(&orch).await?,
        "halt" => {
            // Halted with a schedule, a run in flight and runs queued: the
            // crash must not lift the halt.
            orch.schedule(spec).await?;
            let blocker = Task::command("sleep").arg("60").name("blocker");
            writeln!(out, "blocker {}", orch.launch(blocker).await?).ok();
            for _ in 0..2 {
                let id = orch
                    .launch(Task::shell(mark.clone()).name("waiting"))
                    .await?;
                writeln!(out, "queued {id}").ok();
            }
            orch.guard().halt("crash test");
            writeln!(out, "ready").ok();
            out.flush().ok();
            std::future::pending::<()>().await;
        }
        "workflow" => {
            // a, then b (running at the crash, holding the only slot)
            // while c -> d wait.
            register_marking_blocks(&orch, marker);
            let run = orch.workflows().start(marking_workflow()).await?;
            writeln!(out, "workflow {}", run.id()).ok();
            while !std::fs::read_to_string(marker)
                .unwrap_or_default()
                .contains("b\n")
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            writeln!(out, "ready").ok();
            out.flush().ok();
            std::future::pending::<()>().await;
        }
        "graph" | "graph-action" => {
            let step = |name: &str, tail: &str| {
                GraphTask::new(
                    name,
                    Task::shell(format!("echo {name} >> '{}'{tail}", marker.display())),
                )
            };
            // Limit 1: while the Critical `slow` task runs, the others wait
            // (ready or pending) for the crash.
            let graph = if mode == "graph" {
                let mut graph = TaskGraph::new().named("pipeline").limit(1);
                let a = graph.add(step("a", ""));
                let b = graph.add(
                    step("b", "; sleep 60")
                        .after(a)
                        .priority(Priority::Critical),
                );
                graph.add(step("c", "").after(b));
                let d = graph.add(step("d", "").after(a));
                graph.add(step("e", "").after(d));
                graph
            } else {
                orch.register_action("echo", |input| async move { Ok(input) });
                let mut graph = TaskGraph::new().named("actions").limit(1);
                graph.add(step("slow", "; sleep 60").priority(Priority::Critical));
                let q = graph.add(step("q", ""));
                graph.add(
                    GraphTask::new("act", Task::action("echo", serde_json::json!({"n": 2})))
                        .after(q),
                );
                graph
            };
            let run = orch.graphs().start(graph).await?;
            writeln!(out, "graph {}", run.id()).ok();
            writeln!(out, "ready").ok();
            out.flush().ok();
            std::future::pending::<()>().await;
        }
        "graph-grow" => {
            let step = |name: &str, tail: &str| {
                GraphTask::new(
                    name,
                    Task::shell(format!("echo {name} >> '{}'{tail}", marker.display())),
                )
            };
            // What the added task waits for outside its graph: a launched
            // run and a task of another graph, both finished before the
            // crash.
            let pre = orch
                .launch(Task::shell(format!("echo pre >> '{}'", marker.display())))
                .await?;
            orch.wait(pre).await?;
            let mut other = TaskGraph::new().named("other");
            let o = other.add(step("o", ""));
            // Kept: a finished graph's tasks can be named while something
            // holds its handle.
            let other = orch.graphs().start(other).await?;
            other.wait().await;
            // Limit 1: `slow` holds the graph's one slot at the crash, so
            // the task added meanwhile is still waiting.
            let mut graph = TaskGraph::new().named("growing").limit(1);
            let a = graph.add(step("a", ""));
            graph.add(
                step("slow", "; sleep 60")
                    .after(a)
                    .priority(Priority::Critical),
            );
            let run = orch.graphs().start(graph).await?;
            while !std::fs::read_to_string(marker)
                .unwrap_or_default()
                .contains("slow\n")
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let late = GraphTask::new(
                "late",
                Task::shell(format!("echo late >> '{}'", marker.display())).label("grown", "yes"),
            );
            run.add(late.after(a).after(o).after_run(pre)).await?;
            writeln!(out, "ready").ok();
            out.flush().ok();
            std::future::pending::<()>().await;
        }
        _ => {
            // drain: no new ticks; let resumed runs finish, then stop.
            orch.schedule(spec).await?.disable().await?;
            let active = |orch: &Orchestrator| -> taskorch::Result<usize> {
                let q = |s| orch.observe().history(&RunQuery::new().status(s));
                Ok(q(RunStatus::Queued)?.len() + q(RunStatus::Running)?.len())
            };
            let graphs_done = |orch: &Orchestrator| orch.graphs().list().iter().all(|g| g.finished);
            while active(&orch)? > 0 || !graphs_done(&orch) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            orch.shutdown().await?;
            writeln!(out, "drained").ok();
        }
    }
    Ok(())
}

/// The block types of the crash test's workflow. With one execution slot
/// (an action block keeps its slot): `a` (an action) succeeds, then `b`
/// (an action that marks the file and never returns) holds the slot, so
/// `c` and `d` (commands that mark the file) are still waiting at the
/// crash. The test registers `c` and `d` again after the restart
/// (`tests/durable_workflow.rs`).
fn register_marking_blocks(orch: &Orchestrator, marker: &Path) {
    orch.register_action("act", |_| async {
        Ok(serde_json::json!({ "out": "a-done" }))
    });
    let mark = marker.to_path_buf();
    orch.register_action("hang", move |_| {
        let mark = mark.clone();
        async move {
            let line = "b\n";
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&mark)
                .map_err(|e| e.to_string())?;
            file.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
            std::future::pending::<()>().await;
            Ok(serde_json::Value::Null)
        }
    });
    orch.workflows().register_block_type(
        "a",
        BlockType::action("act").output("out", ValueType::String),
    );
    orch.workflows().register_block_type(
        "b",
        BlockType::action("hang")
            .input("x", ValueType::Any)
            .output("out", ValueType::Any),
    );
    for name in ["c", "d"] {
        let script = format!("echo {name} >> '{}'; echo {name}-done", marker.display());
        orch.workflows().register_block_type(
            name,
            BlockType::command("sh", ["-c".to_string(), script])
                .input("x", ValueType::Any)
                .output("out", ValueType::String),
        );
    }
}

/// The crash test's workflow (see [`register_marking_blocks`]).
fn marking_workflow() -> Workflow {
    Workflow::from_json(
        r#"{"id": "crashy", "blocks": [
          {"id": "a", "type": "a"},
          {"id": "b", "type": "b", "inputs": {"x": "a.out"}},
          {"id": "c", "type": "c", "inputs": {"x": "a.out"}},
          {"id": "d", "type": "d", "inputs": {"x": "c.out"}}
        ]}"#,
    )
    .expect("a valid workflow")
}

/// The queue restart test's child (`tests/queue.rs`): a paused queue with
/// three runs of different priorities waiting in it, then the crash.
async fn queues(orch: &Orchestrator) -> taskorch::Result<()> {
    let mut out = std::io::stdout();
    orch.queue(
        QueueSpec::new("reports")
            .concurrency(1)
            .rate(50, Duration::from_secs(1)),
    )
    .await?;
    orch.pause_queue("reports").await?;
    // Never called here (the queue is paused); after the restart the test
    // registers its own, which notes the order the runs start in.
    orch.register_action("note", |input| async move { Ok(input) });
    for priority in [Priority::Low, Priority::High, Priority::Normal] {
        let task = Task::action("note", serde_json::json!(priority.as_str()))
            .priority(priority)
            .queue("reports");
        let id = orch.launch(task).await?;
        writeln!(out, "queued {priority} {id}").ok();
    }
    writeln!(out, "ready").ok();
    out.flush().ok();
    std::future::pending::<()>().await;
    Ok(())
}
