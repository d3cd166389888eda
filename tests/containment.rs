//! Containment: the whole process group gets the SIGTERM grace, a run
//! ends when its leader exits even as a subreaper, and nothing of a host
//! that is `kill -9`ed outlives it (the guardian).

use std::path::Path;
use std::time::Duration;

use taskorch::{Config, PoolSpec, RunStatus, Task};

use crate::common::{start_with, wait_until};

/// A group member that traps SIGTERM, takes 300 ms to clean up, then
/// writes `cleaned` to `$MARKER`; it writes its pid to `$READY` once the
/// trap is set. Its leader (the shell that started it in the background)
/// dies of SIGTERM at once.
const CLEANS_UP: &str = r#"sh -c 'trap "sleep 0.3; echo cleaned > \"$MARKER\"; exit 0" TERM
echo $$ > "$READY"
while :; do sleep 0.05; done' &"#;

fn grace_config() -> Config {
    Config {
        kill_grace: Duration::from_secs(5),
        shutdown_grace: Duration::from_millis(100),
        ..Config::default()
    }
}

async fn wait_for_file(path: &Path) -> String {
    assert!(
        wait_until(Duration::from_secs(10), || path.exists()).await,
        "{} was not written",
        path.display()
    );
    // Written with one `echo`: read it once it is complete.
    let mut text = String::new();
    wait_until(Duration::from_secs(5), || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        text.ends_with('\n')
    })
    .await;
    text
}

