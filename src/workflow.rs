//! Workflows: pipelines of typed blocks, loaded from JSON or TOML, whose
//! outputs feed the named inputs of later blocks.
//!
//! A [`Workflow`] is plain data (serde). Each [`Block`] has an id, a
//! category (free text, for people and dashboards), a type, its inputs —
//! each a reference `"block.output"` to an output of an earlier block —
//! the outputs it exposes, and free `params`. A block's type is a
//! [`BlockType`] registered with
//! [`Workflows::register_block_type`](crate::workflow::Workflows::register_block_type):
//! a registered action or a command template, with the names and
//! [`ValueType`]s of its inputs and outputs. The built-in type
//! `risk_limit` checks its `value` input against the registered risk limit
//! named by `params.limit`.
//!
//! Two block categories have semantics of their own (the others are free
//! text):
//! - **`conditions`**: the block branches on an upstream value. Its type
//!   declares a `Bool` output `result` (the built-in `compare` does: input
//!   `value`, `params.op` one of `> >= < <= == !=`, `params.than`), and it
//!   needs at least one input. Besides its type's outputs it exposes two
//!   branch outputs, `true` and `false`: the one taken carries the tested
//!   value (its `value` output, else `result`); every block reading the
//!   other, and everything downstream of those, ends `Skipped` without
//!   running, as graph tasks downstream of a failure are. A workflow whose
//!   only unsuccessful blocks are such skips has succeeded.
//! - **`triggers`**: the block starts the workflow. It takes no inputs,
//!   and when a workflow has triggers, every other block without inputs
//!   waits for all of them: nothing runs before they fire, and a trigger
//!   that fails skips the whole workflow. Built in: `manual` fires at once
//!   when the workflow starts (outputs `payload`, `params.payload` or
//!   null, and `fired_at`, Unix milliseconds); `timer` fires
//!   `params.after_ms` milliseconds later (at most a day; it holds no
//!   execution slot while it waits; outputs `fired_at`). A registered
//!   type with no inputs is a trigger too: an action that returns when an
//!   outside event arrives makes an event trigger. A workflow runs once,
//!   so an interval is a schedule's job: schedule an action that runs the
//!   workflow.
//!
//! The built-in `risk_limit` block checks its `value` input: `params.limit`
//! names a registered limit, or is a number for a limit of the block's own
//! (`params.bound` `"ceiling"` (default) or `"floor"`, `params.auto_halt`,
//! `params.name`, default the block's id).
//!
//! Definitions are also read in the block shape of the original workflow
//! executor, `{"blocks": [{id, name, category, type, properties, config,
//! inputs, outputs}]}` with no top-level `id` (see [`Workflow::from_json`]).
//!
//! [`Workflow::validate`] checks everything before anything runs and names
//! the offending block: unknown type, missing or unknown input, a
//! reference to a block or output that does not exist, a type mismatch
//! between an output and the input it feeds, a cycle. The order is the
//! topological order of the data edges. Running a workflow compiles it
//! into a task graph (see [`Workflows::start`](crate::workflow::Workflows::start)).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use taskorch_actors::{Error, Result};

pub use crate::orchestrator::{BLOCK_ACTION, WorkflowReport, WorkflowRun, Workflows};

mod legacy;
pub(crate) mod rules;
#[cfg(test)]
mod tests;

/// The built-in block type that checks a risk limit.
pub const RISK_LIMIT_BLOCK: &str = "risk_limit";
/// The built-in condition type: compares its `value` input.
pub const COMPARE_BLOCK: &str = "compare";
/// The built-in trigger that fires when the workflow starts.
pub const MANUAL_TRIGGER: &str = "manual";
/// The built-in trigger that fires `params.after_ms` after the start.
pub const TIMER_TRIGGER: &str = "timer";
/// The category of blocks that branch (module docs).
pub const CONDITIONS: &str = "conditions";
/// The category of blocks that start the workflow (module docs).
pub const TRIGGERS: &str = "triggers";
/// The two branch outputs of a condition block.
pub const BRANCHES: [&str; 2] = ["true", "false"];

