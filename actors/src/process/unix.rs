//! Unix: every child leads its own process group.
//!
//! The group is created with `process_group(0)` (through process-wrap's
//! `ProcessGroup`), which keeps the `posix_spawn` fast path; `pre_exec`
//! would force `fork`. Signals go to the whole group, so `sh -c` and
//! everything it started stop together.
//!
//! # Caveats
//! process-wrap's own kill-on-drop kills only the group leader, so
//! [`GroupChild`] kills the *group* with SIGKILL when dropped, whether the
//! leader is still running (the run was abandoned) or has exited (leftover
//! background processes of a finished run). A process that moved itself to
//! another group or session (a daemon) escapes, as it would from any
//! supervisor short of a cgroup.

use std::io;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use process_wrap::tokio::{ChildWrapper, CommandWrap, ProcessGroup};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use super::child::{ChildProcess, WaitFuture};

/// A child in its own process group, killed with its group on drop.
#[derive(Debug)]
pub(crate) struct GroupChild {
    inner: Box<dyn ChildWrapper>,
    pgid: Option<Pid>,
}

/// Spawn `command` as the leader of a new process group.
pub(crate) fn spawn(mut command: CommandWrap) -> io::Result<GroupChild> {
    command.wrap(ProcessGroup::leader());
    let inner = command.spawn()?;
    let pgid = inner
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    Ok(GroupChild { inner, pgid })
}

impl GroupChild {
    fn signal_group(&self, signal: Signal) -> io::Result<()> {
        match self.pgid {
            Some(pgid) => killpg(pgid, signal).map_err(io::Error::from),
            None => Ok(()),
        }
    }

    pub(crate) fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.inner.stdin().take()
    }

    pub(crate) fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.inner.stdout().take()
    }

    pub(crate) fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.inner.stderr().take()
    }

    /// Kill whatever is left in the group (after the leader exited).
    pub(crate) fn kill_group(&mut self) {
        let _ = self.signal_group(Signal::SIGKILL);
    }
}

impl ChildProcess for GroupChild {
    fn pid(&self) -> Option<u32> {
        self.pgid.map(|p| p.as_raw() as u32)
    }

    fn request_stop(&mut self) -> io::Result<()> {
        self.signal_group(Signal::SIGTERM)
    }

    fn kill(&mut self) -> io::Result<()> {
        self.signal_group(Signal::SIGKILL)
    }

    fn wait(&mut self) -> WaitFuture<'_> {
        self.inner.wait()
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        // ESRCH (group already empty) is the common, harmless answer.
        let _ = self.signal_group(Signal::SIGKILL);
    }
}

/// The signal that ended a process, if one did.
pub(crate) fn exit_signal(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

/// The system shell and the flag that makes it run a script.
pub(crate) const SHELL: (&str, &str) = ("/bin/sh", "-c");
