//! A test helper, not a tool: host processes for the containment tests
//! (`tests/containment.rs`), which need a real process to make a
//! subreaper of, or to `kill -9`. Built with the `fault-injection` feature.
//!
//! - `subreaper`: become a child subreaper (as a container entrypoint is),
//!   run `sh -c 'sleep 100 & echo $!; echo ok'` and report how it ended:
//!   `output=<stdout, ';'-joined> leftover=<gone|alive|zombie> ms=<elapsed>`.
//! - `reap HOST_ARGS..`: become a session leader and a child subreaper,
//!   start this binary with `HOST_ARGS`, print its pid, and reap every
//!   orphan for ever: it stands in for a container's init, so that
//!   everything the host leaves behind can be found by session id, zombies
//!   included, and nothing stays a zombie of a PID 1 that does not reap.
//! - `host DIR [STORE]`: an orchestrator with work of every kind in flight
//!   (launched runs, Simple runs, a pool, a schedule; children that ignore
//!   SIGTERM, grandchildren), optionally with a store; writes `ready` to
//!   `DIR/ready` once it all runs, appends `<id>` to `DIR/acks` for every
//!   launch acknowledged, and runs until it is killed.

#[cfg(target_os = "linux")]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("subreaper") => unix::subreaper(),
        Some("reap") => unix::reap(&args[1..]),
        Some("host") if args.len() >= 2 => unix::host(&args[1], args.get(2)),
        _ => {
            eprintln!("usage: taskorch-fault-host subreaper | reap HOST_ARGS.. | host DIR [STORE]");
            2
        }
    };
    std::process::exit(code);
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("taskorch-fault-host: Linux only");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
mod unix {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use nix::sys::prctl::set_child_subreaper;
    use nix::sys::wait::waitpid;
    use nix::unistd::{Pid, setsid};
    use taskorch::{Config, Orchestrator, PoolSpec, ScheduleSpec, Task, Trigger};

    /// A child that ignores SIGTERM and leaves a grandchild that does too.
    const STUBBORN: &str = "trap '' TERM; (trap '' TERM; sleep 1000) & sleep 1000";

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    }

    pub(super) fn subreaper() -> i32 {
        if let Err(e) = set_child_subreaper(true) {
            eprintln!("PR_SET_CHILD_SUBREAPER: {e}");
            return 1;
        }
        runtime().block_on(async {
            // Longer than the time-out below: a run that waited for the
            // grace would not answer in time.
            let config = Config {
                kill_grace: Duration::from_secs(60),
                ..Config::default()
            };
            let orch = Orchestrator::start(config).await.expect("orchestrator");
            let started = Instant::now();
            let task = Task::shell("sleep 100 & echo $!; echo ok");
            let run = tokio::time::timeout(Duration::from_secs(20), orch.run(task)).await;
            let ms = started.elapsed().as_millis();
            let Ok(Ok(output)) = run else {
                println!("output=none run={run:?} ms={ms}");
                return 1;
            };
            let stdout = output.stdout_str();
            let sleeper = stdout.lines().next().and_then(|l| l.parse::<u32>().ok());
            let leftover = match sleeper.map(state) {
                None => "unknown",
                Some(None) => "gone",
                Some(Some('Z')) => "zombie",
                Some(Some(_)) => "alive",
            };
            let joined = stdout.trim_end().replace('\n', ";");
            println!("output={joined} leftover={leftover} ms={ms}");
            let _ = orch.shutdown().await;
            0
        })
    }

    /// The state letter of process `pid`, `None` if there is no such
    /// process (not even a zombie).
    fn state(pid: u32) -> Option<char> {
        taskorch::process::procfs::stat(pid).map(|stat| stat.state)
    }

    pub(super) fn reap(host_args: &[String]) -> i32 {
        if let Err(e) = setsid().and_then(|_| set_child_subreaper(true)) {
            eprintln!("setsid / PR_SET_CHILD_SUBREAPER: {e}");
            return 1;
        }
        let me = std::env::current_exe().expect("the helper's own path");
        let host = match std::process::Command::new(me).args(host_args).spawn() {
            Ok(host) => host,
            Err(e) => {
                eprintln!("starting the host: {e}");
                return 1;
            }
        };
        println!("{}", host.id());
        let _ = std::io::stdout().flush();
        // Reap the host and every orphan of it, until killed.
        loop {
            if waitpid(Pid::from_raw(-1), None).is_err() {
                // No child at all right now: look again shortly.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    pub(super) fn host(dir: &str, store: Option<&String>) -> i32 {
        let dir = PathBuf::from(dir);
        runtime().block_on(async move {
            let config = Config {
                kill_grace: Duration::from_millis(300),
                shutdown_grace: Duration::from_millis(300),
                store: store.map(PathBuf::from),
                ..Config::default()
            };
            let orch = match Orchestrator::start(config).await {
                Ok(orch) => orch,
                Err(e) => {
                    eprintln!("orchestrator: {e}");
                    return 1;
                }
            };
            let script = format!("{STUBBORN} & while IFS= read -r l; do echo \"$l\"; done");
            let pool = orch
                .pool(
                    PoolSpec::command("hosted", "sh")
                        .args(["-c", &script])
                        .workers(2),
                )
                .await
                .expect("pool");
            orch.schedule(ScheduleSpec::new(
                "ticker",
                Trigger::every(Duration::from_millis(50)),
                Task::shell(format!("{STUBBORN} & sleep 0.2")),
            ))
            .await
            .expect("schedule");
            for _ in 0..2 {
                let orch = orch.clone();
                tokio::spawn(async move {
                    loop {
                        let _ = orch
                            .run(Task::shell(format!("{STUBBORN} & sleep 0.1")))
                            .await;
                    }
                });
            }
            let acks = dir.join("acks");
            let log = dir.join("starts");
            let mut launched = 0;
            loop {
                let task = Task::shell(format!(
                    "echo \"$TASKORCH_RUN_ID\" >> \"$STARTS\"; {STUBBORN} & sleep 0.3"
                ))
                .env("STARTS", log.display().to_string());
                if let Ok(id) = orch.launch(task).await {
                    append(&acks, &format!("{id}\n"));
                    launched += 1;
                }
                if launched == 3 {
                    let _ = pool.request("warm").await;
                    append(&dir.join("ready"), "ready\n");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }

    /// One `write` with `O_APPEND`: a line is in the file whole or not at
    /// all when the process is killed.
    fn append(path: &Path, line: &str) {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut file) = file {
            let _ = file.write_all(line.as_bytes());
        }
    }
}