/// A workflow definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// The workflow's id (events and `Workflows::halt` name it).
    pub id: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The blocks, in any order (they run in data order).
    pub blocks: Vec<Block>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// Unique within the workflow; names the block's run.
    pub id: String,
    /// A display name (free text).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// [`CONDITIONS`] and [`TRIGGERS`] have semantics (module docs); any
    /// other is free text ("data", "risk", "execution", ...).
    #[serde(default)]
    pub category: String,
    /// The registered [`BlockType`].
    #[serde(rename = "type")]
    pub block_type: String,
    /// Input name -> `"block.output"`.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// The outputs this block exposes to later blocks (empty: all its
    /// type declares).
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Free parameters handed to the block as they are.
    #[serde(default)]
    pub params: Value,
}

impl Block {
    /// Whether it is in the [`CONDITIONS`] category (ASCII case ignored).
    pub fn is_condition(&self) -> bool {
        self.category.eq_ignore_ascii_case(CONDITIONS)
    }

    /// Whether it is in the [`TRIGGERS`] category (ASCII case ignored).
    pub fn is_trigger(&self) -> bool {
        self.category.eq_ignore_ascii_case(TRIGGERS)
    }
}

/// The type of a block input or output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// Anything.
    Any,
    /// A JSON number.
    Number,
    /// A JSON string.
    String,
    /// A JSON boolean.
    #[serde(alias = "boolean")]
    Bool,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
}

impl ValueType {
    /// Whether an output of type `from` may feed an input of this type.
    pub fn accepts(self, from: ValueType) -> bool {
        self == ValueType::Any || from == ValueType::Any || self == from
    }

    /// Whether `value` is of this type.
    pub fn matches(self, value: &Value) -> bool {
        match self {
            ValueType::Any => true,
            ValueType::Number => value.is_number(),
            ValueType::String => value.is_string(),
            ValueType::Bool => value.is_boolean(),
            ValueType::Object => value.is_object(),
            ValueType::Array => value.is_array(),
        }
    }
}

/// What a block type runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BlockRun {
    /// A registered action, called with `{"inputs": {..}, "params": ..}`;
    /// it returns an object holding the outputs.
    Action(String),
    /// A command; `{{name}}` in an argument is replaced by input `name`
    /// (strings as they are, other values as JSON).
    Command { program: String, args: Vec<String> },
    /// The built-in risk check.
    RiskLimit,
    /// The built-in condition.
    Compare,
    /// The built-in trigger that fires at once.
    Manual,
    /// The built-in trigger that fires after a delay.
    Timer,
}

/// A registered block type: what it runs and its typed inputs and outputs.
///
/// ```
/// use taskorch::workflow::{BlockType, ValueType};
///
/// let sizer = BlockType::action("position_size")
///     .input("price", ValueType::Number)
///     .output("quantity", ValueType::Number);
/// let notify = BlockType::command("echo", ["filled {{quantity}}"])
///     .input("quantity", ValueType::Number)
///     .output("message", ValueType::String);
/// # let _ = (sizer, notify);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BlockType {
    pub(crate) run: BlockRun,
    pub(crate) inputs: Vec<(String, ValueType)>,
    pub(crate) outputs: Vec<(String, ValueType)>,
}

