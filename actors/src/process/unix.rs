//! Unix: every child leads its own process group.
//!
//! The group is created with `process_group(0)` (through process-wrap's
//! `ProcessGroup`), which keeps the `posix_spawn` fast path; `pre_exec`
//! would force `fork`. Signals go to the whole group, so `sh -c` and
//! everything it started stop together.
//!
//! # Leader and group
//! A run ends when its *leader* (the direct child) exits:
//! [`GroupChild::wait_leader`] waits for it alone. process-wrap's own
//! group wait blocks until every member of the group has been reaped,
//! which never happens while a member lives on; as PID 1 or a child
//! subreaper (a container entrypoint) the members that outlive the leader
//! are reparented to us, and `sh -c 'daemon & echo ok'` would never finish.
//! [`ChildProcess::wait`] instead waits for the whole group to be *gone*:
//! the leader reaped, every member exited, and the members reparented to
//! us reaped (no zombie is left behind). It polls, since no kernel event
//! says "this group is empty"; the common case (the leader was the last
//! member) costs one `killpg(0)`.
//!
//! # Caveats
//! process-wrap's own kill-on-drop kills only the group leader, so
//! [`GroupChild`] kills the *group* with SIGKILL when dropped, whether the
//! leader is still running (the run was abandoned) or has exited (leftover
//! background processes of a finished run). A process that moved itself to
//! another group or session (a daemon) escapes, as it would from any
//! supervisor short of a cgroup. Every group is also registered with the
//! [`guardian`], which kills it if the host process dies.

use std::io;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use process_wrap::tokio::{ChildWrapper, CommandWrap, ProcessGroup};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use super::child::{ChildProcess, WaitFuture};
use super::guardian;

/// First pause between two looks at a group that outlived its leader; it
/// doubles up to [`GROUP_POLL_MAX`].
const GROUP_POLL_MIN: Duration = Duration::from_millis(1);
/// Longest pause between two looks at a group that outlived its leader.
const GROUP_POLL_MAX: Duration = Duration::from_millis(20);

/// A child in its own process group, killed with its group on drop.
#[derive(Debug)]
pub(crate) struct GroupChild {
    inner: Box<dyn ChildWrapper>,
    pgid: Option<Pid>,
    /// Set once the leader has been reaped: only then may members of the
    /// group be reaped with `waitpid(-pgid)` without stealing the leader's
    /// exit status from tokio.
    leader_reaped: bool,
}

/// Spawn `command` as the leader of a new process group.
pub(crate) fn spawn(mut command: CommandWrap) -> io::Result<GroupChild> {
    command.wrap(ProcessGroup::leader());
    command
        .command_mut()
        .env(guardian::HOST_ENV, guardian::HOST_MARK.as_str());
    let spawning = guardian::spawning();
    let inner = command.spawn()?;
    let pgid = inner
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    if let Some(pgid) = pgid {
        spawning.spawned(pgid.as_raw());
    }
    Ok(GroupChild {
        inner,
        pgid,
        leader_reaped: false,
    })
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

    /// Wait for the leader alone (see the module docs). Cancel safe; once
    /// it has exited, answers its status at once.
    pub(crate) async fn wait_leader(&mut self) -> io::Result<std::process::ExitStatus> {
        // The ProcessGroup wrapper's inner child is tokio's: its wait is
        // the leader's, and it keeps the status once reaped.
        let status = self.inner.inner_mut().wait().await?;
        self.leader_reaped = true;
        Ok(status)
    }

    /// Whether nothing of the group is left, reaping first the members
    /// that were reparented to us (as PID 1 or a subreaper).
    fn group_gone(&self) -> bool {
        let Some(pgid) = self.pgid else {
            return true;
        };
        if self.leader_reaped {
            reap_members(pgid);
        }
        match killpg(pgid, None) {
            Err(Errno::ESRCH) => true,
            // Zombies answer signals too: the group may hold only members
            // that exited and wait for a parent that is not us to reap them.
            _ => !has_live_member(pgid.as_raw() as u32),
        }
    }
}

