//! The six execution patterns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a piece of work is run. Each pattern is served by one actor under
/// the root supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Run one thing, wait, get exit code and output (executor).
    Simple,
    /// Watch output live, cancel mid-way, read it back later (executor).
    LongRunning,
    /// Run many things with a concurrency limit (batch coordinator).
    Concurrent,
    /// Start it now, come back for the result later (launcher).
    FireAndForget,
    /// Run it every N seconds or on a cron expression (scheduler).
    Periodic,
    /// Many small requests to warm worker processes (pool keeper).
    Pooled,
}

impl Pattern {
    /// All six, in the order of the design table.
    pub const ALL: [Pattern; 6] = [
        Pattern::Simple,
        Pattern::LongRunning,
        Pattern::Concurrent,
        Pattern::FireAndForget,
        Pattern::Periodic,
        Pattern::Pooled,
    ];

    /// Lower-case name, as used in JSON and the CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            Pattern::Simple => "simple",
            Pattern::LongRunning => "long_running",
            Pattern::Concurrent => "concurrent",
            Pattern::FireAndForget => "fire_and_forget",
            Pattern::Periodic => "periodic",
            Pattern::Pooled => "pooled",
        }
    }

    /// The supervisor child (actor) that serves this pattern.
    pub fn actor(&self) -> &'static str {
        match self {
            Pattern::Simple | Pattern::LongRunning => "executor",
            Pattern::Concurrent => "batch",
            Pattern::FireAndForget => "launcher",
            Pattern::Periodic => "scheduler",
            Pattern::Pooled => "pool_keeper",
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Pattern::ALL
            .into_iter()
            .find(|p| p.as_str() == key || p.as_str().replace('_', "") == key)
            .ok_or_else(|| {
                format!(
                    "unknown pattern {s:?} (expected simple, long_running, concurrent, \
                     fire_and_forget, periodic or pooled)"
                )
            })
    }
}
