//! The FireAndForget pattern: launch a few jobs, get their run ids back at
//! once, and poll a status table (as a dashboard would) until every job has
//! finished. Then read one job's output, and query the registry.
//!
//! ```text
//! cargo run --release --example fire_and_forget
//! ```

use std::time::Duration;

use taskorch::{Config, Orchestrator, RunQuery, RunStatus, Task};

#[tokio::main]
async fn main() -> taskorch::Result<()> {
    let orch = Orchestrator::start(Config::default()).await?;

    // Each `launch` returns as soon as the job is accepted (queued), before
    // its process has started.
    let jobs = [
        Task::shell("sleep 0.6; echo exported 1200 rows").name("nightly-export"),
        Task::shell("sleep 0.3; echo compacted").name("compact-logs"),
        Task::shell("sleep 0.4; echo 'disk quota exceeded' >&2; exit 2").name("upload-backup"),
        Task::command("sleep")
            .arg("10")
            .timeout(Duration::from_millis(800))
            .name("stuck-report"),
        Task::shell("sleep 0.2").name("warm-cache"),
    ];
    let mut ids = Vec::new();
    for job in jobs {
        ids.push(orch.launch(job).await?);
    }
    // One more, cancelled while it runs.
    let cancelled = orch
        .launch(Task::command("sleep").arg("30").name("cancel-me"))
        .await?;
    ids.push(cancelled);
    println!("launched {} jobs", ids.len());

    let mut tick = 0;
    loop {
        if tick == 2 {
            orch.cancel(cancelled).await?;
        }
        println!("\n-- t = {} ms", tick * 250);
        println!("{:<16} {:<12} {:>6} {:>9}", "job", "status", "exit", "took");
        let mut finished = 0;
        for &id in &ids {
            let Some(run) = orch.observe().find_run(id) else {
                continue;
            };
            let took = match (run.started, run.finished) {
                (Some(start), Some(end)) => end
                    .duration_since(start)
                    .map(|d| format!("{} ms", d.as_millis()))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let exit = run.exit_code.map(|c| c.to_string()).unwrap_or_default();
            println!(
                "{:<16} {:<12} {:>6} {:>9}",
                run.name,
                run.status.as_str(),
                exit,
                took
            );
            finished += usize::from(run.status.is_terminal());
        }
        if finished == ids.len() {
            break;
        }
        tick += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    println!("\n== what `wait` says about each job");
    for &id in &ids {
        let name = orch
            .observe()
            .find_run(id)
            .map(|r| r.name)
            .unwrap_or_default();
        match orch.wait(id).await {
            Ok(out) => println!(
                "{name:<16} exit {:?}  stdout {:?}  stderr {:?}",
                out.exit_code,
                out.stdout_str().trim(),
                out.stderr_str().trim()
            ),
            Err(e) => println!("{name:<16} error: {e}"),
        }
    }

    println!("\n== registry queries");
    let failed = orch.observe().find_runs(
        &RunQuery::new()
            .status(RunStatus::Failed)
            .status(RunStatus::TimedOut),
    );
    let names: Vec<&str> = failed.iter().map(|r| r.name.as_str()).collect();
    println!("failed or timed out: {names:?}");
    let last_two = orch.observe().find_runs(&RunQuery::new().most_recent(2));
    let names: Vec<&str> = last_two.iter().map(|r| r.name.as_str()).collect();
    println!("two most recent: {names:?}");

    orch.shutdown().await
}
