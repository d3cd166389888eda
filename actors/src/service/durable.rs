//! Services in the durable store: one record per service (its spec, for
//! a command, and whether it is `Failed`), so a restart of the host brings
//! every permanent command service back and a failed one back `Failed`.
//!
//! An action service's function cannot be stored: its record keeps only
//! the failure, which a later `supervise` of that name picks up.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::spec::{Escalation, Liveness, Readiness, ServiceSpec, ServiceWork};
use crate::command::CommandSpec;
use crate::process::StopSignal;
use crate::supervisor::{Restart, RestartIntensity, Strategy};
use crate::task::Backoff;

/// One service as stored (bincode behind the store's version byte).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceRow {
    /// Its place in the supervise order (restored in that order).
    pub(crate) order: u64,
    /// What it runs; `None`: an action service.
    pub(crate) command: Option<CommandSpec>,
    /// 0 permanent, 1 transient, 2 temporary.
    restart: u8,
    max_restarts: u32,
    within: Duration,
    backoff: Backoff,
    ready: Readiness,
    start_timeout: Duration,
    liveness: Option<Liveness>,
    after: Vec<String>,
    requires: Vec<String>,
    stop_signal: StopSignal,
    stop_grace: Duration,
    escalation: Escalation,
    group: Option<String>,
    /// 0 one-for-one, 1 one-for-all, 2 rest-for-one.
    strategy: u8,
    /// Why it is `Failed`, if it is.
    pub(crate) failed: Option<String>,
}

impl ServiceRow {
    pub(crate) fn new(spec: &ServiceSpec, order: u64, failed: Option<String>) -> Self {
        ServiceRow {
            order,
            command: match &spec.work {
                ServiceWork::Command(c) => Some(c.clone()),
                ServiceWork::Action(_) => None,
            },
            restart: match spec.restart {
                Restart::Permanent => 0,
                Restart::Transient => 1,
                Restart::Temporary => 2,
            },
            max_restarts: spec.intensity.max_restarts,
            within: spec.intensity.within,
            backoff: spec.backoff,
            ready: spec.ready.clone(),
            start_timeout: spec.start_timeout,
            liveness: spec.liveness.clone(),
            after: spec.after.clone(),
            requires: spec.requires.clone(),
            stop_signal: spec.stop_signal,
            stop_grace: spec.stop_grace,
            escalation: spec.escalation,
            group: spec.group.clone(),
            strategy: match spec.strategy {
                Strategy::OneForOne => 0,
                Strategy::OneForAll => 1,
                Strategy::RestForOne => 2,
            },
            failed,
        }
    }

    /// The spec of a stored command service (`None` for an action).
    pub(crate) fn spec(&self, name: &str) -> Option<ServiceSpec> {
        let command = self.command.clone()?;
        let mut spec = ServiceSpec::command(name, command.program.clone());
        spec.work = ServiceWork::Command(command);
        spec.restart = match self.restart {
            1 => Restart::Transient,
            2 => Restart::Temporary,
            _ => Restart::Permanent,
        };
        spec.intensity = RestartIntensity {
            max_restarts: self.max_restarts,
            within: self.within,
        };
        spec.backoff = self.backoff;
        spec.ready = self.ready.clone();
        spec.start_timeout = self.start_timeout;
        spec.liveness = self.liveness.clone();
        spec.after = self.after.clone();
        spec.requires = self.requires.clone();
        spec.stop_signal = self.stop_signal;
        spec.stop_grace = self.stop_grace;
        spec.escalation = self.escalation;
        spec.group = self.group.clone();
        spec.strategy = match self.strategy {
            1 => Strategy::OneForAll,
            2 => Strategy::RestForOne,
            _ => Strategy::OneForOne,
        };
        Some(spec)
    }

    /// Whether a host restart starts it again: a permanent service that
    /// has not failed.
    pub(crate) fn comes_back(&self) -> bool {
        self.restart == 0 && self.failed.is_none()
    }
}
