//! Running workflows: each one compiles into a task graph (one graph task
//! per block, dependencies from the data edges), so the graph machinery
//! orders, limits, retries, skips and cancels them; there is no second
//! scheduler.
//!
//! Every block's graph task is the internal action [`BLOCK_ACTION`], which
//! finds its block in the workflow's instance, gathers its inputs from the
//! outputs of the blocks it reads, runs the block (its action in process;
//! its command as a launched run, cancelled with it; the built-in risk
//! check), checks the outputs against their declared types, keeps them for
//! later blocks, and emits `block_started` / `block_finished`. The action
//! holds the orchestrator weakly: the runtime's action table must not keep
//! the runtime alive.
//!
//! # Durable workflows
//! With a store, a workflow is its task graph, journaled and adopted
//! again after a crash like any graph. Each instance has an id unique
//! across restarts (the graph's name carries it), and each block task
//! carries its block's definition in its metadata: an adopted graph is
//! rebuilt into its instance at start, with the outputs of the blocks that
//! had succeeded, so its remaining blocks run in it (and never in another
//! workflow). Blocks that had ended are not run again, and one cut short
//! ends `Interrupted` (the graph's rules): each block runs at most once.
//! A resumed block waits for its block type to be registered again.
//!
//! A command block gives its graph task's execution permit back while its
//! command's run waits and runs (`Context::lend_permit`), and takes one
//! again after: no block holds one permit while it waits for another, so
//! workflows never wait on themselves or on each other, whatever
//! `max_concurrency`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use serde_json::{Map, Value, json};
use taskorch_actors::graph::{GraphReport, GraphRun, GraphTask, TaskGraph, TaskStatus};
use taskorch_actors::{CorrelationId, Error, EventBody, Result, RunId, Task};

use super::{Inner, Orchestrator};
use crate::workflow::{BRANCHES, BlockRun, BlockType, Workflow};

mod builtin;

/// The internal action every workflow block runs as.
pub const BLOCK_ACTION: &str = "taskorch.workflow.block";

/// The name of a workflow instance's task graph: this, then the
/// instance's id.
const GRAPH_PREFIX: &str = "taskorch.workflow/";

/// Block types and running workflow instances of one orchestrator.
#[derive(Debug, Default)]
pub(crate) struct WorkflowTable {
    types: Mutex<HashMap<String, BlockType>>,
    /// Woken when a block type is registered (resumed blocks wait for
    /// theirs).
    registered: tokio::sync::Notify,
    /// By instance id (unique across restarts).
    instances: Mutex<HashMap<String, Arc<Instance>>>,
}

#[derive(Debug)]
struct Instance {
    workflow: Workflow,
    correlation: String,
    // Block id -> its index in `workflow.blocks`.
    blocks: HashMap<String, usize>,
    // Block type name -> the type, as registered when the workflow started;
    // empty for a workflow resumed after a restart (looked up when each
    // block runs).
    types: HashMap<String, BlockType>,
    // Block id -> the outputs it produced.
    outputs: Mutex<HashMap<String, Map<String, Value>>>,
    // Command runs in flight, cancelled by `Workflows::halt`.
    runs: Mutex<HashSet<RunId>>,
    // Set once the graph is started; a condition waits for it to skip the
    // branch it does not take.
    graph: tokio::sync::SetOnce<GraphRun>,
}

/// A running workflow ([`Workflows::start`]).
#[derive(Debug, Clone)]
pub struct WorkflowRun {
    id: String,
    graph: GraphRun,
    instance: Arc<Instance>,
}

/// How a workflow ended.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowReport {
    /// The workflow's id.
    pub id: String,
    /// Whether every block succeeded, or was skipped because a condition
    /// took the other branch.
    pub succeeded: bool,
    /// Each block's id and how it ended, in definition order.
    pub blocks: Vec<(String, TaskStatus)>,
    /// The outputs of every block that succeeded, by block id.
    pub outputs: BTreeMap<String, Map<String, Value>>,
    /// The graph's own report (runs, errors, attempts, timings).
    pub graph: GraphReport,
}

impl WorkflowRun {
    /// The workflow's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The task graph it runs as.
    pub fn graph(&self) -> &GraphRun {
        &self.graph
    }

    /// Wait for every block to end.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future only stops waiting.
    pub async fn wait(&self) -> WorkflowReport {
        let graph = self.graph.wait().await;
        let outputs: BTreeMap<String, Map<String, Value>> = self
            .instance
            .outputs
            .lock()
            .expect("outputs lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        WorkflowReport {
            id: self.id.clone(),
            succeeded: builtin::succeeded(&self.instance.workflow, &graph),
            blocks: graph
                .tasks
                .iter()
                .map(|t| (t.name.clone(), t.status))
                .collect(),
            outputs,
            graph,
        }
    }
}

