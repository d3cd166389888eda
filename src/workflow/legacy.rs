//! The block shape of the original workflow executor (see
//! [`Workflow::from_json`](super::Workflow::from_json)), read into the
//! same model: `properties` and `config` become `params`, input ports
//! with a `from` become input references, output ports the exposed
//! outputs. Every struct refuses unknown fields, so a misspelt field is a
//! parse error naming it, never a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use taskorch_actors::{Error, Result};

use super::{Block, ValueType, Workflow};

/// The id of a workflow in this shape that has no `name`.
const UNNAMED: &str = "workflow";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LegacyWorkflow {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: String,
    blocks: Vec<LegacyBlock>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyBlock {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    category: String,
    #[serde(rename = "type")]
    block_type: String,
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(default)]
    config: Map<String, Value>,
    #[serde(default)]
    inputs: Vec<InputPort>,
    #[serde(default)]
    outputs: Vec<OutputPort>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputPort {
    name: String,
    /// `"block.output"`; absent for a port left unconnected.
    #[serde(default)]
    from: Option<String>,
    // Parsed so a misspelt type is refused; the registered block type's
    // declaration is what validation checks.
    #[serde(default, rename = "type")]
    _value_type: Option<ValueType>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputPort {
    name: String,
    #[serde(default, rename = "type")]
    _value_type: Option<ValueType>,
}

impl LegacyWorkflow {
    /// The workflow, and whether it had no name to take its id from.
    pub(super) fn into_workflow(self) -> Result<(Workflow, bool)> {
        let unnamed = self.name.as_deref().is_none_or(|n| n.trim().is_empty());
        let id = self
            .name
            .filter(|_| !unnamed)
            .unwrap_or_else(|| UNNAMED.to_string());
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for block in self.blocks {
            blocks.push(block.into_block(&id)?);
        }
        let workflow = Workflow {
            id,
            description: self.description,
            blocks,
        };
        Ok((workflow, unnamed))
    }
}

impl LegacyBlock {
    fn into_block(self, workflow: &str) -> Result<Block> {
        let mut params = self.properties;
        for (key, value) in self.config {
            if params.contains_key(&key) {
                return Err(Error::InvalidWorkflow {
                    workflow: workflow.to_string(),
                    block: self.id,
                    reason: format!(
                        "{key:?} is in both properties and config: they become one params object"
                    ),
                });
            }
            params.insert(key, value);
        }
        let mut inputs = BTreeMap::new();
        for port in self.inputs {
            let Some(from) = port.from else { continue };
            if inputs.insert(port.name.clone(), from).is_some() {
                return Err(Error::InvalidWorkflow {
                    workflow: workflow.to_string(),
                    block: self.id,
                    reason: format!("input port {:?} is connected twice", port.name),
                });
            }
        }
        Ok(Block {
            id: self.id,
            name: self.name,
            category: self.category,
            block_type: self.block_type,
            inputs,
            outputs: self.outputs.into_iter().map(|p| p.name).collect(),
            params: if params.is_empty() {
                Value::Null
            } else {
                Value::Object(params)
            },
        })
    }
}
