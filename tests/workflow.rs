//! Workflows end to end: data flows between blocks, command templates,
//! a risk limit that halts, workflows().halt, events.

use std::time::Duration;

use serde_json::{Value, json};
use taskorch::Error;
use taskorch::events::EventItem;
use taskorch::graph::TaskStatus;
use taskorch::workflow::{BlockType, ValueType, Workflow};

use crate::common::{start_runtime, wait_until};

fn pipeline() -> Workflow {
    Workflow::from_json(
        r#"{
        "id": "trade",
        "blocks": [
          {"id": "quote", "category": "data", "type": "quote", "params": {"price": 20}},
          {"id": "size", "category": "risk", "type": "size", "inputs": {"price": "quote.price"}},
          {"id": "guard", "category": "risk", "type": "risk_limit",
            "inputs": {"value": "size.notional"}, "params": {"limit": "notional"}},
          {"id": "order", "category": "execution", "type": "order",
            "inputs": {"qty": "size.qty", "notional": "guard.value"}}
        ]}"#,
    )
    .unwrap()
}

async fn trading_runtime(limit: f64) -> crate::common::Runtime {
    let rt = start_runtime().await;
    rt.register_action("quote", |input: Value| async move {
        Ok(json!({ "price": input["params"]["price"] }))
    });
    rt.register_action("size", |input: Value| async move {
        let price = input["inputs"]["price"].as_f64().unwrap_or(0.0);
        Ok(json!({ "qty": 10, "notional": price * 10.0 }))
    });
    rt.register_action("order", |input: Value| async move {
        Ok(json!({ "filled": input["inputs"]["qty"] }))
    });
    rt.workflows().register_block_type(
        "quote",
        BlockType::action("quote").output("price", ValueType::Number),
    );
    rt.workflows().register_block_type(
        "size",
        BlockType::action("size")
            .input("price", ValueType::Number)
            .output("qty", ValueType::Number)
            .output("notional", ValueType::Number),
    );
    rt.workflows().register_block_type(
        "order",
        BlockType::action("order")
            .input("qty", ValueType::Number)
            .input("notional", ValueType::Number)
            .output("filled", ValueType::Number),
    );
    rt.guard().register_limit("notional", limit, true).unwrap();
    rt
}

