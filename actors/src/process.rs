//! The process layer: spawn one attempt of a command in its own process
//! group, feed its stdin, capture its output within bounds, and end it —
//! by itself, on cancellation, or on time-out — without leaving anything of
//! it running.
//!
//! # Layout
//! - `resolve`: program name -> absolute path, with `NotFound` /
//!   `PermissionDenied` before anything is spawned.
//! - `child`: the small `ChildProcess` trait and
//!   the termination sequence (SIGTERM to the group, grace, SIGKILL).
//! - `unix` / `windows`: process groups / job objects (through process-wrap).
//! - `capture`: bounded stdout/stderr buffers, and the tap that feeds
//!   the run's line ring (`crate::lines`) and its owner's queue from the
//!   same reads; while the owner (the run's `RunStream`) is behind, the
//!   pipes are not read, so the child waits on them (back-pressure).
//! - `piped`: long-lived children with piped stdin/stdout/stderr (pool
//!   workers).
//! - `guardian`: kills every live group if the host process dies.
//! - `procfs`: what `/proc` says about processes and groups (Linux): the
//!   one reader of `/proc`, public for tests and the chaos harness.
//! - `orphans`: stopping the groups a crashed predecessor left running.
//!
//! Nothing outside this module signals a process or reads `/proc`:
//! [`pid_alive`], [`group_alive`] and [`kill_pid`] are the public way in.
//!
//! # Caveats
//! When the direct child exits, the run is over: whatever is left of its
//! group gets SIGTERM, `kill_grace` to leave, then SIGKILL (see
//! `child::terminate`). A descendant that left the group (`setsid`) and
//! keeps a pipe open cannot hold the run hostage: output is drained for at
//! most `drain_timeout` after the exit, then abandoned. What the pipes hold
//! when the group is gone is read without waiting for a slow owner, so
//! the end of a run never depends on its reader.

pub(crate) mod capture;
pub(crate) mod child;
#[cfg(unix)]
mod guardian;
mod orphans;
pub(crate) mod piped;
#[cfg(target_os = "linux")]
pub mod procfs;
pub(crate) mod resolve;
mod stop_signal;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use futures::FutureExt;
use process_wrap::tokio::CommandWrap;
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::command::Launch;
use crate::error::{Error, Result};
use crate::lines::LineLog;
use crate::output::StreamKind;
use crate::run::RunId;
use capture::{BoundedCapture, drain};
use child::{ChildProcess, terminate_with};
pub(crate) use orphans::stop_orphan_groups;
pub use stop_signal::StopSignal;
#[cfg(unix)]
pub(crate) use unix::{GroupChild, SHELL, exit_signal};
#[cfg(windows)]
pub(crate) use windows::{GroupChild, SHELL, exit_signal};

/// Environment variable every child gets: its run id.
pub const RUN_ID_ENV: &str = "TASKORCH_RUN_ID";

/// Whether process `pid` is alive. A zombie counts as dead: it has exited
/// and only waits to be reaped (on Linux; elsewhere a process that still
/// answers signals is taken as alive). Always `false` on Windows, where
/// runs live in job objects.
pub fn pid_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    return procfs::pid_alive(pid);
    #[cfg(all(unix, not(target_os = "linux")))]
    return unix::pid_answers(pid);
    #[cfg(windows)]
    return {
        let _ = pid;
        false
    };
}

/// Whether any process of process group `pgid` is alive (zombies count as
/// dead, as in [`pid_alive`]). A run's pid is its group's id, so this
/// checks the run's descendants too. Always `false` on Windows, where
/// there is no process group to look up.
pub fn group_alive(pgid: u32) -> bool {
    #[cfg(target_os = "linux")]
    return procfs::group_alive(pgid);
    #[cfg(all(unix, not(target_os = "linux")))]
    return unix::group_answers(pgid);
    #[cfg(windows)]
    return {
        let _ = pgid;
        false
    };
}

/// Send SIGKILL to process `pid` alone (not its group); a pid that is gone
/// is no error. Does nothing on Windows.
pub fn kill_pid(pid: u32) {
    #[cfg(unix)]
    unix::kill_pid(pid);
    #[cfg(windows)]
    let _ = pid;
}

/// Freeze (SIGSTOP) or thaw (SIGCONT) every process of group `pgid` (the
/// injected stall of a service). Does nothing on Windows.
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub(crate) fn freeze_group(pgid: u32, frozen: bool) {
    #[cfg(unix)]
    unix::freeze_group(pgid, frozen);
    #[cfg(windows)]
    let _ = (pgid, frozen);
}

