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

/// A dip buyer in the original executor's shape: a manual trigger, a
/// quote, a condition whose `true` branch sizes and orders and whose
/// `false` branch logs, and a daily loss floor on the order's P&L.
fn dip_buyer(price: f64) -> Workflow {
    Workflow::from_json(&format!(
        r#"{{
      "name": "dip-buyer",
      "blocks": [
        {{"id": "start", "name": "Start", "category": "triggers", "type": "manual",
          "properties": {{"payload": {{"user": "ops"}}}}, "config": {{}}, "inputs": [],
          "outputs": [{{"name": "payload", "type": "any"}}]}},
        {{"id": "quote", "name": "Price", "category": "data", "type": "quote",
          "properties": {{"price": {price}}}, "config": {{}}, "inputs": [],
          "outputs": [{{"name": "price", "type": "number"}}]}},
        {{"id": "dip", "name": "Under 60?", "category": "conditions", "type": "compare",
          "properties": {{"op": "<", "than": 60}}, "config": {{}},
          "inputs": [{{"name": "value", "type": "number", "from": "quote.price"}}],
          "outputs": [{{"name": "true"}}, {{"name": "false"}}]}},
        {{"id": "size", "name": "Size", "category": "risk", "type": "size", "properties": {{}},
          "config": {{}}, "inputs": [{{"name": "price", "type": "number", "from": "dip.true"}}],
          "outputs": []}},
        {{"id": "order", "name": "Buy", "category": "execution", "type": "order",
          "properties": {{}}, "config": {{}},
          "inputs": [{{"name": "qty", "from": "size.qty"}}, {{"name": "notional", "from": "size.notional"}}],
          "outputs": []}},
        {{"id": "hold", "name": "Hold", "category": "execution", "type": "hold",
          "properties": {{}}, "config": {{}},
          "inputs": [{{"name": "price", "from": "dip.false"}}, {{"name": "who", "from": "start.payload"}}],
          "outputs": []}}
      ]}}"#
    ))
    .unwrap()
}

async fn dip_runtime() -> crate::common::Runtime {
    let rt = trading_runtime(1_000_000.0).await;
    rt.register_action("hold", |input: Value| async move {
        Ok(json!({ "held_at": input["inputs"]["price"], "by": input["inputs"]["who"]["user"] }))
    });
    rt.workflows().register_block_type(
        "hold",
        BlockType::action("hold")
            .input("price", ValueType::Number)
            .input("who", ValueType::Any)
            .output("held_at", ValueType::Number)
            .output("by", ValueType::String),
    );
    rt
}

