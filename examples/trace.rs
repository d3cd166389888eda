//! The message trace: run a mixed workload through every pattern, then
//! write what the actors did as a Chrome trace (open it in
//! <https://ui.perfetto.dev> or `chrome://tracing`) and as JSON lines, and
//! print a summary: events per actor, queue time vs handling time, and one
//! run followed from its request to its end.
//!
//! ```text
//! cargo run --release --example trace [-- taskorch-trace.json]
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use serde_json::json;
use taskorch::trace::{EventKind, TraceEvent};
use taskorch::{Config, Orchestrator, PoolSpec, ScheduleSpec, Task, Trigger};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "taskorch-trace.json".to_string());
    let orch = Orchestrator::start(Config::default()).await?;
    orch.register_action("resize", |input| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(json!({ "resized": input }))
    });

    // Periodic: a heartbeat every 50 ms while the rest runs.
    let heartbeat = orch
        .schedule(ScheduleSpec::new(
            "heartbeat",
            Trigger::every(Duration::from_millis(50)),
            Task::shell("true"),
        ))
        .await?;
    // Pooled: two warm `cat` workers.
    let pool = orch
        .pool(PoolSpec::command("echo", "cat").workers(2))
        .await?;

    let simple = orch.run(Task::shell("echo hello; sleep 0.05"));
    let streamed = async {
        let mut stream = orch
            .stream(Task::shell(
                "for i in 1 2 3; do echo step $i; sleep 0.03; done",
            ))
            .await?;
        while stream.next_line().await.is_some() {}
        stream.wait().await
    };
    // Concurrent: 24 in-process actions and 6 commands, 4 at a time.
    let mut tasks: Vec<Task> = (0..24)
        .map(|i| Task::action("resize", json!(i)).name(format!("resize-{i}")))
        .collect();
    tasks.extend((0..6).map(|i| Task::shell(format!("sleep 0.0{i}")).name(format!("sleep-{i}"))));
    let batch = orch.run_batch(tasks, 4);
    let requests = async {
        for n in 0..50 {
            pool.request(format!("request {n}")).await?;
        }
        Ok::<_, taskorch::Error>(())
    };
    let (simple, streamed, batch, requests) = tokio::join!(simple, streamed, batch, requests);
    let simple = simple?;
    streamed?;
    requests?;
    println!(
        "batch: {} of {} succeeded",
        batch.iter().filter(|r| r.is_ok()).count(),
        batch.len()
    );
    // FireAndForget: launched, then waited for.
    let launched = orch
        .launch(Task::shell("sleep 0.02").name("export"))
        .await?;
    orch.wait(launched).await?;
    heartbeat.disable().await?;
    orch.system_status().await?;

    let trace = orch.trace();
    trace.write_chrome_trace(BufWriter::new(File::create(&path)?))?;
    let lines = format!("{path}.jsonl");
    trace.write_json_lines(BufWriter::new(File::create(&lines)?))?;
    println!(
        "wrote {} events to {path} (Chrome trace) and {lines} (JSON lines)",
        trace.len()
    );
    println!("open {path} in https://ui.perfetto.dev (Open trace file) or chrome://tracing (Load)");

    // Per actor: messages handled, and the worst queue and handling times.
    let mut by_actor: BTreeMap<&str, Vec<&TraceEvent>> = BTreeMap::new();
    let messages = trace.of_kind(EventKind::Message);
    for e in messages.events() {
        by_actor.entry(e.actor()).or_default().push(e);
    }
    println!(
        "\n{:<12} {:>8} {:>16} {:>18}",
        "actor", "messages", "max queue time", "max handling time"
    );
    for (actor, events) in &by_actor {
        let queue = events
            .iter()
            .filter_map(|e| e.queue_time())
            .max()
            .unwrap_or_default();
        let handling = events
            .iter()
            .map(|e| e.handling_time())
            .max()
            .unwrap_or_default();
        println!(
            "{actor:<12} {:>8} {:>16.1?} {:>18.1?}",
            events.len(),
            queue,
            handling
        );
    }

    // One run, from the request to the end.
    println!("\nthe Simple run {}:", simple.run_id);
    for e in trace.for_run(simple.run_id).events() {
        println!(
            "  {:<9} {:<8} {:<7} queued {:>10.1?}  handled {:>10.1?}  {:?}",
            e.actor(),
            e.kind().as_str(),
            e.name(),
            e.queue_time().unwrap_or_default(),
            e.handling_time(),
            e.outcome()
        );
    }
    pool.close().await?;
    orch.shutdown().await?;
    Ok(())
}