/// Send `signal` (`None`: SIGKILL) to every process of group `pgid`; a
/// group that is gone is no error. Does nothing on Windows.
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub(crate) fn signal_group(pgid: u32, signal: Option<StopSignal>) {
    #[cfg(unix)]
    unix::stop_group(pgid, signal);
    #[cfg(windows)]
    let _ = (pgid, signal);
}

/// Timing limits of the process layer.
#[derive(Debug, Clone, Copy)]
pub struct ProcessLimits {
    /// Between the polite stop (SIGTERM) and the kill (SIGKILL).
    pub kill_grace: Duration,
    /// How long output is still read after the direct child exited.
    pub drain_timeout: Duration,
}

impl Default for ProcessLimits {
    fn default() -> Self {
        ProcessLimits {
            kill_grace: Duration::from_secs(2),
            drain_timeout: Duration::from_millis(250),
        }
    }
}

/// One attempt of a command, fully resolved.
#[derive(Debug)]
pub(crate) struct ProcessSpec<'a> {
    /// What to spawn.
    pub launch: Launch<'a>,
    pub stdin: Option<&'a [u8]>,
    /// Hand our own stdin to the child (when `stdin` is `None`).
    pub inherit_stdin: bool,
    /// Files that get a copy of every byte of stdout and stderr
    /// (`Task::tee_output`).
    pub tee: Option<(&'a Path, &'a Path)>,
    pub max_output: usize,
    pub run_id: RunId,
    /// The W3C trace context of the request, when it was made in a span.
    pub traceparent: Option<&'a str>,
    /// The run's line ring, fed from both streams as they are read.
    pub lines: Option<&'a LineLog>,
    /// The polite stop the group gets before SIGKILL.
    pub stop_signal: StopSignal,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The child exited by itself.
    Exited,
    /// The stop token fired; the group was terminated.
    Stopped,
    /// The deadline passed; the group was terminated.
    TimedOut,
}

/// What an attempt left behind.
#[derive(Debug)]
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub ending: Ending,
    pub stdout: BoundedCapture,
    pub stderr: BoundedCapture,
}

/// Run one attempt of `spec` until it exits, `stop` fires or `deadline`
/// passes. `on_spawn` is told the pid as soon as the child exists; if it
/// answers `true` (the injected fault `KillChildProcess`), the group is
/// killed at once and the attempt ends as the killed process does.
///
/// # Errors
/// `NotFound` / `PermissionDenied` / `Spawn` if the process could not be
/// started; `Io` if waiting for it failed.
pub(crate) async fn run(
    spec: &ProcessSpec<'_>,
    limits: &ProcessLimits,
    stop: &CancellationToken,
    deadline: Option<Instant>,
    on_spawn: impl FnOnce(Option<u32>) -> bool,
) -> Result<Finished> {
    // Opened before the spawn: a file that cannot be opened fails the
    // attempt before anything runs.
    let (mut out_tee, mut err_tee) = match spec.tee {
        Some((out, err)) => (Some(open_tee(out)?), Some(open_tee(err)?)),
        None => (None, None),
    };
    let mut child = spawn(spec)?;
    if on_spawn(child.pid()) {
        let _ = child.kill();
    }

    let mut stdout = BoundedCapture::new(spec.max_output);
    let mut stderr = BoundedCapture::new(spec.max_output);
    // Outside the I/O future, so an unfinished last line survives a drain
    // that is cut short and is flushed below either way.
    let mut out_lines = spec.lines.map(|log| log.writer(StreamKind::Stdout));
    let mut err_lines = spec.lines.map(|log| log.writer(StreamKind::Stderr));
    let (status, ending) = {
        let pipes = (child.take_stdin(), child.take_stdout(), child.take_stderr());
        let io = async {
            tokio::join!(
                feed(pipes.0, spec.stdin),
                drain(
                    pipes.1,
                    &mut stdout,
                    spec.lines.zip(out_lines.as_mut()),
                    out_tee.as_mut()
                ),
                drain(
                    pipes.2,
                    &mut stderr,
                    spec.lines.zip(err_lines.as_mut()),
                    err_tee.as_mut()
                ),
            )
        };
        tokio::pin!(io);
        let mut io_done = false;
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expiry);

        let ending = loop {
            tokio::select! {
                // The leader alone: a run ends when its direct child exits,
                // whatever of its group lives on (see `unix`).
                status = child.wait_leader() => {
                    let status = status.map_err(|e| wait_error(spec, e))?;
                    break Ok(status);
                }
                _ = &mut io, if !io_done => io_done = true,
                _ = stop.cancelled() => break Err(Ending::Stopped),
                _ = &mut expiry => break Err(Ending::TimedOut),
            }
        };
        // Stopped, timed out, or the leader exited and left members behind:
        // the whole group gets SIGTERM and up to `kill_grace` to be gone,
        // then SIGKILL. Keep draining meanwhile: a child that prints on
        // SIGTERM must not block on a full pipe.
        let (status, ending) = match ending {
            // The leader was the last of its group (the common case): one
            // look, no signal.
            Ok(status) if child.wait().now_or_never().is_some() => (status, Ending::Exited),
            ending => {
                let stopping = terminate_with(&mut child, spec.stop_signal, limits.kill_grace);
                tokio::pin!(stopping);
                let stopped = loop {
                    tokio::select! {
                        status = &mut stopping => break status,
                        _ = &mut io, if !io_done => io_done = true,
                    }
                };
                match ending {
                    // The leader's own status stands even if its leftovers were
                    // hard to get rid of.
                    Ok(status) => (status, Ending::Exited),
                    Err(ending) => (stopped.map_err(|e| wait_error(spec, e))?, ending),
                }
            }
        };
        // The run is over: nothing of its group may outlive it, and with the
        // group gone the pipes close, which ends the drain below.
        child.kill_group();
        // What is left in the pipes (at most their buffers, with the group
        // gone) goes to the owner without waiting for it to catch up: a
        // slow owner must neither lose it nor hold the run's end.
        if let Some(log) = spec.lines {
            log.owner_ending();
        }
        if !io_done {
            let _ = tokio::time::timeout(limits.drain_timeout, &mut io).await;
        }
        (status, ending)
    };
    // Partial last lines (no trailing newline) are delivered at exit.
    if let Some(log) = spec.lines {
        for writer in [&mut out_lines, &mut err_lines].into_iter().flatten() {
            log.flush(writer);
        }
    }
    Ok(Finished {
        status,
        ending,
        stdout,
        stderr,
    })
}