impl Orchestrator {
    /// Workflows: register block types, validate, start and run
    /// workflows, list and halt the running ones.
    pub fn workflows(&self) -> Workflows<'_> {
        Workflows { orch: self }
    }

    fn block_types(&self) -> HashMap<String, BlockType> {
        let mut types = self
            .inner
            .workflows
            .types
            .lock()
            .expect("types lock")
            .clone();
        for (name, builtin) in BlockType::builtins() {
            types.entry(name.to_string()).or_insert(builtin);
        }
        types
    }

    /// Report the end of `instance`, and forget it, whoever waits.
    fn watch(&self, instance_id: String, graph: GraphRun, instance: Arc<Instance>) {
        let weak = Arc::downgrade(&self.inner);
        let watched = graph;
        let watched_instance = instance;
        self.inner.ctx.tasks().spawn(async move {
            let report = watched.wait().await;
            let Some(inner) = weak.upgrade() else { return };
            let events = inner.ctx.events();
            for task in &report.tasks {
                if !matches!(task.status, TaskStatus::Succeeded | TaskStatus::Failed) {
                    events.emit(Some(watched_instance.correlation.clone()), || {
                        EventBody::BlockFinished {
                            workflow: watched_instance.workflow.id.clone(),
                            block: task.name.clone(),
                            status: task.status.as_str().to_string(),
                        }
                    });
                }
            }
            events.emit(Some(watched_instance.correlation.clone()), || {
                EventBody::WorkflowCompleted {
                    workflow: watched_instance.workflow.id.clone(),
                    succeeded: builtin::succeeded(&watched_instance.workflow, &report),
                }
            });
            inner
                .workflows
                .instances
                .lock()
                .expect("instances lock")
                .remove(&instance_id);
        });
    }

    /// Take back the workflows among `graphs`, task graphs a start adopted
    /// from the store (module docs): rebuild each instance from its
    /// graph, and let their blocks run.
    pub(super) fn resume_workflows(&self, graphs: Vec<GraphRun>) {
        let mut resumed = false;
        for graph in graphs {
            let Some(instance_id) = graph
                .graph_name()
                .and_then(|name| name.strip_prefix(GRAPH_PREFIX))
                .map(str::to_string)
            else {
                continue;
            };
            match rebuild_instance(&graph) {
                Ok(instance) => {
                    let instance = Arc::new(instance);
                    let _ = instance.graph.set(graph.clone());
                    self.inner
                        .workflows
                        .instances
                        .lock()
                        .expect("instances lock")
                        .insert(instance_id.clone(), Arc::clone(&instance));
                    self.watch(instance_id, graph, instance);
                    resumed = true;
                }
                Err(e) => {
                    // Its blocks find no instance and fail; nothing runs
                    // blind.
                    tracing::error!(instance = %instance_id, error = %e, "a stored workflow was not resumed");
                }
            }
        }
        if resumed {
            self.register_block_action();
        }
    }

    fn register_block_action(&self) {
        if self.inner.ctx.actions().contains(BLOCK_ACTION) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        self.inner
            .ctx
            .actions()
            .register(BLOCK_ACTION, move |input| {
                let weak = weak.clone();
                async move {
                    let inner = weak.upgrade().ok_or("the orchestrator is gone")?;
                    run_block(Orchestrator { inner }, input).await
                }
            });
    }
}

/// The workflows of an orchestrator ([`Orchestrator::workflows`]).
///
/// Its async methods take the handle by value (it is `Copy`), so their
/// futures borrow the orchestrator, not a temporary handle:
/// `join!(orch.workflows().run(a), orch.workflows().run(b))` compiles.
#[derive(Debug, Clone, Copy)]
pub struct Workflows<'a> {
    orch: &'a Orchestrator,
}

