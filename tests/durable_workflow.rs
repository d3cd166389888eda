//! The halt and workflows across a crash (`kill -9` of the durable
//! example): a halt holds after the restart, and a workflow adopted after
//! the crash finishes in its own instance, each block run at most once.

use std::path::Path;
use std::time::Duration;

use taskorch::graph::TaskStatus;
use taskorch::workflow::{BlockType, ValueType, Workflow};
use taskorch::{Config, Error, Orchestrator, RunId, RunStatus, Task};

use crate::common::{fast_config, wait_until};
use crate::durable::start_durable;

fn stored(path: &Path) -> Config {
    fast_config().store(path)
}

/// Start the durable example in `mode`, collect its `key id` lines until
/// "ready", then `kill -9` it.
async fn crash(db: &Path, marker: &Path, mode: &str) -> Vec<(String, String)> {
    let (mut child, mut lines) = start_durable(db, marker, mode);
    let mut seen = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line == "ready" {
                return;
            }
            if let Some((key, value)) = line.split_once(' ') {
                seen.push((key.to_string(), value.to_string()));
            }
        }
        panic!("the example ended before it was ready");
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the example gets ready");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halt_holds_across_a_crash_until_resume() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let marker = dir.path().join("marker");
    let seen = crash(&db, &marker, "halt").await;
    let queued: Vec<RunId> = seen
        .iter()
        .filter(|(k, _)| k == "queued")
        .map(|(_, id)| id.parse().unwrap())
        .collect();
    assert_eq!(queued.len(), 2);

    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    assert_eq!(orch.guard().halted().as_deref(), Some("crash test"));
    assert!(matches!(
        orch.launch(Task::command("true")).await,
        Err(Error::Halted { reason }) if reason == "crash test"
    ));
    for id in &queued {
        let ended = wait_until(Duration::from_secs(10), || {
            orch.status(*id).is_some_and(|s| s.is_terminal())
        })
        .await;
        assert!(ended, "queued run {id} ends");
        assert_eq!(orch.status(*id), Some(RunStatus::Cancelled));
    }
    let marks = std::fs::read_to_string(&marker).unwrap_or_default();
    assert!(
        queued.iter().all(|id| !marks.contains(&id.to_string())),
        "no queued run ran while halted: {marks}"
    );
    // Resumed, the restored schedule ticks again (it marks the file).
    assert!(orch.guard().resume());
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&marker)
            .is_ok_and(|m| !m.is_empty()))
        .await,
        "the schedule fires after resume"
    );
    orch.shutdown().await.unwrap();
    drop(orch);

    // The resume is durable too.
    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    assert_eq!(orch.guard().halted(), None);
    orch.shutdown().await.unwrap();
}

/// The command block types of the example's workflow, registered again
/// after the restart, and `start` for a new workflow.
fn register_marking_blocks(orch: &Orchestrator, marker: &Path) {
    for name in ["c", "d"] {
        let script = format!("echo {name} >> '{}'; echo {name}-done", marker.display());
        orch.workflows().register_block_type(
            name,
            BlockType::command("sh", ["-c".to_string(), script])
                .input("x", ValueType::Any)
                .output("out", ValueType::String),
        );
    }
    orch.workflows().register_block_type(
        "start",
        BlockType::command(
            "sh",
            [
                "-c".to_string(),
                format!("echo fresh >> '{}'; echo fresh-done", marker.display()),
            ],
        )
        .output("out", ValueType::String),
    );
}

fn runs_of(marker: &Path, block: &str) -> usize {
    std::fs::read_to_string(marker)
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == block)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_adopted_after_a_crash_finishes_in_its_own_instance_running_each_block_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let marker = dir.path().join("marker");
    crash(&db, &marker, "workflow").await;
    assert_eq!(runs_of(&marker, "b"), 1);
    assert_eq!(runs_of(&marker, "c"), 0, "c waited for the slot b held");

    let orch = Orchestrator::start(stored(&db)).await.unwrap();
    let resumed = orch.workflows().runs();
    assert_eq!(resumed.len(), 1, "the crashed workflow is resumed");
    assert_eq!(resumed[0].id(), "crashy");
    // A new workflow meanwhile has its own instance: the adopted blocks
    // never run inside it.
    let fresh = Workflow::from_json(r#"{"id": "fresh", "blocks": [{"id": "a", "type": "start"}]}"#)
        .unwrap();
    register_marking_blocks(&orch, &marker);
    let report = tokio::time::timeout(Duration::from_secs(30), orch.workflows().run(fresh))
        .await
        .expect("the new workflow returns")
        .unwrap();
    assert!(report.succeeded, "{:?}", report.blocks);
    assert_eq!(report.outputs.len(), 1);

    let report = tokio::time::timeout(Duration::from_secs(30), resumed[0].wait())
        .await
        .expect("the resumed workflow finishes");
    let status = |block: &str| {
        report
            .blocks
            .iter()
            .find(|(b, _)| b == block)
            .map(|(_, s)| *s)
            .unwrap()
    };
    assert_eq!(status("a"), TaskStatus::Succeeded, "{:?}", report.blocks);
    assert_eq!(status("b"), TaskStatus::Interrupted, "{:?}", report.blocks);
    assert_eq!(status("c"), TaskStatus::Succeeded, "{:?}", report.blocks);
    assert_eq!(status("d"), TaskStatus::Succeeded, "{:?}", report.blocks);
    assert_eq!(report.outputs["a"]["out"], "a-done", "a's output came back");
    assert_eq!(report.outputs["d"]["out"], "d-done");
    for block in ["b", "c", "d", "fresh"] {
        assert_eq!(runs_of(&marker, block), 1, "block {block} ran once");
    }
    assert!(
        wait_until(Duration::from_secs(5), || orch
            .workflows()
            .runs()
            .is_empty())
        .await
    );
    orch.shutdown().await.unwrap();
}
