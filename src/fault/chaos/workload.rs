//! The chaos harness's workload: the state shared by the rounds (see
//! `round`), what the calls answered written down in a ledger, and the
//! final checks.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use taskorch_actors::scheduler::{Schedule, ScheduleSpec, Trigger};
use taskorch_actors::{Backoff, Pool, PoolSpec, Result, RunId, RunInfo, RunStatus, Task};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};

use super::hazard::{self, Hazard, Scratch, TickPanics};
use super::procs::{self, MARKER, Proc};
use super::report::ChaosReport;
use crate::Orchestrator;

/// The names of scheduled runs (the only names allowed to repeat).
pub(super) const TICK: &str = "chaos-tick";
pub(super) const ACTION_TICK: &str = "chaos-action-tick";

/// How long the end of a run waits for runs to settle and processes to go.
const SETTLE: Duration = Duration::from_secs(30);

/// What the calls answered.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    /// Every task submitted, by (unique) name, with how many runs it may
    /// become: 1, or 2 for a workflow's command block (its block run
    /// launches a run of the same name).
    pub(super) submitted: HashMap<String, usize>,
    /// Run ids callers got back, with the task's name.
    pub(super) returned: Vec<(RunId, String)>,
    pub(super) launched: Vec<RunId>,
    /// Tasks whose child traps SIGTERM.
    pub(super) trapping: Vec<String>,
    /// Faults injected inside runs, by kind.
    pub(super) hazards: BTreeMap<&'static str, u64>,
    pub(super) pool_procs: Vec<Proc>,
    pub(super) calls: u64,
    pub(super) failed: u64,
    /// The errors calls answered, by variant.
    pub(super) errors: BTreeMap<String, u64>,
    pub(super) hung: Vec<String>,
    pub(super) other: Vec<String>,
}

impl Ledger {
    /// Count an error answered, by its variant.
    pub(super) fn count_error(&mut self, e: &taskorch_actors::Error) {
        self.failed += 1;
        let debug = format!("{e:?}");
        let variant = debug
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default();
        *self.errors.entry(variant.to_string()).or_default() += 1;
    }
}

/// Stops the status poller and collects its counts.
pub(super) struct Poller {
    stop: oneshot::Sender<()>,
    task: JoinHandle<(u64, u64)>,
}

pub(super) struct Workload {
    pub(super) orch: Orchestrator,
    pub(super) scratch: Scratch,
    /// The value of [`MARKER`] in every run's environment (pool workers:
    /// with "-pool" appended).
    pub(super) tag: String,
    pub(super) bound: Duration,
    pub(super) rng: StdRng,
    ledger: Mutex<Ledger>,
    pub(super) pool_name: String,
    pub(super) pool: Option<Pool>,
    pub(super) schedules: Vec<Schedule>,
    tick_panics: Arc<TickPanics>,
    /// The application's own actors, with `Chaos::user_actors` (else none).
    pub(super) users: super::actors::UserActors,
}

impl Workload {
    pub(super) fn new(
        orch: Orchestrator,
        scratch: Scratch,
        tag: String,
        bound: Duration,
        rng: StdRng,
    ) -> Self {
        Workload {
            orch,
            scratch,
            pool_name: format!("chaos-pool-{tag}"),
            tag,
            bound,
            rng,
            ledger: Mutex::default(),
            pool: None,
            schedules: Vec::new(),
            tick_panics: Arc::default(),
            users: super::actors::UserActors::default(),
        }
    }

    pub(super) fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding it would be a bug of the harness; the
        // counts are still worth reporting.
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn note_violation(&self, what: String) {
        self.ledger().other.push(what);
    }

