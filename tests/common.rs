//! Shared fixtures: a runtime with short grace periods, condition waits,
//! a gated action, process liveness checks by pid, and steps of paused
//! time.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use taskorch::{Config, Orchestrator, RunId, RunStatus, Schedule, ScheduleSpec, Task, Trigger};
use tokio::sync::Semaphore;

/// Short grace periods so termination paths finish quickly in tests.
pub fn fast_config() -> Config {
    Config {
        kill_grace: Duration::from_millis(300),
        shutdown_grace: Duration::from_millis(300),
        ..Config::default()
    }
}

/// A started orchestrator that is stopped when dropped, even when the test
/// fails half-way: `abort()` terminates every run, and the test runtime
/// dropping right after kills any process group still there.
pub struct Runtime {
    pub orch: Orchestrator,
}

impl std::ops::Deref for Runtime {
    type Target = Orchestrator;
    fn deref(&self) -> &Orchestrator {
        &self.orch
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.orch.abort();
    }
}

pub async fn start_runtime() -> Runtime {
    start_with(fast_config()).await
}

pub async fn start_with(config: Config) -> Runtime {
    Runtime {
        orch: Orchestrator::start(config)
            .await
            .expect("orchestrator starts"),
    }
}

/// Poll `cond` until it holds or `timeout` passes; returns whether it held.
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Wait (up to 10 s) until `cond` holds, or fail the test naming `what`
/// was awaited: the self-describing form of [`wait_until`].
pub async fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(Duration::from_secs(10), cond).await,
        "timed out waiting for {what}"
    );
}

/// Wait (up to 10 s) until run `id` has `status`, or fail the test saying
/// which status it has instead.
pub async fn wait_for_status(orch: &Orchestrator, id: RunId, status: RunStatus) {
    assert!(
        wait_until(Duration::from_secs(10), || orch.status(id) == Some(status)).await,
        "run {id} never became {status} (it is {:?})",
        orch.status(id)
    );
}

/// Whether `pid` is a live process (zombies count as dead: in a container
/// the reaper of an orphan may be slow).
pub fn alive(pid: u32) -> bool {
    taskorch::process::pid_alive(pid)
}

/// Pids written one per line to `file` by a test script.
pub fn read_pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Wait until `file` lists `n` pids.
pub async fn wait_for_pids(file: &Path, n: usize) -> Vec<u32> {
    assert!(
        wait_until(Duration::from_secs(10), || read_pids(file).len() >= n).await,
        "script did not write {n} pids to {}",
        file.display()
    );
    read_pids(file)
}

/// Assert every pid is gone within a few seconds.
pub async fn assert_all_dead(pids: &[u32]) {
    let gone = wait_until(Duration::from_secs(10), || pids.iter().all(|&p| !alive(p))).await;
    let survivors: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    assert!(gone, "processes survived: {survivors:?}");
}

/// Registers the action `name`: each call waits for a permit of the
/// returned semaphore (none at first), then returns its input. The test
/// decides when each run ends.
pub fn register_gate(orch: &Orchestrator, name: &str) -> Arc<Semaphore> {
    let gate = Arc::new(Semaphore::new(0));
    let permits = Arc::clone(&gate);
    orch.register_action(name, move |input| {
        let permits = Arc::clone(&permits);
        async move {
            permits.acquire().await.map_err(|e| e.to_string())?.forget();
            Ok(input)
        }
    });
    gate
}

/// A seeded xorshift generator: the crash tests' random moments, replayable
/// from the seed they print (no dependency, same numbers everywhere).
pub struct Rng(pub u64);

impl Rng {
    /// A generator for `seed` (0 would stay 0, so it becomes 1).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// The environment variable `name` parsed, else `default` (a seed or a
/// count a developer may set to replay or lengthen a test).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// tokio's timer wheel rounds deadlines up to the next millisecond: a
/// timer due at `due` fires within a millisecond after it.
pub const WHEEL: Duration = Duration::from_millis(1);

/// Let the runtime's tasks run without moving paused time.
pub async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

/// Yield until `cond` holds (bounded by a number of yields, not by time,
/// so paused time does not move).
pub async fn settle_until(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..20_000 {
        if cond() {
            return true;
        }
        tokio::task::yield_now().await;
    }
    cond()
}

/// Move paused time forward by `d`, then let everything due run.
pub async fn advance(d: Duration) {
    tokio::time::advance(d).await;
    settle().await;
}

/// An hourly schedule named "long" that fires at once; its run starts a
/// `sleep 100` child, appends the child's pid and its own to `pids` and
/// waits, so a test can check that the run's whole group is gone (see
/// `wait_for_pids`, `assert_all_dead`).
pub async fn long_schedule_recording_pids(orch: &Orchestrator, pids: &Path) -> Schedule {
    let script = format!(
        "sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    orch.schedule(ScheduleSpec::new(
        "long",
        Trigger::every(Duration::from_secs(3600)).immediately(),
        Task::shell(script),
    ))
    .await
    .unwrap()
}

/// Waiting on run `id` fails as `Cancelled` naming it, and its status is
/// `Cancelled`.
pub async fn assert_ends_cancelled(orch: &Orchestrator, id: RunId) {
    let err = orch.wait(id).await.unwrap_err();
    assert!(
        matches!(err, taskorch::Error::Cancelled { run: Some(r) } if r == id),
        "{err:?}"
    );
    assert_eq!(orch.status(id), Some(RunStatus::Cancelled));
}
