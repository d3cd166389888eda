//! Fault injection: each fault does what it says in every pattern actor,
//! callers are always answered, faults aim at the nth message of a kind,
//! bad injections are refused, and the trace shows what happened.

#![cfg(feature = "fault-injection")]

use std::future::Future;
use std::time::Duration;

use serde_json::json;
use taskorch::fault::{Fault, FaultTarget};
use taskorch::supervision::RestartIntensity;
use taskorch::trace::{EventKind, Outcome};
use taskorch::{ChildState, Error, PoolSpec, RunStatus, ScheduleSpec, Task, Trigger};

use crate::common::*;

/// The answer to `call`, which must come within a few seconds.
async fn answered<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the caller is answered, never left hanging")
}

fn assert_actor_failed<T: std::fmt::Debug>(result: taskorch::Result<T>, who: &str) {
    match result {
        Err(Error::ActorFailed { actor, .. }) => assert_eq!(actor, who),
        other => panic!("expected ActorFailed from {who}, got {other:?}"),
    }
}

async fn restarts(rt: &Runtime, child: &str) -> u32 {
    rt.system_status()
        .await
        .unwrap()
        .child(child)
        .unwrap()
        .restarts
}

#[tokio::test]
async fn error_next_message_fails_the_actor_and_it_restarts() {
    let rt = start_runtime().await;
    rt.inject_fault("launcher", Fault::ErrorNextMessage);
    assert_actor_failed(answered(rt.launch(Task::command("true"))).await, "launcher");
    let id = rt.launch(Task::command("true")).await.unwrap();
    assert!(rt.wait(id).await.unwrap().success());
    let status = rt.system_status().await.unwrap();
    let launcher = status.child("launcher").unwrap();
    assert_eq!(launcher.state, ChildState::Running);
    assert_eq!(launcher.restarts, 1);
    assert!(
        launcher
            .last_failure
            .as_deref()
            .is_some_and(|f| f.contains("returns an error handling Launch")),
        "{launcher:?}"
    );
    let trace = rt.trace().for_actor("launcher");
    let names: Vec<(&str, Outcome)> = trace
        .events()
        .iter()
        .filter(|e| e.name() != "Status")
        .map(|e| (e.name(), e.outcome()))
        .collect();
    assert_eq!(
        &names[..4],
        [
            ("Launch", Outcome::Error),
            ("ChildFailed", Outcome::Error),
            ("ChildRestarted", Outcome::Ok),
            ("Launch", Outcome::Ok),
        ],
        "{names:?}"
    );
}

#[tokio::test]
async fn drop_reply_answers_actor_failed_in_every_actor_and_nothing_restarts() {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    let noop = || Task::action("noop", json!(null));
    let pool = rt
        .pool(PoolSpec::command("p", "cat").workers(1))
        .await
        .unwrap();

    rt.inject_fault("executor", Fault::DropReply);
    assert_actor_failed(answered(rt.run(noop())).await, "executor");
    rt.inject_fault("executor", Fault::DropReply);
    assert_actor_failed(answered(rt.stream(noop())).await, "executor");
    rt.inject_fault("batch", Fault::DropReply);
    for slot in answered(rt.run_batch(vec![noop(), noop()], 2)).await {
        assert_actor_failed(slot, "batch");
    }
    rt.inject_fault("launcher", Fault::DropReply);
    assert_actor_failed(answered(rt.launch(noop())).await, "launcher");
    rt.inject_fault("scheduler", Fault::DropReply);
    let spec = ScheduleSpec::new("s", Trigger::every(Duration::from_secs(60)), noop());
    assert_actor_failed(answered(rt.schedule(spec)).await, "scheduler");
    rt.inject_fault("pool_keeper", Fault::DropReply);
    assert_actor_failed(answered(pool.resize(2)).await, "pool_keeper");

    // Nobody crashed: the actors kept running and answer the next request.
    let status = rt.system_status().await.unwrap();
    assert!(status.all_running(), "{status:?}");
    assert!(
        status.children.iter().all(|c| c.restarts == 0),
        "{status:?}"
    );
    assert!(rt.run(noop()).await.unwrap().success());
    assert_eq!(pool.request("still here").await.unwrap(), "still here");
    // A dropped request did nothing: no run, no schedule.
    assert_eq!(rt.runs().len(), 1);
    assert!(rt.observe().schedules().find("s").is_none());
    let dropped = rt
        .trace()
        .filter(|e| e.outcome() == Outcome::ReplyDropped)
        .len();
    assert_eq!(dropped, 6);
}