impl BlockType {
    /// Blocks of this type call the action registered under `name`
    /// (`register_action`) with `{"inputs": {name: value, ..}, "params":
    /// ..}` and must return a JSON object holding their outputs.
    pub fn action(name: impl Into<String>) -> Self {
        BlockType {
            run: BlockRun::Action(name.into()),
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Blocks of this type run `program` with `args`, where `{{input}}` is
    /// replaced by that input's value. Stdout is the output: a JSON object
    /// gives the outputs by name; otherwise a single declared output gets
    /// the trimmed stdout (as JSON if it parses, else as a string). A
    /// non-zero exit fails the block.
    pub fn command<I, S>(program: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        BlockType {
            run: BlockRun::Command {
                program: program.into(),
                args: args.into_iter().map(Into::into).collect(),
            },
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// The built-in `risk_limit` type: input `value` (number), output
    /// `value` (passed through); `params.limit` names a registered risk
    /// limit.
    pub(crate) fn risk_limit() -> Self {
        BlockType {
            run: BlockRun::RiskLimit,
            inputs: vec![("value".into(), ValueType::Number)],
            outputs: vec![("value".into(), ValueType::Number)],
        }
    }

    /// The built-in `compare` condition: input `value`, outputs `result`
    /// and `value` (passed through).
    pub(crate) fn compare() -> Self {
        BlockType {
            run: BlockRun::Compare,
            inputs: vec![("value".into(), ValueType::Any)],
            outputs: vec![
                ("result".into(), ValueType::Bool),
                ("value".into(), ValueType::Any),
            ],
        }
    }

    /// The built-in `manual` trigger: outputs `payload` and `fired_at`.
    pub(crate) fn manual() -> Self {
        BlockType {
            run: BlockRun::Manual,
            inputs: Vec::new(),
            outputs: vec![
                ("payload".into(), ValueType::Any),
                ("fired_at".into(), ValueType::Number),
            ],
        }
    }

    /// The built-in `timer` trigger: output `fired_at`.
    pub(crate) fn timer() -> Self {
        BlockType {
            run: BlockRun::Timer,
            inputs: Vec::new(),
            outputs: vec![("fired_at".into(), ValueType::Number)],
        }
    }

    /// The built-in types, by name.
    pub(crate) fn builtins() -> [(&'static str, BlockType); 4] {
        [
            (RISK_LIMIT_BLOCK, BlockType::risk_limit()),
            (COMPARE_BLOCK, BlockType::compare()),
            (MANUAL_TRIGGER, BlockType::manual()),
            (TIMER_TRIGGER, BlockType::timer()),
        ]
    }

    /// Declare a required input.
    pub fn input(mut self, name: impl Into<String>, ty: ValueType) -> Self {
        self.inputs.push((name.into(), ty));
        self
    }

    /// Declare an output.
    pub fn output(mut self, name: impl Into<String>, ty: ValueType) -> Self {
        self.outputs.push((name.into(), ty));
        self
    }

    fn input_type(&self, name: &str) -> Option<ValueType> {
        self.inputs.iter().find(|(n, _)| n == name).map(|(_, t)| *t)
    }

    pub(crate) fn output_type(&self, name: &str) -> Option<ValueType> {
        self.outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
    }
}

impl Workflow {
    /// Parse a workflow from JSON, in either shape:
    /// - this crate's, `{"id", "description", "blocks": [{id, name,
    ///   category, type, inputs: {input: "block.output"}, outputs:
    ///   [name], params}]}`;
    /// - the original executor's, with no top-level `id` (optional `name`,
    ///   which becomes the id, default `"workflow"`, and `description`):
    ///   `{"blocks": [{id, name, category, type, properties, config,
    ///   inputs: [{name, from: "block.output", type}], outputs: [{name,
    ///   type}]}]}`. `properties` and `config` become `params` (one object;
    ///   a key in both is refused). An input port without `from` is not
    ///   connected. A port's `type` must name a [`ValueType`]; the
    ///   registered block type's declarations are what is checked.
    ///
    /// Every object refuses fields it does not know, naming them.
    ///
    /// # Errors
    /// `WorkflowParse` with the line and column serde_json reports (an
    /// unknown field too: the message names it); `InvalidWorkflow` for a
    /// `properties` key also in `config`.
    pub fn from_json(text: &str) -> Result<Workflow> {
        Ok(Workflow::parse_json(text)?.0)
    }

    /// The workflow, and whether it had no id of its own (the original
    /// executor's shape without a `name`).
    fn parse_json(text: &str) -> Result<(Workflow, bool)> {
        let parse_error = |e: serde_json::Error| Error::WorkflowParse {
            format: "json",
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        // The shape is told by the top-level `id`; each is then parsed
        // from the text itself, so errors keep their line and column.
        let value: Value = serde_json::from_str(text).map_err(parse_error)?;
        if value.get("id").is_some() || !value.is_object() {
            return Ok((serde_json::from_str(text).map_err(parse_error)?, false));
        }
        let legacy: legacy::LegacyWorkflow = serde_json::from_str(text).map_err(|e| {
            let mut error = parse_error(e);
            if let Error::WorkflowParse { message, .. } = &mut error {
                // A document of this crate's shape that lost its id lands
                // here: say which shape was read.
                message.push_str(" (no top-level \"id\": read as the original executor's shape)");
            }
            error
        })?;
        legacy.into_workflow()
    }

    /// Parse a workflow from TOML (`[[blocks]]` tables).
    ///
    /// # Errors
    /// `WorkflowParse` with the line and column of the span toml reports.
    pub fn from_toml(text: &str) -> Result<Workflow> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((0, 0), |span| line_column(text, span.start));
            Error::WorkflowParse {
                format: "toml",
                line,
                column,
                message: e.message().to_string(),
            }
        })
    }

    /// Read a workflow file: TOML if its name ends in `.toml`, else JSON
    /// (either shape; one without an id or name takes the file's stem).
    ///
    /// # Errors
    /// `Io` if the file cannot be read; `WorkflowParse` as above.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Workflow> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            context: format!("reading workflow {}", path.display()),
            source: std::sync::Arc::new(e),
        })?;
        if path.extension().is_some_and(|ext| ext == "toml") {
            return Workflow::from_toml(&text);
        }
        let (mut workflow, unnamed) = Workflow::parse_json(&text)?;
        if unnamed && let Some(stem) = path.file_stem() {
            workflow.id = stem.to_string_lossy().into_owned();
        }
        Ok(workflow)
    }

