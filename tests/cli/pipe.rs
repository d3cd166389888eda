//! `taskorch run` and `taskorch stream` as faithful pipes: every byte of
//! both streams, live, stdin passed through, output kept up to a
//! time-out or Ctrl-C, retries shown, and a capture cut for the store
//! reported with the bytes it dropped.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Spawned, taskorch, taskorch_with_stdin};
use crate::common::{assert_all_dead, wait_for_pids};

/// `taskorch ARGS` in `dir` with `stdin`, to its end: exit code and the
/// raw bytes of stdout and stderr (read at once, through real pipes).
fn bytes_through(dir: &Path, args: &[&str], stdin: Stdio) -> (i32, Vec<u8>, Vec<u8>) {
    let out = Command::new(env!("CARGO_BIN_EXE_taskorch"))
        .args(args)
        .current_dir(dir)
        .env_remove("TASKORCH_STORE")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run taskorch");
    (out.status.code().unwrap_or(-1), out.stdout, out.stderr)
}

/// `n` random bytes (with every byte value, `\r` and long "lines"), in a
/// file of `dir`.
fn random_file(dir: &Path, name: &str, n: usize) -> (std::path::PathBuf, Vec<u8>) {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    let path = dir.join(name);
    std::fs::write(&path, &bytes).expect("write the input");
    (path, bytes)
}

/// Equal, without printing megabytes when not.
fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    let first_diff = got.iter().zip(want).position(|(a, b)| a != b);
    assert!(
        got == want,
        "{what}: {} bytes, expected {}; first difference at {first_diff:?}",
        got.len(),
        want.len()
    );
}

#[test]
fn run_passes_20_mib_of_random_bytes_through_both_streams_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (out_file, out_bytes) = random_file(dir.path(), "out.bin", 20 << 20);
    let (err_file, err_bytes) = random_file(dir.path(), "err.bin", 3 << 20);
    let script = format!(
        "cat {} & cat {} >&2; wait",
        out_file.display(),
        err_file.display()
    );
    let (code, stdout, stderr) = bytes_through(
        dir.path(),
        &["run", "--", "sh", "-c", &script],
        Stdio::null(),
    );
    assert_eq!(
        code,
        0,
        "{}",
        String::from_utf8_lossy(&stderr[..stderr.len().min(500)])
    );
    assert_same("stdout", &stdout, &out_bytes);
    assert_same("stderr", &stderr, &err_bytes);
}

#[test]
fn stream_passes_20_mib_of_random_bytes_through_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (file, bytes) = random_file(dir.path(), "in.bin", 20 << 20);
    let path = file.display().to_string();
    let (code, stdout, stderr) =
        bytes_through(dir.path(), &["stream", "--", "cat", &path], Stdio::null());
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));
    assert_same("stdout", &stdout, &bytes);
    assert!(stderr.is_empty(), "{}", String::from_utf8_lossy(&stderr));
}

#[test]
fn run_and_stream_keep_every_line_of_seq_1000000() {
    let dir = tempfile::tempdir().unwrap();
    let want: String = (1..=1_000_000).map(|i| format!("{i}\n")).collect();
    for command in ["run", "stream"] {
        let (code, stdout, stderr) = bytes_through(
            dir.path(),
            &[command, "--", "seq", "1000000"],
            Stdio::null(),
        );
        assert_eq!(code, 0, "{command}: {}", String::from_utf8_lossy(&stderr));
        assert_same(command, &stdout, want.as_bytes());
    }
}

#[test]
fn stream_keeps_carriage_returns_and_an_unfinished_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = bytes_through(
        dir.path(),
        &["stream", "--", "printf", "a\\r\\nb\\rc"],
        Stdio::null(),
    );
    assert_eq!(code, 0);
    assert_eq!(stdout, b"a\r\nb\rc");
}

#[test]
fn run_and_stream_pass_stdin_through() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["run", "stream"] {
        let out = taskorch_with_stdin(dir.path(), &[command, "--", "cat"], "hi\n");
        assert_eq!(out.code, 0, "{command}: {out:?}");
        assert_eq!(out.stdout, "hi\n", "{command}");
    }
    // More than a pipe holds, from a file: byte for byte.
    let (file, bytes) = random_file(dir.path(), "in.bin", 4 << 20);
    let input = std::fs::File::open(&file).unwrap();
    let (code, stdout, _) = bytes_through(dir.path(), &["run", "--", "cat"], input.into());
    assert_eq!(code, 0);
    assert_same("stdin through run", &stdout, &bytes);
}

