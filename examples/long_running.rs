//! The LongRunning pattern: a job that prints progress for a few seconds,
//! shown live while it runs; its output read back afterwards by run id with
//! `output()`; then a second job watched by a late reader and cancelled
//! mid-way.
//!
//! ```text
//! cargo run --release --example long_running
//! ```

use std::time::{Duration, Instant};

use taskorch::{Config, Orchestrator, StreamKind, Task};

#[tokio::main]
async fn main() -> taskorch::Result<()> {
    let orch = Orchestrator::start(Config::default()).await?;
    let started = Instant::now();

    println!("== a job printing progress, shown live");
    let job = Task::shell(
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo \"progress $((i * 10))%\"; sleep 0.3; done; \
         echo 'warning: cache was cold' >&2",
    )
    .name("train-model");
    let mut stream = orch.stream(job).await?;
    let id = stream.run_id();
    while let Some(line) = stream.next_line().await {
        let tag = match line.stream {
            StreamKind::Stdout => "out",
            StreamKind::Stderr => "err",
        };
        println!(
            "  [{:>5.2} s] #{:<2} {tag}: {}",
            started.elapsed().as_secs_f64(),
            line.seq,
            line.text
        );
    }
    let out = stream.wait().await?;
    println!(
        "finished: exit {:?} after {:?}, status {}",
        out.exit_code,
        out.duration,
        orch.status(id).map_or("unknown".into(), |s| s.to_string())
    );

    println!("== the same output, read back later by run id");
    if let Some(captured) = orch.output(id) {
        println!(
            "{} lines kept, {} dropped; first {:?}, last {:?}",
            captured.lines.len(),
            captured.dropped,
            captured.lines.first().map(|l| l.text.as_str()),
            captured.lines.last().map(|l| l.text.as_str()),
        );
    }

    println!("== a job watched by a late reader, then cancelled");
    let ticker = orch
        .stream(
            Task::shell("i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done")
                .name("ticker"),
        )
        .await?;
    let ticker_id = ticker.run_id();
    // The handle is dropped: the run goes on (cancel_on_drop is off).
    drop(ticker);
    tokio::time::sleep(Duration::from_millis(700)).await;
    // A reader attaching now gets the backlog, then live lines.
    let mut watcher = orch.observe().subscribe_output(ticker_id)?;
    for _ in 0..6 {
        if let Some(line) = watcher.next_line().await {
            println!("  watcher got #{} {}", line.seq, line.text);
        }
    }
    orch.cancel(ticker_id).await?;
    match orch.wait(ticker_id).await {
        Ok(out) => println!("unexpected: finished with {:?}", out.exit_code),
        Err(e) => println!(
            "after cancel: {e}; status {}",
            orch.status(ticker_id)
                .map_or("unknown".into(), |s| s.to_string())
        ),
    }
    while watcher.next_line().await.is_some() {}
    println!("the watcher's stream ended with the run");

    orch.shutdown().await
}