#[tokio::test]
async fn drop_reply_waits_for_a_request_and_leaves_ticks_alone() {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    let every = Trigger::every(Duration::from_millis(10));
    let schedule = rt
        .schedule(ScheduleSpec::new(
            "beat",
            every,
            Task::action("noop", json!(null)),
        ))
        .await
        .unwrap();
    rt.inject_fault("scheduler", Fault::DropReply);
    // Ticks keep coming (they carry no reply) and keep firing.
    let before = schedule.info().runs;
    assert!(
        wait_until(Duration::from_secs(10), || schedule.info().runs
            >= before + 3)
        .await
    );
    assert_eq!(rt.faults().stats().pending, 1);
    // The next request takes it.
    assert_actor_failed(answered(schedule.disable()).await, "scheduler");
    assert!(schedule.info().enabled);
    schedule.disable().await.unwrap();
}

#[tokio::test]
async fn kill_child_process_kills_the_next_process_of_that_actor() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!("echo $$ >> {}; exec sleep 30", pids.display());
    rt.inject_fault("executor", Fault::KillChildProcess);
    let killed = answered(rt.run(Task::shell(script.clone()))).await.unwrap();
    assert!(!killed.success());
    assert_eq!(killed.signal, Some(9), "{killed:?}");
    let fault = rt.trace().for_run(killed.run_id).of_kind(EventKind::Fault);
    assert_eq!(fault.len(), 1);
    assert_eq!(fault.events()[0].name(), "KillChildProcess");
    // Only the next one: the one after runs normally (and is cancelled
    // here, after it recorded its pid, so its whole group is checked too).
    // Its own pid file: the killed run may or may not have written its pid
    // before the kill, so the first file's length says nothing.
    let next_pids = dir.path().join("next-pids");
    let next_script = format!("echo $$ >> {}; exec sleep 30", next_pids.display());
    let orch = rt.orch.clone();
    let next = tokio::spawn(async move { orch.run(Task::shell(next_script)).await });
    let recorded = wait_for_pids(&next_pids, 1).await;
    let running: Vec<_> = rt
        .runs()
        .into_iter()
        .filter(|run| run.status == RunStatus::Running)
        .collect();
    assert_eq!(running.len(), 1, "{running:?}");
    rt.cancel(running[0].id).await.unwrap();
    assert!(matches!(next.await.unwrap(), Err(Error::Cancelled { .. })));
    assert_all_dead(&recorded).await;
}

#[tokio::test]
async fn kill_child_process_can_aim_at_the_nth_spawn_of_a_batch() {
    let rt = start_runtime().await;
    rt.faults()
        .inject_at("batch", FaultTarget::next().nth(2), Fault::KillChildProcess)
        .unwrap();
    // Limit 1: the tasks spawn in input order. (They sleep a little, so
    // the kill finds the process still there to kill.)
    let tasks = (0..3).map(|_| Task::command("sleep").arg("0.2")).collect();
    let results = answered(rt.run_batch(tasks, 1)).await;
    let signals: Vec<Option<i32>> = results.iter().map(|r| r.as_ref().unwrap().signal).collect();
    assert_eq!(signals, [None, Some(9), None]);
}

