//! A build-test-deploy pipeline as a task graph: fetch, then the two
//! builds, lint and the database migration in parallel, tests after their
//! build, an upload that fails once and is retried, and deploy after all of
//! them, at most 4 at a time. Three tasks need the staging database to
//! themselves (`Resource::exclusive("staging-db")`), so they take turns
//! even when their dependencies would let them overlap; a broken docs step
//! skips only what depends on it. Events are printed as they happen, then
//! a timeline of every task and the graph's counts.
//!
//! ```text
//! cargo run --release --example graph
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::json;
use taskorch::graph::{
    GraphReport, GraphTask, Resource, ResourceId, TaskGraph, TaskResult, TaskStatus,
};
use taskorch::{Config, Orchestrator, Priority, Task};

/// The resource three tasks need to themselves.
const DB: &str = "staging-db";
/// Width of the timeline bars, in columns.
const WIDTH: usize = 48;

/// A shell step that takes `secs` seconds.
fn step(name: &str, secs: f64) -> GraphTask {
    GraphTask::new(name, Task::shell(format!("sleep {secs}; echo {name} ok")))
}

#[tokio::main]
async fn main() -> taskorch::Result<()> {
    let orch = Orchestrator::start(Config::default()).await?;

    // An in-process step that fails its first call (a flaky artifact
    // store), to show a retry.
    let uploads = Arc::new(AtomicU32::new(0));
    orch.register_action("upload", move |input| {
        let uploads = Arc::clone(&uploads);
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match uploads.fetch_add(1, Ordering::Relaxed) {
                0 => Err("artifact store answered 503".to_string()),
                _ => Ok(json!({ "uploaded": input })),
            }
        }
    });

    let mut graph = TaskGraph::new().limit(4);
    let fetch = graph.add(step("fetch", 0.2).tag("build"));
    let build_api = graph.add(step("build-api", 0.5).after(fetch).tag("build"));
    let build_web = graph.add(step("build-web", 0.3).after(fetch).tag("build"));
    let lint = graph.add(
        step("lint", 0.3)
            .after(fetch)
            .priority(Priority::Low)
            .tag("check"),
    );
    let migrate = graph.add(
        step("migrate-db", 0.6)
            .after(fetch)
            .priority(Priority::High)
            .resource(Resource::exclusive(DB)),
    );
    // Ready when build-api ends (0.7 s), but the migration holds the
    // database until 0.8 s.
    let test_api = graph.add(
        step("test-api", 0.4)
            .after(build_api)
            .resource(Resource::exclusive(DB))
            .tag("check"),
    );
    let test_web = graph.add(step("test-web", 0.3).after(build_web).tag("check"));
    let docs = graph.add(
        GraphTask::new(
            "docs",
            Task::shell("sleep 0.2; echo 'README.md: broken link' >&2; exit 1"),
        )
        .after(fetch)
        .priority(Priority::Low),
    );
    graph.add(step("publish-docs", 0.1).after(docs));
    let upload = graph.add(
        GraphTask::new("upload", Task::action("upload", json!("app.tar.gz")))
            .depends_on([build_api, build_web])
            .retries(2)
            .retry_delay(Duration::from_millis(150)),
    );
    graph.add(
        step("deploy", 0.3)
            .depends_on([test_api, test_web, lint, migrate, upload])
            .priority(Priority::Critical)
            .resource(Resource::exclusive(DB))
            .timeout(Duration::from_secs(30))
            .metadata(json!({ "environment": "staging" })),
    );

    let db_users: Vec<String> = graph
        .tasks()
        .filter(|(_, t)| t.claims().iter().any(|c| *c.id() == ResourceId::lock(DB)))
        .map(|(_, t)| t.name().to_string())
        .collect();

    let run = orch.graphs().start(graph).await?;
    println!("events:");
    let t0 = SystemTime::now();
    let mut seen = vec![TaskStatus::Pending; run.len()];
    loop {
        let mut events = Vec::new();
        for r in run.results() {
            let i = r.key.index();
            if r.status != seen[i] && r.status != TaskStatus::Ready {
                seen[i] = r.status;
                let at = secs(r.finished.or(r.started).unwrap_or(t0), t0);
                events.push((at, format!("{:<13} {}", r.name, describe(&r))));
            }
        }
        // Several may have happened since the last look: in time order.
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (at, what) in events {
            println!("  {at:>5.2} s  {what}");
        }
        if run.is_finished() {
            break;
        }
        // A demo's progress display: polling the handle is cheap (it reads
        // shared state, no actor involved).
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let report = run.wait().await;
    timeline(&report, &db_users);
    exclusive_holders(&report, &db_users);

    let s = report.stats;
    println!(
        "\n{} tasks: {} succeeded, {} failed, {} skipped, {} cancelled; \
         {:.2} s of work (mean {:.2} s) in {:.2} s",
        s.total,
        s.completed,
        s.failed,
        s.skipped,
        s.cancelled,
        s.total_exec.as_secs_f64(),
        s.avg_exec.as_secs_f64(),
        report.elapsed.as_secs_f64()
    );
    orch.shutdown().await
}

