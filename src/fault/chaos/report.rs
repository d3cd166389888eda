//! [`ChaosReport`]: what a chaos run did and which invariants broke.

use std::collections::BTreeMap;
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
    /// Every fault injected, by kind: the planned actor faults by
    /// [`Fault::name`](crate::fault::Fault::name), and the faults inside
    /// runs (a panicking or hanging action, a child that traps or ignores
    /// SIGTERM, a double-forked daemon, a grandchild holding stdout, a
    /// panicking scheduled action).
    pub faults_by_kind: BTreeMap<String, u64>,
    /// Calls made (run, stream, batch, launch, wait, pool request, resize,
    /// enable/disable, ...).
    pub calls: u64,
    /// Of those, how many answered an error (expected under faults:
    /// `ActorFailed`, `Interrupted` runs, ...).
    pub calls_failed: u64,
    /// The errors calls answered, by `Error` variant.
    pub errors_by_kind: BTreeMap<String, u64>,
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
    /// Zombies left unreaped by this process tree (invariant 3).
    pub zombies: Vec<u32>,
    /// Zombies of the harness's processes that were reparented to the
    /// machine's init and not (yet) reaped by it: not the runtime's to
    /// reap, so no violation; counted because an init that never reaps
    /// leaves them for ever.
    pub zombies_of_init: usize,
    /// Tasks that executed more than once (invariant 6).
    pub duplicated_runs: Vec<String>,
    /// Runs stopped by SIGTERM whose child's TERM trap did not get to
    /// finish its cleanup (invariant 7).
    pub missed_cleanups: Vec<String>,
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
        self.by_invariant()
            .into_iter()
            .flat_map(|(_, v)| v)
            .collect()
    }

    /// The broken invariants, grouped.
    fn by_invariant(&self) -> Vec<(&'static str, Vec<String>)> {
        let lines = |prefix: &str, items: &[String]| -> Vec<String> {
            items.iter().map(|i| format!("{prefix}{i}")).collect()
        };
        let pids = |prefix: &str, pids: &[u32]| -> Vec<String> {
            pids.iter().map(|p| format!("{prefix}{p}")).collect()
        };
        let mut status = Vec::new();
        if self.status_failures > 0 {
            status.push(format!(
                "system_status failed {} times",
                self.status_failures
            ));
        }
        vec![
            ("hung calls", lines("hung call: ", &self.hung_calls)),
            (
                "non-terminal runs",
                lines("run not terminal: ", &self.stuck_runs),
            ),
            ("live processes", pids("orphaned process: ", &self.orphans)),
            ("zombies", pids("unreaped zombie: ", &self.zombies)),
            ("duplicated runs", self.duplicated_runs.clone()),
            ("TERM cleanups", self.missed_cleanups.clone()),
            ("system_status", status),
            ("registry", self.registry_mismatches.clone()),
            ("other", self.other_violations.clone()),
        ]
    }

    /// Whether every invariant held.
    pub fn is_ok(&self) -> bool {
        self.violations().is_empty()
    }

    /// Every fault injected, planned or inside runs.
    pub fn faults_total(&self) -> u64 {
        self.faults_by_kind.values().sum()
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
        write!(f, "\n  faults by kind ({} in all):", self.faults_total())?;
        for (kind, n) in &self.faults_by_kind {
            write!(f, " {kind} {n},")?;
        }
        write!(f, "\n  errors answered:")?;
        for (kind, n) in &self.errors_by_kind {
            write!(f, " {kind} {n},")?;
        }
        write!(
            f,
            "\n  hung callers {}, non-terminal runs {}, leftover processes {}, unreaped \
             zombies {} ({} more left to init), duplicated runs {}, unfinished TERM cleanups {}",
            self.hung_calls.len(),
            self.stuck_runs.len(),
            self.orphans.len(),
            self.zombies.len(),
            self.zombies_of_init,
            self.duplicated_runs.len(),
            self.missed_cleanups.len(),
        )?;
        // A few of each kind, so one flood does not hide the others.
        for (_, lines) in self.by_invariant() {
            for line in lines.iter().take(5) {
                write!(f, "\n  - {line}")?;
            }
            if lines.len() > 5 {
                write!(f, "\n  ... and {} more like it", lines.len() - 5)?;
            }
        }
        Ok(())
    }
}
