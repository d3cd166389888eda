//! [`ChaosReport`]: what a chaos run did and which invariants broke.

use std::fmt;
use std::time::Duration;

/// The outcome of [`Chaos::run`](super::Chaos::run): counts, and the
/// evidence of every broken invariant (empty lists when all held).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ChaosReport {
    /// The seed.
    pub seed: u64,
    /// Rounds of the workload (one fault injected before each).
    pub rounds: usize,
    /// Faults injected.
    pub faults_injected: u64,
    /// Faults that hit their message or process (a targeted fault whose
    /// message never came stays unfired).
    pub faults_fired: u64,
    /// Calls made (run, stream, batch, launch, wait, pool request, resize,
    /// enable/disable, ...).
    pub calls: u64,
    /// Of those, how many answered an error (expected under faults:
    /// `ActorFailed`, `Interrupted` runs, ...).
    pub calls_failed: u64,
    /// Runs in the registry at the end.
    pub runs: usize,
    /// Of those, how many reached a terminal status.
    pub runs_terminal: usize,
    /// Processes recorded by the runs' scripts and the pool's workers,
    /// each checked to be gone.
    pub pids_checked: usize,
    /// `system_status()` answers during the run.
    pub status_checks: u64,
    /// How long the run took.
    pub elapsed: Duration,

    /// Calls that did not answer within the bound (invariant 2).
    pub hung_calls: Vec<String>,
    /// Runs that never reached a terminal status (invariant 1).
    pub stuck_runs: Vec<String>,
    /// Processes alive after their run ended, or after shutdown for pool
    /// workers (invariant 3).
    pub orphans: Vec<u32>,
    /// `system_status()` calls that failed or timed out (invariant 4).
    pub status_failures: u64,
    /// Registry runs nobody submitted, submitted tasks that became two
    /// runs, and run ids a caller got that the registry does not know
    /// (invariant 5).
    pub registry_mismatches: Vec<String>,
    /// Anything else that should not happen (a pool answering another
    /// request's line, a refused planned fault).
    pub other_violations: Vec<String>,
}

impl ChaosReport {
    /// Every broken invariant, one line each.
    pub fn violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.hung_calls.iter().map(|c| format!("hung call: {c}")));
        out.extend(
            self.stuck_runs
                .iter()
                .map(|r| format!("run not terminal: {r}")),
        );
        out.extend(
            self.orphans
                .iter()
                .map(|p| format!("orphaned process: {p}")),
        );
        if self.status_failures > 0 {
            out.push(format!(
                "system_status failed {} times",
                self.status_failures
            ));
        }
        out.extend(self.registry_mismatches.iter().cloned());
        out.extend(self.other_violations.iter().cloned());
        out
    }

    /// Whether every invariant held.
    pub fn is_ok(&self) -> bool {
        self.violations().is_empty()
    }
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let violations = self.violations();
        write!(
            f,
            "chaos seed {}: {} faults injected ({} fired) over {} rounds, {} calls ({} answered an \
             error), {} runs ({} terminal), {} pids checked, {} orphans, {} hung calls, \
             system_status answered {} times ({} failures), {} violations, {:.1?}",
            self.seed,
            self.faults_injected,
            self.faults_fired,
            self.rounds,
            self.calls,
            self.calls_failed,
            self.runs,
            self.runs_terminal,
            self.pids_checked,
            self.orphans.len(),
            self.hung_calls.len(),
            self.status_checks,
            self.status_failures,
            violations.len(),
            self.elapsed,
        )?;
        for v in violations.iter().take(20) {
            write!(f, "\n  - {v}")?;
        }
        if violations.len() > 20 {
            write!(f, "\n  ... and {} more", violations.len() - 20)?;
        }
        Ok(())
    }
}
