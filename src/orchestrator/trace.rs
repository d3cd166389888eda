//! Observing and breaking the runtime on purpose: the message trace, and
//! fault injection (feature `fault-injection`, through [`Faults`]).

use taskorch_actors::TraceLog;
#[cfg(feature = "fault-injection")]
use taskorch_actors::{Fault, FaultStats, FaultTarget, Result};

use super::Orchestrator;

impl Orchestrator {
    /// A snapshot of the message trace: every message every actor handled,
    /// every run, the supervisor's restarts, oldest first, as far back as
    /// `Config::trace_capacity` reaches (empty when it is 0). Filter it
    /// ([`TraceLog::for_run`], [`for_actor`](TraceLog::for_actor),
    /// [`between`](TraceLog::between)) and write it out
    /// ([`write_json_lines`](TraceLog::write_json_lines),
    /// [`write_chrome_trace`](TraceLog::write_chrome_trace) for Perfetto).
    /// Forget what was recorded so far with
    /// [`Observer::clear_trace`](crate::events::Observer::clear_trace).
    pub fn trace(&self) -> TraceLog {
        self.inner.ctx.trace().snapshot()
    }

    /// Fault injection beyond [`inject_fault`](Self::inject_fault): aimed
    /// faults, clearing them, and their counts.
    #[cfg(feature = "fault-injection")]
    pub fn faults(&self) -> Faults<'_> {
        Faults { orch: self }
    }
}

/// Fault injection ([`Orchestrator::faults`], feature `fault-injection`).
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy)]
pub struct Faults<'a> {
    orch: &'a Orchestrator,
}

#[cfg(feature = "fault-injection")]
impl Faults<'_> {
    /// Queue `fault` for the message (or spawned process) of `actor` that
    /// `target` names: `FaultTarget::next()`, or
    /// `FaultTarget::message("Launch").nth(3)` for the third `Launch` from
    /// now. Actors: "executor", "batch", "launcher", "scheduler",
    /// "pool_keeper", "pool_worker"; "store" (with `Config::store`),
    /// which takes only `Fault::FailCommits(n)` at `FaultTarget::next()`:
    /// the store writer's next `n` commits fail as on a full disk; and the
    /// application's own actors by name (message faults only; a kind must
    /// be one of the message type's `ActorMessage::KINDS`).
    ///
    /// # Errors
    /// `InvalidFault` for an actor faults cannot target (the root
    /// supervisor, a misspelt name), a message kind that actor does not
    /// handle, `nth(0)`, or a message kind given with `KillChildProcess`
    /// (which counts spawned processes).
    pub fn inject_at(&self, actor: &str, target: FaultTarget, fault: Fault) -> Result<()> {
        self.orch
            .inner
            .ctx
            .faults()
            .inject_at(actor, &target, fault)
    }

    /// Drop every fault not fired yet; returns how many there were.
    pub fn clear(&self) -> usize {
        self.orch.inner.ctx.faults().clear()
    }

    /// How many faults were injected, have fired, and are still pending.
    pub fn stats(&self) -> FaultStats {
        self.orch.inner.ctx.faults().stats()
    }
}