    /// Check the workflow against the block types `types` and return the
    /// indices of its blocks in data order (every block after the blocks
    /// it reads from).
    ///
    /// # Errors
    /// `InvalidWorkflow` naming the block: an empty or duplicate id, an
    /// unknown type, a missing or undeclared input, a reference that is
    /// not `"block.output"` or names no such block or output, a type
    /// mismatch, an undeclared output, a cycle (the message lists it).
    pub fn validate(&self, types: &HashMap<String, BlockType>) -> Result<Vec<usize>> {
        let bad = |block: &str, reason: String| Error::InvalidWorkflow {
            workflow: self.id.clone(),
            block: block.to_string(),
            reason,
        };
        if self.id.trim().is_empty() {
            return Err(bad("", "empty workflow id".into()));
        }
        if self.blocks.is_empty() {
            return Err(bad("", "a workflow needs at least one block".into()));
        }
        let mut index = HashMap::new();
        for (i, block) in self.blocks.iter().enumerate() {
            if block.id.trim().is_empty() || block.id.contains('.') {
                return Err(bad(
                    &block.id,
                    "a block id must be non-empty, without '.'".into(),
                ));
            }
            if index.insert(block.id.as_str(), i).is_some() {
                return Err(bad(&block.id, "duplicate block id".into()));
            }
        }
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); self.blocks.len()];
        for block in &self.blocks {
            let ty = types.get(&block.block_type).ok_or_else(|| {
                let mut known: Vec<&String> = types.keys().collect();
                known.sort();
                bad(
                    &block.id,
                    format!(
                        "unknown block type {:?} (registered: {known:?})",
                        block.block_type
                    ),
                )
            })?;
            rules::check_block(block, ty).map_err(|reason| bad(&block.id, reason))?;
            rules::check_branches(block).map_err(|reason| bad(&block.id, reason))?;
            for output in &block.outputs {
                let branch = block.is_condition() && BRANCHES.contains(&output.as_str());
                if !branch && ty.output_type(output).is_none() {
                    return Err(bad(
                        &block.id,
                        format!(
                            "output {output:?} is not declared by type {:?}",
                            block.block_type
                        ),
                    ));
                }
            }
            for (input, _) in &ty.inputs {
                if !block.inputs.contains_key(input) {
                    return Err(bad(&block.id, format!("missing input {input:?}")));
                }
            }
            for (input, reference) in &block.inputs {
                let want = ty.input_type(input).ok_or_else(|| {
                    bad(
                        &block.id,
                        format!(
                            "input {input:?} is not declared by type {:?}",
                            block.block_type
                        ),
                    )
                })?;
                let (source, output) = reference.split_once('.').ok_or_else(|| {
                    bad(
                        &block.id,
                        format!("input {input:?}: {reference:?} is not \"block.output\""),
                    )
                })?;
                let &from = index.get(source).ok_or_else(|| {
                    bad(
                        &block.id,
                        format!("input {input:?} refers to unknown block {source:?}"),
                    )
                })?;
                let src = &self.blocks[from];
                let src_type = types.get(&src.block_type);
                // A condition's branch outputs carry whatever it tested.
                let branch = src.is_condition() && BRANCHES.contains(&output);
                let have = if branch {
                    Some(ValueType::Any)
                } else {
                    src_type.and_then(|t| t.output_type(output))
                };
                let exposed =
                    branch || src.outputs.is_empty() || src.outputs.iter().any(|o| o == output);
                let Some(have) = have.filter(|_| exposed) else {
                    return Err(bad(
                        &block.id,
                        format!("input {input:?}: block {source:?} has no output {output:?}"),
                    ));
                };
                if !want.accepts(have) {
                    return Err(bad(
                        &block.id,
                        format!(
                            "type mismatch: input {input:?} is {want:?} but {reference} is {have:?}"
                        ),
                    ));
                }
                edges[from].push(index[block.id.as_str()]);
            }
        }
        // Triggers start the workflow: every other root waits for them.
        let triggers: Vec<usize> = (0..self.blocks.len())
            .filter(|&i| self.blocks[i].is_trigger())
            .collect();
        for &root in &self.roots_after_triggers() {
            for &t in &triggers {
                edges[t].push(root);
            }
        }
        self.topological(&edges)
            .map_err(|cycle| bad(&cycle[0], format!("cycle: {}", cycle.join(" -> "))))
    }

    /// The blocks a block waits for: those its inputs read, and for a
    /// block without inputs in a workflow with triggers, every trigger
    /// (module docs). Ids, each once, in definition order.
    pub fn upstream(&self, block: &Block) -> Vec<&str> {
        let mut sources: Vec<&str> = Vec::new();
        let reads: Vec<&str> = block
            .inputs
            .values()
            .filter_map(|r| r.split_once('.').map(|(b, _)| b))
            .collect();
        let waits_for_triggers = block.inputs.is_empty() && !block.is_trigger();
        for other in &self.blocks {
            let read = reads.contains(&other.id.as_str());
            if read || (waits_for_triggers && other.is_trigger()) {
                sources.push(other.id.as_str());
            }
        }
        sources
    }

    /// The blocks that wait for the triggers: non-triggers without inputs
    /// (none if the workflow has no trigger).
    fn roots_after_triggers(&self) -> Vec<usize> {
        if !self.blocks.iter().any(Block::is_trigger) {
            return Vec::new();
        }
        (0..self.blocks.len())
            .filter(|&i| self.blocks[i].inputs.is_empty() && !self.blocks[i].is_trigger())
            .collect()
    }

    /// Kahn's algorithm, stable in definition order; on a cycle, the ids
    /// along one cycle (first repeated at the end).
    fn topological(&self, edges: &[Vec<usize>]) -> std::result::Result<Vec<usize>, Vec<String>> {
        let n = self.blocks.len();
        let mut indegree = vec![0usize; n];
        for targets in edges {
            for &t in targets {
                indegree[t] += 1;
            }
        }
        let mut ready: std::collections::VecDeque<usize> =
            (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_front() {
            order.push(i);
            for &t in &edges[i] {
                indegree[t] -= 1;
                if indegree[t] == 0 {
                    ready.push_back(t);
                }
            }
        }
        if order.len() == n {
            return Ok(order);
        }
        // Walk forward inside the remainder until a block repeats.
        let mut path = vec![(0..n).find(|&i| indegree[i] > 0).unwrap_or(0)];
        loop {
            let last = *path.last().unwrap_or(&0);
            let Some(&next) = edges[last].iter().find(|&&t| indegree[t] > 0) else {
                break;
            };
            if let Some(at) = path.iter().position(|&p| p == next) {
                let mut cycle: Vec<String> = path[at..]
                    .iter()
                    .map(|&i| self.blocks[i].id.clone())
                    .collect();
                cycle.push(self.blocks[next].id.clone());
                return Err(cycle);
            }
            path.push(next);
        }
        Err(path.iter().map(|&i| self.blocks[i].id.clone()).collect())
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}