#[tokio::test]
async fn kill_child_process_on_a_pool_kills_a_worker_which_is_replaced() {
    let rt = start_runtime().await;
    rt.inject_fault("pool_worker", Fault::KillChildProcess);
    let pool = rt
        .pool(PoolSpec::command("p", "cat").workers(1))
        .await
        .unwrap();
    // The first worker dies at once and is replaced. A request sent before
    // the pool saw the death could meet the dead worker (`WorkerDied`, as
    // documented), so wait for the replacement, then ask.
    assert!(wait_until(Duration::from_secs(10), || pool.stats().restarts >= 1).await);
    assert_eq!(answered(pool.request("hello")).await.unwrap(), "hello");
    assert_eq!(rt.faults().stats().fired, 1);
}

#[tokio::test]
async fn a_fault_can_aim_at_the_nth_message_of_a_kind() {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    rt.faults()
        .inject_at(
            "launcher",
            FaultTarget::message("Launch").nth(3),
            Fault::PanicNextMessage,
        )
        .unwrap();
    let mut failed = Vec::new();
    for n in 1..=4 {
        // Status probes reach the launcher too; they are not counted.
        rt.system_status().await.unwrap();
        let launched = answered(rt.launch(Task::action("noop", json!(null)))).await;
        if launched.is_err() {
            assert_actor_failed(launched, "launcher");
            failed.push(n);
        }
    }
    assert_eq!(failed, [3]);
    assert_eq!(restarts(&rt, "launcher").await, 1);
}

#[tokio::test]
async fn bad_fault_injections_are_refused_with_invalid_fault() {
    let rt = start_runtime().await;
    let cases = [
        (
            "exec",
            FaultTarget::next(),
            Fault::PanicNextMessage,
            "no such actor",
        ),
        (
            "supervisor",
            FaultTarget::next(),
            Fault::PanicNextMessage,
            "root supervisor",
        ),
        (
            "executor",
            FaultTarget::message("Launch"),
            Fault::DropReply,
            "handles no",
        ),
        (
            "executor",
            FaultTarget::next().nth(0),
            Fault::ErrorNextMessage,
            "from 1",
        ),
        (
            "batch",
            FaultTarget::message("Start"),
            Fault::KillChildProcess,
            "spawned processes",
        ),
    ];
    for (actor, target, fault, says) in cases {
        match rt.faults().inject_at(actor, target, fault) {
            Err(Error::InvalidFault {
                actor: named,
                reason,
            }) => {
                assert_eq!(named, actor);
                assert!(reason.contains(says), "{actor}: {reason}");
            }
            other => panic!("{actor}: expected InvalidFault, got {other:?}"),
        }
    }
    // The unchecked form logs and drops what the checked one refuses.
    rt.inject_fault("exec", Fault::PanicNextMessage);
    assert_eq!(rt.faults().stats(), Default::default());
    assert!(rt.run(Task::command("true")).await.unwrap().success());
}

#[tokio::test]
async fn a_delayed_actor_shows_as_queue_time_of_the_message_behind_it() {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    rt.inject_fault(
        "executor",
        Fault::DelayNextMessage(Duration::from_millis(300)),
    );
    let noop = || rt.run(Task::action("noop", json!(null)));
    let (a, b) = tokio::join!(noop(), noop());
    assert!(a.unwrap().success() && b.unwrap().success());
    let trace = rt.trace().for_actor("executor");
    let runs: Vec<_> = trace
        .events()
        .iter()
        .filter(|e| e.name() == "Run")
        .collect();
    assert_eq!(runs.len(), 2);
    // The injected delay is the first handler's time; the second message
    // waited behind it in the mailbox.
    assert!(
        runs[0].handling_time() >= Duration::from_millis(300),
        "{:?}",
        runs[0]
    );
    assert!(
        runs[1].queue_time().unwrap() >= Duration::from_millis(200),
        "{:?}",
        runs[1]
    );
    assert!(runs[1].handling_time() < runs[0].handling_time());
}

