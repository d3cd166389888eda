//! What a child starts with: its working directory (a relative program in
//! a relative `current_dir`), and its environment (`env_remove`,
//! `env_clear`, and never a stale `TRACEPARENT` from the host).

use std::collections::BTreeSet;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use taskorch::{PoolSpec, Task};

use crate::common::*;

async fn answered<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the caller is answered, never left hanging")
}

/// The variable names in `env`'s output.
fn names(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string()))
        .collect()
}

#[tokio::test]
async fn a_relative_program_runs_in_a_relative_current_dir() {
    let rt = start_runtime().await;
    // Relative to our working directory (the package, under `cargo test`).
    let dir = tempfile::tempdir_in(".").unwrap();
    let script = dir.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho \"here: $(basename \"$PWD\")\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let relative = Path::new(dir.path().file_name().unwrap()).to_path_buf();
    let out = answered(rt.run(Task::command("./script.sh").current_dir(&relative)))
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout_str(), format!("here: {}\n", relative.display()));
}

#[tokio::test]
async fn env_remove_and_env_clear_change_what_the_child_inherits() {
    let rt = start_runtime().await;
    // (`env`, not `sh`: a shell sets a default PATH of its own.)
    let removed = answered(rt.run(Task::command("env").env_remove("PATH")))
        .await
        .unwrap();
    assert!(removed.success(), "{removed:?}");
    assert!(
        !names(&removed.stdout_str()).contains("PATH"),
        "{removed:?}"
    );
    assert!(names(&removed.stdout_str()).contains("TASKORCH_RUN_ID"));

    // Cleared: only what is set after the clear, the run id and the host
    // marker the guardian finds children by (process/guardian.rs). A bare
    // program name is still found (on our PATH), and spawned by its path.
    let cleared = answered(
        rt.run(
            Task::command("env")
                .env("BEFORE", "gone")
                .env_clear()
                .env("ONLY", "me"),
        ),
    )
    .await
    .unwrap();
    assert!(cleared.success(), "{cleared:?}");
    let expected: BTreeSet<String> = ["ONLY", "TASKORCH_HOST", "TASKORCH_RUN_ID"]
        .map(String::from)
        .into();
    assert_eq!(names(&cleared.stdout_str()), expected);
    assert!(cleared.stdout_str().contains("ONLY=me\n"));

    // A later `env` sets a removed variable again.
    let again = answered(
        rt.run(
            Task::shell("echo \"$X\"")
                .env("X", "1")
                .env_remove("X")
                .env("X", "2"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(again.stdout_str(), "2\n");
}

#[tokio::test]
async fn pool_workers_get_the_same_environment_changes() {
    let rt = start_runtime().await;
    let pool = answered(
        rt.pool(
            PoolSpec::command("env-pool", "sh")
                .args([
                    "-c",
                    "while read l; do echo \"${BEFORE-unset}:$ONLY\"; done",
                ])
                .env("BEFORE", "set-before-the-clear")
                .env_clear()
                .env("ONLY", "me"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(answered(pool.request("x")).await.unwrap(), "unset:me");
    answered(pool.close()).await.unwrap();
}

/// The CLI is started with a `TRACEPARENT` of some other trace in its
/// environment; its child must not inherit it (the runtime sets its own
/// only for a request made inside a span).
#[test]
fn a_stale_traceparent_never_reaches_a_child() {
    let stale = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskorch"))
        .args(["run", "--", "sh", "-c", "echo \"tp=${TRACEPARENT-none}\""])
        .current_dir(dir.path())
        .env_remove("TASKORCH_STORE")
        .env("TRACEPARENT", stale)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("tp="), "{stdout}");
    assert!(
        !stdout.contains(stale),
        "the host's TRACEPARENT leaked: {stdout}"
    );
}