    /// Ask `system_status()` every 20 ms until stopped.
    pub(super) fn poll_status(&self) -> Poller {
        let (stop, mut stopped) = oneshot::channel();
        let orch = self.orch.clone();
        let task = tokio::spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = sleep(Duration::from_millis(20)) => {}
                }
                match timeout(Duration::from_secs(5), orch.system_status()).await {
                    Ok(Ok(_)) => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        });
        Poller { stop, task }
    }

    /// Actions, block types, the pool and the two schedules (a script and
    /// an action that panics on two ticks out of three).
    pub(super) async fn setup(&mut self) {
        hazard::register(&self.orch, &self.scratch, Arc::clone(&self.tick_panics));
        super::round::register_block_types(&self.orch);
        self.reopen_pool().await;
        let tick = self
            .tagged(Task::shell(self.scratch.command(Hazard::ShellOk, TICK)))
            .timeout(Duration::from_secs(10));
        let acting = self
            .tagged(Task::action(hazard::TICK_ACTION, serde_json::Value::Null))
            .timeout(Duration::from_secs(10));
        for (name, task) in [(TICK, tick), (ACTION_TICK, acting)] {
            let spec = ScheduleSpec::new(name, Trigger::every(Duration::from_millis(100)), task);
            if let Some(schedule) = self
                .call(format!("schedule {name}"), self.orch.schedule(spec))
                .await
            {
                self.schedules.push(schedule);
            }
        }
    }

    /// `task` with the harness's environment marker.
    pub(super) fn tagged(&self, task: Task) -> Task {
        task.env(MARKER, &self.tag)
    }

    /// A uniquely named task doing `hazard`: one that runs until stopped
    /// gets a timeout of 100 to 300 ms, the others 10 s.
    pub(super) fn task(&self, name: &str, hazard: Hazard, limit: Duration) -> Task {
        self.submitted(name, 1, hazard);
        let task = if hazard.is_shell() {
            Task::shell(self.scratch.command(hazard, name))
        } else {
            Task::action(hazard::ACTION, Scratch::input(hazard, name))
        };
        self.tagged(task).name(name).timeout(limit)
    }

    /// Write down that a task called `name` doing `hazard` was submitted.
    pub(super) fn submitted(&self, name: &str, runs: usize, hazard: Hazard) {
        let mut ledger = self.ledger();
        ledger.submitted.insert(name.to_string(), runs);
        if hazard.is_fault() {
            *ledger.hazards.entry(hazard.name()).or_default() += 1;
        }
        if hazard == Hazard::TrapTerm {
            ledger.trapping.push(name.to_string());
        }
    }

    /// Await `fut` within the bound, counting the call.
    pub(super) async fn call<T>(
        &self,
        what: String,
        fut: impl Future<Output = Result<T>>,
    ) -> Option<T> {
        let answer = timeout(self.bound, fut).await;
        let mut ledger = self.ledger();
        ledger.calls += 1;
        match answer {
            Err(_) => {
                ledger.hung.push(what);
                None
            }
            Ok(Err(e)) => {
                ledger.count_error(&e);
                None
            }
            Ok(Ok(value)) => Some(value),
        }
    }

    pub(super) fn returned(&self, id: RunId, name: &str) {
        self.ledger().returned.push((id, name.to_string()));
    }

    /// Open the pool, closing a failed one first.
    pub(super) async fn reopen_pool(&mut self) {
        if let Some(old) = self.pool.take() {
            self.call("close a failed pool".into(), old.close()).await;
        }
        let spec = PoolSpec::command(&self.pool_name, "cat")
            .workers(2)
            .env(MARKER, format!("{}-pool", self.tag))
            .max_start_failures(1_000)
            .restart_backoff(Backoff::none());
        self.pool = self
            .call("open the pool".into(), self.orch.pool(spec))
            .await;
    }

    /// Stop the workload, wait for the runs, check the invariants, shut
    /// down.
    pub(super) async fn finish(self, poller: Poller) -> ChaosReport {
        let mut report = ChaosReport::default();
        // No new scheduled runs from here on (a fault-free retry or two if
        // a late fault hit the scheduler).
        for schedule in &self.schedules {
            for _ in 0..3 {
                if self
                    .call("final disable".into(), schedule.disable())
                    .await
                    .is_some()
                {
                    break;
                }
            }
        }
        self.check_recovery().await;
        self.check_user_actors();
        let launched = std::mem::take(&mut self.ledger().launched);
        for id in launched {
            self.call(format!("wait {id}"), async {
                // An interrupted run is an answer too: only a hang counts.
                let _ = self.orch.wait(id).await;
                Ok(())
            })
            .await;
        }
        let settled = timeout(SETTLE, async {
            while self.orch.runs().iter().any(|r| !r.status.is_terminal()) {
                sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let runs = self.orch.runs();
        report.runs = runs.len();
        report.runs_terminal = runs.iter().filter(|r| r.status.is_terminal()).count();
        if settled.is_err() {
            report.stuck_runs = runs
                .iter()
                .filter(|r| !r.status.is_terminal())
                .map(|r| format!("{} {} ({})", r.name, r.id, r.status))
                .collect();
        }
        report.registry_mismatches = self.check_registry(&runs);
        report.duplicated_runs = self.check_executions();
        report.missed_cleanups = self.check_cleanups(&runs);

        // Every run is over: every process a script recorded, and every
        // process with the runs' marker, must be gone and reaped.
        let recorded = procs::recorded(&self.scratch.pids());
        report.pids_checked = recorded.len();
        let left = procs::leftovers(&recorded, &[&self.tag], Duration::from_secs(10)).await;

        let _ = poller.stop.send(());
        let (status_ok, status_failed) = poller.task.await.unwrap_or((0, 1));
        report.status_checks = status_ok;
        report.status_failures = status_failed;

        let stopped = timeout(self.bound, self.orch.shutdown()).await;
        if stopped.is_err() {
            self.ledger().hung.push("shutdown".into());
        }
        // Pool workers outlive no runtime.
        let workers = self.ledger().pool_procs.clone();
        report.pids_checked += workers.len();
        let pool_tag = format!("{}-pool", self.tag);
        let after =
            procs::leftovers(&workers, &[&self.tag, &pool_tag], Duration::from_secs(10)).await;
        report.orphans = left.live;
        report.orphans.extend(after.live);
        report.zombies = left.zombies;
        report.zombies.extend(after.zombies);
        report.zombies_of_init = left.zombies_of_init.max(after.zombies_of_init);

        let ticks = &self.tick_panics;
        let mut ledger = self.ledger();
        for (kind, n) in &ledger.hazards {
            report.faults_by_kind.insert((*kind).to_string(), *n);
        }
        for (kind, n) in [
            ("tick-panics-before-future", &ticks.early),
            ("tick-panics-in-future", &ticks.inside),
        ] {
            report
                .faults_by_kind
                .insert(kind.to_string(), n.load(Ordering::Relaxed));
        }
        report.calls = ledger.calls;
        report.calls_failed = ledger.failed;
        report.errors_by_kind = std::mem::take(&mut ledger.errors);
        report.hung_calls = std::mem::take(&mut ledger.hung);
        report.other_violations = std::mem::take(&mut ledger.other);
        report
    }

    /// Once the faults stop, the runtime serves again: a plain run
    /// succeeds within a few seconds (the store reopened after failed
    /// commits, every actor restarted).
    async fn check_recovery(&self) {
        let mut last = String::from("no attempt answered");
        for attempt in 0..10 {
            let name = format!("chaos-probe-{attempt}");
            let task = self.task(&name, Hazard::ShellOk, Duration::from_secs(10));
            match timeout(self.bound, self.orch.run(task)).await {
                Ok(Ok(out)) if out.success() => {
                    self.returned(out.run_id, &name);
                    return;
                }
                Ok(Ok(out)) => last = format!("exit {:?}", out.exit_code),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "hung".into(),
            }
            sleep(Duration::from_millis(500)).await;
        }
        self.note_violation(format!(
            "the runtime did not recover: no plain run succeeded in 10 tries once the faults \
             stopped (last: {last})"
        ));
    }

    /// Every run in the registry was submitted, none became more runs than
    /// it may, and every run id a caller got is there.
    fn check_registry(&self, runs: &[RunInfo]) -> Vec<String> {
        let ledger = self.ledger();
        let mut out = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for run in runs {
            if run.name == TICK || run.name == ACTION_TICK {
                continue;
            }
            let Some(&allowed) = ledger.submitted.get(&run.name) else {
                out.push(format!(
                    "registry run {} ({}) was never submitted",
                    run.id, run.name
                ));
                continue;
            };
            let count = seen.entry(run.name.as_str()).or_default();
            *count += 1;
            if *count == allowed + 1 {
                out.push(format!(
                    "task {} became more than {allowed} run(s)",
                    run.name
                ));
            }
        }
        for (id, name) in &ledger.returned {
            match self.orch.observe().find_run(*id) {
                None => out.push(format!(
                    "run {id} ({name}) was returned but is not in the registry"
                )),
                Some(info) if info.name != *name => out.push(format!(
                    "run {id} was returned for {name} but the registry has it as {}",
                    info.name
                )),
                Some(_) => {}
            }
        }
        out
    }

    /// No task executed twice: its marker file has at most one line.
    fn check_executions(&self) -> Vec<String> {
        let ledger = self.ledger();
        let mut out: Vec<String> = ledger
            .submitted
            .keys()
            .filter_map(|name| {
                let n = self.scratch.executions(name);
                (n > 1).then(|| format!("task {name} executed {n} times"))
            })
            .collect();
        out.sort();
        out
    }

    /// A run whose child traps SIGTERM, stopped by SIGTERM (timed out or
    /// cancelled) after its trap was set, finished its cleanup: the grace
    /// covers the whole group, not only the leader.
    fn check_cleanups(&self, runs: &[RunInfo]) -> Vec<String> {
        let ledger = self.ledger();
        let by_name: HashMap<&str, &RunInfo> = runs.iter().map(|r| (r.name.as_str(), r)).collect();
        ledger
            .trapping
            .iter()
            .filter_map(|name| {
                let run = by_name.get(name.as_str())?;
                let stopped = matches!(run.status, RunStatus::TimedOut | RunStatus::Cancelled);
                (stopped && self.scratch.armed(name) && !self.scratch.cleaned(name)).then(|| {
                    format!(
                        "run {} ({name}, {}): the TERM trap of its child did not finish",
                        run.id, run.status
                    )
                })
            })
            .collect()
    }
}