#[tokio::test]
async fn outputs_feed_later_blocks_and_events_follow_the_workflow() {
    let rt = trading_runtime(1_000.0).await;
    let mut events = rt.observe().subscribe();
    let report = rt.workflows().run(pipeline()).await.unwrap();
    assert!(report.succeeded, "{report:?}");
    assert_eq!(report.outputs["size"]["notional"], json!(200.0));
    assert_eq!(report.outputs["order"]["filled"], json!(10));
    assert_eq!(
        rt.workflows().validate(&pipeline()).unwrap(),
        ["quote", "size", "guard", "order"]
    );

    let mut kinds = Vec::new();
    let done = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(EventItem::Event(e)) = events.next().await {
            let json = serde_json::to_value(&e).unwrap();
            let kind = json["type"].as_str().unwrap().to_string();
            if kind.starts_with("workflow") || kind.starts_with("block") {
                assert_eq!(json["workflow"], "trade");
                assert!(json["correlation"].is_string());
                kinds.push(kind.clone());
            }
            if kind == "workflow_completed" {
                assert_eq!(json["succeeded"], true);
                return;
            }
        }
    })
    .await;
    assert!(done.is_ok(), "{kinds:?}");
    assert_eq!(kinds[0], "workflow_started");
    assert_eq!(kinds.iter().filter(|k| *k == "block_started").count(), 4);
    assert_eq!(kinds.iter().filter(|k| *k == "block_finished").count(), 4);
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_tripped_risk_limit_fails_its_block_skips_the_rest_and_halts() {
    let rt = trading_runtime(100.0).await;
    let report = rt.workflows().run(pipeline()).await.unwrap();
    assert!(!report.succeeded);
    let status = |id: &str| report.blocks.iter().find(|(b, _)| b == id).unwrap().1;
    assert_eq!(status("size"), TaskStatus::Succeeded);
    assert_eq!(status("guard"), TaskStatus::Failed);
    assert_eq!(status("order"), TaskStatus::Skipped);
    assert!(rt.guard().halted().unwrap().contains("notional"));
    // Halted: the next workflow is refused.
    assert!(matches!(
        rt.workflows().start(pipeline()).await,
        Err(Error::Halted { .. })
    ));
    rt.guard().resume();
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn command_blocks_render_their_inputs_and_their_stdout_is_the_output() {
    let rt = trading_runtime(1_000.0).await;
    rt.workflows().register_block_type(
        "echo",
        BlockType::command("sh", ["-c", "echo \"qty={{qty}}\""])
            .input("qty", ValueType::Number)
            .output("line", ValueType::String),
    );
    let wf = Workflow::from_toml(
        r#"
id = "cmd"
[[blocks]]
id = "quote"
type = "quote"
params = { price = 3 }
[[blocks]]
id = "size"
type = "size"
inputs = { price = "quote.price" }
[[blocks]]
id = "say"
type = "echo"
inputs = { qty = "size.qty" }
"#,
    )
    .unwrap();
    let report = rt.workflows().run(wf).await.unwrap();
    assert!(report.succeeded, "{report:?}");
    assert_eq!(report.outputs["say"]["line"], json!("qty=10"));
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn halt_workflow_stops_one_workflow_and_its_processes_only() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    rt.workflows().register_block_type(
        "slow",
        BlockType::command(
            "sh",
            [
                "-c".to_string(),
                format!(
                    "sleep 30 & echo $! >> {}; echo $$ >> {0}; wait",
                    pids.display()
                ),
            ],
        )
        .output("out", ValueType::Any),
    );
    let wf = Workflow::from_json(r#"{"id": "slow-one", "blocks": [{"id": "s", "type": "slow"}]}"#)
        .unwrap();
    let run = rt.workflows().start(wf).await.unwrap();
    let all = crate::common::wait_for_pids(&pids, 2).await;
    assert!(matches!(
        rt.workflows().halt("nope"),
        Err(Error::UnknownWorkflow(id)) if id == "nope"
    ));
    rt.workflows().halt("slow-one").unwrap();
    let report = tokio::time::timeout(Duration::from_secs(10), run.wait())
        .await
        .expect("the workflow ends");
    assert!(!report.succeeded);
    crate::common::assert_all_dead(&all).await;
    // The runtime itself is not halted.
    assert_eq!(rt.guard().halted(), None);
    assert!(
        rt.run(taskorch::Task::command("true"))
            .await
            .unwrap()
            .success()
    );
    assert!(
        wait_until(Duration::from_secs(5), || rt
            .workflows()
            .halt("slow-one")
            .is_err())
        .await
    );
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_workflows_are_refused_before_anything_runs() {
    let rt = trading_runtime(1_000.0).await;
    let unknown =
        Workflow::from_json(r#"{"id": "w", "blocks": [{"id": "x", "type": "nope"}]}"#).unwrap();
    assert!(matches!(
        rt.workflows().start(unknown).await,
        Err(Error::InvalidWorkflow { block, .. }) if block == "x"
    ));
    let missing =
        Workflow::from_json(r#"{"id": "w", "blocks": [{"id": "s", "type": "size"}]}"#).unwrap();
    assert!(matches!(
        rt.workflows().start(missing).await,
        Err(Error::InvalidWorkflow { block, reason, .. }) if block == "s" && reason.contains("missing input")
    ));
    rt.workflows()
        .register_block_type("ghost", BlockType::action("unregistered"));
    let ghost =
        Workflow::from_json(r#"{"id": "w", "blocks": [{"id": "g", "type": "ghost"}]}"#).unwrap();
    assert!(matches!(
        rt.workflows().start(ghost).await,
        Err(Error::UnknownAction(name)) if name == "unregistered"
    ));
    assert!(rt.runs().is_empty(), "nothing ran");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, "{\n\"id\": 1\n}").unwrap();
    assert!(matches!(
        Workflow::from_file(&file),
        Err(Error::WorkflowParse {
            format: "json",
            line: 2,
            ..
        })
    ));
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_block_with_a_wrong_output_type_fails() {
    let rt = start_runtime().await;
    rt.register_action("liar", |_| async { Ok(json!({ "price": "high" })) });
    rt.workflows().register_block_type(
        "liar",
        BlockType::action("liar").output("price", ValueType::Number),
    );
    let wf =
        Workflow::from_json(r#"{"id": "w", "blocks": [{"id": "l", "type": "liar"}]}"#).unwrap();
    let report = rt.workflows().run(wf).await.unwrap();
    assert!(!report.succeeded);
    let message = report.graph.tasks[0]
        .error_message
        .clone()
        .unwrap_or_default()
        + &report.graph.tasks[0]
            .output
            .as_ref()
            .map(|o| o.stderr_str())
            .unwrap_or_default();
    assert!(message.contains("should be Number"), "{message}");
    rt.shutdown().await.unwrap();
}
