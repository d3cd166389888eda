//! The built-in block types (`risk_limit`, `compare`, `manual`, `timer`)
//! and what a condition does once it has run: keep the branch it takes,
//! skip the readers of the other in the workflow's graph (see the module
//! docs of [`workflow`](crate::workflow)).

use std::time::SystemTime;

use serde_json::{Map, Value, json};
use taskorch_actors::graph::{GraphReport, TaskStatus};

use super::{Instance, Orchestrator};
use crate::workflow::rules::{self, RiskCheck};
use crate::workflow::{BRANCHES, Block, BlockRun, Workflow};

/// Run the built-in `run` for `block`: the object of its outputs.
pub(super) async fn run(
    orch: &Orchestrator,
    block: &Block,
    run: &BlockRun,
    inputs: &Map<String, Value>,
) -> Result<Value, String> {
    match run {
        BlockRun::RiskLimit => {
            let value = inputs["value"].as_f64().unwrap_or(f64::NAN);
            let checked = match rules::risk_limit(block)? {
                RiskCheck::Registered(name) => orch.guard().check_registered_limit(name, value),
                RiskCheck::Inline(limit) => orch.guard().check(&limit, value),
            };
            checked.map_err(|e| e.to_string())?;
            Ok(json!({ "value": value }))
        }
        BlockRun::Compare => {
            let (op, than) = rules::compare(block)?;
            let value = &inputs["value"];
            let result = rules::evaluate(op, value, &than)?;
            Ok(json!({ "result": result, "value": value }))
        }
        BlockRun::Manual => Ok(json!({
            "payload": block.params["payload"],
            "fired_at": unix_ms(),
        })),
        BlockRun::Timer => {
            let after = rules::timer(block)?;
            // A waiting trigger holds no execution slot (as a command block
            // waiting for its run does not).
            let lent = orch.inner.ctx.lend_permit();
            tokio::time::sleep(after).await;
            lent.reclaim().await;
            Ok(json!({ "fired_at": unix_ms() }))
        }
        BlockRun::Action(_) | BlockRun::Command { .. } => {
            Err(format!("type {:?} is not built in", block.block_type))
        }
    }
}

/// After the condition `block` produced `produced`: add the branch it
/// takes to its `outputs`, carrying its `value` output (else `result`),
/// and skip every block reading the other branch, with what is downstream.
/// Runs inside the condition's own graph task, so the skipped blocks never
/// become ready.
pub(super) async fn branch(
    instance: &Instance,
    block: &Block,
    produced: &Value,
    outputs: &mut Map<String, Value>,
) -> Result<(), String> {
    let result = produced["result"]
        .as_bool()
        .ok_or_else(|| format!("a condition must produce a bool \"result\", got {produced}"))?;
    let carried = produced
        .get("value")
        .cloned()
        .unwrap_or(Value::Bool(result));
    let [taken, not_taken] = if result {
        BRANCHES
    } else {
        [BRANCHES[1], BRANCHES[0]]
    };
    outputs.insert(taken.to_string(), carried);
    let skipped = format!("{}.{not_taken}", block.id);
    let graph = instance.graph.wait().await;
    let cause = graph
        .key(&block.id)
        .ok_or_else(|| format!("block {:?} is not in its graph", block.id))?;
    for reader in &instance.workflow.blocks {
        if reader.inputs.values().any(|r| *r == skipped)
            && let Some(key) = graph.key(&reader.id)
        {
            graph.skip(key, cause).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Whether `report` is a success for `workflow`: every block succeeded or
/// was skipped by a condition that succeeded (the branch it did not take).
pub(super) fn succeeded(workflow: &Workflow, report: &GraphReport) -> bool {
    let is_condition = |name: &str| {
        workflow
            .blocks
            .iter()
            .any(|b| b.id == name && b.is_condition())
    };
    report.tasks.iter().all(|task| match task.status {
        TaskStatus::Succeeded => true,
        TaskStatus::Skipped => task
            .blocked_by
            .and_then(|cause| report.get(cause))
            .is_some_and(|cause| cause.success() && is_condition(&cause.name)),
        _ => false,
    })
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