#[tokio::test]
async fn a_condition_skips_the_branch_not_taken_and_the_workflow_succeeds() {
    let rt = dip_runtime().await;
    let mut events = rt.observe().subscribe();
    // Under 60: the `true` branch sizes and orders, `hold` is skipped.
    let report = rt.workflows().run(dip_buyer(50.0)).await.unwrap();
    let status = |report: &taskorch::workflow::WorkflowReport, id: &str| {
        report.blocks.iter().find(|(b, _)| b == id).unwrap().1
    };
    assert!(report.succeeded, "{report:?}");
    assert_eq!(report.id, "dip-buyer");
    for id in ["start", "quote", "dip", "size", "order"] {
        assert_eq!(status(&report, id), TaskStatus::Succeeded, "{id}");
    }
    assert_eq!(status(&report, "hold"), TaskStatus::Skipped);
    assert_eq!(report.outputs["dip"]["true"], json!(50));
    assert!(!report.outputs["dip"].contains_key("false"));
    assert_eq!(report.outputs["order"]["filled"], json!(10));
    let hold = report.graph.by_name("hold").unwrap();
    assert_eq!(hold.run_id, None, "a skipped block never runs");
    assert_eq!(
        hold.blocked_by,
        Some(report.graph.by_name("dip").unwrap().key)
    );

    // Over 60: the other way round, and `size`'s reader is skipped too.
    let report = rt.workflows().run(dip_buyer(70.0)).await.unwrap();
    assert!(report.succeeded, "{report:?}");
    assert_eq!(status(&report, "size"), TaskStatus::Skipped);
    assert_eq!(status(&report, "order"), TaskStatus::Skipped);
    assert_eq!(status(&report, "hold"), TaskStatus::Succeeded);
    assert_eq!(report.outputs["hold"]["held_at"], json!(70));
    assert_eq!(
        report.outputs["hold"]["by"],
        json!("ops"),
        "the trigger's payload"
    );

    let mut skipped = Vec::new();
    let mut completed = Vec::new();
    while let Some(EventItem::Event(e)) = events.try_next() {
        let json = serde_json::to_value(&e).unwrap();
        if json["type"] == "block_finished" && json["status"] == "skipped" {
            skipped.push(json["block"].as_str().unwrap().to_string());
        }
        if json["type"] == "workflow_completed" {
            completed.push(json["succeeded"].clone());
        }
    }
    skipped.sort();
    assert_eq!(skipped, ["hold", "order", "size"]);
    assert_eq!(completed, [json!(true), json!(true)]);
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn triggers_start_the_workflow_and_a_failed_one_skips_it() {
    let rt = dip_runtime().await;
    // A timer trigger: `quote` (no inputs) waits for it.
    let wf = Workflow::from_json(
        r#"{"id": "later", "blocks": [
        {"id": "quote", "category": "data", "type": "quote", "params": {"price": 1}},
        {"id": "tick", "category": "triggers", "type": "timer", "params": {"after_ms": 300}}]}"#,
    )
    .unwrap();
    let report = rt.workflows().run(wf).await.unwrap();
    assert!(report.succeeded, "{report:?}");
    let tick = report.graph.by_name("tick").unwrap();
    let quote = report.graph.by_name("quote").unwrap();
    assert!(
        quote.started.unwrap() >= tick.finished.unwrap(),
        "quote started before its trigger fired"
    );
    assert!(tick.duration.unwrap() >= Duration::from_millis(300));
    let fired = report.outputs["tick"]["fired_at"].as_u64().unwrap();
    assert!(fired > 0);

    // A trigger that fails (an action standing for an outside event)
    // skips every block that waits for it.
    rt.register_action("no_event", |_| async {
        Err("the feed is down".to_string())
    });
    rt.workflows().register_block_type(
        "feed",
        BlockType::action("no_event").output("tick", ValueType::Any),
    );
    let wf = Workflow::from_json(
        r#"{"id": "never", "blocks": [
        {"id": "feed", "category": "triggers", "type": "feed"},
        {"id": "quote", "category": "data", "type": "quote", "params": {"price": 1}},
        {"id": "size", "category": "risk", "type": "size", "inputs": {"price": "quote.price"}}]}"#,
    )
    .unwrap();
    let report = rt.workflows().run(wf).await.unwrap();
    assert!(!report.succeeded);
    assert_eq!(
        report.blocks,
        [
            ("feed".to_string(), TaskStatus::Failed),
            ("quote".to_string(), TaskStatus::Skipped),
            ("size".to_string(), TaskStatus::Skipped),
        ]
    );
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_floor_risk_block_trips_below_its_limit_and_halts() {
    let rt = dip_runtime().await;
    let wf = |pnl: f64| {
        Workflow::from_json(&format!(
            r#"{{"id": "pnl", "blocks": [
            {{"id": "quote", "category": "data", "type": "quote", "params": {{"price": {pnl}}}}},
            {{"id": "daily_loss", "category": "risk", "type": "risk_limit",
              "inputs": {{"value": "quote.price"}},
              "params": {{"limit": -500, "bound": "floor", "auto_halt": true}}}},
            {{"id": "size", "category": "risk", "type": "size", "inputs": {{"price": "daily_loss.value"}}}}]}}"#
        ))
        .unwrap()
    };
    let report = rt.workflows().run(wf(-400.0)).await.unwrap();
    assert!(report.succeeded, "{report:?}");
    assert!(rt.guard().halted().is_none());
    let report = rt.workflows().run(wf(-600.0)).await.unwrap();
    assert!(!report.succeeded);
    assert_eq!(
        report.blocks[1],
        ("daily_loss".to_string(), TaskStatus::Failed)
    );
    assert_eq!(report.blocks[2], ("size".to_string(), TaskStatus::Skipped));
    assert_eq!(
        rt.guard().halted().as_deref(),
        Some("risk limit daily_loss exceeded: -600 < -500")
    );
    rt.guard().resume();
    // A bad direction is refused before anything runs.
    let bad = Workflow::from_json(
        &serde_json::to_string(&wf(1.0))
            .unwrap()
            .replace("\"floor\"", "\"down\""),
    )
    .unwrap();
    assert!(matches!(
        rt.workflows().start(bad).await,
        Err(Error::InvalidWorkflow { block, reason, .. })
            if block == "daily_loss" && reason.contains("\"down\"")
    ));
    rt.shutdown().await.unwrap();
}
