//! Long-lived children with all three standard streams piped: the warm
//! workers of the pooled pattern.
//!
//! The one-shot path ([`run`](super::run)) feeds stdin once and reads to
//! end of file; a warm worker instead keeps its pipes for its whole life and
//! is talked to line by line. It is spawned the same way — leader of its own
//! process group (job object on Windows), absolute program path, killed with
//! its group when the handle is dropped — and ended with the same
//! [`terminate`](super::child::terminate) sequence by its owner.

use std::path::Path;
use std::process::Stdio;

use process_wrap::tokio::CommandWrap;
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use super::GroupChild;
use crate::error::{Error, Result};

/// A long-lived child to spawn, fully resolved.
#[derive(Debug)]
pub(crate) struct PipedSpec<'a> {
    /// Absolute path of the program.
    pub program: &'a Path,
    /// The program as the caller named it (for errors).
    pub display: &'a str,
    pub args: &'a [String],
    /// Changes to the inherited environment, in order.
    pub env: &'a [crate::env::EnvOp],
    /// The runtime's own variables, set last.
    pub extra_env: &'a [(&'a str, &'a str)],
    pub dir: Option<&'a Path>,
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
    let command = CommandWrap::with_new(spec.program, |cmd| {
        crate::env::apply(cmd, spec.env, None, spec.extra_env);
        cmd.args(spec.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = spec.dir {
            cmd.current_dir(dir);
        }
    });
    #[cfg(unix)]
    let spawned = super::unix::spawn(command);
    #[cfg(windows)]
    let spawned = super::windows::spawn(command);
    let mut child = spawned.map_err(|e| spawn_error(spec.display, e))?;
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
            program: spec.display.to_string(),
            source: std::sync::Arc::new(std::io::Error::other(
                "the child's standard streams were not piped",
            )),
        }),
    }
}

/// The same mapping as the one-shot path: not-found and permission errors
/// name the program.
fn spawn_error(display: &str, e: std::io::Error) -> Error {
    let program = display.to_string();
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound { program },
        std::io::ErrorKind::PermissionDenied => Error::PermissionDenied { program },
        _ => Error::Spawn {
            program,
            source: std::sync::Arc::new(e),
        },
    }
}
