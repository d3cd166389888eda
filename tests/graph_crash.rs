//! Crash semantics of task graphs: the batch coordinator dies while a
//! graph runs. Running tasks end `Interrupted`, their dependents
//! `Skipped`, the next incarnation carries on with the rest, nothing runs
//! twice and no process is left behind; a coordinator the supervisor gave
//! up on ends the graph instead of leaving it hanging.

#![cfg(feature = "fault-injection")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use taskorch::graph::{GraphTask, TaskGraph, TaskStatus};
use taskorch::supervision::RestartIntensity;
use taskorch::{ChildState, Config, Error, Fault, Orchestrator, Priority, RunStatus, Task};

use crate::common::*;

/// Registers "count": counts its calls per input name.
fn register_count(orch: &Orchestrator) -> Arc<Mutex<HashMap<String, u32>>> {
    let counts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let seen = Arc::clone(&counts);
    orch.register_action("count", move |input| {
        let seen = Arc::clone(&seen);
        async move {
            let name = input.as_str().unwrap_or_default().to_string();
            *seen.lock().unwrap().entry(name).or_default() += 1;
            Ok(input)
        }
    });
    counts
}

fn count(name: &str) -> GraphTask {
    GraphTask::new(name, Task::action("count", json!(name)))
}

fn long(pids: &std::path::Path) -> Task {
    Task::shell(format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    ))
}

async fn crash_the_coordinator(rt: &Runtime) {
    rt.inject_fault("batch", Fault::PanicNextMessage);
    let trigger = rt.run_batch(vec![Task::command("true")], 1).await;
    assert!(
        matches!(&trigger[0], Err(Error::ActorFailed { actor, .. }) if actor == "batch"),
        "{trigger:?}"
    );
}

#[tokio::test]
async fn a_coordinator_panic_interrupts_running_tasks_and_the_next_one_carries_on() {
    let rt = start_runtime().await;
    let counts = register_count(&rt);
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // Limit 1: "first" runs, then "long" while "later" waits its turn.
    let mut g = TaskGraph::new().limit(1);
    let first = g.add(count("first").priority(Priority::Critical));
    let running = g.add(GraphTask::new("long", long(&pids)).priority(Priority::High));
    let after = g.add(count("after-long").after(running));
    let later = g.add(count("later").priority(Priority::Low));
    let run = rt.graphs().start(g).await.unwrap();
    let pids = wait_for_pids(&pids, 2).await;
    assert_eq!(run.status(first), Some(TaskStatus::Succeeded));
    assert_eq!(run.status(running), Some(TaskStatus::Running));
    assert_eq!(run.status(later), Some(TaskStatus::Ready));

    crash_the_coordinator(&rt).await;

    let report = run
        .wait_timeout(Duration::from_secs(10))
        .await
        .expect("the graph finishes under the next incarnation");
    assert_all_dead(&pids).await;
    let r = report.get(running).unwrap();
    assert_eq!(r.status, TaskStatus::Interrupted);
    assert_eq!(r.error_kind.as_deref(), Some("actor_failed"));
    assert_eq!(rt.status(r.run_id.unwrap()), Some(RunStatus::Interrupted));
    let r = report.get(after).unwrap();
    assert_eq!(r.status, TaskStatus::Skipped);
    assert_eq!(r.blocked_by, Some(running));
    assert_eq!(
        r.error_message.as_deref(),
        Some("not run: \"long\" was interrupted")
    );
    assert_eq!(report.get(first).unwrap().status, TaskStatus::Succeeded);
    assert_eq!(report.get(later).unwrap().status, TaskStatus::Succeeded);
    let counts = counts.lock().unwrap().clone();
    assert_eq!(counts.get("first"), Some(&1), "nothing ran twice");
    assert_eq!(counts.get("later"), Some(&1));
    assert_eq!(counts.get("after-long"), None);
    // first, long, later; the batch that triggered the panic was never
    // accepted, so it has no run.
    assert_eq!(rt.runs().len(), 3);

    let status = rt.system_status().await.unwrap();
    let batch = status.child("batch").unwrap();
    assert_eq!((batch.state, batch.restarts), (ChildState::Running, 1));
}

#[tokio::test]
async fn a_graph_submitted_while_the_coordinator_restarts_is_delivered() {
    let rt = start_runtime().await;
    let counts = register_count(&rt);
    rt.inject_fault("batch", Fault::DelayNextMessage(Duration::from_millis(200)));
    rt.inject_fault("batch", Fault::PanicNextMessage);
    let orch = rt.orch.clone();
    let first = tokio::spawn(async move { orch.run_batch(vec![Task::command("true")], 1).await });
    let orch = rt.orch.clone();
    let second = tokio::spawn(async move { orch.run_batch(vec![Task::command("true")], 1).await });
    // Submit once the coordinator is stalled on the delayed message, so the
    // graph's request waits in the mailbox the panic then drops.
    assert!(wait_until(Duration::from_secs(10), || rt.faults().stats().fired >= 1).await);
    let mut g = TaskGraph::new();
    let a = g.add(count("a"));
    g.add(count("b").after(a));
    let report = rt.graphs().run(g).await.unwrap();
    assert!(report.success(), "{report:?}");
    let _ = (first.await, second.await);
    assert_eq!(counts.lock().unwrap().values().sum::<u32>(), 2);
}

#[tokio::test]
async fn a_coordinator_given_up_on_ends_the_graph_instead_of_leaving_it_hanging() {
    let rt = start_with(Config {
        restart_intensity: RestartIntensity {
            max_restarts: 0,
            within: Duration::from_secs(10),
        },
        ..fast_config()
    })
    .await;
    register_count(&rt);
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let mut g = TaskGraph::new().limit(1);
    let running = g.add(GraphTask::new("long", long(&pids)).priority(Priority::High));
    let after = g.add(count("after").after(running));
    let waiting = g.add(count("waiting").priority(Priority::Low));
    let run = rt.graphs().start(g).await.unwrap();
    let pids = wait_for_pids(&pids, 2).await;

    crash_the_coordinator(&rt).await;

    let report = run
        .wait_timeout(Duration::from_secs(10))
        .await
        .expect("never left waiting");
    assert_all_dead(&pids).await;
    assert_eq!(report.get(running).unwrap().status, TaskStatus::Interrupted);
    assert_eq!(report.get(after).unwrap().status, TaskStatus::Skipped);
    let r = report.get(waiting).unwrap();
    assert_eq!(r.status, TaskStatus::Interrupted);
    assert_eq!(r.error_kind.as_deref(), Some("actor_failed"));
    let status = rt.system_status().await.unwrap();
    assert_eq!(status.child("batch").unwrap().state, ChildState::Failed);
    let err = rt.graphs().start(TaskGraph::new()).await.unwrap_err();
    assert!(matches!(err, Error::ActorFailed { .. }), "{err:?}");
}
