//! Risk limits: named ceilings that work checks a value against, with the
//! option to halt the whole runtime when one is exceeded.
//!
//! A check is `value > limit` (a NaN value counts as exceeded: a guard
//! that cannot compare must not wave work through). Exceeding a limit
//! emits `limit_exceeded` and returns `Error::RiskLimitExceeded`; with
//! `auto_halt` it first halts the runtime (see [`halt`](crate::halt)),
//! reason "risk limit NAME exceeded: VALUE > LIMIT".
//!
//! Limits may be registered up front ([`RiskLimits::register`]) and then
//! checked by name, from application code or from a workflow block.

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::events::{EventBody, Events};

/// A registered risk limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskLimit {
    /// Its name.
    pub name: String,
    /// The largest value that passes.
    pub limit: f64,
    /// Whether exceeding it halts the runtime.
    pub auto_halt: bool,
}

/// The registered limits of one runtime.
#[derive(Debug, Default)]
pub struct RiskLimits {
    table: DashMap<String, RiskLimit>,
}

impl RiskLimits {
    /// Register (or replace) the limit `name`.
    ///
    /// # Errors
    /// `InvalidConfig` for an empty name or a limit that is not a finite
    /// number.
    pub fn register(&self, name: &str, limit: f64, auto_halt: bool) -> Result<()> {
        if name.trim().is_empty() {
            return Err(Error::InvalidConfig("empty risk limit name".into()));
        }
        if !limit.is_finite() {
            return Err(Error::InvalidConfig(format!(
                "risk limit {name:?} must be a finite number, not {limit}"
            )));
        }
        self.table.insert(
            name.to_string(),
            RiskLimit {
                name: name.to_string(),
                limit,
                auto_halt,
            },
        );
        Ok(())
    }

    /// The limit `name`, if registered.
    pub fn get(&self, name: &str) -> Option<RiskLimit> {
        self.table.get(name).map(|l| l.clone())
    }

    /// Every registered limit, by name.
    pub fn list(&self) -> Vec<RiskLimit> {
        let mut all: Vec<RiskLimit> = self.table.iter().map(|l| l.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

/// Check `value` against `limit` (see the module docs); `halt` halts the
/// runtime with the reason given. Takes the events and a halt hook, not the
/// `Context` (which calls it): the limits sit below the context.
///
/// # Errors
/// `RiskLimitExceeded { name, value, limit }` when `value > limit` or
/// `value` is NaN.
pub(crate) fn check(
    events: &Events,
    name: &str,
    value: f64,
    limit: f64,
    auto_halt: bool,
    halt: impl FnOnce(&str),
) -> Result<()> {
    if value <= limit {
        return Ok(());
    }
    tracing::warn!(target: "taskorch::risk", name, value, limit, auto_halt, "risk limit exceeded");
    events.emit(None, || EventBody::LimitExceeded {
        name: name.to_string(),
        value,
        limit,
        auto_halt,
    });
    if auto_halt {
        halt(&format!("risk limit {name} exceeded: {value} > {limit}"));
    }
    Err(Error::RiskLimitExceeded {
        name: name.to_string(),
        value,
        limit,
    })
}
