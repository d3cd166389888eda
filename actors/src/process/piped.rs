//! Long-lived children with all three standard streams piped: the warm
//! workers of the pooled pattern.
//!
//! The one-shot path ([`run`](super::run)) feeds stdin once and reads to
//! end of file; a warm worker instead keeps its pipes for its whole life and
//! is talked to line by line. It is spawned the same way — leader of its own
//! process group (job object on Windows), absolute program path, killed with
//! its group when the handle is dropped — and ended with the same
//! [`terminate`](super::child::terminate) sequence by its owner.

use std::process::Stdio;

use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use super::GroupChild;
use crate::command::Launch;
use crate::error::{Error, Result};

/// A long-lived child to spawn, fully resolved.
#[derive(Debug)]
pub(crate) struct PipedSpec<'a> {
    /// What to spawn.
    pub launch: Launch<'a>,
    /// The runtime's own variables, set last.
    pub extra_env: &'a [(&'a str, &'a str)],
}

/// A spawned long-lived child and its three pipes.
#[derive(Debug)]
pub(crate) struct PipedChild {
    /// The child; dropping it kills its group.
    pub child: GroupChild,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
}

/// Spawn `spec` with stdin, stdout and stderr piped.
///
/// # Errors
/// `NotFound` / `PermissionDenied` naming the program, `Spawn` for any
/// other failure to start it.
pub(crate) fn spawn(spec: &PipedSpec<'_>) -> Result<PipedChild> {
    let mut child = super::spawn_group(&spec.launch, Stdio::piped(), None, spec.extra_env)?;
    // All three were requested piped just above, so they are there.
    let pipes = (child.take_stdin(), child.take_stdout(), child.take_stderr());
    match pipes {
        (Some(stdin), Some(stdout), Some(stderr)) => Ok(PipedChild {
            child,
            stdin,
            stdout,
            stderr,
        }),
        _ => Err(Error::Spawn {
            program: spec.launch.display.to_string(),
            source: std::sync::Arc::new(std::io::Error::other(
                "the child's standard streams were not piped",
            )),
        }),
    }
}
