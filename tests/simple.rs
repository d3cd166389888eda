//! The Simple pattern: `orch.run(task)`.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::json;
use taskorch::{Backoff, Error, RunStatus, Task};

use crate::common::*;

#[tokio::test]
async fn echo_captures_stdout_and_succeeds() {
    let rt = start_runtime().await;
    let out = rt
        .run(Task::command("echo").args(["hello", "world"]))
        .await
        .unwrap();
    assert!(out.success());
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.stdout_str(), "hello world\n");
    assert!(out.stderr.is_empty());
    assert_eq!(out.attempts, 1);
    assert_eq!(rt.status(out.run_id), Some(RunStatus::Succeeded));
}

#[tokio::test]
async fn non_zero_exit_is_an_output_not_an_error() {
    let rt = start_runtime().await;
    let out = rt.run(Task::shell("echo oops >&2; exit 7")).await.unwrap();
    assert!(!out.success());
    assert_eq!(out.exit_code, Some(7));
    assert_eq!(out.stderr_str(), "oops\n");
    assert_eq!(rt.status(out.run_id), Some(RunStatus::Failed));
}

#[tokio::test]
async fn missing_program_is_not_found_naming_it() {
    let rt = start_runtime().await;
    let err = rt
        .run(Task::command("no-such-program-xyz"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { program } if program == "no-such-program-xyz"),
        "{err:?}"
    );
    assert!(err.to_string().contains("no-such-program-xyz"));
    let err = rt
        .run(Task::command("/no/such/dir/prog"))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::NotFound { program } if program == "/no/such/dir/prog"));
}

#[tokio::test]
async fn non_executable_file_is_permission_denied() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-program.sh");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let program = file.to_str().unwrap().to_string();
    let err = rt.run(Task::command(program.clone())).await.unwrap_err();
    assert!(
        matches!(&err, Error::PermissionDenied { program: p } if *p == program),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_tasks_are_invalid() {
    let rt = start_runtime().await;
    for task in [
        Task::command(""),
        Task::command("   "),
        Task::command("echo").arg("a\0b"),
        Task::command("ec\0ho"),
        Task::shell(""),
        Task::shell("echo").arg("stray"),
        Task::command("echo").env("A=B", "x"),
        Task::command("echo").timeout(Duration::ZERO),
    ] {
        let err = rt.run(task.clone()).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidTask(_)),
            "{task:?} gave {err:?}"
        );
    }
    let err = rt.run(Task::command("echo").arg("a\0b")).await.unwrap_err();
    assert!(err.to_string().contains("NUL byte in argument 0"), "{err}");
    let err = rt
        .run(Task::command("true").current_dir("/no/such/dir"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTask(m) if m.contains("/no/such/dir")),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_action_is_named() {
    let rt = start_runtime().await;
    let err = rt.run(Task::action("nope", json!(null))).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownAction(name) if name == "nope"),
        "{err:?}"
    );
}

#[tokio::test]
async fn actions_return_values_errors_and_survive_panics() {
    let rt = start_runtime().await;
    rt.register_action("double", |v| async move {
        v.as_i64()
            .map(|n| json!(n * 2))
            .ok_or_else(|| "not a number".to_string())
    });
    rt.register_action("explode", |_| async move {
        if true {
            panic!("action blew up");
        }
        Ok(json!(null))
    });
    let out = rt.run(Task::action("double", json!(21))).await.unwrap();
    assert!(out.success());
    assert_eq!(out.value, Some(json!(42)));
    assert_eq!(out.exit_code, None);

    let out = rt.run(Task::action("double", json!("x"))).await.unwrap();
    assert!(!out.success());
    assert_eq!(out.stderr_str(), "not a number");
    assert_eq!(rt.status(out.run_id), Some(RunStatus::Failed));

    let out = rt.run(Task::action("explode", json!(null))).await.unwrap();
    assert!(!out.success());
    assert!(out.stderr_str().contains("action blew up"));
    // The executor is unharmed.
    assert!(
        rt.run(Task::action("double", json!(1)))
            .await
            .unwrap()
            .success()
    );
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 100 & echo $! >> {p}; sleep 100 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let err = rt
        .run(Task::shell(script).timeout(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TimedOut { run: Some(_), after } if after == Duration::from_millis(500)),
        "{err:?}"
    );
    let pids = read_pids(&pids);
    assert_eq!(pids.len(), 3, "the script ran: {pids:?}");
    assert_all_dead(&pids).await;
    let run = rt.runs().into_iter().find(|r| r.name == "sh").unwrap();
    assert_eq!(run.status, RunStatus::TimedOut);
}