/// One line about where a task is.
fn describe(r: &TaskResult) -> String {
    match r.status {
        TaskStatus::Running => "started".to_string(),
        TaskStatus::Succeeded if r.attempts > 1 => format!("succeeded on attempt {}", r.attempts),
        TaskStatus::Succeeded => "succeeded".to_string(),
        _ => format!(
            "{} ({})",
            r.status,
            r.error_message.as_deref().unwrap_or("no reason given")
        ),
    }
}

fn secs(at: SystemTime, t0: SystemTime) -> f64 {
    at.duration_since(t0).unwrap_or_default().as_secs_f64()
}

/// A bar per task, from its start to its end, on a common scale.
fn timeline(report: &GraphReport, db_users: &[String]) {
    let t0 = report
        .tasks
        .iter()
        .filter_map(|t| t.started)
        .min()
        .unwrap_or_else(SystemTime::now);
    let end = report
        .tasks
        .iter()
        .filter_map(|t| t.finished)
        .map(|f| secs(f, t0))
        .fold(0.0, f64::max)
        .max(0.001);
    let col = |at: f64| ((at / end) * WIDTH as f64).round() as usize;
    println!("\ntimeline (0 .. {end:.2} s; # running):");
    for t in &report.tasks {
        let bar = match (t.started, t.finished) {
            (Some(s), Some(f)) => {
                let (from, to) = (col(secs(s, t0)), col(secs(f, t0)).max(col(secs(s, t0)) + 1));
                format!(
                    "{}{}{}",
                    " ".repeat(from),
                    "#".repeat(to - from),
                    " ".repeat(WIDTH.saturating_sub(to))
                )
            }
            _ => " ".repeat(WIDTH),
        };
        println!(
            "  {:<13} |{bar}| {:<9} {}{}",
            t.name,
            t.status.as_str(),
            match (t.started, t.finished) {
                (Some(s), Some(f)) => format!("{:.2}-{:.2} s", secs(s, t0), secs(f, t0)),
                _ => t.error_message.clone().unwrap_or_default(),
            },
            if db_users.contains(&t.name) {
                "  [staging-db]"
            } else {
                ""
            }
        );
    }
}

/// The holders of the exclusive resource, in order, and whether any two
/// overlapped.
fn exclusive_holders(report: &GraphReport, db_users: &[String]) {
    let mut spans: Vec<(&str, SystemTime, SystemTime)> = report
        .tasks
        .iter()
        .filter(|t| db_users.contains(&t.name))
        .filter_map(|t| Some((t.name.as_str(), t.started?, t.finished?)))
        .collect();
    spans.sort_by_key(|s| s.1);
    let overlapped = spans.windows(2).any(|w| w[1].1 < w[0].2);
    let order: Vec<&str> = spans.iter().map(|s| s.0).collect();
    println!(
        "\n{DB} held by {}; two holders at once: {}",
        order.join(", then "),
        if overlapped { "YES (a bug)" } else { "never" }
    );
}
