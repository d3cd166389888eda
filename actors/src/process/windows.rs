//! Windows: every child runs in its own job object, so terminating the job
//! ends the child and everything it started.
//!
//! Windows has no polite signal for arbitrary console processes, so a
//! "polite stop" terminates the job too; the grace period only bounds the
//! wait for the exit to be reported.

use std::io;

use process_wrap::tokio::{ChildWrapper, CommandWrap, JobObject, KillOnDrop};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use super::child::{ChildProcess, WaitFuture};

/// A child in its own job object, terminated with the job on drop.
#[derive(Debug)]
pub(crate) struct GroupChild {
    inner: Box<dyn ChildWrapper>,
}

/// Spawn `command` inside a new job object.
pub(crate) fn spawn(mut command: CommandWrap) -> io::Result<GroupChild> {
    command.wrap(JobObject);
    command.wrap(KillOnDrop);
    let inner = command.spawn()?;
    Ok(GroupChild { inner })
}

impl GroupChild {
    pub(crate) fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.inner.stdin().take()
    }

    pub(crate) fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.inner.stdout().take()
    }

    pub(crate) fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.inner.stderr().take()
    }

    /// Wait for the child (the job's other processes are ended with it).
    pub(crate) async fn wait_leader(&mut self) -> io::Result<std::process::ExitStatus> {
        self.inner.wait().await
    }

    /// Terminate whatever is left in the job (after the child exited).
    pub(crate) fn kill_group(&mut self) {
        let _ = self.inner.start_kill();
    }
}

impl ChildProcess for GroupChild {
    fn pid(&self) -> Option<u32> {
        self.inner.id()
    }

    fn request_stop(&mut self) -> io::Result<()> {
        self.inner.start_kill()
    }

    fn kill(&mut self) -> io::Result<()> {
        self.inner.start_kill()
    }

    fn wait(&mut self) -> WaitFuture<'_> {
        self.inner.wait()
    }
}

/// Windows processes are not ended by signals.
pub(crate) fn exit_signal(_status: &std::process::ExitStatus) -> Option<i32> {
    None
}

/// The system shell and the flag that makes it run a script.
pub(crate) const SHELL: (&str, &str) = ("cmd.exe", "/C");
