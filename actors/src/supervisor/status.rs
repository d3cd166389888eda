//! What `system_status()` reports.

use serde::{Deserialize, Serialize};

pub use crate::slot::ChildState;

/// One child's line in [`SystemStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildStatus {
    /// The child's name ("executor", "batch", ...).
    pub name: String,
    /// Its state as the supervisor knows it.
    pub state: ChildState,
    /// How many times it has been restarted.
    pub restarts: u32,
    /// The last failure, if it ever failed.
    pub last_failure: Option<String>,
    /// The child's own report when it answered the status probe (for
    /// example "2 runs in flight"); `None` if it is not running or did not
    /// answer in time.
    pub detail: Option<String>,
}

/// The whole runtime's status, answered by the root supervisor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// Children in start order.
    pub children: Vec<ChildStatus>,
    /// Every circuit breaker, by key (filled in by the orchestrator).
    #[serde(default)]
    pub breakers: Vec<crate::breaker::BreakerStatus>,
    /// The reason of the current emergency halt; `None` while running.
    #[serde(default)]
    pub halted: Option<String>,
}

impl SystemStatus {
    /// The status of the child called `name`.
    pub fn child(&self, name: &str) -> Option<&ChildStatus> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Whether every child is running.
    pub fn all_running(&self) -> bool {
        self.children.iter().all(|c| c.state == ChildState::Running)
    }
}

/// A child's answer to a status probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildReport {
    /// Free-form detail shown in [`ChildStatus::detail`].
    pub detail: String,
}
