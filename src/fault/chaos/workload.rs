//! The chaos harness's workload: one round of calls over every pattern,
//! each bounded, with what they answered written down in a ledger; and the
//! final checks.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;
use taskorch_actors::scheduler::{Schedule, ScheduleSpec, Trigger};
use taskorch_actors::{
    Backoff, Error, Pool, PoolSpec, PoolState, Result, RunId, Task, process_alive,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};

use super::ChaosReport;
use crate::Orchestrator;

/// The name of every scheduled run (the only name allowed to repeat).
const TICK: &str = "chaos-tick";

/// How long the end of a run waits for runs to settle and processes to go.
const SETTLE: Duration = Duration::from_secs(30);

/// What the calls answered.
#[derive(Debug, Default)]
struct Ledger {
    /// Names of every task submitted (unique).
    submitted: HashSet<String>,
    /// Run ids callers got back, with the task's name.
    returned: Vec<(RunId, String)>,
    launched: Vec<RunId>,
    pool_pids: HashSet<u32>,
    calls: u64,
    failed: u64,
    hung: Vec<String>,
    other: Vec<String>,
}

/// Stops the status poller and collects its counts.
pub(super) struct Poller {
    stop: oneshot::Sender<()>,
    task: JoinHandle<(u64, u64)>,
}

pub(super) struct Workload {
    orch: Orchestrator,
    /// Where run scripts append "<run id> <pid>" lines.
    pids: PathBuf,
    bound: Duration,
    rng: StdRng,
    ledger: Mutex<Ledger>,
    pool_name: String,
    pool: Option<Pool>,
    schedule: Option<Schedule>,
}