#[tokio::test]
async fn a_cancelled_runs_whole_group_gets_the_term_grace() {
    let rt = start_with(grace_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let (ready, marker) = (dir.path().join("ready"), dir.path().join("marker"));
    let task = Task::shell(format!("{CLEANS_UP}\nwait"))
        .env("READY", ready.display().to_string())
        .env("MARKER", marker.display().to_string());
    let id = rt.launch(task).await.unwrap();
    wait_for_file(&ready).await;
    rt.cancel(id).await.unwrap();
    assert_eq!(wait_for_file(&marker).await, "cleaned\n");
    assert!(
        wait_until(Duration::from_secs(10), || rt
            .status(id)
            .is_some_and(|s| s.is_terminal()))
        .await
    );
    assert_eq!(rt.status(id), Some(RunStatus::Cancelled));
}

#[tokio::test]
async fn a_pool_workers_whole_group_gets_the_term_grace_at_shutdown() {
    let rt = start_with(grace_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let (ready, marker) = (dir.path().join("ready"), dir.path().join("marker"));
    let script = format!("{CLEANS_UP}\nwhile IFS= read -r l; do echo \"$l\"; done");
    let spec = PoolSpec::command("cleaners", "sh")
        .args(["-c", &script])
        .env("READY", ready.display().to_string())
        .env("MARKER", marker.display().to_string());
    let pool = rt.pool(spec).await.unwrap();
    assert_eq!(pool.request("hi").await.unwrap(), "hi");
    wait_for_file(&ready).await;
    rt.shutdown().await.unwrap();
    assert_eq!(wait_for_file(&marker).await, "cleaned\n");
}

/// The helper binary (`src/bin/taskorch-fault-host.rs`).
#[cfg(all(target_os = "linux", feature = "fault-injection"))]
const HOST: &str = env!("CARGO_BIN_EXE_taskorch-fault-host");

/// As a child subreaper (a container entrypoint), a leftover background
/// process of a run is reparented to the host: the run must still end when
/// its leader exits, the leftover must be stopped, and reaped. The helper
/// gives up on the run after 20 s, well before `sleep 100` ends and below
/// its 60 s kill grace: an `ok` shows the run waited for neither.
#[cfg(all(target_os = "linux", feature = "fault-injection"))]
#[tokio::test]
async fn as_a_subreaper_a_run_ends_when_its_leader_exits() {
    let child = tokio::process::Command::new(HOST)
        .arg("subreaper")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the subreaper host answers")
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    let field = |name: &str| {
        report
            .split_whitespace()
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_default()
            .to_string()
    };
    let output = field("output");
    assert!(
        output.ends_with(";ok"),
        "the run finished with ok: {report}"
    );
    assert_eq!(
        field("leftover"),
        "gone",
        "the leftover was stopped and reaped"
    );
}

#[cfg(all(target_os = "linux", feature = "fault-injection"))]
mod host_death {
    //! `kill -9` of a real host at seeded moments: nothing of it is left,
    //! and with a store no acknowledged run is lost or run twice.
    //!
    //! Each round runs the host under a `reap` helper, a session leader
    //! and subreaper standing in for a container's init: every process of
    //! the host, zombies included, is in its session until reaped.
    //! `TASKORCH_HOST_DEATH_SEED` replays a seed, `TASKORCH_HOST_DEATH_KILLS`
    //! sets the number of kills (default 20; even rounds use a store).

    use std::collections::HashMap;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use taskorch::RunQuery;
    use taskorch::{Orchestrator, RunId, RunStatus};
    use tokio::io::{AsyncBufReadExt, BufReader};

    use super::HOST;
    use crate::common::{Rng, env_or, fast_config, wait_until};

    /// Rounds run at once (each is mostly waiting).
    const AT_ONCE: usize = 4;

    /// Processes of session `sid` (zombies included): `(pid, state)`.
    fn session(sid: u32) -> Vec<(u32, String)> {
        use taskorch::process::{RUN_ID_ENV, procfs};
        procfs::pids()
            .filter_map(|pid| {
                let stat = procfs::stat(pid).filter(|stat| stat.session == sid)?;
                let name = procfs::cmdline(pid).unwrap_or_default();
                let name = String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap_or(&[]));
                let run = procfs::environ_var(pid, RUN_ID_ENV).unwrap_or_default();
                let run = String::from_utf8_lossy(&run);
                let procfs::Stat {
                    state,
                    parent,
                    group,
                    ..
                } = stat;
                Some((
                    pid,
                    format!("{name}:{state} ppid {parent} pgid {group} run {run}"),
                ))
            })
            .collect()
    }

    /// One round: start, let it work, kill it at `delay`, check. Returns
    /// how long its processes took to be gone after the kill.
    async fn round(index: usize, delay: Duration) -> Duration {
        let store = index.is_multiple_of(2);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.redb");
        let mut command = tokio::process::Command::new(HOST);
        command.arg("reap").arg("host").arg(dir.path());
        if store {
            command.arg(&db);
        }
        let mut reaper = command
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let sid = reaper.id().unwrap();
        let mut lines = BufReader::new(reaper.stdout.take().unwrap()).lines();
        let host: i32 = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the reaper starts the host")
            .unwrap()
            .and_then(|l| l.parse().ok())
            .expect("the host's pid");
        let ready = dir.path().join("ready");
        assert!(
            wait_until(Duration::from_secs(30), || ready.exists()).await,
            "round {index}: the host did not get going"
        );
        // The seeded random moment of the kill is what this test varies
        // (not a wait for a condition): the host dies wherever it is.
        tokio::time::sleep(delay).await;
        kill(Pid::from_raw(host), Signal::SIGKILL).unwrap();
        let killed = Instant::now();
        let only_reaper = || session(sid).iter().all(|&(pid, _)| pid == sid);
        let emptied = wait_until(Duration::from_secs(10), only_reaper).await;
        let took = killed.elapsed();
        let left = session(sid);
        reaper.start_kill().unwrap();
        reaper.wait().await.unwrap();
        assert!(
            emptied,
            "round {index} (store: {store}): left after the kill: {left:?}"
        );
        assert!(session(sid).is_empty(), "round {index}: {:?}", session(sid));
        if store {
            check_store(index, dir.path(), &db).await;
        }
        took
    }

    /// After a restart on the store: every acknowledged run is known and
    /// ends, none ran twice, a finished one ran once.
    async fn check_store(index: usize, dir: &Path, db: &Path) {
        let acked: Vec<RunId> = std::fs::read_to_string(dir.join("acks"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert!(!acked.is_empty(), "round {index}: no run acknowledged");
        let orch = Orchestrator::start(fast_config().store(db)).await.unwrap();
        let statuses = || -> HashMap<RunId, RunStatus> {
            let history = orch.observe().history(&RunQuery::new()).unwrap();
            history.iter().map(|r| (r.id, r.status)).collect()
        };
        let settled = wait_until(Duration::from_secs(30), || {
            let known = statuses();
            acked
                .iter()
                .all(|id| known.get(id).is_some_and(|s| s.is_terminal()))
        })
        .await;
        let known = statuses();
        let mut starts: HashMap<RunId, usize> = HashMap::new();
        for line in std::fs::read_to_string(dir.join("starts"))
            .unwrap_or_default()
            .lines()
        {
            *starts.entry(line.trim().parse().unwrap()).or_default() += 1;
        }
        orch.shutdown().await.unwrap();
        let interrupted = acked
            .iter()
            .filter(|id| known.get(id) == Some(&RunStatus::Interrupted))
            .count();
        eprintln!(
            "round {index}: {} runs acknowledged, {interrupted} interrupted, {} started",
            acked.len(),
            starts.len()
        );
        for id in &acked {
            let status = known.get(id);
            assert!(
                status.is_some(),
                "round {index}: acknowledged run {id} lost"
            );
            let count = starts.get(id).copied().unwrap_or(0);
            assert!(count <= 1, "round {index}: run {id} ran {count} times");
            if status == Some(&RunStatus::Succeeded) {
                assert_eq!(count, 1, "round {index}: finished run {id} never ran");
            }
        }
        assert!(settled, "round {index}: runs not terminal after restart");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_9_of_the_host_leaves_no_process_and_loses_no_run() {
        let seed: u64 = env_or("TASKORCH_HOST_DEATH_SEED", 0x00dd_ba11_5eed);
        let kills: usize = env_or("TASKORCH_HOST_DEATH_KILLS", 20);
        eprintln!("host death seed {seed} (TASKORCH_HOST_DEATH_SEED replays it)");
        let mut rng = Rng::new(seed);
        let delays: Vec<Duration> = (0..kills)
            .map(|_| Duration::from_millis(rng.below(500)))
            .collect();
        let mut slowest = Duration::ZERO;
        for (batch, chunk) in delays.chunks(AT_ONCE).enumerate() {
            let rounds = chunk
                .iter()
                .enumerate()
                .map(|(i, &delay)| round(batch * AT_ONCE + i, delay));
            for took in futures::future::join_all(rounds).await {
                slowest = slowest.max(took);
            }
        }
        eprintln!("{kills} kills: every process gone at most {slowest:?} after its kill");
    }
}