#[tokio::test]
async fn term_ignoring_child_is_killed_after_the_grace_period() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "trap '' TERM; echo $$ > {}; while :; do sleep 0.05; done",
        pids.display()
    );
    let started = std::time::Instant::now();
    let err = rt
        .run(Task::shell(script).timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }));
    // timeout (300 ms) + kill_grace (300 ms) at least.
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_all_dead(&read_pids(&pids)).await;
}

#[tokio::test]
async fn background_children_do_not_outlive_a_finished_run() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!("sleep 100 & echo $! > {}; echo done", pids.display());
    let out = rt.run(Task::shell(script)).await.unwrap();
    assert!(out.success());
    assert_eq!(out.stdout_str(), "done\n");
    assert_all_dead(&read_pids(&pids)).await;
}

#[tokio::test]
async fn huge_output_is_capped_and_flagged() {
    let rt = start_runtime().await;
    let cap = 1 << 20;
    let out = rt
        .run(Task::shell("head -c 52428800 /dev/zero").max_output(cap))
        .await
        .unwrap();
    assert!(out.success());
    assert_eq!(out.stdout.len(), cap);
    assert!(out.stdout_truncated);
    assert_eq!(out.stdout_dropped, 50 * (1 << 20) - cap as u64);
    assert!(!out.stderr_truncated);
}

#[tokio::test]
async fn default_cap_comes_from_the_config() {
    let rt = start_with(taskorch::Config {
        max_output: 10,
        ..fast_config()
    })
    .await;
    let out = rt
        .run(Task::shell("echo 0123456789abcdef; echo err >&2"))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"0123456789");
    assert!(out.stdout_truncated);
    assert_eq!(out.stdout_dropped, 7);
    assert_eq!(out.stderr_str(), "err\n");
}

#[tokio::test]
async fn stdin_bytes_are_fed_and_default_stdin_is_empty() {
    let rt = start_runtime().await;
    let out = rt
        .run(Task::command("cat").stdin("line one\nline two\n"))
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "line one\nline two\n");
    // Without .stdin() the child reads end of file at once (no hang).
    let out = rt
        .run(Task::command("cat").timeout(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(out.success());
    assert!(out.stdout.is_empty());
    // Large stdin is fed while output is drained (no pipe deadlock).
    let big = vec![b'x'; 4 << 20];
    let out = rt
        .run(Task::command("cat").stdin(big.clone()).max_output(8 << 20))
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), big.len());
}

#[tokio::test]
async fn env_dir_and_run_id_reach_the_child() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let out = rt
        .run(
            Task::shell("printf '%s|%s|%s' \"$GREETING\" \"$PWD\" \"$TASKORCH_RUN_ID\"")
                .env("GREETING", "hi there")
                .current_dir(dir.path()),
        )
        .await
        .unwrap();
    let text = out.stdout_str();
    let parts: Vec<&str> = text.split('|').collect();
    assert_eq!(parts[0], "hi there");
    assert_eq!(
        std::fs::canonicalize(parts[1]).unwrap(),
        std::fs::canonicalize(dir.path()).unwrap()
    );
    assert_eq!(parts[2], out.run_id.to_string());
    assert_eq!(parts[2].parse::<taskorch::RunId>().unwrap(), out.run_id);
}

#[tokio::test]
async fn retries_allow_one_plus_n_attempts() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("count");
    // Fails twice, then succeeds.
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; [ $n -ge 3 ]",
        c = counter.display()
    );
    let fast = Backoff::fixed(Duration::from_millis(10));
    let out = rt
        .run(Task::shell(script.clone()).retries(5).backoff(fast))
        .await
        .unwrap();
    assert!(out.success());
    assert_eq!(out.attempts, 3);

    std::fs::remove_file(&counter).unwrap();
    let out = rt
        .run(Task::shell(script).retries(1).backoff(fast))
        .await
        .unwrap();
    assert!(!out.success(), "two attempts are not enough");
    assert_eq!(out.attempts, 2);
    assert_eq!(rt.observe().find_run(out.run_id).unwrap().attempts, 2);

    // Timeouts are retried too; the last error is returned.
    let err = rt
        .run(
            Task::command("sleep")
                .arg("5")
                .timeout(Duration::from_millis(50))
                .retries(2)
                .backoff(fast),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }));
    let run = rt.runs().into_iter().find(|r| r.name == "sleep").unwrap();
    assert_eq!(run.attempts, 3);
}

