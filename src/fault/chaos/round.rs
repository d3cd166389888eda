//! One round of the chaos workload: every pattern at once (run, stream,
//! batch, launch, a task graph, a workflow, the pool, the schedules),
//! each task doing a seeded [`Hazard`], each call bounded.

use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;
use taskorch_actors::graph::{GraphTask, TaskGraph};
use taskorch_actors::{Error, PoolState};
use tokio::time::sleep;

use super::hazard::{self, Hazard};
use super::procs;
use super::workload::Workload;
use crate::Orchestrator;
use crate::workflow::{BlockType, ValueType, Workflow};

/// Block types of the round's workflow: an action that hands the next
/// block its script, an action that takes one, and a command block that
/// runs it.
const SOURCE_BLOCK: &str = "chaos-wf-source";
const ACTION_BLOCK: &str = "chaos-wf-action";
const COMMAND_BLOCK: &str = "chaos-wf-command";

pub(super) fn register_block_types(orch: &Orchestrator) {
    orch.workflows().register_block_type(
        SOURCE_BLOCK,
        BlockType::action(hazard::ACTION).output("script", ValueType::String),
    );
    orch.workflows().register_block_type(
        ACTION_BLOCK,
        BlockType::action(hazard::ACTION)
            .input("script", ValueType::String)
            .output("script", ValueType::String),
    );
    orch.workflows().register_block_type(
        COMMAND_BLOCK,
        BlockType::command("sh", ["-c", "{{script}}"]).input("script", ValueType::String),
    );
}

/// The time limit of a task doing `hazard`: 100 to 300 ms for one that
/// runs until stopped, else 10 s.
fn limit(rng: &mut StdRng, hazard: Hazard) -> Duration {
    if hazard.runs_until_stopped() {
        Duration::from_millis(rng.random_range(100..=300))
    } else {
        Duration::from_secs(10)
    }
}

/// Draw a hazard (a process when `shell_only`) with its time limit.
fn draw(rng: &mut StdRng, shell_only: bool) -> (Hazard, Duration) {
    let hazard = Hazard::draw(rng, shell_only);
    (hazard, limit(rng, hazard))
}

/// A hazard for a workflow block: its blocks have no time limit, so none
/// that runs until stopped.
fn draw_block(rng: &mut StdRng, shell: bool) -> Hazard {
    loop {
        let hazard = Hazard::draw(rng, shell);
        if !hazard.runs_until_stopped() && hazard.is_shell() == shell {
            return hazard;
        }
    }
}

