//! Workflows and the global concurrency cap: a command block gives its
//! slot to its command while it waits, so no workflow waits on itself or
//! on another, at `max_concurrency = 1` or with several at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use taskorch::workflow::{BlockType, ValueType, Workflow};
use taskorch::{Config, Orchestrator, RunStatus, Task};

use crate::common::{fast_config, register_gate, start_with, wait_until};

fn register_echo(orch: &Orchestrator) {
    orch.workflows().register_block_type(
        "echo",
        BlockType::command("sh", ["-c", "echo \"got {{x}}\""])
            .input("x", ValueType::Any)
            .output("line", ValueType::String),
    );
    orch.workflows().register_block_type(
        "start",
        BlockType::command("echo", ["first"]).output("line", ValueType::String),
    );
}

/// `width` independent chains of two command blocks.
fn chains(id: &str, width: usize) -> Workflow {
    let mut blocks = Vec::new();
    for i in 0..width {
        blocks.push(json!({"id": format!("a{i}"), "type": "start"}));
        blocks.push(
            json!({"id": format!("b{i}"), "type": "echo", "inputs": {"x": format!("a{i}.line")}}),
        );
    }
    Workflow::from_json(&json!({ "id": id, "blocks": blocks }).to_string()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_blocks_finish_with_a_single_execution_slot() {
    let rt = start_with(Config {
        max_concurrency: 1,
        ..fast_config()
    })
    .await;
    register_echo(&rt);
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        rt.workflows().run(chains("one", 2)),
    )
    .await
    .expect("run_workflow returns with one slot")
    .unwrap();
    assert!(report.succeeded, "{report:?}");
    assert_eq!(report.outputs["b1"]["line"], json!("got first"));
    // The cap is still one slot: not lost, not doubled.
    let gate = register_gate(&rt, "gate");
    let first = rt.launch(Task::action("gate", json!(1))).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || rt.status(first)
            == Some(RunStatus::Running))
        .await
    );
    let second = rt.launch(Task::action("gate", json!(2))).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(rt.status(second), Some(RunStatus::Queued), "one slot only");
    gate.add_permits(2);
    rt.wait(first).await.unwrap();
    rt.wait(second).await.unwrap();
    rt.shutdown().await.unwrap();
}

/// A gate block, then `width` command blocks that all read it: released,
/// the gate makes them all ready at the same moment.
fn fan_out(id: &str, width: usize) -> Workflow {
    let mut blocks = vec![json!({"id": "go", "type": "gate"})];
    for i in 0..width {
        blocks.push(json!({"id": format!("c{i}"), "type": "echo", "inputs": {"x": "go.x"}}));
    }
    Workflow::from_json(&json!({ "id": id, "blocks": blocks }).to_string()).unwrap()
}

/// Two workflows whose command blocks all become ready at the same
/// moment, with `max_concurrency` slots.
async fn two_at_once(max_concurrency: usize) {
    let rt = start_with(Config {
        max_concurrency,
        ..fast_config()
    })
    .await;
    register_echo(&rt);
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let permits = Arc::clone(&gate);
    rt.register_action("gate", move |_| {
        let permits = Arc::clone(&permits);
        async move {
            permits.acquire().await.map_err(|e| e.to_string())?.forget();
            Ok(json!({ "x": 1 }))
        }
    });
    rt.workflows().register_block_type(
        "gate",
        BlockType::action("gate").output("x", ValueType::Any),
    );
    // Each workflow alone can fill half the slots with blocks, and more.
    let width = rt.observe().config().max_concurrency / 2 + 8;
    let left = rt.workflows().start(fan_out("left", width)).await.unwrap();
    let right = rt.workflows().start(fan_out("right", width)).await.unwrap();
    let gates_running = || {
        rt.runs()
            .iter()
            .filter(|r| r.name == "go" && r.status == RunStatus::Running)
            .count()
            == 2
    };
    assert!(wait_until(Duration::from_secs(10), gates_running).await);
    // Both fan out at once: both compete for every slot.
    gate.add_permits(2);
    let both = async { tokio::join!(left.wait(), right.wait()) };
    let (left, right) = tokio::time::timeout(Duration::from_secs(90), both)
        .await
        .expect("both workflows return");
    for report in [left, right] {
        assert!(report.succeeded, "{:?}", report.blocks);
        assert_eq!(report.outputs.len(), width + 1);
    }
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workflows_at_once_at_the_default_concurrency_both_finish() {
    two_at_once(Config::default().max_concurrency).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workflows_at_once_with_two_slots_both_finish() {
    two_at_once(2).await;
}