impl Workload {
    pub(super) fn new(orch: Orchestrator, pids: PathBuf, bound: Duration, rng: StdRng) -> Self {
        // Unique per harness, so the environment check of a pool worker
        // (see `ours`) cannot mistake another harness's worker for ours.
        let pool_name = format!(
            "chaos-pool-{}",
            pids.parent()
                .and_then(|d| d.file_name())
                .and_then(|n| n.to_str())
                .unwrap_or("x")
        );
        Workload {
            orch,
            pids,
            bound,
            rng,
            ledger: Mutex::default(),
            pool_name,
            pool: None,
            schedule: None,
        }
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
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

    /// Actions, the pool and the schedule.
    pub(super) async fn setup(&mut self) {
        self.orch.register_action("chaos-echo", |input| async move {
            match input.as_u64() {
                Some(0) => Ok(input),
                _ => Err("asked to fail".to_string()),
            }
        });
        self.reopen_pool().await;
        let tick = Task::shell(self.script(0)).timeout(Duration::from_secs(10));
        let spec = ScheduleSpec::new(TICK, Trigger::every(Duration::from_millis(100)), tick);
        self.schedule = self
            .call(format!("schedule {TICK}"), self.orch.schedule(spec))
            .await;
    }

    /// A shell script that records its pid and a grandchild's, prints a
    /// line, exits `code`. The grandchild would sleep far longer than the
    /// orphan check waits: only the runtime killing the run's process
    /// group ends it in time.
    fn script(&self, code: u8) -> String {
        let p = self.pids.display();
        format!(
            "echo \"$TASKORCH_RUN_ID $$\" >> '{p}'; sleep 600 & echo \"$TASKORCH_RUN_ID $!\" >> '{p}'; \
             echo line; exit {code}"
        )
    }

    /// A uniquely named task: a shell script or an in-process action.
    fn task(&self, name: &str, shell: bool, code: u8) -> Task {
        self.ledger().submitted.insert(name.to_string());
        let task = if shell {
            Task::shell(self.script(code))
        } else {
            Task::action("chaos-echo", json!(code))
        };
        task.name(name).timeout(Duration::from_secs(10))
    }

    /// Await `fut` within the bound, counting the call.
    async fn call<T>(&self, what: String, fut: impl Future<Output = Result<T>>) -> Option<T> {
        let answer = timeout(self.bound, fut).await;
        let mut ledger = self.ledger();
        ledger.calls += 1;
        match answer {
            Err(_) => {
                ledger.hung.push(what);
                None
            }
            Ok(Err(_)) => {
                ledger.failed += 1;
                None
            }
            Ok(Ok(value)) => Some(value),
        }
    }

    fn returned(&self, id: RunId, name: &str) {
        self.ledger().returned.push((id, name.to_string()));
    }

    /// One round: every pattern at once.
    pub(super) async fn round(&mut self, round: usize) {
        let shell: [bool; 6] = std::array::from_fn(|_| self.rng.random_bool(0.6));
        let code = |rng: &mut StdRng| u8::from(rng.random_bool(0.2));
        let codes: [u8; 6] = std::array::from_fn(|_| code(&mut self.rng));
        let this = &*self;

        let run = async {
            let name = format!("chaos-{round}-run");
            let task = this.task(&name, shell[0], codes[0]);
            if let Some(out) = this.call(format!("run {name}"), this.orch.run(task)).await {
                this.returned(out.run_id, &name);
            }
        };
        let stream = async {
            let name = format!("chaos-{round}-stream");
            let task = this.task(&name, true, codes[1]);
            let streamed = async {
                let mut stream = this.orch.stream(task).await?;
                this.returned(stream.run_id(), &name);
                while stream.next_line().await.is_some() {}
                stream.wait().await
            };
            this.call(format!("stream {name}"), streamed).await;
        };
        let batch = async {
            let names: Vec<String> = (0..3).map(|k| format!("chaos-{round}-b{k}")).collect();
            let tasks = names
                .iter()
                .enumerate()
                .map(|(k, name)| this.task(name, shell[2 + k], codes[2 + k]))
                .collect();
            let batched = async { Ok::<_, Error>(this.orch.run_batch(tasks, 2).await) };
            if let Some(results) = this.call(format!("batch {round}"), batched).await {
                for (result, name) in results.iter().zip(&names) {
                    match result {
                        Ok(out) => this.returned(out.run_id, name),
                        Err(_) => this.ledger().failed += 1,
                    }
                }
            }
        };
        let launch = async {
            let name = format!("chaos-{round}-launch");
            let task = this.task(&name, shell[5], codes[5]);
            if let Some(id) = this
                .call(format!("launch {name}"), this.orch.launch(task))
                .await
            {
                this.returned(id, &name);
                this.ledger().launched.push(id);
            }
        };
        let pooled = async {
            let Some(pool) = &this.pool else { return };
            let line = format!("ping {round}");
            if let Some(reply) = this
                .call(format!("pool request {round}"), pool.request(line.clone()))
                .await
                && reply != line
            {
                this.note_violation(format!("pool answered {reply:?} to {line:?}"));
            }
            if round.is_multiple_of(4) {
                let workers = 1 + (round / 4) % 2;
                this.call(format!("pool resize {round}"), pool.resize(workers))
                    .await;
            }
            this.ledger().pool_pids.extend(pool.worker_pids());
        };
        let toggle = async {
            let Some(schedule) = &this.schedule else {
                return;
            };
            if round.is_multiple_of(6) {
                this.call(format!("disable {round}"), schedule.disable())
                    .await;
                this.call(format!("enable {round}"), schedule.enable())
                    .await;
            }
        };
        tokio::join!(run, stream, batch, launch, pooled, toggle);
        if self
            .pool
            .as_ref()
            .is_none_or(|p| matches!(p.state(), PoolState::Failed(_) | PoolState::Closed))
        {
            self.reopen_pool().await;
        }
    }

    /// Open the pool, closing a failed one first.
    async fn reopen_pool(&mut self) {
        if let Some(old) = self.pool.take() {
            self.call("close a failed pool".into(), old.close()).await;
        }
        let spec = PoolSpec::command(&self.pool_name, "cat")
            .workers(2)
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
        if let Some(schedule) = &self.schedule {
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

        // Every run is over: every process a script recorded must be gone.
        let recorded = self.recorded_pids();
        report.pids_checked = recorded.len();
        let mut orphans = survivors(&recorded).await;

        let _ = poller.stop.send(());
        let (status_ok, status_failed) = poller.task.await.unwrap_or((0, 1));
        report.status_checks = status_ok;
        report.status_failures = status_failed;

        let stopped = timeout(self.bound, self.orch.shutdown()).await;
        if stopped.is_err() {
            self.ledger().hung.push("shutdown".into());
        }
        // Pool workers outlive no runtime.
        let workers: Vec<(u32, String)> = self
            .ledger()
            .pool_pids
            .iter()
            .map(|&pid| (pid, format!("TASKORCH_POOL={}", self.pool_name)))
            .collect();
        report.pids_checked += workers.len();
        orphans.extend(survivors(&workers).await);
        report.orphans = orphans;
        let mut ledger = self.ledger();
        report.calls = ledger.calls;
        report.calls_failed = ledger.failed;
        report.hung_calls = std::mem::take(&mut ledger.hung);
        report.other_violations = std::mem::take(&mut ledger.other);
        report
    }

    /// Invariant 5 (see the harness's module docs).
    fn check_registry(&self, runs: &[taskorch_actors::RunInfo]) -> Vec<String> {
        let ledger = self.ledger();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for run in runs {
            if run.name == TICK {
                continue;
            }
            if !ledger.submitted.contains(&run.name) {
                out.push(format!(
                    "registry run {} ({}) was never submitted",
                    run.id, run.name
                ));
            } else if !seen.insert(run.name.as_str()) {
                out.push(format!("task {} became more than one run", run.name));
            }
        }
        for (id, name) in &ledger.returned {
            match self.orch.run_info(*id) {
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

    /// "<run id> <pid>" lines the scripts wrote, as (pid, environment
    /// marker) pairs.
    fn recorded_pids(&self) -> Vec<(u32, String)> {
        std::fs::read_to_string(&self.pids)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (run, pid) = line.trim().split_once(' ')?;
                Some((pid.parse().ok()?, format!("TASKORCH_RUN_ID={run}")))
            })
            .collect()
    }
}

/// The pids still alive (and still ours) after a bounded wait. They are
/// killed on the way out: a failed check must not leave them running.
async fn survivors(pids: &[(u32, String)]) -> Vec<u32> {
    let live = || -> Vec<u32> {
        pids.iter()
            .filter(|(pid, marker)| process_alive(*pid) && ours(*pid, marker))
            .map(|(pid, _)| *pid)
            .collect()
    };
    let _ = timeout(Duration::from_secs(10), async {
        while !live().is_empty() {
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let orphans = live();
    if !orphans.is_empty() {
        let _ = std::process::Command::new("kill")
            .arg("-KILL")
            .args(orphans.iter().map(u32::to_string))
            .status();
    }
    orphans
}

/// Whether `pid` still is the process we recorded: pids get reused on a
/// busy machine, so a live pid counts only if its environment carries the
/// run id (or pool name) it was recorded with.
#[cfg(target_os = "linux")]
fn ours(pid: u32, marker: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == marker.as_bytes()))
}

#[cfg(not(target_os = "linux"))]
fn ours(_pid: u32, _marker: &str) -> bool {
    true
}