impl Workload {
    /// One round: every pattern at once.
    pub(super) async fn round(&mut self, round: usize) {
        let rng = &mut self.rng;
        let run_h = draw(rng, false);
        let stream_h = draw(rng, true);
        let batch_h: [(Hazard, Duration); 3] = std::array::from_fn(|_| draw(rng, false));
        let launch_h = draw(rng, false);
        let graph_h: [(Hazard, Duration); 3] = std::array::from_fn(|_| draw(rng, false));
        let block_h = [
            draw_block(rng, false),
            draw_block(rng, true),
            draw_block(rng, false),
        ];
        let this = &*self;

        let run = async {
            let name = format!("chaos-{round}-run");
            let task = this.task(&name, run_h.0, run_h.1);
            if let Some(out) = this.call(format!("run {name}"), this.orch.run(task)).await {
                this.returned(out.run_id, &name);
            }
        };
        let stream = async {
            let name = format!("chaos-{round}-stream");
            let task = this.task(&name, stream_h.0, stream_h.1);
            let streamed = async {
                let mut stream = this.orch.stream(task).await?;
                this.returned(stream.run_id(), &name);
                while stream.next_line().await.is_some() {}
                stream.wait().await
            };
            this.call(format!("stream {name}"), streamed).await;
        };
        let batch = async {
            let names: Vec<String> = (0..3).map(|k| format!("chaos-{round}-b{k}")).collect();
            let tasks = names
                .iter()
                .zip(batch_h)
                .map(|(name, (h, limit))| this.task(name, h, limit))
                .collect();
            let batched = async { Ok::<_, Error>(this.orch.run_batch(tasks, 2).await) };
            if let Some(results) = this.call(format!("batch {round}"), batched).await {
                for (result, name) in results.iter().zip(&names) {
                    match result {
                        Ok(out) => this.returned(out.run_id, name),
                        Err(e) => this.ledger().count_error(e),
                    }
                }
            }
        };
        let launch = async {
            let name = format!("chaos-{round}-launch");
            let task = this.task(&name, launch_h.0, launch_h.1);
            let Some(id) = this
                .call(format!("launch {name}"), this.orch.launch(task))
                .await
            else {
                return;
            };
            this.returned(id, &name);
            this.ledger().launched.push(id);
            // Half of the runs that never end on their own are cancelled
            // rather than timed out.
            if launch_h.0.runs_until_stopped() && round.is_multiple_of(2) {
                sleep(Duration::from_millis(30)).await;
                this.call(format!("cancel {name}"), async {
                    // Already over is an answer too.
                    let _ = this.orch.cancel(id).await;
                    Ok(())
                })
                .await;
            }
        };
        let graph = async {
            let mut graph = TaskGraph::new();
            let names: Vec<String> = (0..3).map(|k| format!("chaos-{round}-g{k}")).collect();
            let mut first = None;
            for (name, (h, limit)) in names.iter().zip(graph_h) {
                let mut node = GraphTask::new(name.clone(), this.task(name, h, limit));
                if let Some(root) = first {
                    node = node.after(root);
                }
                let key = graph.add(node);
                first.get_or_insert(key);
            }
            this.call(format!("graph {round}"), this.orch.graphs().run(graph))
                .await;
        };
        let workflow = async {
            let Some(flow) = this.workflow(round, block_h) else {
                return;
            };
            this.call(format!("workflow {round}"), this.orch.workflows().run(flow))
                .await;
        };
        let pooled = async {
            let Some(pool) = &this.pool else { return };
            let line = format!("ping {round}");
            if let Some(reply) = this
                .call(format!("pool request {round}"), pool.request(line.clone()))
                .await
                && reply != line
            {
                this.note_violation(format!("pool answered {reply:?} to {line:?}"));
            }
            if round.is_multiple_of(4) {
                let workers = 1 + (round / 4) % 2;
                this.call(format!("pool resize {round}"), pool.resize(workers))
                    .await;
            }
            let procs = pool.worker_pids().into_iter().filter_map(procs::record);
            this.ledger().pool_procs.extend(procs);
        };
        let toggle = async {
            if !round.is_multiple_of(6) {
                return;
            }
            for schedule in &this.schedules {
                this.call(format!("disable {round}"), schedule.disable())
                    .await;
                this.call(format!("enable {round}"), schedule.enable())
                    .await;
            }
        };
        let users = this.user_round(round);
        tokio::join!(
            run, stream, batch, launch, graph, workflow, pooled, toggle, users
        );
        if self
            .pool
            .as_ref()
            .is_none_or(|p| matches!(p.state(), PoolState::Failed(_) | PoolState::Closed))
        {
            self.reopen_pool().await;
        }
    }

    /// The round's workflow: a source block hands its script to a command
    /// block and to an action block. Its blocks' runs carry the blocks'
    /// names; the command block's run launches a second run of its name.
    fn workflow(&self, round: usize, hazards: [Hazard; 3]) -> Option<Workflow> {
        let [source, command, action] = hazards;
        let names = [0, 1, 2].map(|k| format!("chaos-{round}-w{k}"));
        self.submitted(&names[0], 1, source);
        self.submitted(&names[1], 2, command);
        self.submitted(&names[2], 1, action);
        let script = self.scratch.command(command, &names[1]);
        let params = |h: Hazard, name: &str| {
            let mut p = hazard::Scratch::input(h, name);
            p["script"] = json!(script);
            p
        };
        let flow = json!({
            "id": format!("chaos-{round}-wf"),
            "blocks": [
                {"id": names[0], "type": SOURCE_BLOCK, "params": params(source, &names[0])},
                {"id": names[1], "type": COMMAND_BLOCK,
                    "inputs": {"script": format!("{}.script", names[0])}},
                {"id": names[2], "type": ACTION_BLOCK,
                    "inputs": {"script": format!("{}.script", names[0])},
                    "params": params(action, &names[2])},
            ]
        });
        match Workflow::from_json(&flow.to_string()) {
            Ok(flow) => Some(flow),
            Err(e) => {
                self.note_violation(format!("the round's workflow is invalid: {e}"));
                None
            }
        }
    }
}
