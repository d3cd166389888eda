//! What the two categories with semantics and the built-in block types
//! demand of a block (see the module docs of [`workflow`](super)), each
//! refusal in words; `validate` names the block. The runtime reads the
//! parameters through the same functions, so what passed validation runs.

use std::cmp::Ordering;
use std::time::Duration;

use serde_json::Value;
use taskorch_actors::{Bound, RiskLimit};

use super::{BRANCHES, Block, BlockRun, BlockType, ValueType};

/// The longest a `timer` trigger waits: a workflow waiting longer is a
/// schedule's job.
pub(crate) const MAX_TIMER: Duration = Duration::from_secs(24 * 60 * 60);

/// The category rules and the built-in types' parameters.
pub(super) fn check_block(block: &Block, ty: &BlockType) -> Result<(), String> {
    if block.is_condition() {
        if ty.output_type("result") != Some(ValueType::Bool) {
            return Err(format!(
                "a condition's type must declare a Bool output \"result\" (type {:?} does not)",
                block.block_type
            ));
        }
        if block.inputs.is_empty() {
            return Err("a condition branches on an upstream value: it needs an input".into());
        }
    }
    if block.is_trigger() && !block.inputs.is_empty() {
        let inputs: Vec<&String> = block.inputs.keys().collect();
        return Err(format!(
            "a trigger starts the workflow: it takes no inputs (it has {inputs:?})"
        ));
    }
    let category = |wanted: &str, is: bool| {
        if is {
            Ok(())
        } else {
            Err(format!(
                "type {:?} belongs in category {wanted:?}, not {:?}",
                block.block_type, block.category
            ))
        }
    };
    match ty.run {
        BlockRun::RiskLimit => risk_limit(block).map(drop),
        BlockRun::Compare => {
            category(super::CONDITIONS, block.is_condition())?;
            compare(block).map(drop)
        }
        BlockRun::Manual => category(super::TRIGGERS, block.is_trigger()),
        BlockRun::Timer => {
            category(super::TRIGGERS, block.is_trigger())?;
            timer(block).map(drop)
        }
        BlockRun::Action(_) | BlockRun::Command { .. } => Ok(()),
    }
}

/// A block reading both branches of one condition would always be skipped.
pub(super) fn check_branches(block: &Block) -> Result<(), String> {
    let mut read: Vec<(&str, &str)> = Vec::new();
    for reference in block.inputs.values() {
        if let Some((source, output)) = reference.split_once('.')
            && BRANCHES.contains(&output)
        {
            if read.iter().any(|&(s, o)| s == source && o != output) {
                return Err(format!(
                    "reads both branches of condition {source:?}: one is always skipped"
                ));
            }
            read.push((source, output));
        }
    }
    Ok(())
}

/// The limit a `risk_limit` block checks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RiskCheck {
    /// The registered limit of this name, on its own bound.
    Registered(String),
    /// A limit of the block's own.
    Inline(RiskLimit),
}

/// `params.limit` (a registered name, or a number with `bound`,
/// `auto_halt` and `name`).
pub(crate) fn risk_limit(block: &Block) -> Result<RiskCheck, String> {
    let params = &block.params;
    let bound =
        match &params["bound"] {
            Value::Null => None,
            Value::String(text) => Some(text.parse::<Bound>().map_err(|_| {
                format!("params.bound must be \"ceiling\" or \"floor\", not {text:?}")
            })?),
            other => {
                return Err(format!(
                    "params.bound must be \"ceiling\" or \"floor\", not {other}"
                ));
            }
        };
    match &params["limit"] {
        Value::String(name) if !name.trim().is_empty() => {
            if bound.is_some() || !params["auto_halt"].is_null() {
                return Err(format!(
                    "params.limit names the registered limit {name:?}, which has its own bound \
                     and auto_halt: give a number to set them here"
                ));
            }
            Ok(RiskCheck::Registered(name.clone()))
        }
        Value::Number(n) => {
            let limit = n
                .as_f64()
                .filter(|l| l.is_finite())
                .ok_or("params.limit is not finite")?;
            let auto_halt = match &params["auto_halt"] {
                Value::Null => false,
                Value::Bool(b) => *b,
                other => return Err(format!("params.auto_halt must be a bool, not {other}")),
            };
            let name = match &params["name"] {
                Value::Null => block.id.clone(),
                Value::String(name) if !name.trim().is_empty() => name.clone(),
                other => {
                    return Err(format!(
                        "params.name must be a non-empty string, not {other}"
                    ));
                }
            };
            let limit = match bound.unwrap_or_default() {
                Bound::Ceiling => RiskLimit::ceiling(name, limit),
                Bound::Floor => RiskLimit::floor(name, limit),
            };
            Ok(RiskCheck::Inline(limit.auto_halt(auto_halt)))
        }
        other => Err(format!(
            "params.limit must name a registered risk limit or be a number, not {other}"
        )),
    }
}

/// A comparison of a `compare` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

/// `params.op` and `params.than`.
pub(crate) fn compare(block: &Block) -> Result<(Op, Value), String> {
    let op = match block.params["op"].as_str() {
        Some(">") => Op::Gt,
        Some(">=") => Op::Ge,
        Some("<") => Op::Lt,
        Some("<=") => Op::Le,
        Some("==") => Op::Eq,
        Some("!=") => Op::Ne,
        _ => {
            return Err(format!(
                "params.op must be one of > >= < <= == !=, not {}",
                block.params["op"]
            ));
        }
    };
    let than = block.params["than"].clone();
    if than.is_null() {
        return Err("params.than is missing: the value to compare with".into());
    }
    if !matches!(op, Op::Eq | Op::Ne) && !than.is_number() {
        return Err(format!(
            "params.than must be a number for an ordering, not {than}"
        ));
    }
    Ok((op, than))
}

/// Whether `value` passes `op than`.
///
/// # Errors
/// When an ordering meets a value that is not a number (or is NaN).
pub(crate) fn evaluate(op: Op, value: &Value, than: &Value) -> Result<bool, String> {
    // Numbers by value (1 == 1.0), anything else as JSON.
    let equal = || match (value.as_f64(), than.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => value == than,
    };
    let order = || {
        value
            .as_f64()
            .zip(than.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b))
            .ok_or_else(|| format!("cannot order {value} against {than}"))
    };
    Ok(match op {
        Op::Eq => equal(),
        Op::Ne => !equal(),
        Op::Gt => order()? == Ordering::Greater,
        Op::Ge => order()? != Ordering::Less,
        Op::Lt => order()? == Ordering::Less,
        Op::Le => order()? != Ordering::Greater,
    })
}

/// `params.after_ms` of a `timer` trigger.
pub(crate) fn timer(block: &Block) -> Result<Duration, String> {
    let after = Duration::from_millis(block.params["after_ms"].as_u64().ok_or_else(|| {
        format!(
            "params.after_ms must be a whole number of milliseconds, not {}",
            block.params["after_ms"]
        )
    })?);
    if after > MAX_TIMER {
        return Err(format!(
            "params.after_ms {} is over a day: schedule the workflow instead",
            after.as_millis()
        ));
    }
    Ok(after)
}