/// Whether group `pgid` has a member that has not exited. Without `/proc`
/// a zombie cannot be told from a live process, so a group that answers
/// signals is taken as alive.
fn has_live_member(pgid: u32) -> bool {
    #[cfg(target_os = "linux")]
    return super::procfs::group_alive(pgid);
    #[cfg(not(target_os = "linux"))]
    return group_answers(pgid);
}

/// Send `signal` to every process of group `pgid` (`None`: only ask
/// whether the group exists).
pub(crate) fn signal_group(pgid: u32, signal: Option<Signal>) -> io::Result<()> {
    let pgid = i32::try_from(pgid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    killpg(Pid::from_raw(pgid), signal).map_err(io::Error::from)
}

/// The nix signal of a stop signal.
pub(crate) fn nix_signal(signal: super::StopSignal) -> Signal {
    use super::StopSignal;
    match signal {
        StopSignal::Term => Signal::SIGTERM,
        StopSignal::Int => Signal::SIGINT,
        StopSignal::Quit => Signal::SIGQUIT,
        StopSignal::Hup => Signal::SIGHUP,
        StopSignal::Usr1 => Signal::SIGUSR1,
        StopSignal::Usr2 => Signal::SIGUSR2,
    }
}

/// Freeze (SIGSTOP) or thaw (SIGCONT) every process of group `pgid`; a
/// group that is gone is no error.
pub(crate) fn freeze_group(pgid: u32, frozen: bool) {
    let signal = if frozen {
        Signal::SIGSTOP
    } else {
        Signal::SIGCONT
    };
    let _ = signal_group(pgid, Some(signal));
}

/// Send `signal` to group `pgid`; a group that is gone is no error.
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub(crate) fn stop_group(pgid: u32, signal: Option<super::StopSignal>) {
    let signal = signal.map_or(Signal::SIGKILL, nix_signal);
    let _ = signal_group(pgid, Some(signal));
}

/// Whether process `pid` answers signals (a zombie does).
#[cfg(not(target_os = "linux"))]
pub(crate) fn pid_answers(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(|pid| nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok())
}

/// Whether some process of group `pgid` answers signals (a zombie does).
#[cfg(not(target_os = "linux"))]
pub(crate) fn group_answers(pgid: u32) -> bool {
    signal_group(pgid, None).is_ok()
}

/// SIGKILL to process `pid` alone; one that is gone is no error.
pub(crate) fn kill_pid(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Reap every exited member of `pgid` that is our child. Only members
/// reparented to us can be: the leader is reaped by tokio before this is
/// called, and the runtime spawns nothing else into a run's group.
fn reap_members(pgid: Pid) {
    let group = Pid::from_raw(-pgid.as_raw());
    loop {
        match waitpid(group, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

impl ChildProcess for GroupChild {
    fn pid(&self) -> Option<u32> {
        self.pgid.map(|p| p.as_raw() as u32)
    }

    fn request_stop(&mut self) -> io::Result<()> {
        self.signal_group(Signal::SIGTERM)
    }

    fn request_signal(&mut self, signal: super::StopSignal) -> io::Result<()> {
        self.signal_group(nix_signal(signal))
    }

    fn kill(&mut self) -> io::Result<()> {
        self.signal_group(Signal::SIGKILL)
    }

    fn wait(&mut self) -> WaitFuture<'_> {
        Box::pin(async move {
            let status = self.wait_leader().await?;
            let mut pause = GROUP_POLL_MIN;
            while !self.group_gone() {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(GROUP_POLL_MAX);
            }
            Ok(status)
        })
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        // ESRCH (group already empty) is the common, harmless answer.
        let _ = self.signal_group(Signal::SIGKILL);
        if let Some(pgid) = self.pgid {
            if self.leader_reaped {
                reap_members(pgid);
            }
            guardian::release(pgid.as_raw());
        }
    }
}

/// The signal that ended a process, if one did.
pub(crate) fn exit_signal(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

/// The system shell and the flag that makes it run a script.
pub(crate) const SHELL: (&str, &str) = ("/bin/sh", "-c");
