//! After a crash (`kill -9` of `up`): a second `up` resumes the jobs
//! file's task graph (finished tasks are not run again), and the read
//! commands read the crashed store as it is, changing nothing and
//! signalling no process (also a store they may read but not write); the
//! next `up` stops what the crash left.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{Spawned, taskorch};
use crate::common::{alive, assert_all_dead, wait_for_pids, wait_until};

/// Times `file` was appended to (one line per execution).
fn count(file: &Path) -> usize {
    std::fs::read_to_string(file).map_or(0, |t| t.lines().count())
}

fn kill9(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// The guardian of `host` (see `taskorch_actors::process`): its child
/// whose command line names it.
fn guardian_of(host: u32) -> Option<u32> {
    use taskorch::process::procfs;
    procfs::pids().find(|&pid| {
        procfs::stat(pid).is_some_and(|stat| stat.parent == host)
            && procfs::cmdline(pid)
                .is_some_and(|c| String::from_utf8_lossy(&c).contains("taskorch-guardian"))
    })
}

#[tokio::test]
async fn up_after_a_crash_resumes_the_graph_and_does_not_rerun_finished_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // One run at a time: while `slow` runs, `other` waits ready, so the
    // crash finds `first` finished, `slow` running and `other` not started
    // (or, had `other` gone first, finished).
    let jobs = format!(
        "[settings]\nmax_concurrency = 1\n\n\
         [[task]]\nname = \"first\"\nshell = \"echo x >> {d}/first.count\"\n\n\
         [[task]]\nname = \"slow\"\nafter = [\"first\"]\n\
         shell = \"echo x >> {d}/slow.count; echo $$ >> {d}/pids; exec sleep 300\"\n\n\
         [[task]]\nname = \"other\"\nafter = [\"first\"]\nshell = \"echo x >> {d}/other.count\"\n"
    );
    std::fs::write(dir.path().join("jobs.toml"), jobs).unwrap();
    let up = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    let pids = wait_for_pids(&dir.path().join("pids"), 1).await;
    kill9(up.pid());
    drop(up);
    assert_all_dead(&pids).await;
    assert_eq!(count(&dir.path().join("first.count")), 1);

    let mut again = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    again.wait_for("task     other          succeeded").await;
    let out = again.stdout();
    assert!(out.contains("resuming the graph"), "{out}");
    again.signal("TERM");
    assert_eq!(again.exit_code().await, 0, "stderr:\n{}", again.stderr());
    assert_eq!(count(&dir.path().join("first.count")), 1, "{out}");
    assert_eq!(count(&dir.path().join("slow.count")), 1, "{out}");
    assert_eq!(count(&dir.path().join("other.count")), 1, "{out}");
}

#[tokio::test]
async fn reads_of_a_crashed_store_change_nothing_and_leave_its_orphans_to_the_next_up() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    // A service that ignores SIGTERM, as does the child it leaves.
    let jobs = format!(
        "[settings]\nkill_grace = \"500ms\"\n\n\
         [[service]]\nname = \"stubborn\"\n\
         shell = \"trap '' TERM; echo $$ >> {p}; sleep 300 & echo $! >> {p}; echo up; wait\"\n",
        p = pid_file.display()
    );
    std::fs::write(dir.path().join("jobs.toml"), jobs).unwrap();
    let up = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    up.wait_for("stubborn       | up").await;
    let pids = wait_for_pids(&pid_file, 2).await;
    // A crash the guardian does not clean up after (it was killed too):
    // the service's group outlives `up`.
    let guardian = guardian_of(up.pid()).expect("up's guardian");
    kill9(guardian);
    kill9(up.pid());
    drop(up);
    let store = dir.path().join(".taskorch/taskorch.redb");
    let before = std::fs::read(&store).unwrap();

    let runs = taskorch(dir.path(), &["runs", "--json"]);
    assert_eq!(runs.code, 0, "{runs:?}");
    let runs: Vec<serde_json::Value> = serde_json::from_str(&runs.stdout).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let show = taskorch(dir.path(), &["show", &id]);
    assert_eq!(show.code, 0, "{show:?}");
    let logs = taskorch(dir.path(), &["logs", &id]);
    assert_eq!(logs.code, 0, "{logs:?}");

    assert!(
        std::fs::read(&store).unwrap() == before,
        "a read changed the store file"
    );
    assert!(
        pids.iter().all(|&p| alive(p)),
        "a read signalled the crashed run's processes"
    );

    // The next `up` recovers the store: the run ends interrupted and its
    // group is stopped, SIGKILL after the grace included.
    let mut next = Spawned::start(dir.path(), &["up", "jobs.toml"]);
    next.wait_for("stubborn       | up").await;
    let stopped = wait_until(Duration::from_secs(15), || pids.iter().all(|&p| !alive(p))).await;
    assert!(stopped, "the crashed run's processes survived the next up");
    next.signal("TERM");
    // The new service ignores SIGTERM too: it is killed after the grace.
    assert_eq!(next.exit_code().await, 0, "stderr:\n{}", next.stderr());
    let all = crate::common::read_pids(&pid_file);
    assert_all_dead(&all).await;
    let show = taskorch(dir.path(), &["show", &id, "--json"]);
    let show: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(show["status"], "interrupted", "{show}");
}

/// `taskorch ARGS` in `dir` as a user who may read the store but not
/// write it: as root (whom permission bits do not stop) through
/// `setpriv` as `nobody`, otherwise as ourselves.
fn taskorch_as_reader(dir: &Path, args: &[&str]) -> super::Done {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    let mut command = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_taskorch"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_taskorch"))
    };
    let out = command
        .args(args)
        .current_dir(dir)
        .env_remove("TASKORCH_STORE")
        .output()
        .expect("spawn taskorch");
    super::Done {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn a_store_readable_but_not_writable_is_readable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ran = taskorch(dir.path(), &["run", "--store", "st", "--", "echo", "kept"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let store = dir.path().join("st");
    let file = store.join("taskorch.redb");
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // Read and search for everyone (the reader may be `nobody`), write
    // for no one.
    mode(dir.path(), 0o755);
    mode(&store, 0o555);
    mode(&file, 0o444);
    let before = std::fs::read(&file).unwrap();

    let runs = taskorch_as_reader(dir.path(), &["runs", "--store", "st", "--json"]);
    assert_eq!(runs.code, 0, "{runs:?}");
    let runs: Vec<serde_json::Value> = serde_json::from_str(&runs.stdout).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let id = runs[0]["id"].as_str().unwrap();
    let logs = taskorch_as_reader(dir.path(), &["logs", "--store", "st", id]);
    assert_eq!((logs.code, logs.stdout.as_str()), (0, "kept\n"), "{logs:?}");
    let show = taskorch_as_reader(dir.path(), &["show", "--store", "st", id]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(
        std::fs::read(&file).unwrap() == before,
        "a read changed the store"
    );
    // Writable again, so the temporary directory can be removed.
    mode(&store, 0o700);
}
