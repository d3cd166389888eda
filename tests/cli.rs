//! The `taskorch` command-line tool, driven through the real binary
//! (`CARGO_BIN_EXE_taskorch`) against temporary store directories.
//!
//! Helpers: [`taskorch`] runs a command to its end; [`Spawned`] is a running
//! one whose output is collected as it comes and which is stopped on drop
//! (SIGTERM, so `up` shuts down gracefully and leaves no process, then
//! SIGKILL if it does not exit in time).

mod bad_input;
mod batch;
// `run --after` / `--at`, and `start_after` / `start_at` in jobs files.
mod delayed;
// `up --http` and `serve`: the HTTP API from the command line.
mod http;
// `taskorch metrics` of a running `up`.
// `runs --label/--key`, `run --key/--label`, keys and labels in jobs files.
mod labels;
mod metrics;
mod pipe;
mod pipes;
mod read;
mod rerun;
mod resume;
mod run;
mod scripting;
mod up;
mod validation;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::wait_until;

/// The finished command: exit code, stdout, stderr.
#[derive(Debug)]
pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `taskorch ARGS` in `dir` to its end.
pub fn taskorch(dir: &Path, args: &[&str]) -> Done {
    taskorch_with_stdin(dir, args, "")
}

/// Run `taskorch ARGS` in `dir` with `input` on its stdin.
pub fn taskorch_with_stdin(dir: &Path, args: &[&str], input: &str) -> Done {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskorch"))
        .args(args)
        .current_dir(dir)
        .env_remove("TASKORCH_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn taskorch");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("wait taskorch");
    Done {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running `taskorch`, stopped on drop.
pub struct Spawned {
    child: Option<Child>,
    readers: Vec<std::thread::JoinHandle<()>>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Spawned {
    pub fn start(dir: &Path, args: &[&str]) -> Spawned {
        Spawned::start_with_env(dir, args, &[])
    }

    /// As [`start`](Self::start), with `env` added to its environment.
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Spawned {
        let mut child = Command::new(env!("CARGO_BIN_EXE_taskorch"))
            .args(args)
            .current_dir(dir)
            .env_remove("TASKORCH_STORE")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn taskorch");
        let mut readers = Vec::new();
        let mut collect = |pipe: Box<dyn std::io::Read + Send>| {
            let text = Arc::new(Mutex::new(String::new()));
            let sink = Arc::clone(&text);
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut text = sink.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
            }));
            text
        };
        let stdout = collect(Box::new(child.stdout.take().expect("stdout")));
        let stderr = collect(Box::new(child.stderr.take().expect("stderr")));
        Spawned {
            child: Some(child),
            readers,
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait until stdout contains `text`.
    pub async fn wait_for(&self, text: &str) {
        let found = wait_until(Duration::from_secs(20), || self.stdout().contains(text)).await;
        assert!(
            found,
            "no {text:?} in stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
    }

    /// Send `signal` (`"INT"`, `"TERM"`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Wait (bounded) for the exit; returns the exit code.
    pub async fn exit_code(&mut self) -> i32 {
        let child = self.child.as_mut().expect("running");
        let code = exited_within(child, Duration::from_secs(20)).await;
        assert!(
            code.is_some(),
            "taskorch did not exit; stdout:\n{}",
            self.stdout()
        );
        self.child = None;
        // The pipes close with the process (and what it started): the
        // readers then have every line.
        let readers = std::mem::take(&mut self.readers);
        let drained = wait_until(Duration::from_secs(10), || {
            readers.iter().all(|r| r.is_finished())
        })
        .await;
        assert!(
            drained,
            "taskorch's output pipes stayed open after it exited"
        );
        code.unwrap_or(-1)
    }
}

/// Wait up to `bound` for `child` to exit: its exit code (-1 for a
/// signal), `None` if it is still running.
pub async fn exited_within(child: &mut Child, bound: Duration) -> Option<i32> {
    let mut code = None;
    wait_until(bound, || {
        code = child
            .try_wait()
            .expect("try_wait")
            .map(|s| s.code().unwrap_or(-1));
        code.is_some()
    })
    .await;
    code
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        // Wait for the graceful exit on a thread, bounded: std has no wait
        // with a time-out. Past it, SIGKILL, then the thread reaps.
        let pid = child.id().to_string();
        let (exited, waiting) = std::sync::mpsc::channel();
        let reaper = std::thread::spawn(move || {
            let _ = child.wait();
            let _ = exited.send(());
        });
        if waiting.recv_timeout(Duration::from_secs(5)).is_err() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        let _ = reaper.join();
    }
}