impl Workflows<'_> {
    /// Register the block type `name` for workflows (replacing an earlier
    /// one). `risk_limit` is built in.
    pub fn register_block_type(&self, name: impl Into<String>, block_type: BlockType) {
        self.orch
            .inner
            .workflows
            .types
            .lock()
            .expect("types lock")
            .insert(name.into(), block_type);
        self.orch.inner.workflows.registered.notify_waiters();
    }

    /// Check `workflow` against the registered block types; its block ids
    /// in the order they can run.
    ///
    /// # Errors
    /// `InvalidWorkflow` naming the block (see [`Workflow::validate`]).
    pub fn validate(&self, workflow: &Workflow) -> Result<Vec<String>> {
        let types = self.orch.block_types();
        let order = workflow.validate(&types)?;
        Ok(order
            .into_iter()
            .map(|i| workflow.blocks[i].id.clone())
            .collect())
    }

    /// Validate `workflow`, compile it into a task graph and start it.
    /// Events: `workflow_started`, then `block_started` / `block_finished`
    /// per block, then `workflow_completed`, all with the workflow's
    /// correlation id.
    ///
    /// # Errors
    /// `InvalidWorkflow` naming the bad block; `UnknownAction` for a block
    /// type whose action is not registered; `Halted`, `ShuttingDown`, and
    /// what [`Graphs::start`](crate::graph::Graphs::start) returns.
    pub async fn start(self, workflow: Workflow) -> Result<WorkflowRun> {
        self.orch.inner.ctx.halt().check()?;
        let types = self.orch.block_types();
        let order = workflow.validate(&types)?;
        let mut blocks = HashMap::new();
        let mut used = HashMap::new();
        for (index, block) in workflow.blocks.iter().enumerate() {
            let ty = types[&block.block_type].clone();
            if let BlockRun::Action(name) = &ty.run
                && !self.orch.inner.ctx.actions().contains(name)
            {
                return Err(Error::UnknownAction(name.clone()));
            }
            blocks.insert(block.id.clone(), index);
            used.insert(block.block_type.clone(), ty);
        }
        self.orch.register_block_action();
        let table = &self.orch.inner.workflows;
        // Unique across restarts: an adopted graph's blocks never find
        // another workflow's instance under their id.
        let instance_id = RunId::new().to_string();
        let correlation = CorrelationId::next().to_string();
        let mut graph = TaskGraph::new().named(format!("{GRAPH_PREFIX}{instance_id}"));
        let mut keys = HashMap::new();
        for i in order {
            let block = &workflow.blocks[i];
            let input = json!({ "instance": instance_id, "block": block.id });
            let mut task = GraphTask::new(
                block.id.clone(),
                Task::action(BLOCK_ACTION, input).name(block.id.clone()),
            )
            .metadata(json!({
                "workflow": workflow.id,
                "description": workflow.description,
                "correlation": correlation,
                "block": block,
            }));
            // Data order: every source was added before its readers.
            let sources = workflow.upstream(block);
            task = task.depends_on(sources.iter().map(|s| keys[*s]));
            keys.insert(block.id.as_str(), graph.add(task));
        }
        let instance = Arc::new(Instance {
            correlation: correlation.clone(),
            blocks,
            types: used,
            outputs: Mutex::new(HashMap::new()),
            runs: Mutex::new(HashSet::new()),
            graph: tokio::sync::SetOnce::new(),
            workflow,
        });
        table
            .instances
            .lock()
            .expect("instances lock")
            .insert(instance_id.clone(), Arc::clone(&instance));
        let id = instance.workflow.id.clone();
        let events = self.orch.inner.ctx.events();
        events.emit(Some(correlation.clone()), || EventBody::WorkflowStarted {
            workflow: id.clone(),
            blocks: instance.workflow.blocks.len(),
        });
        let graph = match self.orch.graphs().start(graph).await {
            Ok(graph) => graph,
            Err(e) => {
                table
                    .instances
                    .lock()
                    .expect("instances lock")
                    .remove(&instance_id);
                return Err(e);
            }
        };
        let _ = instance.graph.set(graph.clone());
        self.orch
            .watch(instance_id, graph.clone(), Arc::clone(&instance));
        Ok(WorkflowRun {
            id,
            graph,
            instance,
        })
    }

    /// The workflows running now, those resumed after a restart included.
    pub fn runs(&self) -> Vec<WorkflowRun> {
        let instances = self
            .orch
            .inner
            .workflows
            .instances
            .lock()
            .expect("instances lock");
        instances
            .values()
            .filter_map(|instance| {
                Some(WorkflowRun {
                    id: instance.workflow.id.clone(),
                    graph: instance.graph.get()?.clone(),
                    instance: Arc::clone(instance),
                })
            })
            .collect()
    }

    /// [`start`](Self::start), then wait for its end.
    ///
    /// # Errors
    /// As `start`; how each block ended is in the report.
    pub async fn run(self, workflow: Workflow) -> Result<WorkflowReport> {
        let run = self.start(workflow).await?;
        Ok(run.wait().await)
    }

    /// Stop every running instance of workflow `id` (the tiered halt: the
    /// rest of the runtime carries on): its graph is cancelled, so blocks
    /// running end `Cancelled` (their processes terminated) and blocks not
    /// started never start.
    ///
    /// # Errors
    /// `UnknownWorkflow` if no workflow with this id is running.
    pub fn halt(&self, id: impl AsRef<str>) -> Result<()> {
        let id = id.as_ref();
        let matching: Vec<Arc<Instance>> = self
            .orch
            .inner
            .workflows
            .instances
            .lock()
            .expect("instances lock")
            .values()
            .filter(|i| i.workflow.id == id)
            .cloned()
            .collect();
        if matching.is_empty() {
            return Err(Error::UnknownWorkflow(id.to_string()));
        }
        for instance in matching {
            if let Some(graph) = instance.graph.get() {
                graph.cancel_all();
            }
            let runs: Vec<RunId> = instance.runs.lock().expect("runs lock").drain().collect();
            for run in runs {
                let _ = self.orch.inner.ctx.registry().cancel(run);
            }
        }
        Ok(())
    }
}