#[tokio::test]
async fn the_trace_shows_a_child_failing_restarting_and_given_up() {
    let rt = start_with(taskorch::Config {
        restart_intensity: RestartIntensity {
            max_restarts: 1,
            within: Duration::from_secs(60),
        },
        ..fast_config()
    })
    .await;
    for _ in 0..2 {
        rt.inject_fault("batch", Fault::PanicNextMessage);
        let results = answered(rt.run_batch(vec![Task::command("true")], 1)).await;
        assert_actor_failed(results.into_iter().next().unwrap(), "batch");
    }
    let wanted = [
        "ChildFailed",
        "ChildRestarted",
        "ChildFailed",
        "ChildGaveUp",
    ];
    let seen = || -> Vec<&'static str> {
        rt.trace()
            .for_actor("batch")
            .of_kind(EventKind::Supervisor)
            .events()
            .iter()
            .map(|e| e.name())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(10), || seen() == wanted).await,
        "{:?}",
        seen()
    );
    let panics = rt
        .trace()
        .for_actor("batch")
        .filter(|e| e.outcome() == Outcome::Panic);
    assert_eq!(panics.len(), 2);
    let status = rt.system_status().await.unwrap();
    assert_eq!(status.child("batch").unwrap().state, ChildState::Failed);
}

#[tokio::test]
async fn fault_stats_count_and_clear_drops_what_is_pending() {
    let rt = start_runtime().await;
    rt.inject_fault(
        "executor",
        Fault::DelayNextMessage(Duration::from_millis(1)),
    );
    rt.faults()
        .inject_at(
            "scheduler",
            FaultTarget::message("Remove"),
            Fault::PanicNextMessage,
        )
        .unwrap();
    assert!(rt.run(Task::command("true")).await.unwrap().success());
    let stats = rt.faults().stats();
    assert_eq!((stats.injected, stats.fired, stats.pending), (2, 1, 1));
    assert_eq!(rt.faults().clear(), 1);
    assert_eq!(rt.faults().stats().pending, 0);
}

#[tokio::test]
async fn system_status_answers_while_a_stalled_child_is_stopped_for_a_restart() {
    let rt = start_with(taskorch::Config {
        strategy: taskorch::supervision::Strategy::OneForAll,
        status_timeout: Duration::from_millis(200),
        ..fast_config()
    })
    .await;
    // The launcher gets stuck in a message for 30 s: stopping it for the
    // one_for_all restart takes its whole stop timeout (shutdown_grace +
    // kill_grace + 2 s), then a kill.
    rt.inject_fault("launcher", Fault::DelayNextMessage(Duration::from_secs(30)));
    let orch = rt.orch.clone();
    let stalled = tokio::spawn(async move { orch.launch(Task::command("true")).await });
    assert!(wait_until(Duration::from_secs(10), || rt.faults().stats().fired >= 1).await);
    rt.inject_fault("executor", Fault::PanicNextMessage);
    assert_actor_failed(answered(rt.run(Task::command("true"))).await, "executor");
    // Every status query answers within its bound while the launcher is
    // being stopped, reporting it from the supervisor's own table.
    let bound = Duration::from_secs(1);
    let mut seen_restarting = false;
    let mut all_running = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline && !all_running {
        let status = tokio::time::timeout(bound, rt.system_status())
            .await
            .expect("system_status answers within status_timeout, stop or no stop")
            .unwrap();
        seen_restarting |= status.child("launcher").unwrap().state == ChildState::Restarting;
        all_running = seen_restarting && status.all_running();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_restarting, "the launcher was reported Restarting");
    assert!(all_running, "every child came back");
    assert_actor_failed(answered(stalled).await.unwrap(), "launcher");
    let id = rt.launch(Task::command("true")).await.unwrap();
    assert!(rt.wait(id).await.unwrap().success());
}
