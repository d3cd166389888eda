//! What a service reports: [`ServiceState`] and [`ServiceStatus`].

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::run::RunId;

/// Where a service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Waiting for its dependencies, or started and not ready yet.
    Starting,
    /// Its readiness probe succeeded; it is running.
    Ready,
    /// Its incarnation ended; it starts again after the backoff.
    Restarting,
    /// It gave up (restart intensity exceeded, or a service it depends on
    /// failed): not started again until told to (`start`, `restart`).
    Failed,
    /// Stopped (by `stop`, a readiness time-out, a temporary service's
    /// end, or shutdown).
    Stopped,
}

impl ServiceState {
    /// Lower-case name: `"starting"`, `"ready"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Starting => "starting",
            ServiceState::Ready => "ready",
            ServiceState::Restarting => "restarting",
            ServiceState::Failed => "failed",
            ServiceState::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of one service (for `Service::status` and the listing of
/// every service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceStatus {
    /// The service's name.
    pub name: String,
    /// Its state.
    pub state: ServiceState,
    /// Restarts since it was supervised (or last started by hand).
    pub restarts: u32,
    /// The current (or last) incarnation's run: its history and output
    /// are those of any run.
    pub run_id: Option<RunId>,
    /// The current incarnation's process (group) id, while it runs.
    pub pid: Option<u32>,
    /// When the current incarnation started.
    pub started_at: Option<SystemTime>,
    /// When it last became ready.
    pub ready_at: Option<SystemTime>,
    /// How the last incarnation ended (`"exit 1"`, `"signal 9"`,
    /// `"liveness: tcp 127.0.0.1:80 failed"`, ...).
    pub last_exit: Option<String>,
    /// Why it is `Failed` or `Stopped` (last exit and stderr lines, a
    /// readiness time-out, a dependency).
    pub reason: Option<String>,
}

impl ServiceStatus {
    pub(crate) fn new(name: &str, state: ServiceState) -> Self {
        ServiceStatus {
            name: name.to_string(),
            state,
            restarts: 0,
            run_id: None,
            pid: None,
            started_at: None,
            ready_at: None,
            last_exit: None,
            reason: None,
        }
    }

    /// How long the current incarnation has been running (`None` when
    /// none runs).
    pub fn uptime(&self) -> Option<Duration> {
        match self.state {
            ServiceState::Starting | ServiceState::Ready => self
                .started_at
                .and_then(|at| SystemTime::now().duration_since(at).ok()),
            _ => None,
        }
    }
}