#[test]
fn a_closed_stdin_reads_as_end_of_file() {
    let dir = tempfile::tempdir().unwrap();
    // `<&-` starts taskorch without an fd 0: the child must see end of
    // input, not whatever file taskorch opened first.
    let script = format!("exec {} run -- cat <&-", env!("CARGO_BIN_EXE_taskorch"));
    let out = Command::new("sh")
        .args(["-c", &script])
        .current_dir(dir.path())
        .env_remove("TASKORCH_STORE")
        .output()
        .expect("run sh");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn run_prints_what_came_before_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let out = taskorch(
        dir.path(),
        &[
            "run",
            "--timeout",
            "300ms",
            "--",
            "sh",
            "-c",
            "echo before; echo err >&2; sleep 5",
        ],
    );
    assert_eq!(out.code, 124, "{out:?}");
    assert_eq!(out.stdout, "before\n");
    assert!(out.stderr.starts_with("err\n"), "{out:?}");
    assert!(out.stderr.contains("timed out after 300ms"), "{out:?}");
}

#[tokio::test]
async fn run_is_live_and_ctrl_c_keeps_what_was_printed() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "echo $$ >> {p}; echo ready; while true; do sleep 1; done",
        p = pids.display()
    );
    let mut run = Spawned::start(dir.path(), &["run", "--", "sh", "-c", &script]);
    // Printed while the command still runs.
    run.wait_for("ready").await;
    let pids = wait_for_pids(&pids, 1).await;
    run.signal("INT");
    assert_eq!(run.exit_code().await, 130);
    assert_eq!(run.stdout(), "ready\n");
    assert_all_dead(&pids).await;
}

#[test]
fn run_shows_each_retry_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = taskorch(
        dir.path(),
        &[
            "run",
            "--retries",
            "2",
            "--",
            "sh",
            "-c",
            "echo try; exit 3",
        ],
    );
    assert_eq!(out.code, 3, "{out:?}");
    // Each attempt's output, live, between the notices.
    assert_eq!(out.stdout, "try\ntry\ntry\n");
    assert!(
        out.stderr
            .contains("taskorch: attempt 1 failed (exit 3), retrying in 100ms\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("taskorch: attempt 2 failed (exit 3), retrying in 200ms\n"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("attempt 3"), "{}", out.stderr);
}

#[test]
fn a_capture_cut_for_the_store_is_reported_by_show_with_the_bytes_dropped() {
    let dir = tempfile::tempdir().unwrap();
    // 3 MiB on stdout: all of it printed, 1 MiB (the default cap) kept.
    let (code, stdout, stderr) = bytes_through(
        dir.path(),
        &[
            "run",
            "--store",
            "st",
            "--",
            "head",
            "-c",
            "3145728",
            "/dev/zero",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));
    assert_eq!(stdout.len(), 3 << 20);
    let runs = taskorch(dir.path(), &["runs", "--store", "st", "--json"]);
    let runs: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    let id = runs[0]["id"].as_str().expect("a run id").to_string();
    let show = taskorch(dir.path(), &["show", "--store", "st", &id]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(
        show.stdout
            .contains("1048576 bytes stdout (truncated: 2097152 bytes dropped)"),
        "{}",
        show.stdout
    );
    let json = taskorch(dir.path(), &["show", "--store", "st", "--json", &id]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["stdout_dropped"], 2_097_152);
    assert_eq!(json["stderr_dropped"], 0);
}

#[test]
fn run_and_stream_stop_the_command_and_exit_141_when_their_reader_goes() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["run", "stream"] {
        // `timeout 20` bounds a taskorch that would ignore the closed pipe
        // (it would then exit 124, and fail).
        let script = format!(
            "timeout 20 \"$0\" {command} -- yes 2>err | head -c 4; echo \" ${{PIPESTATUS[0]}}\""
        );
        let out = Command::new("bash")
            .args(["-c", &script, env!("CARGO_BIN_EXE_taskorch")])
            .current_dir(dir.path())
            .env_remove("TASKORCH_STORE")
            .output()
            .expect("run bash");
        let stderr = std::fs::read_to_string(dir.path().join("err")).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "y\ny\n 141\n",
            "{command}: {stderr}"
        );
        assert!(stderr.is_empty(), "{command}, quietly: {stderr}");
    }
}

#[test]
fn stream_timestamps_prefix_each_line_with_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let out = taskorch(
        dir.path(),
        &[
            "stream",
            "--timestamps",
            "--",
            "sh",
            "-c",
            "echo a; echo b >&2; printf c",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let stamped = |text: &str, want: &[&str]| {
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), want.len(), "{text}");
        for (line, want) in lines.iter().zip(want) {
            // `2026-12-07T20:41:55.123Z a`
            let (stamp, rest) = line.split_once(' ').expect("a stamp and the line");
            assert!(
                stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
                "{line}"
            );
            assert_eq!(rest, *want);
        }
    };
    stamped(&out.stdout, &["a", "c"]);
    stamped(&out.stderr, &["b"]);
}