/// The body of [`BLOCK_ACTION`].
async fn run_block(orch: Orchestrator, input: Value) -> std::result::Result<Value, String> {
    let instance_id = input["instance"].as_str().ok_or("no workflow instance")?;
    let block_id = input["block"].as_str().ok_or("no block id")?;
    let instance = orch
        .inner
        .workflows
        .instances
        .lock()
        .expect("instances lock")
        .get(instance_id)
        .cloned()
        .ok_or("the workflow instance is gone")?;
    let index = *instance.blocks.get(block_id).ok_or("unknown block")?;
    let block = &instance.workflow.blocks[index];
    let ty = &block_type(&orch, &instance, block).await?;
    let events = orch.inner.ctx.events();
    let correlation = || Some(instance.correlation.clone());
    events.emit(correlation(), || EventBody::BlockStarted {
        workflow: instance.workflow.id.clone(),
        block: block.id.clone(),
    });
    let result = execute_block(&orch, &instance, block, ty).await;
    let status = if result.is_ok() {
        "succeeded"
    } else {
        "failed"
    };
    events.emit(correlation(), || EventBody::BlockFinished {
        workflow: instance.workflow.id.clone(),
        block: block.id.clone(),
        status: status.to_string(),
    });
    let outputs = result.map_err(|e| format!("block {}: {e}", block.id))?;
    instance
        .outputs
        .lock()
        .expect("outputs lock")
        .insert(block.id.clone(), outputs.clone());
    Ok(Value::Object(outputs))
}

/// `block`'s type: as registered when its workflow started, or for a
/// workflow resumed after a restart, as registered now, waiting (with the
/// block's execution permit lent to the others) until it and its action are.
async fn block_type(
    orch: &Orchestrator,
    instance: &Instance,
    block: &crate::workflow::Block,
) -> std::result::Result<BlockType, String> {
    if let Some(ty) = instance.types.get(&block.block_type) {
        return Ok(ty.clone());
    }
    let lookup = || orch.block_types().get(&block.block_type).cloned();
    if let Some(ty) = lookup()
        && !matches!(&ty.run, BlockRun::Action(name) if !orch.inner.ctx.actions().contains(name))
    {
        return Ok(ty);
    }
    let lent = orch.inner.ctx.lend_permit();
    let ty = loop {
        let notified = orch.inner.workflows.registered.notified();
        tokio::pin!(notified);
        // Registered before we look: a registration in between wakes us.
        notified.as_mut().enable();
        if let Some(ty) = lookup() {
            break ty;
        }
        notified.await;
    };
    if let BlockRun::Action(name) = &ty.run {
        orch.inner.ctx.actions().registered(name).await;
    }
    lent.reclaim().await;
    Ok(ty)
}

