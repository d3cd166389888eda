//! The Periodic pattern: a heartbeat every second (an in-process action)
//! and a cron job (a shell command every two seconds, on a cron expression
//! with a seconds field, read in Europe/Berlin time) that is disabled and
//! re-enabled while the runtime keeps going; then what each schedule
//! reports, and what a malformed cron expression returns.
//!
//! ```text
//! cargo run --release --example periodic
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::json;
use taskorch::{Config, Orchestrator, Overlap, Schedule, ScheduleSpec, Task, Trigger};

#[tokio::main]
async fn main() -> taskorch::Result<()> {
    let orch = Orchestrator::start(Config::default()).await?;
    let started = SystemTime::now();

    let beats = Arc::new(AtomicU64::new(0));
    orch.register_action("heartbeat", move |_| {
        let n = beats.fetch_add(1, Ordering::Relaxed) + 1;
        async move {
            println!("  heartbeat #{n}");
            Ok(json!(n))
        }
    });

    let heartbeat = orch
        .schedule(ScheduleSpec::new(
            "heartbeat",
            Trigger::every(Duration::from_secs(1)).immediately(),
            Task::action("heartbeat", json!(null)),
        ))
        .await?;
    let report = orch
        .schedule(
            ScheduleSpec::new(
                "disk-report",
                Trigger::cron("*/2 * * * * *")?.in_time_zone("Europe/Berlin")?,
                Task::shell("echo \"  disk-report: $(df -h / | tail -1 | awk '{print $5}') used\""),
            )
            .overlap(Overlap::Skip),
        )
        .await?;

    println!("== both schedules running");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    show(&orch, &[&heartbeat, &report], started);

    println!("== disk-report disabled for 3 s (the heartbeat goes on)");
    report.disable().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    show(&orch, &[&heartbeat, &report], started);

    println!("== disk-report enabled again");
    report.enable().await?;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    show(&orch, &[&heartbeat, &report], started);

    if let Some(last) = report.info().last {
        let out = orch.wait(last.id).await?;
        println!("last disk-report output: {:?}", out.stdout_str().trim());
    }

    println!("== a malformed cron expression");
    match Trigger::cron("61 * * * *") {
        Ok(_) => println!("unexpectedly accepted"),
        Err(e) => println!("error: {e}"),
    }

    println!("== schedules");
    for schedule in orch.observe().schedules().list() {
        println!("{:<12} {}", schedule.name(), schedule.spec().trigger());
    }
    orch.shutdown().await
}

fn show(orch: &Orchestrator, schedules: &[&Schedule], started: SystemTime) {
    for schedule in schedules {
        let info = schedule.info();
        let next = info
            .next_due
            .and_then(|due| due.duration_since(started).ok())
            .map_or("-".to_string(), |d| format!("t+{:.1}s", d.as_secs_f64()));
        let last = info.last.map_or("-".to_string(), |run| {
            format!("{} ({})", run.status, run.id)
        });
        println!(
            "  {:<12} enabled={:<5} runs={:<2} failures={} skipped={} missed={} next={next} last={last}",
            info.name, info.enabled, info.runs, info.failures, info.skipped, info.missed
        );
    }
    let periodic = orch
        .runs()
        .into_iter()
        .filter(|run| run.pattern == taskorch::Pattern::Periodic)
        .count();
    println!("  runs in the registry from schedules: {periodic}");
}
