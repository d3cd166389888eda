//! How urgent a piece of work is: [`Priority`], shared by graph tasks
//! (where it orders ready tasks, with aging) and every task's job options
//! (`Task::priority`). Apart from both so the task and the graph engine
//! can name it without importing each other; public as
//! `graph::Priority` and at the crate root.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How urgently a ready task should start. Among the tasks whose
/// dependencies have succeeded, the most urgent starts first; a task that
/// keeps being passed over gains urgency as it waits (see
/// [`TaskGraph::aging`](crate::graph::TaskGraph::aging)), so a `Low` task cannot starve.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Whenever nothing more urgent is ready.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Before `Normal` and `Low`.
    High,
    /// Before everything else.
    Critical,
}

impl Priority {
    /// 0 (`Low`) to 3 (`Critical`).
    pub fn level(&self) -> u8 {
        *self as u8
    }

    /// The rank of work at this priority stamped `stamp` on an aging clock
    /// (smaller starts first): `stamp - level * aging`. The one aging rule
    /// of the runtime, shared by graph ready queues (the clock counts tasks
    /// that became ready) and execution permits (it counts permits
    /// granted). Waiting work keeps its rank while newcomers' ranks grow
    /// with the clock, so after `aging` ticks it ranks like a newcomer one
    /// level up: a `Low` item is overtaken by at most `3 * aging` ticks'
    /// worth of later arrivals, and never starves.
    pub fn aged_rank(&self, stamp: u64, aging: u32) -> i64 {
        let stamp = i64::try_from(stamp).unwrap_or(i64::MAX);
        stamp.saturating_sub(i64::from(self.level()) * i64::from(aging))
    }

    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