/// The instance of an adopted workflow graph, from its tasks' metadata
/// and the outputs of those that succeeded.
fn rebuild_instance(graph: &GraphRun) -> std::result::Result<Instance, String> {
    let results = graph.results();
    let meta = |key: &str| {
        results
            .first()
            .and_then(|r| r.metadata[key].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let mut blocks = Vec::with_capacity(results.len());
    let mut outputs = HashMap::new();
    for result in &results {
        let block: crate::workflow::Block =
            serde_json::from_value(result.metadata["block"].clone())
                .map_err(|e| format!("block {:?} has no readable definition: {e}", result.name))?;
        if result.status == TaskStatus::Succeeded
            && let Some(Value::Object(produced)) =
                result.output.as_ref().and_then(|o| o.value.clone())
        {
            outputs.insert(block.id.clone(), produced);
        }
        blocks.push(block);
    }
    let workflow = Workflow {
        id: meta("workflow"),
        description: meta("description"),
        blocks,
    };
    Ok(Instance {
        correlation: meta("correlation"),
        blocks: workflow
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| (b.id.clone(), i))
            .collect(),
        types: HashMap::new(),
        outputs: Mutex::new(outputs),
        runs: Mutex::new(HashSet::new()),
        graph: tokio::sync::SetOnce::new(),
        workflow,
    })
}

async fn execute_block(
    orch: &Orchestrator,
    instance: &Instance,
    block: &crate::workflow::Block,
    ty: &BlockType,
) -> std::result::Result<Map<String, Value>, String> {
    let mut inputs = Map::new();
    {
        let outputs = instance.outputs.lock().expect("outputs lock");
        for (name, reference) in &block.inputs {
            let (source, output) = reference.split_once('.').unwrap_or_default();
            let value = outputs
                .get(source)
                .and_then(|o| o.get(output))
                .cloned()
                .ok_or_else(|| format!("input {name:?}: {reference} was not produced"))?;
            inputs.insert(name.clone(), value);
        }
    }
    let produced = match &ty.run {
        BlockRun::Action(name) => {
            let action = orch
                .inner
                .ctx
                .actions()
                .get(name)
                .ok_or_else(|| format!("action {name:?} is not registered"))?;
            action(json!({ "inputs": inputs, "params": block.params })).await?
        }
        BlockRun::Command { program, args } => {
            run_command(orch, instance, block, ty, program, args, &inputs).await?
        }
        BlockRun::RiskLimit | BlockRun::Compare | BlockRun::Manual | BlockRun::Timer => {
            builtin::run(orch, block, &ty.run, &inputs).await?
        }
    };
    // Keep the outputs this block exposes, checked against their types.
    let exposed: Vec<&String> = if block.outputs.is_empty() {
        ty.outputs.iter().map(|(n, _)| n).collect()
    } else {
        block.outputs.iter().collect()
    };
    let mut outputs = Map::new();
    for name in exposed {
        if block.is_condition() && BRANCHES.contains(&name.as_str()) {
            continue;
        }
        let value = produced
            .get(name)
            .ok_or_else(|| format!("did not produce output {name:?} (got {produced})"))?;
        let want = ty
            .output_type(name)
            .unwrap_or(crate::workflow::ValueType::Any);
        if !want.matches(value) {
            return Err(format!("output {name:?} should be {want:?}, got {value}"));
        }
        outputs.insert(name.clone(), value.clone());
    }
    if block.is_condition() {
        builtin::branch(instance, block, &produced, &mut outputs).await?;
    }
    Ok(outputs)
}

async fn run_command(
    orch: &Orchestrator,
    instance: &Instance,
    block: &crate::workflow::Block,
    ty: &BlockType,
    program: &str,
    args: &[String],
    inputs: &Map<String, Value>,
) -> std::result::Result<Value, String> {
    let rendered = args.iter().map(|arg| {
        inputs.iter().fold(arg.clone(), |arg, (name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            arg.replace(&format!("{{{{{name}}}}}"), &text)
        })
    });
    let task = Task::command(program).args(rendered).name(block.id.clone());
    // The block's permit is the command's while it waits and runs (module
    // docs); dropped with the block, the lent permit is taken back later.
    let lent = orch.inner.ctx.lend_permit();
    let waited = async {
        let id = orch.launch(task).await.map_err(|e| e.to_string())?;
        instance.runs.lock().expect("runs lock").insert(id);
        // Dropped with the block (its graph task cancelled): stop the process.
        let _cancel = CancelOnDrop(orch.clone(), id);
        let out = orch.wait(id).await.map_err(|e| e.to_string())?;
        instance.runs.lock().expect("runs lock").remove(&id);
        Ok::<_, String>(out)
    }
    .await;
    lent.reclaim().await;
    let out = waited?;
    if !out.success() {
        return Err(format!(
            "{program} exited with {:?}: {}",
            out.exit_code,
            out.stderr_str().trim()
        ));
    }
    let stdout = out.stdout_str();
    let parsed: Option<Value> = serde_json::from_str(stdout.trim()).ok();
    Ok(match parsed {
        Some(Value::Object(map)) => Value::Object(map),
        other if ty.outputs.len() == 1 => {
            let value = other.unwrap_or_else(|| Value::String(stdout.trim().to_string()));
            let mut map = Map::new();
            map.insert(ty.outputs[0].0.clone(), value);
            Value::Object(map)
        }
        _ => json!({ "stdout": stdout }),
    })
}

struct CancelOnDrop(Orchestrator, RunId);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        // A finished run is left alone by cancel.
        let _ = self.0.inner.ctx.registry().cancel(self.1);
    }
}