#[tokio::test]
async fn input_errors_are_not_retried() {
    let rt = start_runtime().await;
    let started = std::time::Instant::now();
    let err = rt
        .run(
            Task::command("no-such-program-xyz")
                .retries(5)
                .backoff(Backoff::fixed(Duration::from_secs(1))),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn run_ids_are_unknown_to_other_orchestrators() {
    let a = start_runtime().await;
    let b = start_runtime().await;
    let out = a.run(Task::command("true")).await.unwrap();
    assert_eq!(a.status(out.run_id), Some(RunStatus::Succeeded));
    assert_eq!(b.status(out.run_id), None);
    assert!(matches!(b.wait(out.run_id).await, Err(Error::UnknownRun(id)) if id == out.run_id));
    assert!(matches!(
        b.cancel(out.run_id).await,
        Err(Error::UnknownRun(_))
    ));
}

#[tokio::test]
async fn a_finished_run_can_be_waited_for_again() {
    let rt = start_runtime().await;
    let out = rt.run(Task::command("echo").arg("again")).await.unwrap();
    let waited = rt.wait(out.run_id).await.unwrap();
    assert_eq!(waited, out);
    // Cancelling a finished run is a no-op.
    rt.cancel(out.run_id).await.unwrap();
    assert_eq!(rt.status(out.run_id), Some(RunStatus::Succeeded));
}

#[tokio::test]
async fn many_runs_in_parallel() {
    let rt = start_runtime().await;
    let runs = (0..50).map(|i| rt.run(Task::command("echo").arg(i.to_string())));
    let outs = futures::future::join_all(runs).await;
    for (i, out) in outs.into_iter().enumerate() {
        assert_eq!(out.unwrap().stdout_str(), format!("{i}\n"));
    }
}

#[tokio::test]
async fn max_concurrency_bounds_running_work_and_queued_runs_wait() {
    let rt = start_with(taskorch::Config {
        max_concurrency: 2,
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let script = format!("echo s >> {l}; sleep 0.2; echo e >> {l}", l = log.display());
    let runs = (0..6).map(|_| rt.run(Task::shell(script.clone())));
    for out in futures::future::join_all(runs).await {
        assert!(out.unwrap().success());
    }
    let (mut now, mut peak) = (0i32, 0i32);
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        now += if line == "s" { 1 } else { -1 };
        peak = peak.max(now);
    }
    assert_eq!(peak, 2, "never more than max_concurrency processes at once");
}

#[tokio::test]
async fn a_run_waiting_for_a_slot_is_queued_and_can_be_cancelled() {
    let rt = start_with(taskorch::Config {
        max_concurrency: 1,
        ..fast_config()
    })
    .await;
    let orch = rt.orch.clone();
    let blocker = tokio::spawn(async move {
        orch.run(Task::command("sleep").arg("5").name("blocker"))
            .await
    });
    assert!(
        wait_until(Duration::from_secs(5), || rt
            .runs()
            .iter()
            .any(|r| r.status == RunStatus::Running))
        .await
    );
    let orch = rt.orch.clone();
    let waiting =
        tokio::spawn(async move { orch.run(Task::command("true").name("waiting")).await });
    assert!(
        wait_until(Duration::from_secs(5), || rt
            .runs()
            .iter()
            .any(|r| r.name == "waiting" && r.status == RunStatus::Queued))
        .await
    );
    let id = rt
        .runs()
        .into_iter()
        .find(|r| r.name == "waiting")
        .unwrap()
        .id;
    rt.cancel(id).await.unwrap();
    let err = waiting.await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::Cancelled { run: Some(r) } if r == id),
        "{err:?}"
    );
    let info = rt.observe().find_run(id).unwrap();
    assert_eq!(info.status, RunStatus::Cancelled);
    assert!(info.started.is_none(), "it never ran");
    let blocker_id = rt
        .runs()
        .into_iter()
        .find(|r| r.name == "blocker")
        .unwrap()
        .id;
    rt.cancel(blocker_id).await.unwrap();
    assert!(matches!(
        blocker.await.unwrap(),
        Err(Error::Cancelled { .. })
    ));
}