/// A `Task::tee_output` file, opened for appending.
fn open_tee(path: &Path) -> Result<capture::Tee> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(|file| capture::Tee::new(file, path))
        .map_err(|source| Error::Io {
            context: format!("opening {} for the output", path.display()),
            source: std::sync::Arc::new(source),
        })
}

fn spawn(spec: &ProcessSpec<'_>) -> Result<GroupChild> {
    let run_id = spec.run_id.to_string();
    let stdin = if spec.stdin.is_some() {
        Stdio::piped()
    } else if spec.inherit_stdin {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    // A TRACEPARENT the task sets wins over the runtime's.
    spawn_group(
        &spec.launch,
        stdin,
        spec.traceparent,
        &[(RUN_ID_ENV, &run_id)],
    )
}

/// Spawn `launch` as the leader of a new process group (job object on
/// Windows) with `stdin` and piped stdout and stderr; the runtime's own
/// variables `extra_env` are set last. The one spawn of the process layer,
/// for runs and pool workers alike.
///
/// # Errors
/// `NotFound` / `PermissionDenied` naming the program, `Spawn` for any
/// other failure to start it.
fn spawn_group(
    launch: &Launch<'_>,
    stdin: Stdio,
    traceparent: Option<&str>,
    extra_env: &[(&str, &str)],
) -> Result<GroupChild> {
    let command = CommandWrap::with_new(launch.program, |cmd| {
        crate::env::apply(cmd, launch.env, traceparent, extra_env);
        cmd.args(launch.args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = launch.dir {
            cmd.current_dir(dir);
        }
    });
    #[cfg(unix)]
    let spawned = unix::spawn(command);
    #[cfg(windows)]
    let spawned = windows::spawn(command);
    spawned.map_err(|e| {
        let program = launch.display.to_string();
        match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound { program },
            std::io::ErrorKind::PermissionDenied => Error::PermissionDenied { program },
            _ => Error::Spawn {
                program,
                source: std::sync::Arc::new(e),
            },
        }
    })
}

/// Write the task's stdin bytes, then close the pipe so the child sees end
/// of file. A child that exits without reading gives EPIPE: not an error.
async fn feed(stdin: Option<ChildStdin>, bytes: Option<&[u8]>) {
    if let (Some(mut pipe), Some(bytes)) = (stdin, bytes) {
        let _ = pipe.write_all(bytes).await;
        let _ = pipe.shutdown().await;
    }
}

fn wait_error(spec: &ProcessSpec<'_>, e: std::io::Error) -> Error {
    Error::io(
        format!("waiting for {} (run {})", spec.launch.display, spec.run_id),
        e,
    )
}
